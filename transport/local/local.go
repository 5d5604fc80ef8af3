package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/upgradekit/upgradekit/transport"
)

// DefaultKillGrace is how long a cancelled command's process group has
// between SIGTERM and SIGKILL.
const DefaultKillGrace = 2 * time.Second

// Transport runs commands on the local machine with os/exec.
type Transport struct {
	opts options

	// base is cancelled by Close, stopping commands still running.
	base       context.Context
	cancelBase context.CancelFunc

	mu      sync.Mutex
	closed  bool
	running sync.WaitGroup
}

var (
	_ transport.Transport  = (*Transport)(nil)
	_ transport.Uploader   = (*Transport)(nil)
	_ transport.Downloader = (*Transport)(nil)
	_ transport.Namer      = (*Transport)(nil)
)

// Option configures a Transport.
type Option interface {
	apply(*options) error
}

type options struct {
	logger    *zap.Logger
	host      string
	killGrace time.Duration
}

type optionFunc func(*options) error

func (f optionFunc) apply(o *options) error { return f(o) }

// WithLogger logs every command (redacted) at debug level. The default is
// zap.NewNop().
func WithLogger(l *zap.Logger) Option {
	return optionFunc(func(o *options) error {
		if l == nil {
			return errors.New("local: nil logger")
		}
		o.logger = l
		return nil
	})
}

// WithHostName sets the name Host returns and results and errors carry.
// The default is "localhost".
func WithHostName(name string) Option {
	return optionFunc(func(o *options) error {
		if name == "" {
			return errors.New("local: empty host name")
		}
		o.host = name
		return nil
	})
}

// WithKillGrace sets how long a cancelled command's process group gets
// between SIGTERM and SIGKILL; the default is DefaultKillGrace.
func WithKillGrace(d time.Duration) Option {
	return optionFunc(func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("local: kill grace %s must be positive", d)
		}
		o.killGrace = d
		return nil
	})
}

// New returns a Transport running commands on this machine.
func New(opts ...Option) (*Transport, error) {
	o := options{logger: zap.NewNop(), host: "localhost", killGrace: DefaultKillGrace}
	for _, opt := range opts {
		if err := opt.apply(&o); err != nil {
			return nil, err
		}
	}
	base, cancel := context.WithCancel(context.Background())
	return &Transport{opts: o, base: base, cancelBase: cancel}, nil
}

// Host returns the host name (WithHostName, default "localhost").
func (t *Transport) Host() string { return t.opts.host }

// Close stops commands still running (as a cancelled context would) and
// waits for them to return. Later calls to Run fail with an error matching
// transport.ErrClosed. Closing twice returns nil.
func (t *Transport) Close() error {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.cancelBase()
	t.running.Wait()
	return nil
}

// begin registers a running operation, or fails if the transport is
// closed.
func (t *Transport) begin() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return transport.ErrClosed
	}
	t.running.Add(1)
	return nil
}

// Run runs cmd as a child process in its own process group. Env is set on
// the process (inlined after sudo, whose env_reset would drop it),
// SecretEnv travels on stdin. When ctx ends or cmd.Timeout expires the
// whole group gets SIGTERM, then SIGKILL after the kill grace, and Run
// returns. A program that cannot be found or executed is reported like a
// shell would, as exit code 127 or 126 with the reason on stderr.
func (t *Transport) Run(ctx context.Context, cmd transport.Command) (transport.Result, error) {
	if err := t.begin(); err != nil {
		return transport.Result{}, fmt.Errorf("host %s: %s: %w", t.opts.host, cmd, err)
	}
	defer t.running.Done()

	start := time.Now()
	log := t.opts.logger.With(zap.String("host", t.opts.host), zap.String("cmd", cmd.String()))
	res, err := t.run(ctx, cmd)
	res.Duration = time.Since(start)
	if err != nil {
		log.Debug("local: run failed", zap.Error(err), zap.Duration("duration", res.Duration))
		return transport.Result{}, err
	}
	log.Debug("local: run", zap.Int("exit", res.ExitCode), zap.String("signal", res.Signal), zap.Duration("duration", res.Duration))
	return res, nil
}

