package upgrade_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/transport/local"
	"github.com/upgradekit/upgradekit/upgrade"
)

// frontEnds returns n host locks in one directory each (stand-ins for
// the lock directories of n front-ends), reached with the local
// transport.
func frontEnds(t *testing.T, n int) []*upgrade.HostLock {
	t.Helper()
	lt, err := local.New()
	require.NoError(t, err)
	t.Cleanup(func() { _ = lt.Close() })
	var out []*upgrade.HostLock
	for range n {
		lk, err := upgrade.NewHostLock(lt, filepath.Join(t.TempDir(), "lock"))
		require.NoError(t, err)
		out = append(out, lk)
	}
	return out
}

func quorum(t *testing.T, locks ...*upgrade.HostLock) *upgrade.QuorumLock {
	t.Helper()
	var ls []upgrade.Locker
	for _, l := range locks {
		ls = append(ls, l)
	}
	q, err := upgrade.NewQuorumLock(ls...)
	require.NoError(t, err)
	return q
}

// Breaking a lock whose holder heartbeats is refused; forcing it works,
// and the holder's fencing check then says the lock is lost.
func TestBreakRefusedWhileHolderAlive(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	lk := frontEnds(t, 1)[0]
	lease, err := lk.Lock(ctx, upgrade.Holder{RunID: "alive", User: "op"}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = lease.Unlock(context.Background()) })

	err = lk.Break(ctx)
	alive, ok := errors.AsType[*upgrade.LockAliveError](err)
	require.True(t, ok, "want *LockAliveError, got %v", err)
	assert.Equal(t, "alive", alive.Holder.RunID)
	assert.Contains(t, err.Error(), "last heartbeat")
	require.NoError(t, lease.(upgrade.Fencer).Held(ctx), "still held after the refused break")

	require.NoError(t, lk.ForceBreak(ctx))
	require.ErrorIs(t, lease.(upgrade.Fencer).Held(ctx), upgrade.ErrLockLost)
}

// A holder on this machine whose process is gone is dead at once, however
// fresh its last heartbeat.
func TestBreakDeadLocalHolder(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	lk := frontEnds(t, 1)[0]
	dead := exec.Command("true")
	require.NoError(t, dead.Run())
	me, err := os.Hostname()
	require.NoError(t, err)
	lease, err := lk.Lock(ctx, upgrade.Holder{RunID: "killed", Host: me, PID: dead.Process.Pid}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = lease.Unlock(context.Background()) })
	require.NoError(t, lk.Break(ctx))
	_, _, ok, err := lk.Inspect(ctx)
	require.NoError(t, err)
	assert.False(t, ok, "broken")

	lease2, err := lk.Lock(ctx, upgrade.Holder{RunID: "alive", Host: me, PID: os.Getpid()}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = lease2.Unlock(context.Background()) })
	require.ErrorIs(t, lk.Break(ctx), upgrade.ErrLockAlive, "its process runs")
}

// The lock lives on every front-end: a second run refuses whichever
// front-end it would call its leader (the order its locks are taken in),
// and one front-end down does not stop a run.
func TestQuorumLockWhateverTheLeader(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	fe := frontEnds(t, 3)
	first := quorum(t, fe[0], fe[1], fe[2])
	lease, err := first.Lock(ctx, upgrade.Holder{RunID: "first"}, nil)
	require.NoError(t, err)
	for _, order := range [][]*upgrade.HostLock{{fe[1], fe[0], fe[2]}, {fe[2], fe[1], fe[0]}} {
		_, err := quorum(t, order...).Lock(ctx, upgrade.Holder{RunID: "second"}, nil)
		require.ErrorIs(t, err, upgrade.ErrLockHeld)
	}
	require.NoError(t, lease.Unlock(ctx))

	down, err := upgrade.NewHostLock(unreachable{}, "/var/lock/upgradekit")
	require.NoError(t, err)
	q, err := upgrade.NewQuorumLock(fe[0], down, fe[2])
	require.NoError(t, err)
	lease, err = q.Lock(ctx, upgrade.Holder{RunID: "one-down"}, nil)
	require.NoError(t, err, "2 of 3 are a majority")
	require.NoError(t, lease.(upgrade.Fencer).Held(ctx))
	require.NoError(t, lease.Unlock(ctx))

	q, err = upgrade.NewQuorumLock(down, down, fe[2])
	require.NoError(t, err)
	_, err = q.Lock(ctx, upgrade.Holder{RunID: "two-down"}, nil)
	require.Error(t, err, "1 of 3 is no majority")
	_, _, held, err := fe[2].Inspect(ctx)
	require.NoError(t, err)
	assert.False(t, held, "the lock taken on the way is released")
}

type unreachable struct{}

func (unreachable) Run(context.Context, transport.Command) (transport.Result, error) {
	return transport.Result{}, &transport.ConnectionLostError{Host: "down", Err: errors.New("no route to host")}
}
func (unreachable) Close() error { return nil }

// Two runners at once: the second breaks the first one's lock by force
// while the first is inside a step. The first checks its lock before its
// next step (fencing), finds it lost, stops there without running it and
// without rolling back (the cluster is the other run's now).
func TestFencingStopsRunBeforeNextStep(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	fe := frontEnds(t, 3)
	q := quorum(t, fe...)
	var intruder upgrade.Lease
	t.Cleanup(func() {
		if intruder != nil {
			_ = intruder.Unlock(context.Background())
		}
	})
	var ran []string
	rolledBack := false
	step := func(name string) *upgrade.FuncStep {
		return upgrade.Func(name, func(ctx context.Context, s *upgrade.State) error {
			ran = append(ran, name)
			return nil
		})
	}
	p := upgrade.NewPlan("p",
		upgrade.Func("a", func(ctx context.Context, s *upgrade.State) error {
			ran = append(ran, "a")
			if err := q.ForceBreak(ctx); err != nil {
				return err
			}
			var err error
			intruder, err = q.Lock(ctx, upgrade.Holder{RunID: "intruder"}, nil)
			return err
		}).RollbackWith(func(context.Context, *upgrade.State) error { rolledBack = true; return nil }),
		step("b"), step("c"))
	r, err := upgrade.NewRunner(p, upgrade.WithLocker(q))
	require.NoError(t, err)
	rep, err := r.Run(ctx)
	require.ErrorIs(t, err, upgrade.ErrLockLost)
	assert.Equal(t, []string{"a"}, ran, "no step ran after the lock was lost")
	assert.False(t, rolledBack)
	assert.Equal(t, upgrade.StatusFailed, rep.Steps[1].Status)
	_, _, held, err := fe[0].Inspect(ctx)
	require.NoError(t, err)
	assert.True(t, held, "the intruder's lock is left alone")
}
