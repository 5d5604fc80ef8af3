package nebula

// Accessors for the rolling, break-and-rejoin and federation procedures
// (upgrade/rolling, upgrade/federation): they build their own steps from
// the Kit's configuration.

import (
	"context"
	"time"

	"github.com/upgradekit/upgradekit/onedb"
	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/upgrade"
)

// Poll calls fn until it reports done, on the Kit's clock and timers,
// bounded by the wait timeout (see WithWaitTimeout); the timeout error
// matches ErrTimeout and carries fn's last error.
func (k *Kit) Poll(ctx context.Context, what string, fn func() (bool, error)) error {
	return k.poll(ctx, nil, what, fn)
}

// PollStep is Poll inside a step: in a dry run fn is called once instead
// of waiting for the effect of commands that were only recorded.
func (k *Kit) PollStep(ctx context.Context, s *upgrade.State, what string, fn func() (bool, error)) error {
	return k.poll(ctx, s, what, fn)
}

// Root marks cmd to run as root when the Kit uses sudo.
func (k *Kit) Root(cmd transport.Command) transport.Command { return k.root(cmd) }

// DBOptions returns the onedb options the Kit's steps use (logger, sudo)
// followed by opts.
func (k *Kit) DBOptions(opts ...onedb.Option) []onedb.Option { return k.dbOpts(opts...) }

// Sudo reports whether root commands go through sudo.
func (k *Kit) Sudo() bool { return k.o.sudo }

// MaxLag returns the log lag a follower may have and count as in sync.
func (k *Kit) MaxLag() int64 { return k.o.maxLag }

// BackupDir returns the directory database backups go to.
func (k *Kit) BackupDir() string { return k.o.backupDir }

// MakeBackupDir creates the backup directory on the host behind t.
func (k *Kit) MakeBackupDir(ctx context.Context, t transport.Transport) error {
	return k.mkBackupDir(ctx, t)
}

// Now returns the Kit's clock's time.
func (k *Kit) Now() time.Time { return k.o.now() }

// UnitsToStart returns the OpenNebula units recorded as active on node
// (ActiveUnits) without those the target release removed; opennebula
// when none was recorded.
func (k *Kit) UnitsToStart(s *upgrade.State, node string) []string { return k.unitsToStart(s, node) }
