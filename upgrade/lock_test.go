package upgrade_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/transport/fake"
	"github.com/upgradekit/upgradekit/transport/local"
	"github.com/upgradekit/upgradekit/upgrade"
)

// lockChild takes a HostLock through the local transport: "lock-hold"
// holds it until killed, "lock-try" runs a one-step plan under it and
// exits 3 when the lock is held (printing the holder's pid).
func lockChild(mode, dir string) int {
	t, err := local.New()
	if err != nil {
		return 2
	}
	stale := time.Hour
	if s := os.Getenv("UPGRADEKIT_STALE"); s != "" {
		stale, _ = time.ParseDuration(s)
	}
	lk, err := upgrade.NewHostLock(t, filepath.Join(dir, "lock"), upgrade.StaleAfter(stale))
	if err != nil {
		fmt.Println(err)
		return 2
	}
	var broken bool
	r, err := upgrade.NewRunner(upgrade.NewPlan("p", upgrade.Func("a", func(ctx context.Context, s *upgrade.State) error {
		if mode == "lock-hold" {
			blockHere(dir, "locked")
		}
		return nil
	})), upgrade.WithLocker(lk), upgrade.WithObserver(func(e upgrade.Event) {
		if e.Kind == upgrade.EventLockBroken {
			broken = true
		}
	}))
	if err != nil {
		return 2
	}
	_, err = r.Run(context.Background())
	if he, ok := errors.AsType[*upgrade.LockHeldError](err); ok {
		fmt.Printf("held by pid %d\n", he.Holder.PID)
		return 3
	}
	if errors.Is(err, upgrade.ErrRunInFlight) {
		// The killed holder had started step a: the lock's host records
		// its run, which a run without that run's journal must not undo.
		fmt.Printf("acquired broken=%v refused=run-in-flight\n", broken)
		return 0
	}
	if err != nil {
		fmt.Println(err)
		return 1
	}
	fmt.Printf("acquired broken=%v\n", broken)
	return 0
}

func runChild(t *testing.T, dir string, env ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), append([]string{"UPGRADEKIT_DIR=" + dir}, env...)...)
	out, err := cmd.Output()
	code := 0
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return strings.TrimSpace(string(out)), code
}

func TestLockContentionBetweenProcesses(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	holder := startChild(t, dir, helperEnv+"=lock-hold")
	out, code := runChild(t, dir, helperEnv+"=lock-try")
	assert.Equal(t, 3, code, out)
	assert.Equal(t, "held by pid "+strconv.Itoa(holder.Process.Pid), out)

	// The holder dies without unlocking; the lock stays until stale.
	require.NoError(t, holder.Process.Kill())
	_ = holder.Wait()
	out, code = runChild(t, dir, helperEnv+"=lock-try", "UPGRADEKIT_STALE=1h")
	assert.Equal(t, 3, code, out)

	// Age it past the stale timeout: the next run breaks it.
	old := time.Now().Add(-2 * time.Minute)
	require.NoError(t, os.Chtimes(filepath.Join(dir, "lock"), old, old))
	out, code = runChild(t, dir, helperEnv+"=lock-try", "UPGRADEKIT_STALE=1m")
	assert.Equal(t, 0, code, out)
	assert.Equal(t, "acquired broken=true refused=run-in-flight", out)
	_, err := os.Stat(filepath.Join(dir, "lock"))
	assert.ErrorIs(t, err, os.ErrNotExist, "released after the run")
}

func TestHostLockBreak(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	lt, err := local.New()
	require.NoError(t, err)
	lk, err := upgrade.NewHostLock(lt, filepath.Join(dir, "lock"))
	require.NoError(t, err)
	lease, err := lk.Lock(t.Context(), upgrade.Holder{RunID: "one", PID: 1}, nil)
	require.NoError(t, err)
	_, err = lk.Lock(t.Context(), upgrade.Holder{RunID: "two"}, nil)
	he, ok := errors.AsType[*upgrade.LockHeldError](err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, "one", he.Holder.RunID)
	_, err = lk.Lock(t.Context(), upgrade.Holder{RunID: "two"}, nil)
	require.ErrorIs(t, err, upgrade.ErrLockHeld)
	require.ErrorIs(t, lk.Break(t.Context()), upgrade.ErrLockAlive, "its heartbeat is fresh")
	require.NoError(t, lk.ForceBreak(t.Context()))
	lease2, err := lk.Lock(t.Context(), upgrade.Holder{RunID: "two"}, nil)
	require.NoError(t, err)
	// The first holder finds its lock gone.
	assert.ErrorIs(t, lease.Unlock(t.Context()), upgrade.ErrLockLost)
	require.NoError(t, lease2.Unlock(t.Context()))
	require.NoError(t, lk.Break(t.Context()), "break of a free lock is fine")
}

