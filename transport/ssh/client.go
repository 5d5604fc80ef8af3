package ssh

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.uber.org/zap"
	"golang.org/x/crypto/ssh"

	"github.com/upgradekit/upgradekit/transport"
)

// Client runs commands on one host over a single SSH connection, opened
// on first use and re-opened (with backoff) when it is lost between
// commands. It is safe for concurrent use; at most Config.MaxSessions
// commands run at once and further Runs wait for a free session.
type Client struct {
	cfg     Config
	t       target
	o       *options
	log     *zap.Logger
	signers []ssh.Signer
	sem     chan struct{} // session slots
	dialSem chan struct{} // one dial at a time

	idMu sync.Mutex
	ids  map[string]ssh.Signer

	mu        sync.Mutex
	cur       *conn
	connected bool // a connection was up once: later dials are reconnects
	closed    bool

	stats clientStats
	bufs  sync.Pool // *[]byte copy buffers for captured output
}

// pooledWriter gives io.Copy (x/crypto copies a session's output with it)
// a ReadFrom that borrows its buffer from a pool instead of allocating
// 32 KiB per stream per command.
type pooledWriter struct {
	w    io.Writer
	pool *sync.Pool
}

func (p *pooledWriter) Write(b []byte) (int, error) { return p.w.Write(b) }

func (p *pooledWriter) ReadFrom(r io.Reader) (int64, error) {
	bp, _ := p.pool.Get().(*[]byte)
	if bp == nil {
		b := make([]byte, 32<<10)
		bp = &b
	}
	defer p.pool.Put(bp)
	return io.CopyBuffer(struct{ io.Writer }{p.w}, r, *bp)
}

type clientStats struct {
	dials, reconnects, runs, active atomic.Int64
}

var (
	_ transport.Transport  = (*Client)(nil)
	_ transport.Dialer     = (*Client)(nil)
	_ transport.Uploader   = (*Client)(nil)
	_ transport.Downloader = (*Client)(nil)
	_ transport.Namer      = (*Client)(nil)
)

// New returns a Client for cfg without connecting: the first Run (or
// Connect) dials. It reads the OpenSSH configuration file named by
// cfg.ConfigFile and loads identity files now, so that configuration
// mistakes surface here.
func New(cfg Config, opts ...Option) (*Client, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	return newClient(cfg, o)
}

