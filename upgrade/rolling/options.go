package rolling

import (
	"errors"
	"fmt"
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

// Option configures Plan and RejoinPlan.
type Option interface {
	apply(*options) error
}

type optionFunc func(*options) error

func (f optionFunc) apply(o *options) error { return f(o) }

type options struct {
	kit         []nebula.Option
	staged      bool
	fsck        FsckMode
	hypervisors bool
}

func defaults() options {
	return options{staged: true, fsck: FsckDeferred, hypervisors: true}
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

// WithLeader names the zone's current leader (checked by preflight):
// upgraded last by Plan, kept as the solo node by RejoinPlan. Default:
// the zone's first front-end.
func WithLeader(name string) Option { return shared(nebula.WithLeader(name)) }

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
// configuration copied from the leader to re-added followers.
func WithSyncExclude(paths ...string) Option { return shared(nebula.WithSyncExclude(paths...)) }

// WithChecksums sets how the re-added followers' database checksums are
// compared with the leader's (RejoinPlan; default Inventory.DB, skipped
// without it).
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

// WithHypervisors sets whether the plan also upgrades the zone's
// hypervisors after the front-ends (default true).
func WithHypervisors(on bool) Option {
	return optionFunc(func(o *options) error { o.hypervisors = on; return nil })
}

// WithStagedLeader sets whether RejoinPlan installs the leader's new
// packages and runs onecfg upgrade before stopping it (default true), so
// that the write outage holds only the database work. The old oned keeps
// serving during the package installation, with the new release's
// drivers and remotes already on disk for that time; turn it off to
// follow the guides' order (stop first), at the price of the package
// installation inside the outage.
func WithStagedLeader(on bool) Option {
	return optionFunc(func(o *options) error { o.staged = on; return nil })
}

// FsckMode says when RejoinPlan checks the upgraded database.
type FsckMode int

const (
	// FsckInWindow runs `onedb fsck` after `onedb upgrade`, inside the
	// write outage, as the upgrade guides do.
	FsckInWindow FsckMode = iota
	// FsckDeferred runs `onedb fsck --dry` on the current database before
	// the outage (problems stop the run before anything changes) and
	// again on the upgraded, running leader afterwards; errors found then
	// are an *FsckDeferredError to repair in a maintenance window. The
	// outage is shorter by the fsck's duration (and its backup). The
	// default of RejoinPlan, whose point is a short outage.
	FsckDeferred
)

func (m FsckMode) String() string {
	switch m {
	case FsckInWindow:
		return "in-window"
	case FsckDeferred:
		return "deferred"
	}
	return fmt.Sprintf("FsckMode(%d)", int(m))
}

// WithFsck sets when RejoinPlan checks the upgraded database (default
// FsckDeferred).
func WithFsck(m FsckMode) Option {
	return optionFunc(func(o *options) error {
		if m != FsckInWindow && m != FsckDeferred {
			return errors.New("rolling: WithFsck: unknown mode")
		}
		o.fsck = m
		return nil
	})
}
