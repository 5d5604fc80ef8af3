package ssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.uber.org/zap"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/upgradekit/upgradekit/transport"
)

// conn is one established connection to the host (plus the bastion
// connections it runs through) with its keepalive and watcher goroutines.
type conn struct {
	client *ssh.Client
	hops   []*ssh.Client // bastions, first hop first
	dead   chan struct{} // closed when the connection is gone
	stop   chan struct{} // closed by close: stops the keepalive loop
	wg     sync.WaitGroup
	once   sync.Once
	log    *zap.Logger
}

// isDead reports whether the connection is known to be gone.
func (cn *conn) isDead() bool {
	select {
	case <-cn.dead:
		return true
	default:
		return false
	}
}

// close closes the connection and its hops and waits for its goroutines.
func (cn *conn) close() {
	cn.once.Do(func() {
		close(cn.stop)
		_ = cn.client.Close()
		for i := len(cn.hops) - 1; i >= 0; i-- {
			_ = cn.hops[i].Close()
		}
	})
	cn.wg.Wait()
}

// start launches the goroutines the connection owns: a watcher that marks
// it dead when the transport ends, and the keepalive loop.
func (cn *conn) start(interval time.Duration, maxMiss int) {
	cn.wg.Go(func() {
		_ = cn.client.Wait()
		close(cn.dead)
	})
	if interval > 0 {
		cn.wg.Go(func() { cn.keepalive(interval, maxMiss) })
	}
}

// keepalive sends keepalive@openssh.com every interval. A probe still
// unanswered at the next tick is a miss; after maxMiss misses in a row,
// or a failed probe, the connection is closed, which fails running
// commands with a lost connection.
func (cn *conn) keepalive(interval time.Duration, maxMiss int) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var pending chan error
	var probes sync.WaitGroup
	defer probes.Wait()
	misses := 0
	kill := func(reason string) {
		cn.log.Warn("closing dead connection", zap.String("reason", reason))
		_ = cn.client.Close()
	}
	for {
		select {
		case <-cn.stop:
			return
		case <-cn.dead:
			return
		case err := <-pending:
			pending = nil
			if err != nil {
				kill("keepalive: " + err.Error())
				return
			}
			misses = 0
		case <-t.C:
			if pending != nil {
				misses++
				if misses >= maxMiss {
					kill(fmt.Sprintf("%d keepalives unanswered", misses))
					return
				}
				continue
			}
			p := make(chan error, 1)
			pending = p
			probes.Go(func() {
				_, _, err := cn.client.SendRequest("keepalive@openssh.com", true, nil)
				p <- err
			})
		}
	}
}

// dial establishes a connection to t through its bastions.
func (c *Client) dial(ctx context.Context) (*conn, error) {
	cn := &conn{dead: make(chan struct{}), stop: make(chan struct{}), log: c.log}
	var prev *ssh.Client
	hops := append(append([]target(nil), c.t.jumps...), c.t)
	for i, hop := range hops {
		cl, err := c.dialHop(ctx, hop, prev)
		if err != nil {
			for j := len(cn.hops) - 1; j >= 0; j-- {
				_ = cn.hops[j].Close()
			}
			if i < len(hops)-1 {
				if perm, ok := err.(*backoff.PermanentError); ok {
					return nil, backoff.Permanent(fmt.Errorf("via bastion %s: %w", hop.name, perm.Err))
				}
				return nil, fmt.Errorf("via bastion %s: %w", hop.name, err)
			}
			return nil, err
		}
		if i < len(hops)-1 {
			cn.hops = append(cn.hops, cl)
		}
		prev = cl
		cn.client = cl
	}
	cn.start(c.cfg.KeepAliveInterval, c.cfg.KeepAliveMax)
	return cn, nil
}

// dialHop opens the TCP connection (directly, or through prev) and runs
// the SSH handshake under ctx and ConnectTimeout.
func (c *Client) dialHop(ctx context.Context, t target, prev *ssh.Client) (*ssh.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.ConnectTimeout)
	defer cancel()
	var nc net.Conn
	var err error
	if prev == nil {
		nc, err = c.o.dialer.DialContext(ctx, "tcp", t.addr)
	} else {
		nc, err = prev.DialContext(ctx, "tcp", t.addr)
	}
	if err != nil {
		return nil, classifyDial(ctx, t, err)
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	hc, algos, err := newHostKeyCheck(t.name, t.addr, t.knownHosts, c.o.policy)
	if err != nil {
		_ = nc.Close()
		return nil, backoff.Permanent(err)
	}
	auth, closeAuth, err := c.authMethods(t)
	if err != nil {
		_ = nc.Close()
		return nil, backoff.Permanent(err)
	}
	defer closeAuth()
	cfg := &ssh.ClientConfig{
		User:              t.user,
		Auth:              auth,
		HostKeyCallback:   hc.check,
		HostKeyAlgorithms: algos,
		Timeout:           c.cfg.ConnectTimeout,
	}
	cfg.Ciphers = c.cfg.Ciphers
	cfg.KeyExchanges = c.cfg.KeyExchanges
	cfg.MACs = c.cfg.MACs
	// The handshake has no deadline of its own (golang/go#15113): bound it
	// by the connection deadline and close the connection if ctx ends.
	deadline, _ := ctx.Deadline()
	_ = nc.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = nc.Close() })
	sc, chans, reqs, err := ssh.NewClientConn(nc, t.addr, cfg)
	stopped := stop()
	if err != nil {
		_ = nc.Close()
		return nil, classifyHandshake(ctx, t, hc, err)
	}
	if !stopped {
		_ = sc.Close()
		return nil, classifyDial(ctx, t, ctx.Err())
	}
	_ = nc.SetDeadline(time.Time{})
	return ssh.NewClient(sc, chans, reqs), nil
}