func newClient(cfg Config, o *options) (*Client, error) {
	cfg = cfg.Clone().withDefaults()
	t, err := resolve(cfg)
	if err != nil {
		return nil, err
	}
	c := &Client{
		cfg:     cfg,
		t:       t,
		o:       o,
		log:     o.log.With(zap.String("host", t.name)),
		signers: o.signers,
		sem:     make(chan struct{}, cfg.MaxSessions),
		dialSem: make(chan struct{}, 1),
		ids:     map[string]ssh.Signer{},
	}
	for _, hop := range append(append([]target(nil), t.jumps...), t) {
		if _, err := c.loadIdentities(hop); err != nil {
			return nil, err
		}
		if err := o.policy.checkFiles(hop); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Dial returns a connected Client.
func Dial(ctx context.Context, cfg Config, opts ...Option) (*Client, error) {
	c, err := New(cfg, opts...)
	if err != nil {
		return nil, err
	}
	if err := c.Connect(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// Host returns the host's name (Config.Name, else Config.Host).
func (c *Client) Host() string { return c.t.name }

// Addr returns the address dialled, host:port.
func (c *Client) Addr() string { return c.t.addr }

// Connect opens the connection now, if it is not open.
func (c *Client) Connect(ctx context.Context) error {
	_, err := c.getConn(ctx)
	return err
}

// Connected reports whether the client holds a live connection.
func (c *Client) Connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur != nil && !c.cur.isDead()
}

// Close closes the connection. Running commands fail; later calls fail
// with transport.ErrClosed. Closing twice returns nil.
func (c *Client) Close() error {
	c.mu.Lock()
	cur := c.cur
	c.cur, c.closed = nil, true
	c.mu.Unlock()
	if cur != nil {
		cur.close()
	}
	return nil
}

// getConn returns the live connection, dialing (one dial at a time) when
// there is none. A reconnect retries transient failures with backoff for
// up to Config.ReconnectTimeout.
func (c *Client) getConn(ctx context.Context) (*conn, error) {
	if cn, err := c.current(); cn != nil || err != nil {
		return cn, err
	}
	select {
	case c.dialSem <- struct{}{}:
	case <-ctx.Done():
		return nil, c.ctxErr(ctx, "connect")
	}
	defer func() { <-c.dialSem }()
	if cn, err := c.current(); cn != nil || err != nil {
		return cn, err
	}
	c.mu.Lock()
	reconnect := c.connected
	c.mu.Unlock()
	var cn *conn
	op := func() error {
		var err error
		cn, err = c.dial(ctx)
		if _, ok := err.(*backoff.PermanentError); !ok && errors.Is(err, transport.ErrAuthFailed) {
			return backoff.Permanent(err)
		}
		return err
	}
	var err error
	start := c.o.now()
	if reconnect && c.cfg.ReconnectTimeout > 0 {
		c.stats.reconnects.Add(1)
		b := backoff.NewExponentialBackOff()
		b.InitialInterval = 100 * time.Millisecond
		b.MaxInterval = 2 * time.Second
		b.MaxElapsedTime = c.cfg.ReconnectTimeout
		var last error
		err = backoff.RetryNotify(op, backoff.WithContext(b, ctx), func(err error, d time.Duration) {
			last = err
			c.log.Info("reconnect failed, retrying", zap.Error(err), zap.Duration("wait", d))
		})
		if perm, ok := err.(*backoff.PermanentError); ok {
			err = perm.Err
		}
		if err != nil && last != nil && !errors.Is(err, last) {
			err = fmt.Errorf("%w (last attempt: %w)", err, last)
		}
	} else {
		err = op()
		if perm, ok := err.(*backoff.PermanentError); ok {
			err = perm.Err
		}
	}
	c.stats.dials.Add(1)
	if err != nil {
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w: %w", err, ctx.Err())
		}
		return nil, err
	}
	c.log.Debug("connected", zap.String("addr", c.t.addr), zap.Duration("took", c.o.now().Sub(start)))
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		c.mu.Unlock()
		cn.close()
		c.mu.Lock()
		return nil, fmt.Errorf("host %s: %w", c.t.name, transport.ErrClosed)
	}
	c.cur, c.connected = cn, true
	return cn, nil
}

// current returns the live connection, nil if there is none, or
// ErrClosed.
func (c *Client) current() (*conn, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, fmt.Errorf("host %s: %w", c.t.name, transport.ErrClosed)
	}
	cur := c.cur
	if cur != nil && !cur.isDead() {
		c.mu.Unlock()
		return cur, nil
	}
	c.cur = nil
	c.mu.Unlock()
	if cur != nil {
		cur.close() // reap its goroutines; the connection is already gone
	}
	return nil, nil
}

// drop discards cn (if still current) after it failed.
func (c *Client) drop(cn *conn) {
	c.mu.Lock()
	if c.cur == cn {
		c.cur = nil
	}
	c.mu.Unlock()
	cn.close()
}

func (c *Client) ctxErr(ctx context.Context, what string) error {
	return fmt.Errorf("host %s: %s: %w", c.t.name, what, context.Cause(ctx))
}

// newSession opens a session on cn. NewSession can block forever on a
// server that stopped answering (golang/go#26643), so it runs in a
// goroutine that closes the session itself if nobody is waiting anymore.
func (c *Client) newSession(ctx context.Context, cn *conn) (*ssh.Session, error) {
	type result struct {
		s   *ssh.Session
		err error
	}
	ch := make(chan result, 1)
	var mu sync.Mutex
	var finished, abandoned bool
	go func() {
		s, err := cn.client.NewSession()
		mu.Lock()
		if abandoned {
			mu.Unlock()
			if s != nil {
				_ = s.Close()
			}
			return
		}
		finished = true
		mu.Unlock()
		ch <- result{s, err}
	}()
	select {
	case r := <-ch:
		return r.s, r.err
	case <-ctx.Done():
		mu.Lock()
		if finished {
			mu.Unlock()
			if r := <-ch; r.s != nil {
				_ = r.s.Close()
			}
		} else {
			abandoned = true
			mu.Unlock()
		}
		return nil, context.Cause(ctx)
	}
}

