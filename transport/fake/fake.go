package fake

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/upgradekit/upgradekit/transport"
)

// ErrUnexpected is wrapped by the error a strict fake returns for a
// command that no expectation matches.
var ErrUnexpected = errors.New("unexpected command")

// maxStdinRecord bounds how much of a command's stdin a Call keeps.
const maxStdinRecord = 1 << 20

// Transport is a scripted fake of one host. Its zero value is not usable;
// create one with New or NewCluster. It is safe for concurrent use.
type Transport struct {
	host string
	opts options
	seq  *atomic.Int64 // shared by the hosts of a cluster

	mu     sync.Mutex
	exps   []*Expectation
	calls  []Call
	files  map[string]File
	closed bool
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
	lenient bool
	logger  *zap.Logger
}

type optionFunc func(*options) error

func (f optionFunc) apply(o *options) error { return f(o) }

// Lenient makes unexpected commands succeed with exit 0 and no output
// instead of failing. They are still recorded in Calls (with Unexpected
// set) but AssertExpectations no longer reports them. Prefer the strict
// default: a lenient fake lets a mistyped command pass.
func Lenient() Option {
	return optionFunc(func(o *options) error { o.lenient = true; return nil })
}

// WithLogger logs every call (the command redacted) at debug level, and
// unexpected ones at warn level. The default is zap.NewNop().
func WithLogger(l *zap.Logger) Option {
	return optionFunc(func(o *options) error {
		if l == nil {
			return errors.New("fake: nil logger")
		}
		o.logger = l
		return nil
	})
}

// New returns a strict fake for host. It panics if an option is invalid
// (a nil logger), which is a bug in the test.
func New(host string, opts ...Option) *Transport {
	return newTransport(host, new(atomic.Int64), opts)
}

func newTransport(host string, seq *atomic.Int64, opts []Option) *Transport {
	o := options{logger: zap.NewNop()}
	for _, opt := range opts {
		if err := opt.apply(&o); err != nil {
			panic(err)
		}
	}
	return &Transport{host: host, opts: o, seq: seq, files: map[string]File{}}
}

// Host returns the host name given to New.
func (f *Transport) Host() string { return f.host }

// Call is one recorded Run.
type Call struct {
	// Seq numbers calls in the order they started, across all the hosts
	// of a Cluster; it starts at 1.
	Seq int64
	// Host is the fake's host name.
	Host string
	// Command is the command as passed to Run.
	Command transport.Command
	// Stdin holds the command's standard input (the first and last 512
	// KiB when longer). The fake reads it to EOF: a scripted reply before
	// replying, a handler's remainder after the handler returns.
	Stdin []byte
	// Result and Err are what Run returned. They are zero while the call
	// is still running.
	Result transport.Result
	Err    error
	// Unexpected is set when no expectation matched.
	Unexpected bool
	// Done is set once Run returned.
	Done bool
}

// Argv returns the command's argv (Command.Argv).
func (c Call) Argv() []string { return c.Command.Argv() }

// String returns the host and the redacted command.
func (c Call) String() string { return c.Host + ": " + c.Command.String() }

// Calls returns a copy of every call made so far, in the order they
// started.
func (f *Transport) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Call, len(f.calls))
	copy(out, f.calls)
	return out
}

// Close marks the fake closed: later calls to Run, Upload and Download
// fail with an error matching transport.ErrClosed. Closing twice is fine.
func (f *Transport) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