func (t *Transport) run(ctx context.Context, cmd transport.Command) (transport.Result, error) {
	host := t.opts.host
	res := transport.Result{Host: host, Cmd: cmd.String()}
	w, err := cmd.Wire(false)
	if err != nil {
		return res, fmt.Errorf("host %s: %w", host, err)
	}
	cctx, cancel := transport.CommandContext(ctx, cmd)
	defer cancel()
	stopBase := context.AfterFunc(t.base, cancel)
	defer stopBase()

	c := exec.CommandContext(cctx, w.Argv[0], w.Argv[1:]...)
	c.Dir = w.Dir
	if len(w.Env) > 0 {
		c.Env = c.Environ()
		for k, v := range w.Env {
			c.Env = append(c.Env, k+"="+v)
		}
	}
	switch {
	case w.StdinPrefix != nil && cmd.Stdin != nil:
		c.Stdin = io.MultiReader(bytes.NewReader(w.StdinPrefix), cmd.Stdin)
	case w.StdinPrefix != nil:
		c.Stdin = bytes.NewReader(w.StdinPrefix)
	default:
		c.Stdin = cmd.Stdin
	}
	var outCap, errCap *transport.Capture
	if c.Stdout = cmd.Stdout; c.Stdout == nil {
		outCap = transport.NewCapture(cmd.MaxOutput)
		c.Stdout = outCap
	}
	if c.Stderr = cmd.Stderr; c.Stderr == nil {
		errCap = transport.NewCapture(cmd.MaxOutput)
		c.Stderr = errCap
	}

	// The command and everything it starts form one process group, which
	// a cancel signals as a whole: SIGTERM first, SIGKILL after the grace.
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	grace := t.opts.killGrace
	var (
		killMu   sync.Mutex
		killer   *time.Timer
		canceled bool
	)
	c.Cancel = func() error {
		pgid := c.Process.Pid
		killMu.Lock()
		defer killMu.Unlock()
		canceled = true
		killer = time.AfterFunc(grace, func() { _ = syscall.Kill(-pgid, syscall.SIGKILL) })
		return syscall.Kill(-pgid, syscall.SIGTERM)
	}
	// After the grace, Wait stops waiting for pipes that a stray process
	// might hold open.
	c.WaitDelay = grace + time.Second

	// With SysProcAttr set, os.StartProcess reports a failed chdir as
	// "fork/exec PROG: no such file", which would read as a missing
	// program: check the directory first.
	if w.Dir != "" {
		if fi, err := os.Stat(w.Dir); err != nil || !fi.IsDir() {
			if err == nil {
				err = &fs.PathError{Op: "chdir", Path: w.Dir, Err: syscall.ENOTDIR}
			}
			return startFailure(res, cmd, err, 1)
		}
	}
	if err := c.Start(); err != nil {
		if code, ok := startFailureCode(err); ok && cctx.Err() == nil {
			return startFailure(res, cmd, err, code)
		}
		if terr := transport.TimeoutErr(cctx, host, cmd); terr != nil {
			return res, terr
		}
		return res, fmt.Errorf("host %s: %s: %w", host, cmd, err)
	}
	waitErr := c.Wait()

	killMu.Lock()
	if killer != nil {
		killer.Stop()
	}
	if canceled {
		// Leave nothing of the group behind.
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
	}
	killMu.Unlock()

	if canceled || cctx.Err() != nil {
		if terr := transport.TimeoutErr(cctx, host, cmd); terr != nil {
			return res, terr
		}
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("host %s: %s: %w", host, cmd, err)
		}
		if t.base.Err() != nil {
			return res, fmt.Errorf("host %s: %s: %w", host, cmd, transport.ErrClosed)
		}
	}

	if outCap != nil {
		res.Stdout, res.StdoutTruncated = outCap.Bytes(), outCap.Truncated()
	}
	if errCap != nil {
		res.Stderr, res.StderrTruncated = errCap.Bytes(), errCap.Truncated()
	}
	var exitErr *exec.ExitError
	switch {
	case waitErr == nil:
	case errors.As(waitErr, &exitErr):
		res.ExitCode = exitErr.ExitCode()
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.ExitCode = -1
			res.Signal = signalName(ws.Signal())
		}
	case errors.Is(waitErr, exec.ErrWaitDelay):
		// The command exited but something it started kept a pipe open;
		// its exit status is still valid.
		res.ExitCode = c.ProcessState.ExitCode()
	default:
		return res, fmt.Errorf("host %s: %s: %w", host, cmd, waitErr)
	}
	return res, nil
}

// startFailure reports a command that could not start the way a shell
// would: exit code and reason on stderr.
func startFailure(res transport.Result, cmd transport.Command, err error, code int) (transport.Result, error) {
	res.ExitCode = code
	msg := []byte(err.Error() + "\n")
	if cmd.Stderr != nil {
		if _, werr := cmd.Stderr.Write(msg); werr != nil {
			return res, fmt.Errorf("host %s: %s: write stderr: %w", res.Host, cmd, werr)
		}
		return res, nil
	}
	res.Stderr = msg
	return res, nil
}

// startFailureCode maps a failure to start a program to the exit code a
// shell reports: 127 for not found, 126 for not executable.
func startFailureCode(err error) (int, bool) {
	var pe *fs.PathError
	switch {
	case errors.As(err, &pe) && pe.Op == "chdir":
		// What `cd DIR && cmd` gives over SSH.
		return 1, true
	case errors.Is(err, exec.ErrNotFound), errors.Is(err, fs.ErrNotExist):
		return 127, true
	case errors.Is(err, fs.ErrPermission), errors.Is(err, syscall.ENOEXEC):
		return 126, true
	}
	return 0, false
}

func signalName(s syscall.Signal) string {
	name := unix.SignalName(s)
	if len(name) > 3 && name[:3] == "SIG" {
		return name[3:]
	}
	if name == "" {
		return fmt.Sprint(int(s))
	}
	return name
}