func TestHostLockValidation(t *testing.T) {
	t.Parallel()
	for _, dir := range []string{"", "relative/lock", "/", "/a/../b"} {
		_, err := upgrade.NewHostLock(fake.New("h"), dir)
		assert.Error(t, err, dir)
	}
	_, err := upgrade.NewHostLock(fake.New("h"), "/var/lock/x", upgrade.StaleAfter(time.Second), upgrade.HeartbeatEvery(time.Minute))
	assert.Error(t, err)
}

func isScript(part string) fake.Matcher {
	return fake.Func(func(c transport.Command) bool {
		return c.Path == "/bin/sh" && len(c.Args) > 1 && strings.Contains(c.Args[1], part)
	})
}

func TestHostLockHeartbeat(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := fake.New("fe1")
		f.Expect(fake.Exact("mkdir", "--", "/var/lock/up"))
		f.Expect(isScript("printf"))
		beats := 0
		f.Expect(isScript("touch -c")).Times(3).Handle(func(ctx context.Context, c transport.Command) (transport.Result, error) {
			beats++
			if beats == 2 {
				return transport.Result{}, &transport.ConnectionLostError{Host: "fe1"}
			}
			if beats == 3 {
				return transport.Result{ExitCode: 3}, nil // someone else's lock now
			}
			return transport.Result{}, nil
		})
		var mu sync.Mutex
		var kinds []string
		lk, err := upgrade.NewHostLock(f, "/var/lock/up", upgrade.StaleAfter(time.Minute), upgrade.HeartbeatEvery(10*time.Second))
		require.NoError(t, err)
		lease, err := lk.Lock(t.Context(), upgrade.Holder{RunID: "r1"}, func(e upgrade.Event) {
			mu.Lock()
			defer mu.Unlock()
			kinds = append(kinds, string(e.Kind))
		})
		require.NoError(t, err)
		time.Sleep(25 * time.Second)
		synctest.Wait()
		select {
		case <-lease.Lost():
			t.Fatal("lost too early")
		default:
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		select {
		case <-lease.Lost():
		default:
			t.Fatal("lease not lost after the holder changed")
		}
		f.Expect(isScript("rm -rf")).Exit(3)
		assert.ErrorIs(t, lease.Unlock(t.Context()), upgrade.ErrLockLost)
		assert.Equal(t, 3, beats)
		mu.Lock()
		assert.Equal(t, []string{"lock_acquired", "lock_heartbeat_failed", "lock_heartbeat_failed"}, kinds)
		mu.Unlock()
		f.AssertExpectations(t)
	})
}

func TestHostLockHeldAndStaleOnFake(t *testing.T) {
	t.Parallel()
	holder := `{"host":"ops1","pid":42,"user":"oneadmin","run":"abc","time":"2026-01-01T00:00:00Z"}`
	tests := []struct {
		name     string
		age      int
		wantHeld bool
	}{
		{"fresh lock is held", 30, true},
		{"stale lock is broken", 600, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := fake.New("fe1")
			f.Expect(fake.Exact("mkdir", "--", "/var/lock/up")).Exit(1, "mkdir: cannot create directory: File exists")
			f.Expect(isScript("stat -c %Y")).Reply(fmt.Sprintf("1000\n%d\n%s\n", 1000+tc.age, holder))
			if !tc.wantHeld {
				f.Expect(isScript("mv -T"))
				f.Expect(fake.Exact("mkdir", "--", "/var/lock/up"))
				f.Expect(isScript("printf"))
			}
			lk, err := upgrade.NewHostLock(f, "/var/lock/up", upgrade.StaleAfter(5*time.Minute))
			require.NoError(t, err)
			var broken []string
			lease, err := lk.Lock(t.Context(), upgrade.Holder{RunID: "mine"}, func(e upgrade.Event) {
				if e.Kind == upgrade.EventLockBroken {
					broken = append(broken, e.Reason)
				}
			})
			if tc.wantHeld {
				require.ErrorIs(t, err, upgrade.ErrLockHeld)
				he, _ := errors.AsType[*upgrade.LockHeldError](err)
				assert.Equal(t, 42, he.Holder.PID)
				assert.Equal(t, 30*time.Second, he.Age)
				assert.Contains(t, err.Error(), "user oneadmin, pid 42 on ops1")
			} else {
				require.NoError(t, err)
				require.Len(t, broken, 1)
				assert.Contains(t, broken[0], "no heartbeat for 10m0s")
				f.Expect(isScript("rm -rf"))
				require.NoError(t, lease.Unlock(t.Context()))
			}
			f.AssertExpectations(t)
			// The break is guarded by the holder content seen stale.
			for _, c := range f.Calls() {
				if strings.Contains(strings.Join(c.Argv(), " "), "mv -T") {
					assert.Equal(t, holder, c.Command.Args[4])
				}
			}
		})
	}
}

