package nebula

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.uber.org/zap"

	"github.com/upgradekit/upgradekit/host"
	"github.com/upgradekit/upgradekit/onedb"
	"github.com/upgradekit/upgradekit/system"
	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/upgrade"
	"github.com/upgradekit/upgradekit/upgrade/path"
	"github.com/upgradekit/upgradekit/vm"
	"github.com/upgradekit/upgradekit/zone"
)

// Defaults.
const (
	// DefaultBackupDir is where database backups are written on each
	// front-end.
	DefaultBackupDir = "/var/lib/one/backups/upgradekit"
	// DefaultWaitTimeout bounds the waits for VMs to settle, services to
	// stop and the zone to be in sync.
	DefaultWaitTimeout = 10 * time.Minute
	// LocalEndpoint is the XML-RPC endpoint of the oned on the same host;
	// onedb and onezone probes use it so that a follower does not talk
	// to the leader behind the VIP (src/onedb/onedb.rb; the HA guide's seeding steps).
	LocalEndpoint = "http://localhost:2633/RPC2"
	// DefaultMinFree is the free space the disk-space check wants under
	// /var/lib/one on every front-end.
	DefaultMinFree = 1 << 30
)

// ChecksumFunc returns the table checksums of the database of front-end
// node, reached through t. The default (with Inventory.DB set) opens the
// database through t's transport.Dialer with onedb.Open.
type ChecksumFunc func(ctx context.Context, node string, t transport.Transport) (onedb.TableChecksums, error)

// Option configures a Kit.
type Option interface {
	apply(*options) error
}

type optionFunc func(*options) error

func (f optionFunc) apply(o *options) error { return f(o) }

type options struct {
	log         *zap.Logger
	now         func() time.Time
	timer       func() backoff.Timer
	sudo        bool
	checksums   ChecksumFunc
	raftLog     RaftLogFunc
	dryFsck     bool
	waitTimeout time.Duration
	pollFirst   time.Duration
	pollMax     time.Duration
	backupDir   string
	exclude     []string
	maxLag      int64
	cliUser     string

	// Plan shape (used by the procedures).
	leader        string
	concurrency   int
	canary        bool
	failureBudget int
	minFree       int64
}

func defaults() options {
	return options{
		log:         zap.NewNop(),
		now:         time.Now,
		sudo:        true,
		waitTimeout: DefaultWaitTimeout,
		pollFirst:   time.Second,
		pollMax:     10 * time.Second,
		backupDir:   DefaultBackupDir,
		concurrency: 5,
		canary:      true,
		minFree:     DefaultMinFree,
	}
}

// WithLogger sets the logger (default zap.NewNop()).
func WithLogger(l *zap.Logger) Option {
	return optionFunc(func(o *options) error {
		if l == nil {
			return errors.New("nebula: WithLogger(nil)")
		}
		o.log = l
		return nil
	})
}

// WithClock sets the clock used for backup names and wait deadlines
// (default time.Now). With the simulator pass its virtual clock.
func WithClock(now func() time.Time) Option {
	return optionFunc(func(o *options) error {
		if now == nil {
			return errors.New("nebula: WithClock(nil)")
		}
		o.now = now
		return nil
	})
}

// WithTimer sets the timers the waits sleep on (default real timers). With
// the simulator pass its Clock().NewTimer so a 20 s election costs no real
// time.
func WithTimer(newTimer func() backoff.Timer) Option {
	return optionFunc(func(o *options) error {
		o.timer = newTimer
		return nil
	})
}

// WithSudo sets whether root commands go through `sudo -n` (default true;
// turn it off when the transports log in as root without sudo).
func WithSudo(sudo bool) Option {
	return optionFunc(func(o *options) error {
		o.sudo = sudo
		return nil
	})
}

// WithChecksums sets how the followers' database checksums are taken,
// overriding the default that needs Inventory.DB and a Dialer transport.
func WithChecksums(fn ChecksumFunc) Option {
	return optionFunc(func(o *options) error {
		o.checksums = fn
		return nil
	})
}

// WithWaitTimeout bounds each wait (default DefaultWaitTimeout).
func WithWaitTimeout(d time.Duration) Option {
	return optionFunc(func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("nebula: WithWaitTimeout(%s): must be positive", d)
		}
		o.waitTimeout = d
		return nil
	})
}

// WithPollInterval sets the first and the largest interval between polls
// of the waits (default 1 s growing to 10 s). The waits for a leader that
// end an outage keep polling at the first interval.
func WithPollInterval(first, largest time.Duration) Option {
	return optionFunc(func(o *options) error {
		if first <= 0 || largest < first {
			return fmt.Errorf("nebula: WithPollInterval(%s, %s): need 0 < first <= largest", first, largest)
		}
		o.pollFirst, o.pollMax = first, largest
		return nil
	})
}

// WithBackupDir sets the directory database backups go to on each
// front-end (default DefaultBackupDir; created if missing).
func WithBackupDir(dir string) Option {
	return optionFunc(func(o *options) error {
		if len(dir) < 2 || dir[0] != '/' {
			return fmt.Errorf("nebula: WithBackupDir(%q): need an absolute path", dir)
		}
		o.backupDir = dir
		return nil
	})
}

// WithSyncExclude lists paths under /etc/one (relative, e.g.
// "monitord.conf") that are not copied from the leader to the followers,
// for node-specific files. FEDERATION/SERVER_ID is always kept.
func WithSyncExclude(paths ...string) Option {
	return optionFunc(func(o *options) error {
		o.exclude = append(o.exclude, paths...)
		return nil
	})
}