// Run runs cmd on the host. See transport.Transport.
//
// A connection found dead before the command starts is re-opened and
// the command runs; one lost after it may have started fails with a
// *transport.ConnectionLostError whose Started is true. When ctx ends (or
// cmd.Timeout expires) the remote command and its process session are
// killed and Run returns. As with os/exec, a cmd.Stdin whose Read blocks
// forever keeps one goroutine until it returns.
func (c *Client) Run(ctx context.Context, cmd transport.Command) (transport.Result, error) {
	wire, err := cmd.Wire(true)
	if err != nil {
		return transport.Result{}, err
	}
	cctx, cancel := transport.CommandContext(ctx, cmd)
	defer cancel()
	start := c.o.now()
	res := transport.Result{Host: c.t.name, Cmd: cmd.String()}
	fail := func(err error) (transport.Result, error) {
		if dl, ok := cctx.Deadline(); ok && !time.Now().Before(dl) {
			// The deadline passed, so cctx is done or about to be: the
			// dial's connection deadline (the same instant) may have
			// fired first. Wait for it, so that an expired cmd.Timeout
			// is reported as such wherever it struck.
			<-cctx.Done()
		}
		if terr := transport.TimeoutErr(cctx, c.t.name, cmd); terr != nil {
			err = terr
		}
		c.log.Debug("run failed", zap.String("cmd", res.Cmd), zap.Error(err))
		res.Duration = c.o.now().Sub(start)
		return res, err
	}
	select {
	case c.sem <- struct{}{}:
	case <-cctx.Done():
		return fail(c.ctxErr(cctx, res.Cmd))
	}
	defer func() { <-c.sem }()
	c.stats.active.Add(1)
	defer c.stats.active.Add(-1)
	c.stats.runs.Add(1)

	var sess *ssh.Session
	var cn *conn
	var busy backoff.BackOff // for sessions refused by the server
	for attempt := 0; ; {
		cn, err = c.getConn(cctx)
		if err != nil {
			if cctx.Err() != nil {
				return fail(fmt.Errorf("%w: %w", c.ctxErr(cctx, res.Cmd), err))
			}
			return fail(err)
		}
		sess, err = c.newSession(cctx, cn)
		if err == nil {
			break
		}
		if cctx.Err() != nil {
			return fail(c.ctxErr(cctx, res.Cmd))
		}
		if _, ok := errors.AsType[*ssh.OpenChannelError](err); ok {
			// The server refused the session and nothing ran. sshd frees
			// a closed session's slot only after it has read the next
			// packets, so a burst can briefly exceed MaxSessions: retry.
			if busy == nil {
				busy = backoff.WithContext(sessionBackOff(), cctx)
			}
			d := busy.NextBackOff()
			if d == backoff.Stop {
				return fail(fmt.Errorf("host %s: open session: %w", c.t.name, err))
			}
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-cctx.Done():
				t.Stop()
			}
			continue
		}
		// The connection is dead and the command did not start: it is
		// safe to reconnect and try once more.
		c.drop(cn)
		if attempt > 0 {
			return fail(&transport.ConnectionLostError{Host: c.t.name, Started: false, Err: err})
		}
		attempt++
		c.log.Info("connection lost before command, reconnecting", zap.Error(err))
	}
	defer sess.Close()

	var outCap, errCap *transport.Capture
	if cmd.Stdout != nil {
		sess.Stdout = cmd.Stdout
	} else {
		outCap = transport.NewCapture(cmd.MaxOutput)
		sess.Stdout = &pooledWriter{w: outCap, pool: &c.bufs}
	}
	if cmd.Stderr != nil {
		sess.Stderr = cmd.Stderr
	} else {
		errCap = transport.NewCapture(cmd.MaxOutput)
		sess.Stderr = &pooledWriter{w: errCap, pool: &c.bufs}
	}
	var in *stdinCopy
	var stdinW io.WriteCloser
	var stdinR io.Reader
	if cmd.Stdin != nil || len(wire.StdinPrefix) > 0 {
		if stdinW, err = sess.StdinPipe(); err != nil {
			return fail(fmt.Errorf("host %s: stdin: %w", c.t.name, err))
		}
		stdinR = bytes.NewReader(wire.StdinPrefix)
		if cmd.Stdin != nil {
			stdinR = io.MultiReader(stdinR, cmd.Stdin)
		}
	}

	// The token marks the command's processes so that a cancel can kill
	// them even where sshd refuses signals (root logins).
	token := rand.Text()
	line := "UPGRADEKIT_RUN=" + token + "; export UPGRADEKIT_RUN; " + wire.ShellLine()
	c.log.Debug("run", zap.String("cmd", res.Cmd))
	// When ctx ends (even while exec is still unanswered): stop the remote
	// command, close the channel and let Start or Wait return. A server
	// that does not even answer the close within 2s gets its connection
	// dropped, which ends both.
	waited, cancelled := make(chan struct{}), make(chan struct{})
	stop := context.AfterFunc(cctx, func() {
		defer close(cancelled)
		_ = sess.Signal(ssh.SIGKILL)
		c.killRemote(cn, token)
		_ = sess.Close()
		t := time.NewTimer(2 * time.Second)
		defer t.Stop()
		select {
		case <-waited:
		case <-t.C:
			c.drop(cn)
		}
	})
	if err := sess.Start(line); err != nil {
		close(waited)
		if !stop() {
			<-cancelled
			return fail(c.ctxErr(cctx, res.Cmd))
		}
		if strings.HasPrefix(err.Error(), "ssh: command ") {
			// The server answered no to exec: nothing ran.
			return fail(fmt.Errorf("host %s: %s: %w", c.t.name, res.Cmd, err))
		}
		return fail(&transport.ConnectionLostError{Host: c.t.name, Started: true, Err: err})
	}
	if stdinW != nil {
		// Only now: sshd drops channel data that arrives before exec.
		in = &stdinCopy{}
		go in.run(stdinW, stdinR, sess)
	}

	err = sess.Wait()
	close(waited)
	if !stop() {
		<-cancelled
		c.fillOutput(&res, outCap, errCap)
		return fail(c.ctxErr(cctx, res.Cmd))
	}
	c.fillOutput(&res, outCap, errCap)
	res.Duration = c.o.now().Sub(start)
	if in != nil {
		if rerr := in.readError(); rerr != nil {
			return fail(fmt.Errorf("host %s: %s: read stdin: %w", c.t.name, res.Cmd, rerr))
		}
	}
	switch e := err.(type) {
	case nil:
	case *ssh.ExitError:
		res.ExitCode = e.ExitStatus()
		if sig := e.Signal(); sig != "" {
			res.Signal, res.ExitCode = sig, -1
		}
	case *ssh.ExitMissingError:
		c.drop(cn)
		return fail(&transport.ConnectionLostError{Host: c.t.name, Started: true, Err: err})
	default:
		if cn.isDead() || connLostCause(err) {
			c.drop(cn)
			return fail(&transport.ConnectionLostError{Host: c.t.name, Started: true, Err: err})
		}
		return fail(fmt.Errorf("host %s: %s: %w", c.t.name, res.Cmd, err))
	}
	c.log.Debug("done", zap.String("cmd", res.Cmd), zap.Int("exit", res.ExitCode), zap.Duration("took", res.Duration))
	return res, nil
}

