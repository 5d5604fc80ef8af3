package vm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.uber.org/zap"

	"github.com/upgradekit/upgradekit/internal/onecli"
	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/zone"
)

// Option changes how a function of this package runs. Options a function
// has no use for are ignored.
type Option interface {
	apply(*options) error
}

type optionFunc func(*options) error

func (f optionFunc) apply(o *options) error { return f(o) }

// Defaults for WaitSettled.
const (
	DefaultTimeout      = 30 * time.Minute
	DefaultPollInterval = 2 * time.Second
	DefaultMaxInterval  = 30 * time.Second
)

// ErrInvalidArgument: an option was rejected before anything ran.
var ErrInvalidArgument = errors.New("invalid argument")

type options struct {
	log         *zap.Logger
	user        string
	endpoint    string
	timeout     time.Duration
	interval    time.Duration
	maxInterval time.Duration
	now         func() time.Time
	filter      func(VM) bool
	newTimer    func() backoff.Timer
}

func newOptions(opts []Option) (*options, error) {
	o := &options{log: zap.NewNop(), timeout: DefaultTimeout, interval: DefaultPollInterval,
		maxInterval: DefaultMaxInterval, now: time.Now}
	if err := onecli.Apply(opts, func(opt Option) error { return opt.apply(o) }); err != nil {
		return nil, err
	}
	return o, nil
}

// WithLogger logs commands and polls to l (default: no logging).
func WithLogger(l *zap.Logger) Option {
	return optionFunc(func(o *options) error { return onecli.SetLogger("vm", &o.log, l) })
}

// WithUser runs the commands as user through sudo (default: the login user).
func WithUser(user string) Option {
	return optionFunc(func(o *options) error { return onecli.SetUser("vm", &o.user, user, ErrInvalidArgument) })
}

// WithEndpoint sends the commands to the oned at url (`--endpoint url`,
// appended as the last two argv words).
func WithEndpoint(url string) Option {
	return optionFunc(func(o *options) error { return onecli.SetEndpoint("vm", &o.endpoint, url, ErrInvalidArgument) })
}

// WithTimeout bounds WaitSettled (backoff MaxElapsedTime; default
// DefaultTimeout). d <= 0 means no bound but ctx.
func WithTimeout(d time.Duration) Option {
	return optionFunc(func(o *options) error { o.timeout = max(d, 0); return nil })
}

// WithPollInterval sets the first and largest interval between polls.
func WithPollInterval(first, largest time.Duration) Option {
	return optionFunc(func(o *options) error {
		return onecli.SetPollInterval("vm", &o.interval, &o.maxInterval, first, largest, ErrInvalidArgument)
	})
}

// WithClock sets the clock WaitSettled measures its timeout with.
func WithClock(now func() time.Time) Option {
	return optionFunc(func(o *options) error { return onecli.SetClock("vm", &o.now, now) })
}

// WithTimer makes WaitSettled sleep between polls on a timer from
// newTimer (called once per wait) instead of a real-time one, so it can
// run on a virtual clock: with the simulator, pass cloud.Clock().NewTimer
// together with WithClock(cloud.Clock().Now), since the timeout is
// measured with WithClock's clock.
func WithTimer(newTimer func() backoff.Timer) Option {
	return optionFunc(func(o *options) error { return onecli.SetTimer("vm", &o.newTimer, newTimer) })
}

// WithFilter makes WaitSettled consider only the VMs keep returns true for
// (e.g. the VMs on the hosts being upgraded).
func WithFilter(keep func(VM) bool) Option {
	return optionFunc(func(o *options) error {
		if keep == nil {
			return fmt.Errorf("vm: WithFilter(nil): %w", ErrInvalidArgument)
		}
		o.filter = keep
		return nil
	})
}

// List runs `onevm list -x` and parses it (ParseList). The pool excludes
// DONE VMs.
func List(ctx context.Context, t transport.Transport, opts ...Option) ([]VM, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	return list(ctx, t, o)
}

func list(ctx context.Context, t transport.Transport, o *options) ([]VM, error) {
	c := transport.Query("onevm", "list", "-x")
	if o.endpoint != "" {
		c = c.WithArgs("--endpoint", o.endpoint)
	}
	if o.user != "" {
		c = c.AsUser(o.user)
	}
	o.log.Debug("run", zap.String("host", transport.HostName(t)), zap.Stringer("cmd", c))
	out, err := transport.Output(ctx, t, c)
	if err != nil {
		return nil, fmt.Errorf("vm list: %w", zone.ClassifyError(err))
	}
	return ParseList(out)
}

