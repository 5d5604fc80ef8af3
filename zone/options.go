package zone

import (
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.uber.org/zap"

	"github.com/upgradekit/upgradekit/internal/onecli"
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
	if err := onecli.Apply(opts, func(opt Option) error { return opt.apply(o) }); err != nil {
		return nil, err
	}
	if o.maxInterval < o.interval {
		o.maxInterval = o.interval
	}
	return o, nil
}

// WithLogger logs polls and commands to l (default: no logging).
func WithLogger(l *zap.Logger) Option {
	return optionFunc(func(o *options) error { return onecli.SetLogger("zone", &o.log, l) })
}

// WithUser runs every command as user through sudo (Command.AsUser). The
// default is the login user.
func WithUser(user string) Option {
	return optionFunc(func(o *options) error { return onecli.SetUser("zone", &o.user, user, ErrInvalidArgument) })
}

// WithEndpoint sends the commands to the oned at url (`--endpoint url`,
// appended as the last two argv words) instead of the CLI's default
// endpoint. Enable/Disable and ServerAdd must reach an oned of the target
// zone: in a federation pass that zone's endpoint.
func WithEndpoint(url string) Option {
	return optionFunc(func(o *options) error { return onecli.SetEndpoint("zone", &o.endpoint, url, ErrInvalidArgument) })
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
		return onecli.SetPollInterval("zone", &o.interval, &o.maxInterval, first, largest, ErrInvalidArgument)
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
	return optionFunc(func(o *options) error { return onecli.SetClock("zone", &o.now, now) })
}

// WithTimer makes the waits sleep between polls on timers from newTimer
// (called once per wait) instead of real-time ones, so they can run on a
// virtual clock: with the simulator, pass cloud.Clock().NewTimer together
// with WithClock(cloud.Clock().Now), since the timeout is measured with
// WithClock's clock.
func WithTimer(newTimer func() backoff.Timer) Option {
	return optionFunc(func(o *options) error { return onecli.SetTimer("zone", &o.newTimer, newTimer) })
}

// timer returns a fresh timer for one wait, or nil for the backoff
// package's real-time default.
func (o *options) timer() backoff.Timer {
	return onecli.Timer(o.newTimer)
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
