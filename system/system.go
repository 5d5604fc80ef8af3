package system

import (
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.uber.org/zap"

	"github.com/upgradekit/upgradekit/transport"
)

// System runs the package's operations with a configuration. The zero
// value is usable: commands run as root through sudo, nothing is logged,
// the clock is time.Now and the package manager is detected per host.
// The package-level functions use a zero System. A System is safe for
// concurrent use.
type System struct {
	noSudo     bool
	logger     *zap.Logger
	now        func() time.Time
	pm         PackageManager
	waitMax    time.Duration
	waitFirst  time.Duration
	waitPeriod time.Duration
	newTimer   func() backoff.Timer
}

// Option configures a System.
type Option interface{ apply(*System) error }

type optionFunc func(*System) error

func (f optionFunc) apply(s *System) error { return f(s) }

// New returns a System configured by opts.
func New(opts ...Option) (*System, error) {
	s := &System{}
	for _, o := range opts {
		if err := o.apply(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// WithLogger logs the operations (commands redacted); the default logs
// nothing.
func WithLogger(l *zap.Logger) Option {
	return optionFunc(func(s *System) error {
		if l == nil {
			return errors.New("system: nil logger")
		}
		s.logger = l
		return nil
	})
}

// WithSudo sets whether commands run as root through `sudo -n` (the
// default). Turn it off when the transport already logs in as root.
func WithSudo(sudo bool) Option {
	return optionFunc(func(s *System) error { s.noSudo = !sudo; return nil })
}

// WithClock sets the clock used for backup names and durations.
func WithClock(now func() time.Time) Option {
	return optionFunc(func(s *System) error {
		if now == nil {
			return errors.New("system: nil clock")
		}
		s.now = now
		return nil
	})
}

// WithPackageManager skips detection and uses pm on every host.
func WithPackageManager(pm PackageManager) Option {
	return optionFunc(func(s *System) error {
		switch pm {
		case Apt, Dnf, Yum, Zypper:
			s.pm = pm
			return nil
		}
		return fmt.Errorf("system: unknown package manager %q", pm)
	})
}

// WithWaitTimeout bounds WaitStopped (default 2 minutes).
func WithWaitTimeout(d time.Duration) Option {
	return optionFunc(func(s *System) error {
		if d <= 0 {
			return fmt.Errorf("system: wait timeout %s must be positive", d)
		}
		s.waitMax = d
		return nil
	})
}

// WithPollInterval sets the first and the longest interval between polls
// in WaitStopped (defaults 500ms and 5s; the interval grows exponentially
// in between).
func WithPollInterval(first, max time.Duration) Option {
	return optionFunc(func(s *System) error {
		if first <= 0 || max < first {
			return fmt.Errorf("system: poll interval %s..%s is invalid", first, max)
		}
		s.waitFirst, s.waitPeriod = first, max
		return nil
	})
}

// WithTimer makes WaitStopped sleep between polls on a timer from newTimer
// (called once per wait) instead of a real-time one, so it can run on a
// virtual clock: with the simulator, pass cloud.Clock().NewTimer together
// with WithClock(cloud.Clock().Now). With WithTimer, WaitStopped measures
// its timeout (WithWaitTimeout) with WithClock's clock; without it, in
// real time as before.
func WithTimer(newTimer func() backoff.Timer) Option {
	return optionFunc(func(s *System) error {
		if newTimer == nil {
			return errors.New("system: nil timer")
		}
		s.newTimer = newTimer
		return nil
	})
}

func (s *System) log() *zap.Logger {
	if s == nil || s.logger == nil {
		return zap.NewNop()
	}
	return s.logger
}

func (s *System) clock() time.Time {
	if s == nil || s.now == nil {
		return time.Now()
	}
	return s.now()
}

func (s *System) sudo() bool { return s == nil || !s.noSudo }

// root returns c to run as root unless sudo was turned off.
func (s *System) root(c transport.Command) transport.Command {
	if s.sudo() {
		return c.AsRoot()
	}
	return c
}

func (s *System) fileOpts() transport.FileOptions {
	return transport.FileOptions{Sudo: s.sudo()}
}

func hostField(t transport.Transport) zap.Field { return zap.String("host", transport.HostName(t)) }
