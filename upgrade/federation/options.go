package federation

import (
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.uber.org/zap"

	"github.com/upgradekit/upgradekit/upgrade/internal/nebula"
)

// Inventory types, shared by every OpenNebula procedure (the same types
// as upgrade/ha's).
type (
	Inventory  = nebula.Inventory
	Zone       = nebula.Zone
	Frontend   = nebula.Frontend
	Hypervisor = nebula.Hypervisor
	Repository = nebula.Repository
	// ChecksumFunc takes a front-end database's table checksums.
	ChecksumFunc = nebula.ChecksumFunc
)

// SharedOption is an option of the shared OpenNebula building blocks, as
// upgrade/ha and upgrade/hypervisors return them; pass it with
// WithShared.
type SharedOption = nebula.Option

// Option configures Plan.
type Option interface {
	apply(*options) error
}

type optionFunc func(*options) error

func (f optionFunc) apply(o *options) error { return f(o) }

type options struct {
	kit         []nebula.Option
	hypervisors bool
	coordinated bool
}

func defaults() options {
	return options{hypervisors: true}
}

func build(opts []Option) (options, error) {
	o := defaults()
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt.apply(&o); err != nil {
			return o, err
		}
	}
	return o, nil
}

func shared(opt nebula.Option) Option {
	return optionFunc(func(o *options) error {
		o.kit = append(o.kit, opt)
		return nil
	})
}

// WithShared passes options of the shared building blocks (for example
// ha.WithChecksums) to the plan.
func WithShared(opts ...SharedOption) Option {
	return optionFunc(func(o *options) error {
		o.kit = append(o.kit, opts...)
		return nil
	})
}

// WithLogger sets the logger (default zap.NewNop()).
func WithLogger(l *zap.Logger) Option { return shared(nebula.WithLogger(l)) }

// WithClock sets the clock for backup names and waits (default time.Now).
func WithClock(now func() time.Time) Option { return shared(nebula.WithClock(now)) }

// WithTimer sets the timers the waits sleep on (the simulator's virtual
// ones: sim.Cloud.Clock().NewTimer).
func WithTimer(newTimer func() backoff.Timer) Option { return shared(nebula.WithTimer(newTimer)) }

// WithSudo sets whether root commands go through sudo (default true).
func WithSudo(sudo bool) Option { return shared(nebula.WithSudo(sudo)) }

// WithWaitTimeout bounds each wait (default 10 minutes).
func WithWaitTimeout(d time.Duration) Option { return shared(nebula.WithWaitTimeout(d)) }

// WithPollInterval sets the first and largest interval between polls
// (the waits for a leader that end an outage keep the first).
func WithPollInterval(first, largest time.Duration) Option {
	return shared(nebula.WithPollInterval(first, largest))
}

// WithBackupDir sets where database backups go on the front-ends.
func WithBackupDir(dir string) Option { return shared(nebula.WithBackupDir(dir)) }

// WithMaxLag lets followers trail the leader by n log entries and count
// as in sync (default 0).
func WithMaxLag(n int64) Option { return shared(nebula.WithMaxLag(n)) }

// WithSyncExclude leaves paths of /etc/one (relative) out of the
// configuration copied from each zone's leader to its followers.
func WithSyncExclude(paths ...string) Option { return shared(nebula.WithSyncExclude(paths...)) }

// WithChecksums sets how the followers' database checksums are compared
// with their zone leader's (default Inventory.DB, skipped without it).
func WithChecksums(fn ChecksumFunc) Option { return shared(nebula.WithChecksums(fn)) }

// WithConcurrency sets how many hypervisors are upgraded at once.
func WithConcurrency(n int) Option { return shared(nebula.WithConcurrency(n)) }

// WithCanary sets whether the first hypervisor goes alone (default true).
func WithCanary(on bool) Option { return shared(nebula.WithCanary(on)) }

// WithFailureBudget sets after how many hypervisor failures no new one
// starts (default 1).
func WithFailureBudget(n int) Option { return shared(nebula.WithFailureBudget(n)) }

// WithMinFree sets the free space the disk-space check wants.
func WithMinFree(bytes int64) Option { return shared(nebula.WithMinFree(bytes)) }

// WithHypervisors sets whether the plan also upgrades every zone's
// hypervisors after the front-ends (default true).
func WithHypervisors(on bool) Option {
	return optionFunc(func(o *options) error { o.hypervisors = on; return nil })
}

// WithCoordinated makes a patch upgrade (no change of the shared database
// version) use the coordinated procedure too, every zone disabled and
// stopped together, instead of upgrading each zone on its own (default
// false).
func WithCoordinated(on bool) Option {
	return optionFunc(func(o *options) error { o.coordinated = on; return nil })
}