// WithMaxLag lets followers trail the leader by n log entries and still
// count as in sync (default 0).
func WithMaxLag(n int64) Option {
	return optionFunc(func(o *options) error {
		if n < 0 {
			return fmt.Errorf("nebula: WithMaxLag(%d): negative", n)
		}
		o.maxLag = n
		return nil
	})
}

// WithCLIUser runs the OpenNebula CLI commands (onezone, onehost, onevm)
// as user through sudo, e.g. "oneadmin" when the SSH login user cannot
// read /var/lib/one/.one/one_auth. Default: the login user (root reads
// it). `onehost sync` always runs as oneadmin.
func WithCLIUser(user string) Option {
	return optionFunc(func(o *options) error {
		o.cliUser = user
		return nil
	})
}

func (k *Kit) zoneOpts() []zone.Option {
	opts := []zone.Option{zone.WithEndpoint(LocalEndpoint), zone.WithLogger(k.o.log)}
	if k.o.cliUser != "" {
		opts = append(opts, zone.WithUser(k.o.cliUser))
	}
	return opts
}

func (k *Kit) hostOpts(opts ...host.Option) []host.Option {
	opts = append(opts, host.WithLogger(k.o.log))
	if k.o.cliUser != "" {
		opts = append(opts, host.WithUser(k.o.cliUser))
	}
	return opts
}

func (k *Kit) vmOpts() []vm.Option {
	opts := []vm.Option{vm.WithLogger(k.o.log)}
	if k.o.cliUser != "" {
		opts = append(opts, vm.WithUser(k.o.cliUser))
	}
	return opts
}

// WithLeader names the front-end upgraded first, whose database the
// followers receive: the zone's current leader (the one-leader preflight
// check verifies it). Default: the zone's first front-end.
func WithLeader(name string) Option {
	return optionFunc(func(o *options) error {
		o.leader = name
		return nil
	})
}

// WithConcurrency sets how many hypervisors are upgraded at once
// (default 5).
func WithConcurrency(n int) Option {
	return optionFunc(func(o *options) error {
		if n < 1 {
			return fmt.Errorf("nebula: WithConcurrency(%d): need at least 1", n)
		}
		o.concurrency = n
		return nil
	})
}

// WithCanary sets whether the first hypervisor is upgraded alone before
// the others (default true).
func WithCanary(on bool) Option {
	return optionFunc(func(o *options) error {
		o.canary = on
		return nil
	})
}

// WithFailureBudget sets after how many hypervisor failures no new one is
// started (default 1).
func WithFailureBudget(n int) Option {
	return optionFunc(func(o *options) error {
		if n < 0 {
			return fmt.Errorf("nebula: WithFailureBudget(%d): negative", n)
		}
		o.failureBudget = n
		return nil
	})
}

// WithMinFree sets the free bytes the disk-space preflight check wants
// (default DefaultMinFree).
func WithMinFree(n int64) Option {
	return optionFunc(func(o *options) error {
		if n < 0 {
			return fmt.Errorf("nebula: WithMinFree(%d): negative", n)
		}
		o.minFree = n
		return nil
	})
}

// Leader returns the front-end of z the procedures treat as leader:
// WithLeader's, or the zone's first front-end. An unknown name is an
// error matching ErrInvalidInventory.
func (k *Kit) Leader(z Zone) (string, error) {
	if k.o.leader == "" {
		return z.Frontends[0].Name, nil
	}
	if _, ok := z.Frontend(k.o.leader); !ok {
		return "", fmt.Errorf("%w: leader %q is not a front-end of zone %d", ErrInvalidInventory, k.o.leader, z.ID)
	}
	return k.o.leader, nil
}

// Parallel returns the hypervisor fan-out policy (WithConcurrency,
// WithCanary, WithFailureBudget).
func (k *Kit) Parallel() upgrade.ParallelPolicy {
	return upgrade.ParallelPolicy{Concurrency: k.o.concurrency, Canary: k.o.canary, FailureBudget: k.o.failureBudget}
}

// MinFree returns the free space the disk-space check wants.
func (k *Kit) MinFree() int64 { return k.o.minFree }

// Kit builds the steps of the OpenNebula procedures for one inventory.
// It is immutable and safe for concurrent use by the steps it built.
type Kit struct {
	inv    Inventory
	target path.Version
	repo   system.Repo
	o      options
	sys    *system.System
}

// New validates inv and returns a Kit.
func New(inv Inventory, opts ...Option) (*Kit, error) {
	if err := inv.Validate(); err != nil {
		return nil, err
	}
	o := defaults()
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt.apply(&o); err != nil {
			return nil, err
		}
	}
	target, err := path.Parse(inv.Target)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidInventory, err)
	}
	sys, err := system.New(system.WithLogger(o.log), system.WithClock(o.now), system.WithSudo(o.sudo))
	if err != nil {
		return nil, err
	}
	return &Kit{inv: inv, target: target, repo: inv.Repository.repo(target), o: o, sys: sys}, nil
}

// Inventory returns the Kit's inventory.
func (k *Kit) Inventory() Inventory { return k.inv }

// Target returns the target release.
func (k *Kit) Target() path.Version { return k.target }

// Repo returns the target repository as SwitchRepository writes it.
func (k *Kit) Repo() system.Repo { return k.repo }

// Secrets returns the inventory's secrets (the repository token), for
// upgrade.Plan.WithSecrets: the run masks them in everything it shows.
func (k *Kit) Secrets() []transport.Secret {
	if k.inv.Repository.Token.IsZero() {
		return nil
	}
	return []transport.Secret{k.inv.Repository.Token}
}

// System returns the system primitives configured like the Kit (sudo,
// clock, logger).
func (k *Kit) System() *system.System { return k.sys }

// Logger returns the Kit's logger.
func (k *Kit) Logger() *zap.Logger { return k.o.log }