// Run answers cmd from the first matching expectation. See the package
// documentation for the rules.
func (f *Transport) Run(ctx context.Context, cmd transport.Command) (transport.Result, error) {
	start := time.Now()
	call := Call{Seq: f.seq.Add(1), Host: f.host, Command: cmd}

	f.mu.Lock()
	idx := len(f.calls)
	f.calls = append(f.calls, call)
	var (
		e   *Expectation
		err error
	)
	_, wireErr := cmd.Wire(true)
	switch {
	case wireErr != nil:
		// What a real transport refuses, the fake refuses too.
		err = fmt.Errorf("fake %s: %w", f.host, wireErr)
	case f.closed:
		err = fmt.Errorf("fake %s: %s: %w", f.host, cmd, transport.ErrClosed)
	case ctx.Err() != nil:
		err = fmt.Errorf("fake %s: %s: %w", f.host, cmd, ctx.Err())
	default:
		e = f.matchLocked(cmd)
		if e == nil {
			f.calls[idx].Unexpected = true
			if !f.opts.lenient {
				err = fmt.Errorf("fake %s: %w: %s", f.host, ErrUnexpected, cmd)
			}
		}
	}
	f.mu.Unlock()

	log := f.opts.logger.With(zap.String("host", f.host), zap.String("cmd", cmd.String()))
	stdin := transport.NewCapture(maxStdinRecord)
	var res transport.Result
	if err == nil {
		res, err = f.exec(ctx, e, cmd, stdin)
	}
	if err == nil {
		res.Host, res.Cmd, res.Duration = f.host, cmd.String(), time.Since(start)
	} else {
		res = transport.Result{}
	}

	f.mu.Lock()
	c := &f.calls[idx]
	c.Stdin, c.Result, c.Err, c.Done = stdin.Bytes(), res, err, true
	unexpected := c.Unexpected
	f.mu.Unlock()

	switch {
	case unexpected:
		log.Warn("fake: unexpected command", zap.Bool("lenient", f.opts.lenient))
	case err != nil:
		log.Debug("fake: run", zap.Error(err))
	default:
		log.Debug("fake: run", zap.Int("exit", res.ExitCode))
	}
	return res, err
}

// matchLocked returns the first expectation that matches cmd and is not
// used up, and counts the use.
func (f *Transport) matchLocked(cmd transport.Command) *Expectation {
	for _, e := range f.exps {
		if e.max > 0 && e.count >= e.max {
			continue
		}
		if e.matcher.Match(cmd) {
			e.count++
			return e
		}
	}
	return nil
}

// exec plays expectation e (nil for a lenient unexpected command).
func (f *Transport) exec(ctx context.Context, e *Expectation, cmd transport.Command, stdin *transport.Capture) (transport.Result, error) {
	cctx, cancel := transport.CommandContext(ctx, cmd)
	defer cancel()

	var in io.Reader = strings.NewReader("")
	if cmd.Stdin != nil {
		in = io.TeeReader(cmd.Stdin, stdin)
	}
	stdout := newSink(cmd.Stdout, cmd.MaxOutput)
	stderr := newSink(cmd.Stderr, cmd.MaxOutput)

	s := script{truncate: -1} // a lenient fake's reply to the unexpected
	if e != nil {
		f.mu.Lock()
		s = e.script
		f.mu.Unlock()
	}

	if s.lost == lostBefore {
		return transport.Result{}, &transport.ConnectionLostError{Host: f.host, Started: false, Err: errInjected}
	}
	if s.delay > 0 {
		t := time.NewTimer(s.delay)
		select {
		case <-t.C:
		case <-cctx.Done():
			t.Stop()
			return transport.Result{}, f.ctxErr(ctx, cctx, cmd)
		}
	}
	if s.hang {
		<-cctx.Done()
		return transport.Result{}, f.ctxErr(ctx, cctx, cmd)
	}

	var res transport.Result
	if s.handler != nil {
		hc := cmd
		hc.Stdin, hc.Stdout, hc.Stderr = in, stdout, stderr
		var err error
		res, err = s.handler(cctx, hc)
		if err == nil {
			// Like a real transport, keep feeding stdin until EOF; it is
			// recorded in Call.Stdin.
			_, err = io.Copy(io.Discard, in)
		}
		if err != nil {
			if terr := transport.TimeoutErr(cctx, f.host, cmd); terr != nil {
				return transport.Result{}, terr
			}
			return res, err
		}
	} else {
		if _, err := io.Copy(io.Discard, in); err != nil {
			return transport.Result{}, fmt.Errorf("fake %s: %s: read stdin: %w", f.host, cmd, err)
		}
		res = transport.Result{ExitCode: s.code, Stdout: s.stdout, Stderr: s.stderr}
	}
	out := res.Stdout
	if s.truncate >= 0 && s.truncate < len(out) {
		out = out[:s.truncate]
	}
	if _, err := stdout.Write(out); err != nil {
		return transport.Result{}, fmt.Errorf("fake %s: %s: write stdout: %w", f.host, cmd, err)
	}
	if _, err := stderr.Write(res.Stderr); err != nil {
		return transport.Result{}, fmt.Errorf("fake %s: %s: write stderr: %w", f.host, cmd, err)
	}
	if s.lost == lostAfter {
		return transport.Result{}, &transport.ConnectionLostError{Host: f.host, Started: true, Err: errInjected}
	}
	res.Stdout, res.StdoutTruncated = stdout.result(res.StdoutTruncated)
	res.Stderr, res.StderrTruncated = stderr.result(res.StderrTruncated)
	return res, nil
}

