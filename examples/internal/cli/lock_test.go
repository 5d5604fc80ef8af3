package cli_test

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/examples/internal/cli"
	"github.com/upgradekit/upgradekit/transport/local"
	"github.com/upgradekit/upgradekit/upgrade"
)

func TestBreakLockNeedsResume(t *testing.T) {
	t.Parallel()
	var f cli.Flags
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	f.Register(fs, filepath.Join(t.TempDir(), "j"))
	require.NoError(t, fs.Parse([]string{"--break-lock"}))
	err := f.Check()
	require.Error(t, err)
	assert.True(t, errors.Is(err, cli.ErrUsage))
}

// A lock left by a killed run refuses the next run until --break-lock
// removes it.
func TestHostLockBreak(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	lt, err := local.New()
	require.NoError(t, err)
	t.Cleanup(func() { _ = lt.Close() })
	dir := filepath.Join(t.TempDir(), "lock")

	var dead cli.Flags
	stale, err := dead.HostLock(ctx, lt, dir)
	require.NoError(t, err)
	killed, err := stale.Lock(ctx, upgrade.Holder{RunID: "killed"}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = killed.Unlock(context.Background()) }) // stops its heartbeat
	_, err = os.Stat(dir)
	require.NoError(t, err, "the killed run's lock is on disk")

	again, err := dead.HostLock(ctx, lt, dir)
	require.NoError(t, err)
	_, err = again.Lock(ctx, upgrade.Holder{RunID: "next"}, nil)
	require.ErrorIs(t, err, upgrade.ErrLockHeld)

	resume := cli.Flags{Resume: true, BreakLock: true}
	broken, err := resume.HostLock(ctx, lt, dir)
	require.NoError(t, err)
	lease, err := broken.Lock(ctx, upgrade.Holder{RunID: "next"}, nil)
	require.NoError(t, err)
	require.NoError(t, lease.Unlock(ctx))
}
