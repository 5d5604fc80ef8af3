package ssh

import (
	"context"
	"errors"
	"net"
	"time"

	"go.uber.org/zap"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// Option changes how a Client or Pool behaves.
type Option interface {
	apply(*options) error
}

type optionFunc func(*options) error

func (f optionFunc) apply(o *options) error { return f(o) }

// ContextDialer opens the TCP connection to the first hop.
type ContextDialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

type options struct {
	log        *zap.Logger
	policy     *HostKeyPolicy
	passphrase func(file string) ([]byte, error)
	agent      agent.Agent
	signers    []ssh.Signer
	dialer     ContextDialer
	now        func() time.Time
}

func newOptions(opts []Option) (*options, error) {
	o := &options{
		log:    zap.NewNop(),
		policy: Strict(),
		dialer: &net.Dialer{KeepAlive: 30 * time.Second},
		now:    time.Now,
	}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt.apply(o); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// WithLogger logs connections and commands (redacted) to l; the default
// discards everything.
func WithLogger(l *zap.Logger) Option {
	return optionFunc(func(o *options) error {
		if l == nil {
			return errors.New("ssh: WithLogger: nil logger")
		}
		o.log = l
		return nil
	})
}

// WithHostKeyPolicy sets how host keys are checked against known_hosts:
// Strict (the default) or TrustOnFirstUse. A changed key is refused by
// every policy.
func WithHostKeyPolicy(p *HostKeyPolicy) Option {
	return optionFunc(func(o *options) error {
		if p == nil {
			return errors.New("ssh: WithHostKeyPolicy: nil policy")
		}
		o.policy = p
		return nil
	})
}

// WithPassphrase supplies the passphrase of encrypted identity files;
// fn is called once per encrypted file when the Client is created, and
// the slice it returns is zeroed after use.
func WithPassphrase(fn func(file string) ([]byte, error)) Option {
	return optionFunc(func(o *options) error {
		if fn == nil {
			return errors.New("ssh: WithPassphrase: nil func")
		}
		o.passphrase = fn
		return nil
	})
}

// WithAgent offers the keys of a (for example in-process) agent; it
// implies Config.UseAgent and replaces Config.AgentSocket.
func WithAgent(a agent.Agent) Option {
	return optionFunc(func(o *options) error {
		if a == nil {
			return errors.New("ssh: WithAgent: nil agent")
		}
		o.agent = a
		return nil
	})
}

// WithSigners offers these keys in addition to identity files and agent.
func WithSigners(s ...ssh.Signer) Option {
	return optionFunc(func(o *options) error {
		o.signers = append(o.signers, s...)
		return nil
	})
}

// WithDialer opens the first hop's TCP connection through d instead of a
// net.Dialer.
func WithDialer(d ContextDialer) Option {
	return optionFunc(func(o *options) error {
		if d == nil {
			return errors.New("ssh: WithDialer: nil dialer")
		}
		o.dialer = d
		return nil
	})
}

// WithClock sets the clock used for Result.Duration and transfer
// durations.
func WithClock(now func() time.Time) Option {
	return optionFunc(func(o *options) error {
		if now == nil {
			return errors.New("ssh: WithClock: nil clock")
		}
		o.now = now
		return nil
	})
}