var errInjected = errors.New("fake: injected fault")

// ctxErr reports why cctx ended: the command's own Timeout or the
// caller's ctx.
func (f *Transport) ctxErr(ctx, cctx context.Context, cmd transport.Command) error {
	if err := transport.TimeoutErr(cctx, f.host, cmd); err != nil {
		return err
	}
	err := ctx.Err()
	if err == nil {
		err = cctx.Err()
	}
	return fmt.Errorf("fake %s: %s: %w", f.host, cmd, err)
}

// sink is where one output stream goes: the caller's writer or a bounded
// capture.
type sink struct {
	w   io.Writer
	cap *transport.Capture
}

func newSink(w io.Writer, limit int) *sink {
	if w != nil {
		return &sink{w: w}
	}
	c := transport.NewCapture(limit)
	return &sink{w: c, cap: c}
}

func (s *sink) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	return s.w.Write(p)
}

func (s *sink) result(truncated bool) ([]byte, bool) {
	if s.cap == nil {
		return nil, truncated
	}
	return s.cap.Bytes(), truncated || s.cap.Truncated()
}

// AssertExpectations reports on t every unexpected command (unless the
// fake is lenient) and every expectation used fewer times than required.
// It only calls t.Errorf, so it is safe in t.Cleanup and deferred calls.
func (f *Transport) AssertExpectations(t testing.TB) bool {
	t.Helper()
	problems := f.problems()
	if len(problems) == 0 {
		return true
	}
	t.Errorf("fake %s:\n\t%s", f.host, strings.Join(problems, "\n\t"))
	return false
}

func (f *Transport) problems() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	if !f.opts.lenient {
		for _, c := range f.calls {
			if c.Unexpected {
				out = append(out, "unexpected command: "+c.Command.String())
			}
		}
	}
	for _, e := range f.exps {
		if e.count < e.min {
			out = append(out, fmt.Sprintf("expected %s %s, got %d (registered at %s)",
				e.matcher, times(e.min, e.max), e.count, e.where))
		}
	}
	return out
}

func times(min, max int) string {
	switch {
	case min == max && min == 1:
		return "once"
	case min == max:
		return fmt.Sprintf("%d times", min)
	default:
		return fmt.Sprintf("at least %d times", min)
	}
}

// Cluster holds one fake per host, for code that talks to several hosts.
// Calls on all its hosts share one sequence (Call.Seq), so the order of
// commands across hosts can be checked.
type Cluster struct {
	order []string
	hosts map[string]*Transport
}

// NewCluster returns strict fakes for hosts.
func NewCluster(hosts ...string) *Cluster {
	return NewClusterWith(nil, hosts...)
}

// NewClusterWith is NewCluster with options applied to every host's fake.
func NewClusterWith(opts []Option, hosts ...string) *Cluster {
	seq := new(atomic.Int64)
	c := &Cluster{hosts: make(map[string]*Transport, len(hosts))}
	for _, h := range hosts {
		if _, dup := c.hosts[h]; dup {
			panic("fake: duplicate host " + h)
		}
		c.order = append(c.order, h)
		c.hosts[h] = newTransport(h, seq, opts)
	}
	return c
}

// Host returns the fake for host. It panics for a host not given to
// NewCluster, which is a bug in the test.
func (c *Cluster) Host(host string) *Transport {
	f, ok := c.hosts[host]
	if !ok {
		panic(fmt.Sprintf("fake: host %q not in cluster %v", host, c.order))
	}
	return f
}

// Hosts returns the host names in the order given to NewCluster.
func (c *Cluster) Hosts() []string { return append([]string(nil), c.order...) }

// Calls returns every host's calls merged in the order they started.
func (c *Cluster) Calls() []Call {
	var out []Call
	for _, h := range c.order {
		out = append(out, c.hosts[h].Calls()...)
	}
	slices.SortFunc(out, func(a, b Call) int { return cmp.Compare(a.Seq, b.Seq) })
	return out
}

// AssertExpectations runs AssertExpectations on every host.
func (c *Cluster) AssertExpectations(t testing.TB) bool {
	t.Helper()
	ok := true
	for _, h := range c.order {
		if !c.hosts[h].AssertExpectations(t) {
			ok = false
		}
	}
	return ok
}

// Close closes every host's fake.
func (c *Cluster) Close() error {
	for _, h := range c.order {
		_ = c.hosts[h].Close()
	}
	return nil
}