func TestFileLock(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "lock")
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	lk, err := upgrade.NewFileLock(path, upgrade.StaleAfter(time.Minute), upgrade.LockClock(clock))
	require.NoError(t, err)
	lease, err := lk.Lock(t.Context(), upgrade.Holder{RunID: "one"}, nil)
	require.NoError(t, err)
	_, err = lk.Lock(t.Context(), upgrade.Holder{RunID: "two"}, nil)
	require.ErrorIs(t, err, upgrade.ErrLockHeld)
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	var broken bool
	lease2, err := lk.Lock(t.Context(), upgrade.Holder{RunID: "two"}, func(e upgrade.Event) { broken = broken || e.Kind == upgrade.EventLockBroken })
	require.NoError(t, err)
	assert.True(t, broken)
	assert.ErrorIs(t, lease.Unlock(t.Context()), upgrade.ErrLockLost)
	require.NoError(t, lease2.Unlock(t.Context()))
	_, err = os.Stat(path)
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestRunnerLockHeld(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "lock")
	lk, err := upgrade.NewFileLock(path)
	require.NoError(t, err)
	lease, err := lk.Lock(t.Context(), upgrade.Holder{RunID: "other"}, nil)
	require.NoError(t, err)
	defer lease.Unlock(context.Background())
	ran := false
	r, err := upgrade.NewRunner(upgrade.NewPlan("p", upgrade.Func("a", func(ctx context.Context, s *upgrade.State) error {
		ran = true
		return nil
	})), upgrade.WithLocker(lk))
	require.NoError(t, err)
	_, err = r.Run(t.Context())
	require.ErrorIs(t, err, upgrade.ErrLockHeld)
	assert.False(t, ran)
}

func TestLockLostCancelsRun(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "lock")
		lk, err := upgrade.NewFileLock(path, upgrade.StaleAfter(10*time.Second), upgrade.HeartbeatEvery(time.Second))
		require.NoError(t, err)
		rolledBack := false
		evs, obs := collect()
		p := upgrade.NewPlan("p", upgrade.Func("long", func(ctx context.Context, s *upgrade.State) error {
			// Another operator breaks the lock and takes it.
			if err := lk.ForceBreak(ctx); err != nil {
				return err
			}
			if err := os.WriteFile(path, []byte(`{"run":"intruder"}`), 0o644); err != nil {
				return err
			}
			<-ctx.Done()
			return ctx.Err()
		}).RollbackWith(func(ctx context.Context, s *upgrade.State) error { rolledBack = true; return nil }))
		r, err := upgrade.NewRunner(p, upgrade.WithLocker(lk), obs)
		require.NoError(t, err)
		_, err = r.Run(t.Context())
		require.ErrorIs(t, err, upgrade.ErrLockLost)
		assert.False(t, rolledBack, "no rollback once the lock belongs to someone else")
		assert.Contains(t, eventKinds(*evs), "lock_heartbeat_failed")
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.Contains(t, string(data), "intruder", "the other holder's lock is left alone")
	})
}

func TestHeartbeatFailingPastStaleIsLost(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := fake.New("fe1")
		f.Expect(fake.Exact("mkdir", "--", "/var/lock/up"))
		f.Expect(isScript("printf"))
		f.Expect(isScript("touch -c")).Any().ConnectionLost(false)
		lk, err := upgrade.NewHostLock(f, "/var/lock/up", upgrade.StaleAfter(time.Minute), upgrade.HeartbeatEvery(10*time.Second))
		require.NoError(t, err)
		lease, err := lk.Lock(t.Context(), upgrade.Holder{RunID: "r1"}, nil)
		require.NoError(t, err)
		start := time.Now()
		<-lease.Lost()
		assert.Equal(t, time.Minute, time.Since(start))
		f.Expect(isScript("rm -rf")).ConnectionLost(false)
		assert.ErrorIs(t, lease.Unlock(t.Context()), transport.ErrConnectionLost)
	})
}
