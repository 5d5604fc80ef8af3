package zone

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.uber.org/zap"

	"github.com/upgradekit/upgradekit/transport"
)

// Option changes how a function of this package runs. Options a function
// has no use for are ignored.
type Option interface {
	apply(*options) error
}

type optionFunc func(*options) error

func (f optionFunc) apply(o *options) error { return f(o) }

// Defaults for the waits.
const (
	DefaultTimeout      = 5 * time.Minute
	DefaultPollInterval = time.Second
	DefaultMaxInterval  = 10 * time.Second
)

type options struct {
	log         *zap.Logger
	user        string
	endpoint    string
	timeout     time.Duration
	interval    time.Duration
	maxInterval time.Duration
	maxLag      int64
	now         func() time.Time
	newTimer    func() backoff.Timer
}

func newOptions(opts []Option) (*options, error) {
	o := &options{
		log:         zap.NewNop(),
		timeout:     DefaultTimeout,
		interval:    DefaultPollInterval,
		maxInterval: DefaultMaxInterval,
		now:         time.Now,
	}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt.apply(o); err != nil {
			return nil, err
		}
	}
	if o.maxInterval < o.interval {
		o.maxInterval = o.interval
	}
	return o, nil
}

// WithLogger logs polls and commands to l (default: no logging).
func WithLogger(l *zap.Logger) Option {
	return optionFunc(func(o *options) error {
		if l == nil {
			return errors.New("zone: WithLogger(nil)")
		}
		o.log = l
		return nil
	})
}

// WithUser runs every command as user through sudo (Command.AsUser). The
// default is the login user.
func WithUser(user string) Option {
	return optionFunc(func(o *options) error {
		if user == "" || strings.HasPrefix(user, "-") {
			return fmt.Errorf("zone: WithUser(%q): %w", user, ErrInvalidArgument)
		}
		o.user = user
		return nil
	})
}

// WithEndpoint sends the commands to the oned at url (`--endpoint url`,
// appended as the last two argv words) instead of the CLI's default
// endpoint. Enable/Disable and ServerAdd must reach an oned of the target
// zone: in a federation pass that zone's endpoint.
func WithEndpoint(url string) Option {
	return optionFunc(func(o *options) error {
		if url == "" || strings.HasPrefix(url, "-") || strings.ContainsAny(url, " \t\n\x00") {
			return fmt.Errorf("zone: WithEndpoint(%q): %w", url, ErrInvalidArgument)
		}
		o.endpoint = url
		return nil
	})
}

// WithTimeout bounds the waits (backoff MaxElapsedTime; default
// DefaultTimeout). d <= 0 means no bound but ctx.
func WithTimeout(d time.Duration) Option {
	return optionFunc(func(o *options) error {
		o.timeout = max(d, 0)
		return nil
	})
}

// WithPollInterval sets the first and the largest interval between polls
// (defaults DefaultPollInterval and DefaultMaxInterval); the interval grows
// exponentially from first to largest.
func WithPollInterval(first, largest time.Duration) Option {
	return optionFunc(func(o *options) error {
		if first <= 0 || largest < first {
			return fmt.Errorf("zone: WithPollInterval(%s, %s): %w", first, largest, ErrInvalidArgument)
		}
		o.interval, o.maxInterval = first, largest
		return nil
	})
}

// WithMaxLag lets a follower's LOG_INDEX and COMMIT trail the leader's by
// at most n entries and still count as caught up (default 0: equal or
// ahead). On a busy cluster the CLI asks the servers one after another,
// so a small lag is normal.
func WithMaxLag(n int64) Option {
	return optionFunc(func(o *options) error {
		if n < 0 {
			return fmt.Errorf("zone: WithMaxLag(%d): %w", n, ErrInvalidArgument)
		}
		o.maxLag = n
		return nil
	})
}

// WithClock sets the clock the waits measure their timeout with (default
// time.Now).
func WithClock(now func() time.Time) Option {
	return optionFunc(func(o *options) error {
		if now == nil {
			return errors.New("zone: WithClock(nil)")
		}
		o.now = now
		return nil
	})
}

// WithTimer makes the waits sleep between polls on timers from newTimer
// (called once per wait) instead of real-time ones, so they can run on a
// virtual clock: with the simulator, pass cloud.Clock().NewTimer together
// with WithClock(cloud.Clock().Now), since the timeout is measured with
// WithClock's clock.
func WithTimer(newTimer func() backoff.Timer) Option {
	return optionFunc(func(o *options) error {
		if newTimer == nil {
			return errors.New("zone: WithTimer(nil)")
		}
		o.newTimer = newTimer
		return nil
	})
}

// timer returns a fresh timer for one wait, or nil for the backoff
// package's real-time default.
func (o *options) timer() backoff.Timer {
	if o.newTimer == nil {
		return nil
	}
	return o.newTimer()
}

// command applies the endpoint and user options to c.
func (o *options) command(c transport.Command) transport.Command {
	if o.endpoint != "" {
		c = c.WithArgs("--endpoint", o.endpoint)
	}
	if o.user != "" {
		c = c.AsUser(o.user)
	}
	return c
}

type clock func() time.Time

func (c clock) Now() time.Time { return c() }
