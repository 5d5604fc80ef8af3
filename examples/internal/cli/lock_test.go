package cli_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/examples/internal/cli"
	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/transport/local"
	"github.com/upgradekit/upgradekit/upgrade"
	"github.com/upgradekit/upgradekit/upgrade/ha"
)

func TestBreakLockNeedsResume(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"--break-lock", "--force-break-lock"} {
		var f cli.Flags
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		f.Register(fs, filepath.Join(t.TempDir(), "j"))
		require.NoError(t, fs.Parse([]string{arg}))
		err := f.Check()
		require.Error(t, err, arg)
		assert.True(t, errors.Is(err, cli.ErrUsage))
	}
}

// lockBed is the lock directory of three "front-ends" on this machine.
func lockBed(t *testing.T) (hosts []transport.Transport, dir string) {
	t.Helper()
	lt, err := local.New()
	require.NoError(t, err)
	t.Cleanup(func() { _ = lt.Close() })
	return []transport.Transport{lt, lt, lt}, filepath.Join(t.TempDir(), "lock")
}

// A lock left by a killed run refuses the next run until --break-lock
// removes it; the killed run's process no longer exists, so no waiting.
func TestHostLockBreak(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	hosts, dir := lockBed(t)
	hosts = hosts[:1]
	me, err := os.Hostname()
	require.NoError(t, err)
	dead := exec.Command("true")
	require.NoError(t, dead.Run())

	var plain cli.Flags
	lock, err := plain.Lock(ctx, nil, hosts, dir)
	require.NoError(t, err)
	killed, err := lock.Lock(ctx, upgrade.Holder{RunID: "killed", Host: me, PID: dead.Process.Pid}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = killed.Unlock(context.Background()) }) // stops its heartbeat
	_, err = os.Stat(dir)
	require.NoError(t, err, "the killed run's lock is on disk")

	again, err := plain.Lock(ctx, nil, hosts, dir)
	require.NoError(t, err)
	_, err = again.Lock(ctx, upgrade.Holder{RunID: "next"}, nil)
	require.ErrorIs(t, err, upgrade.ErrLockHeld)

	resume := cli.Flags{Resume: true, BreakLock: true}
	broken, err := resume.Lock(ctx, nil, hosts, dir)
	require.NoError(t, err)
	lease, err := broken.Lock(ctx, upgrade.Holder{RunID: "next"}, nil)
	require.NoError(t, err)
	require.NoError(t, lease.Unlock(ctx))
}

// --resume --break-lock while the holder is alive is refused and says
// how to force it; --force-break-lock warns, breaks it, and the holder's
// next fencing check finds its lock lost.
func TestBreakLockRefusedWhileHolderAlive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	hosts, dir := lockBed(t)
	var plain cli.Flags
	lock, err := plain.Lock(ctx, nil, hosts[:1], dir)
	require.NoError(t, err)
	alive, err := lock.Lock(ctx, upgrade.Holder{RunID: "alive", User: "op"}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = alive.Unlock(context.Background()) })

	resume := cli.Flags{Resume: true, BreakLock: true}
	_, err = resume.Lock(ctx, nil, hosts[:1], dir)
	require.ErrorIs(t, err, upgrade.ErrLockAlive)
	assert.Contains(t, err.Error(), "--force-break-lock")
	require.NoError(t, alive.(upgrade.Fencer).Held(ctx), "the live run keeps its lock")

	var warn bytes.Buffer
	force := cli.Flags{Resume: true, ForceBreak: true}
	_, err = force.Lock(ctx, &warn, hosts[:1], dir)
	require.NoError(t, err)
	assert.Contains(t, warn.String(), "WARNING: breaking the lock")
	assert.Contains(t, warn.String(), "run alive (user op")
	require.ErrorIs(t, alive.(upgrade.Fencer).Held(ctx), upgrade.ErrLockLost)
}

// The lock's hosts are the inventory's front-ends, whatever --leader
// says: a second run that calls another front-end its leader takes the
// same lock, and is refused.
func TestLockHostsAreEveryFrontend(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	lt, err := local.New()
	require.NoError(t, err)
	t.Cleanup(func() { _ = lt.Close() })
	base := t.TempDir()
	hosts := map[string]transport.Transport{}
	var z ha.Zone
	for _, n := range []string{"fe1", "fe2", "fe3"} {
		require.NoError(t, os.Mkdir(filepath.Join(base, n), 0o755))
		hosts[n] = chroot{lt, filepath.Join(base, n)}
		z.Frontends = append(z.Frontends, ha.Frontend{Name: n})
	}
	hosts["kvm1"] = lt
	z.Hypervisors = []ha.Hypervisor{{Name: "kvm1"}}
	inv := ha.Inventory{Zones: []ha.Zone{z}}
	lockHosts := cli.FrontendHosts(inv, hosts)
	require.Len(t, lockHosts, 3)

	var f cli.Flags
	first, err := f.Lock(ctx, nil, lockHosts, "/lock")
	require.NoError(t, err)
	lease, err := first.Lock(ctx, upgrade.Holder{RunID: "leader-fe1"}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = lease.Unlock(context.Background()) })
	second, err := f.Lock(ctx, nil, cli.FrontendHosts(inv, hosts), "/lock")
	require.NoError(t, err)
	_, err = second.Lock(ctx, upgrade.Holder{RunID: "leader-fe2"}, nil)
	require.ErrorIs(t, err, upgrade.ErrLockHeld)
	for _, n := range []string{"fe1", "fe2", "fe3"} {
		_, err := os.Stat(filepath.Join(base, n, "lock"))
		assert.NoError(t, err, "lock on %s", n)
	}
}

// chroot runs commands with every absolute "/lock" argument moved under
// root: one directory per simulated front-end on this machine.
type chroot struct {
	t    transport.Transport
	root string
}

func (c chroot) Run(ctx context.Context, cmd transport.Command) (transport.Result, error) {
	args := make([]string, len(cmd.Args))
	for i, a := range cmd.Args {
		if a == "/lock" {
			a = c.root + a
		}
		args[i] = a
	}
	cmd.Args = args
	return c.t.Run(ctx, cmd)
}

func (c chroot) Close() error { return nil }