// ErrFailedVMs is matched by *FailedError.
var ErrFailedVMs = errors.New("VMs in a failure state")

// ErrTimeout: WaitSettled ran out of time (WithTimeout).
var ErrTimeout = errors.New("wait timed out")

// FailedError names the VMs in a failure (or unknown) state that stopped
// WaitSettled at once: they need `onevm recover`, not time.
type FailedError struct {
	VMs []VM
}

func (e *FailedError) Error() string {
	return fmt.Sprintf("%d VMs in a failure state: %s", len(e.VMs), describe(e.VMs))
}

// Is makes errors.Is(err, ErrFailedVMs) true.
func (e *FailedError) Is(target error) bool { return target == ErrFailedVMs }

// NotSettledError reports VMs still transient when WaitSettled stopped.
type NotSettledError struct {
	// Transient are the VMs still transient at the last observation (nil
	// if there was none).
	Transient []VM
	// Err is the error of the last attempt to list the VMs, nil if it
	// succeeded. Cause is ErrTimeout or the context's error.
	Err, Cause error
}

func (e *NotSettledError) Error() string {
	msg := "VMs not settled"
	if e.Cause != nil {
		msg += " (" + e.Cause.Error() + ")"
	}
	if e.Transient != nil {
		msg += fmt.Sprintf(": %d transient: %s", len(e.Transient), describe(e.Transient))
	} else {
		msg += ": never listed"
	}
	if e.Err != nil {
		msg += "; last error: " + e.Err.Error()
	}
	return msg
}

// Unwrap returns Cause and Err.
func (e *NotSettledError) Unwrap() []error {
	var errs []error
	for _, err := range []error{e.Cause, e.Err} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

func describe(vms []VM) string {
	parts := make([]string, len(vms))
	for i, v := range vms {
		parts[i] = fmt.Sprintf("%d (%s) %s", v.ID, v.Name, v.StateName())
	}
	return strings.Join(parts, ", ")
}

var errNotYet = errors.New("not yet")

// WaitSettled polls `onevm list -x` until no VM (of those WithFilter
// keeps) is Transient and returns the last list. As soon as one is Failed
// or Unknown it stops with a *FailedError naming every such VM (waiting
// would not help). On timeout (WithTimeout, default DefaultTimeout) or
// when ctx ends it returns a *NotSettledError with the VMs still
// transient, the last error and the cause. Polls use a fresh exponential
// backoff (WithPollInterval); failed commands are retried, unparsable
// output stops the wait with the *ParseError.
func WaitSettled(ctx context.Context, t transport.Transport, opts ...Option) ([]VM, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b := onecli.BackOff(o.interval, max(o.maxInterval, o.interval), o.timeout, o.now)
	var last, transient []VM
	var lastErr error
	permanent := false
	timer := onecli.Timer(o.newTimer) // nil: the backoff package's real-time timer
	err = backoff.RetryNotifyWithTimer(func() error {
		vms, err := list(ctx, t, o)
		lastErr = err
		if err != nil {
			if _, ok := errors.AsType[*ParseError](err); ok {
				permanent = true
				return backoff.Permanent(err)
			}
			return err
		}
		if o.filter != nil {
			kept := vms[:0:0]
			for _, v := range vms {
				if o.filter(v) {
					kept = append(kept, v)
				}
			}
			vms = kept
		}
		var failed []VM
		transient = []VM{}
		for _, v := range vms {
			switch Classify(v) {
			case Failed, Unknown:
				failed = append(failed, v)
			case Transient:
				transient = append(transient, v)
			}
		}
		last = vms
		if len(failed) > 0 {
			permanent = true
			lastErr = &FailedError{VMs: failed}
			return backoff.Permanent(lastErr)
		}
		if len(transient) > 0 {
			lastErr = errNotYet
			return errNotYet
		}
		return nil
	}, backoff.WithContext(b, ctx), func(err error, d time.Duration) {
		o.log.Debug("VMs not settled yet", zap.Error(err), zap.Int("transient", len(transient)), zap.Duration("retry_in", d))
	}, timer)
	switch {
	case err == nil:
		return last, nil
	case permanent:
		return nil, err
	}
	cause := ErrTimeout
	if ctx.Err() != nil {
		cause = ctx.Err()
	}
	if errors.Is(lastErr, errNotYet) {
		lastErr = nil
	}
	var tr []VM
	if last != nil {
		tr = transient
	}
	return nil, &NotSettledError{Transient: tr, Err: lastErr, Cause: cause}
}