func sessionBackOff() backoff.BackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 5 * time.Millisecond
	b.MaxInterval = 200 * time.Millisecond
	b.MaxElapsedTime = 10 * time.Second
	return b
}

// killScript kills every process carrying UPGRADEKIT_RUN=$1 in its
// environment and every process in their sessions (which catches children
// whose environment sudo reset). It needs only sh, grep and /proc: no
// procps on the host.
const killScript = `pids=$(grep -lzxF "UPGRADEKIT_RUN=$1" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3)
[ -n "$pids" ] || exit 0
sids=
for p in $pids; do
  read -r st < "/proc/$p/stat" 2>/dev/null || continue
  set -- ${st##*) }
  [ "$4" -gt 1 ] 2>/dev/null && sids="$sids $4"
done
for f in /proc/[0-9]*/stat; do
  read -r st < "$f" 2>/dev/null || continue
  set -- ${st##*) }
  case " $sids " in *" $4 "*) p=${f#/proc/}; pids="$pids ${p%/stat}";; esac
done
kill -KILL $pids 2>/dev/null
exit 0`

// killRemote stops a cancelled command's processes from a second
// session; best effort, bounded to a few seconds.
func (c *Client) killRemote(cn *conn, token string) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	s, err := c.newSession(ctx, cn)
	if err != nil {
		c.log.Debug("kill cancelled command", zap.Error(err))
		return
	}
	defer s.Close()
	stop := context.AfterFunc(ctx, func() { _ = s.Close() })
	defer stop()
	if err := s.Run(transport.Join([]string{"/bin/sh", "-c", killScript, "sh", token})); err != nil {
		c.log.Debug("kill cancelled command", zap.Error(err))
	}
}

