package upgrade

import (
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/upgradekit/upgradekit/transport"
)

// Option configures a Runner.
type Option interface {
	apply(*options) error
}

type optionFunc func(*options) error

func (f optionFunc) apply(o *options) error { return f(o) }

type options struct {
	store           Store
	locker          Locker
	observers       []func(Event)
	log             *zap.Logger
	now             func() time.Time
	dryRun          *Recorder
	skip, only      []string
	force           []string
	markDone        []string
	preflightSkip   map[string]string
	concurrency     int
	hosts           map[string]transport.Transport
	allowPlanChange bool
	rollbackTimeout time.Duration
	unlockTimeout   time.Duration
	runID           string
	noRollback      bool
	secrets         []transport.Secret
	marks           string
	marksPoll       time.Duration
	direction       string
}

// WithJournal sets the journal store. Without one the run keeps its
// journal in memory only and cannot be resumed.
func WithJournal(s Store) Option {
	return optionFunc(func(o *options) error {
		if s == nil {
			return errors.New("upgrade: WithJournal(nil)")
		}
		o.store = s
		return nil
	})
}

// WithLocker sets the lock taken for the run (not taken in dry-run).
func WithLocker(l Locker) Option {
	return optionFunc(func(o *options) error {
		if l == nil {
			return errors.New("upgrade: WithLocker(nil)")
		}
		o.locker = l
		return nil
	})
}

// WithObserver adds an observer of the run's events.
func WithObserver(fn func(Event)) Option {
	return optionFunc(func(o *options) error {
		if fn == nil {
			return errors.New("upgrade: WithObserver(nil)")
		}
		o.observers = append(o.observers, fn)
		return nil
	})
}

// WithLogger sets the logger; the default is zap.NewNop().
func WithLogger(l *zap.Logger) Option {
	return optionFunc(func(o *options) error {
		if l == nil {
			return errors.New("upgrade: WithLogger(nil)")
		}
		o.log = l
		return nil
	})
}

// WithClock sets the clock for event times, durations and the journal;
// the default is time.Now.
func WithClock(now func() time.Time) Option {
	return optionFunc(func(o *options) error {
		if now == nil {
			return errors.New("upgrade: WithClock(nil)")
		}
		o.now = now
		return nil
	})
}

// WithDryRun makes the run a dry run: every host transport is wrapped
// with DryRun(rec), so read-only commands run and the others are recorded;
// no lock is taken and the journal is read (to preview a resume) but not
// written. Step descriptions go to rec as well.
func WithDryRun(rec *Recorder) Option {
	return optionFunc(func(o *options) error {
		if rec == nil {
			return errors.New("upgrade: WithDryRun(nil)")
		}
		o.dryRun = rec
		return nil
	})
}

// WithSkip skips the named steps or groups (full names). Unknown names
// are an error.
func WithSkip(names ...string) Option {
	return optionFunc(func(o *options) error {
		o.skip = append(o.skip, names...)
		return nil
	})
}

// WithOnly runs only the named steps or groups (full names); the others
// are skipped. Unknown names are an error.
func WithOnly(names ...string) Option {
	return optionFunc(func(o *options) error {
		o.only = append(o.only, names...)
		return nil
	})
}

// WithForce re-runs the named steps if the journal shows them left in
// progress, even though they have no Checker: the operator has verified
// their state.
func WithForce(names ...string) Option {
	return optionFunc(func(o *options) error {
		o.force = append(o.force, names...)
		return nil
	})
}

// WithMarkDone records the named steps as done without running them: the
// operator has verified by hand that a step left in progress (or never
// run) had its effect. The journal keeps the reason.
func WithMarkDone(names ...string) Option {
	return optionFunc(func(o *options) error {
		o.markDone = append(o.markDone, names...)
		return nil
	})
}

// WithPreflightSkip skips a preflight check (or a step's precheck, named
// by the step's full name); reason is recorded in the journal and report.
func WithPreflightSkip(name, reason string) Option {
	return optionFunc(func(o *options) error {
		if reason == "" {
			return fmt.Errorf("upgrade: WithPreflightSkip(%q): a reason is required", name)
		}
		if o.preflightSkip == nil {
			o.preflightSkip = map[string]string{}
		}
		o.preflightSkip[name] = reason
		return nil
	})
}

// WithConcurrency sets the default number of hosts a PerHost step runs at
// once (default 10).
func WithConcurrency(n int) Option {
	return optionFunc(func(o *options) error {
		if n < 1 {
			return fmt.Errorf("upgrade: WithConcurrency(%d): must be at least 1", n)
		}
		o.concurrency = n
		return nil
	})
}

// WithHosts sets the inventory: host name to transport. PerHost hosts must
// be in it. The runner does not close the transports.
func WithHosts(hosts map[string]transport.Transport) Option {
	return optionFunc(func(o *options) error {
		for name, t := range hosts {
			if t == nil {
				return fmt.Errorf("upgrade: WithHosts: host %q has a nil transport", name)
			}
		}
		o.hosts = hosts
		return nil
	})
}

// WithAllowPlanChange resumes even if the journal was written by a plan
// with another fingerprint (steps are matched by name).
func WithAllowPlanChange() Option {
	return optionFunc(func(o *options) error {
		o.allowPlanChange = true
		return nil
	})
}

// WithRollbackTimeout bounds the whole rollback (default 30 minutes).
// Rollback ignores the cancellation of the run's context.
func WithRollbackTimeout(d time.Duration) Option {
	return optionFunc(func(o *options) error {
		if d <= 0 {
			return errors.New("upgrade: WithRollbackTimeout must be positive")
		}
		o.rollbackTimeout = d
		return nil
	})
}

// WithoutRollback leaves a failed run as it is (the journal still allows
// a resume).
func WithoutRollback() Option {
	return optionFunc(func(o *options) error {
		o.noRollback = true
		return nil
	})
}

// WithRunID sets the run id (default: random).
func WithRunID(id string) Option {
	return optionFunc(func(o *options) error {
		if id == "" {
			return errors.New("upgrade: WithRunID(\"\")")
		}
		o.runID = id
		return nil
	})
}

// WithSecrets adds values the run masks in its errors, events, logs,
// journal and report, and in what its commands print (see Redactor), on
// top of the plan's own (Plan.WithSecrets).
func WithSecrets(secrets ...transport.Secret) Option {
	return optionFunc(func(o *options) error {
		o.secrets = append(o.secrets, secrets...)
		return nil
	})
}

// WithDirection chooses the direction of a resumed run instead of the
// journal's. By default a run goes the way the journal went: backward
// (finishing the rollback, nothing run forward) when the last rollback
// did not finish, because it was killed or some step could not be undone;
// forward otherwise (after a finished rollback every step is pending
// again). DirForward resumes the upgrade after an unfinished rollback:
// the steps the rollback passed run again (their checks decide), those
// whose rollback failed count as in progress. DirBackward rolls back what
// the journal shows started and not rolled back, and refuses once the
// point of no return has started. Either returns a *PartialError; going
// backward it wraps ErrRollbackResumed.
func WithDirection(dir string) Option {
	return optionFunc(func(o *options) error {
		if dir != DirForward && dir != DirBackward {
			return fmt.Errorf("upgrade: WithDirection(%q): want %q or %q", dir, DirForward, DirBackward)
		}
		o.direction = dir
		return nil
	})
}