// classifyDial reports a TCP connect failure.
func classifyDial(ctx context.Context, t target, err error) error {
	if ctx.Err() != nil && errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
		return fmt.Errorf("host %s: dial %s: %w: %w", t.name, t.addr, transport.ErrTimeout, err)
	}
	return fmt.Errorf("host %s: dial %s: %w", t.name, t.addr, err)
}

// classifyHandshake turns a handshake failure into the transport's typed
// errors: host key problems are permanent, auth rejection is
// transport.ErrAuthFailed, a stall is transport.ErrTimeout.
func classifyHandshake(ctx context.Context, t target, hc *hostKeyCheck, err error) error {
	if mm := hc.algorithmMismatch(err); mm != nil {
		return backoff.Permanent(mm)
	}
	switch {
	case hc.err != nil:
		return backoff.Permanent(hc.err)
	case strings.Contains(err.Error(), "unable to authenticate"):
		return fmt.Errorf("host %s: user %s: %w: %w", t.name, t.user, transport.ErrAuthFailed, err)
	case ctx.Err() != nil:
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("host %s: handshake: %w: %w", t.name, transport.ErrTimeout, err)
		}
		return fmt.Errorf("host %s: handshake: %w: %w", t.name, ctx.Err(), err)
	case isTimeout(err):
		return fmt.Errorf("host %s: handshake: %w: %w", t.name, transport.ErrTimeout, err)
	}
	return fmt.Errorf("host %s: handshake: %w", t.name, err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// authMethods returns a single public key method offering identity files,
// extra signers and agent keys (x/crypto tries each method name once, so
// they must share one). The returned func closes the agent connection.
func (c *Client) authMethods(t target) ([]ssh.AuthMethod, func(), error) {
	signers := append([]ssh.Signer(nil), c.signers...)
	if t.idOptional || len(t.identityFiles) > 0 {
		s, err := c.loadIdentities(t)
		if err != nil {
			return nil, func() {}, err
		}
		signers = append(signers, s...)
	}
	ag := c.o.agent
	closeAuth := func() {}
	if ag == nil && c.cfg.UseAgent {
		if c.cfg.AgentSocket == "" {
			return nil, closeAuth, errors.New("ssh: UseAgent set but no AgentSocket")
		}
		ac, err := net.Dial("unix", c.cfg.AgentSocket)
		if err != nil {
			return nil, closeAuth, fmt.Errorf("ssh: agent: %w", err)
		}
		ag = agent.NewClient(ac)
		closeAuth = func() { _ = ac.Close() }
	}
	if ag == nil && len(signers) == 0 {
		return nil, closeAuth, fmt.Errorf("ssh: host %s: no identity files, signers or agent to authenticate with", t.name)
	}
	cb := func() ([]ssh.Signer, error) {
		if ag == nil {
			return signers, nil
		}
		as, err := ag.Signers()
		if err != nil {
			return signers, nil
		}
		return append(as, signers...), nil
	}
	return []ssh.AuthMethod{ssh.PublicKeysCallback(cb)}, closeAuth, nil
}

// loadIdentities reads t's identity files (cached per Client: the
// passphrase callback runs once per file).
func (c *Client) loadIdentities(t target) ([]ssh.Signer, error) {
	c.idMu.Lock()
	defer c.idMu.Unlock()
	var out []ssh.Signer
	for _, f := range t.identityFiles {
		if s, ok := c.ids[f]; ok {
			out = append(out, s)
			continue
		}
		s, err := c.readIdentity(f)
		if err != nil {
			if t.idOptional && errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, err
		}
		c.ids[f] = s
		out = append(out, s)
	}
	return out, nil
}

func (c *Client) readIdentity(file string) (ssh.Signer, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("ssh: identity: %w", err)
	}
	s, err := ssh.ParsePrivateKey(pem)
	if _, ok := errors.AsType[*ssh.PassphraseMissingError](err); ok {
		if c.o.passphrase == nil {
			return nil, fmt.Errorf("ssh: identity %s is encrypted and no WithPassphrase was given", file)
		}
		pass, perr := c.o.passphrase(file)
		if perr != nil {
			return nil, fmt.Errorf("ssh: identity %s: passphrase: %w", file, perr)
		}
		s, err = ssh.ParsePrivateKeyWithPassphrase(pem, pass)
		clear(pass)
	}
	if err != nil {
		return nil, fmt.Errorf("ssh: identity %s: %w", file, err)
	}
	return s, nil
}

// connLostCause reports whether err means the connection itself failed.
func connLostCause(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || isTimeout(err)
}