func (c *Client) fillOutput(res *transport.Result, out, errc *transport.Capture) {
	if out != nil {
		res.Stdout, res.StdoutTruncated = out.Bytes(), out.Truncated()
	}
	if errc != nil {
		res.Stderr, res.StderrTruncated = errc.Bytes(), errc.Truncated()
	}
}

// stdinCopy feeds the session's stdin. A failure to read the caller's
// reader aborts the command (so the remote side never mistakes a short
// input for a complete one) and is reported by Run.
type stdinCopy struct {
	mu      sync.Mutex
	readErr error
}

func (s *stdinCopy) run(w io.WriteCloser, r io.Reader, sess *ssh.Session) {
	buf := make([]byte, 64<<10)
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return // the command exited or the channel closed
			}
		}
		if rerr == io.EOF {
			_ = w.Close()
			return
		}
		if rerr != nil {
			s.mu.Lock()
			s.readErr = rerr
			s.mu.Unlock()
			_ = sess.Signal(ssh.SIGKILL)
			_ = sess.Close()
			return
		}
	}
}

func (s *stdinCopy) readError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.readErr
}

// DialContext opens a TCP connection from the host to addr through the
// SSH connection (a direct-tcpip channel), e.g. to reach MySQL on the
// host's loopback.
func (c *Client) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	for attempt := 0; ; attempt++ {
		cn, err := c.getConn(ctx)
		if err != nil {
			return nil, err
		}
		nc, err := cn.client.DialContext(ctx, network, addr)
		if err == nil {
			return nc, nil
		}
		if ctx.Err() != nil || attempt > 0 || !cn.isDead() && !connLostCause(err) {
			return nil, fmt.Errorf("host %s: dial %s via ssh: %w", c.t.name, addr, err)
		}
		c.drop(cn)
	}
}

// Stats describes a Client's activity.
type Stats struct {
	Connected  bool
	Dials      int64 // connection attempts that ran (including failed ones)
	Reconnects int64
	Runs       int64 // commands started
	Active     int64 // commands running now
}

// Stats returns the client's counters.
func (c *Client) Stats() Stats {
	return Stats{
		Connected:  c.Connected(),
		Dials:      c.stats.dials.Load(),
		Reconnects: c.stats.reconnects.Load(),
		Runs:       c.stats.runs.Load(),
		Active:     c.stats.active.Load(),
	}
}
