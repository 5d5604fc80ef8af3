package upgrade_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/transport/fake"
	"github.com/upgradekit/upgradekit/upgrade"
)

// fixedClock returns a clock advancing by step on every call.
func fixedClock(step time.Duration) func() time.Time {
	var mu sync.Mutex
	t := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(step)
		return t
	}
}

// trace records what ran, in order, safely from many goroutines.
type trace struct {
	mu  sync.Mutex
	ops []string
}

func (tr *trace) add(s string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.ops = append(tr.ops, s)
}

func (tr *trace) get() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return slices.Clone(tr.ops)
}

func step(tr *trace, name string, fail error) *upgrade.FuncStep {
	return upgrade.Func(name, func(ctx context.Context, s *upgrade.State) error {
		tr.add("run " + s.Step())
		return fail
	}).RollbackWith(func(ctx context.Context, s *upgrade.State) error {
		tr.add("rollback " + s.Step())
		return nil
	})
}

func eventKinds(evs []upgrade.Event) []string {
	var out []string
	for _, e := range evs {
		s := string(e.Kind)
		if e.Step != "" {
			s += " " + e.Step
		}
		if e.Host != "" {
			s += "@" + e.Host
		}
		out = append(out, s)
	}
	return out
}

func collect() (*[]upgrade.Event, upgrade.Option) {
	var evs []upgrade.Event
	return &evs, upgrade.WithObserver(func(e upgrade.Event) { evs = append(evs, e) })
}

func TestValidation(t *testing.T) {
	t.Parallel()
	noop := func(name string) *upgrade.FuncStep { return upgrade.Func(name, nil) }
	hosts := map[string]transport.Transport{"h1": fake.New("h1")}
	tests := []struct {
		name string
		plan *upgrade.Plan
		opts []upgrade.Option
		want string
	}{
		{"duplicate", upgrade.NewPlan("p", noop("a"), noop("a")), nil, `duplicate name "a"`},
		{"duplicate in phase", upgrade.NewPlan("p", upgrade.Phase("x", noop("a"), noop("a"))), nil, `duplicate name "x/a"`},
		{"slash in name", upgrade.NewPlan("p", noop("a/b")), nil, "bad node name"},
		{"empty plan", upgrade.NewPlan("p"), nil, "no steps"},
		{"unknown dep", upgrade.NewPlan("p", noop("a").After("zz")), nil, `depends on unknown "zz"`},
		{"late dep", upgrade.NewPlan("p", noop("a").After("b"), noop("b")), nil, "does not run before it"},
		{"cycle", upgrade.NewPlan("p", noop("a").After("b"), noop("b").After("a")), nil, "dependency cycle"},
		{"own group", upgrade.NewPlan("p", upgrade.Phase("g", noop("a").After("g"))), nil, "its own group"},
		{"unknown skip", upgrade.NewPlan("p", noop("a")), []upgrade.Option{upgrade.WithSkip("b")}, `skip: unknown step "b"`},
		{"unknown only", upgrade.NewPlan("p", noop("a")), []upgrade.Option{upgrade.WithOnly("b")}, `only: unknown step "b"`},
		{"unknown force", upgrade.NewPlan("p", noop("a")), []upgrade.Option{upgrade.WithForce("b")}, `force: unknown step "b"`},
		{"unknown preflight skip", upgrade.NewPlan("p", noop("a")), []upgrade.Option{upgrade.WithPreflightSkip("disk", "no")}, `unknown check "disk"`},
		{"preflight skip without reason", upgrade.NewPlan("p", noop("a")), []upgrade.Option{upgrade.WithPreflightSkip("a", "")}, "reason is required"},
		{"unknown no return", upgrade.NewPlan("p", noop("a")).PointOfNoReturn("b"), nil, "point of no return"},
		{"host not in inventory", upgrade.NewPlan("p", upgrade.PerHost("ph", []string{"h1", "h2"}, func(h string) upgrade.Node { return noop("x") })),
			[]upgrade.Option{upgrade.WithHosts(hosts)}, `host "h2" is not in the inventory`},
		{"dep across hosts", upgrade.NewPlan("p", upgrade.PerHost("ph", []string{"h1"}, func(h string) upgrade.Node {
			return upgrade.Phase("s", noop("a"), noop("b").After("ph/h1/s/a"))
		})), []upgrade.Option{upgrade.WithHosts(hosts)}, ""},
		{"nested PerHost", upgrade.NewPlan("p", upgrade.PerHost("ph", []string{"h1"}, func(h string) upgrade.Node {
			return upgrade.PerHost("inner", []string{"h1"}, func(string) upgrade.Node { return noop("x") })
		})), []upgrade.Option{upgrade.WithHosts(hosts)}, "nested"},
		{"dep skipped", upgrade.NewPlan("p", noop("a"), noop("b").After("a")), []upgrade.Option{upgrade.WithSkip("a")}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := upgrade.NewRunner(tc.plan, tc.opts...)
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, upgrade.ErrInvalidPlan)
			assert.Contains(t, err.Error(), tc.want)
			assert.Nil(t, r)
		})
	}
}

func TestSkippedDependencyRefusedAtRun(t *testing.T) {
	t.Parallel()
	tr := &trace{}
	p := upgrade.NewPlan("p", step(tr, "a", nil), step(tr, "b", nil).After("a"))
	r, err := upgrade.NewRunner(p, upgrade.WithSkip("a"))
	require.NoError(t, err)
	_, err = r.Run(t.Context())
	require.ErrorIs(t, err, upgrade.ErrInvalidPlan)
	assert.Contains(t, err.Error(), `"b" depends on "a", which is skipped`)
	assert.Empty(t, tr.get())
}

func TestEventsSequence(t *testing.T) {
	t.Parallel()
	synctest.Test(t, testEventsSequence)
}

func testEventsSequence(t *testing.T) {
	tr := &trace{}
	evs, obs := collect()
	p := upgrade.NewPlan("demo",
		upgrade.Phase("prep", step(tr, "backup", nil)),
		upgrade.Func("upgrade", func(ctx context.Context, s *upgrade.State) error {
			tr.add("run upgrade")
			time.Sleep(5 * time.Second)
			return nil
		}),
	).WithPreflight(upgrade.Preflight("disk", func(ctx context.Context, s *upgrade.State) error { return nil }))
	r, err := upgrade.NewRunner(p, obs)
	require.NoError(t, err)
	rep, err := r.Run(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []string{
		"plan_started demo",
		"preflight_passed disk",
		"step_started prep/backup",
		"step_finished prep/backup",
		"step_started upgrade",
		"step_finished upgrade",
		"plan_finished demo",
	}, eventKinds(*evs))
	assert.Equal(t, 2, (*evs)[2].Total)
	assert.Equal(t, 1, (*evs)[2].Index)
	assert.Equal(t, 2, (*evs)[4].Index)
	assert.Equal(t, 5*time.Second, (*evs)[5].Dur)
	assert.Equal(t, 5*time.Second, rep.Steps[1].Dur)
	assert.Equal(t, []string{"run prep/backup", "run upgrade"}, tr.get())
	require.Len(t, rep.Steps, 2)
	assert.Equal(t, upgrade.StatusDone, rep.Steps[0].Status)
	assert.Equal(t, []string{"prep/backup", "upgrade"}, p.Steps())
}

func TestTypedKeysAndPersistence(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "journal")
	version := upgrade.NewPersistentKey[string]("version")
	count := upgrade.NewKey[int]("count")
	var got []string
	fail := true
	p := upgrade.NewPlan("p",
		upgrade.Func("read", func(ctx context.Context, s *upgrade.State) error {
			if err := count.Set(s, 3); err != nil {
				return err
			}
			return version.Set(s, "6.10.0")
		}),
		upgrade.Func("use", func(ctx context.Context, s *upgrade.State) error {
			v, ok := version.Get(s)
			got = append(got, fmt.Sprintf("%s %v", v, ok))
			if fail {
				return errors.New("boom")
			}
			return nil
		}),
	)
	r, err := upgrade.NewRunner(p, upgrade.WithJournal(upgrade.NewFileStore(path)))
	require.NoError(t, err)
	_, err = r.Run(t.Context())
	require.Error(t, err)
	// Resume in a new runner: "read" is done, the value comes from the journal.
	fail = false
	r, err = upgrade.NewRunner(p, upgrade.WithJournal(upgrade.NewFileStore(path)))
	require.NoError(t, err)
	_, err = r.Run(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []string{"6.10.0 true", "6.10.0 true"}, got)
}

func TestRollbackOrderAndJournal(t *testing.T) {
	t.Parallel()
	tr := &trace{}
	store := &upgrade.MemoryStore{}
	boom := errors.New("boom")
	p := upgrade.NewPlan("p",
		step(tr, "a", nil),
		upgrade.Func("norb", func(ctx context.Context, s *upgrade.State) error { tr.add("run norb"); return nil }),
		upgrade.Phase("g", step(tr, "b", nil), step(tr, "c", boom)),
		step(tr, "d", nil),
	)
	evs, obs := collect()
	r, err := upgrade.NewRunner(p, upgrade.WithJournal(store), obs)
	require.NoError(t, err)
	rep, err := r.Run(t.Context())
	require.Error(t, err)
	assert.Equal(t, []string{"run a", "run norb", "run g/b", "run g/c", "rollback g/c", "rollback g/b", "rollback a"}, tr.get())
	pe, ok := errors.AsType[*upgrade.PartialError](err)
	require.True(t, ok)
	assert.ErrorIs(t, err, boom)
	se, ok := errors.AsType[*upgrade.StepError](err)
	require.True(t, ok)
	assert.Equal(t, "g/c", se.Step)
	assert.Equal(t, []string{"g/c"}, pe.Failed)
	assert.Equal(t, []string{"d"}, pe.Pending)
	assert.Equal(t, []string{"a", "norb", "g/b"}, pe.Completed)
	assert.Equal(t, []string{"g/c", "g/b", "a"}, pe.RolledBack)
	assert.NoError(t, pe.RollbackErr)
	var states []string
	for _, rec := range store.Records() {
		if rec.Type == upgrade.RecordStep {
			states = append(states, rec.Step+" "+rec.State)
		}
	}
	assert.Equal(t, []string{
		"a in_progress", "a done", "norb in_progress", "norb done",
		"g/b in_progress", "g/b done", "g/c in_progress", "g/c failed",
		"g/c rolling_back", "g/c rolled_back", "g/b rolling_back", "g/b rolled_back", "a rolling_back", "a rolled_back",
	}, states)
	assert.Contains(t, eventKinds(*evs), "rollback_started g/c")
	assert.Equal(t, upgrade.StatusRolledBack, rep.Steps[0].Status)
	assert.Equal(t, upgrade.StatusPending, rep.Steps[4].Status)
}

func TestPointOfNoReturnRefusesRollback(t *testing.T) {
	t.Parallel()
	tr := &trace{}
	p := upgrade.NewPlan("p", step(tr, "a", nil), step(tr, "migrate", nil), step(tr, "c", errors.New("boom"))).
		PointOfNoReturn("migrate")
	r, err := upgrade.NewRunner(p)
	require.NoError(t, err)
	_, err = r.Run(t.Context())
	require.Error(t, err)
	assert.ErrorIs(t, err, upgrade.ErrPointOfNoReturn)
	pe, ok := errors.AsType[*upgrade.PartialError](err)
	require.True(t, ok)
	assert.Contains(t, pe.RollbackErr.Error(), "run the same plan again to resume forward")
	assert.Equal(t, []string{"run a", "run migrate", "run c"}, tr.get())
}

func TestFailureBeforePointOfNoReturnRollsBack(t *testing.T) {
	t.Parallel()
	tr := &trace{}
	p := upgrade.NewPlan("p", step(tr, "a", errors.New("boom")), step(tr, "migrate", nil)).PointOfNoReturn("migrate")
	r, err := upgrade.NewRunner(p)
	require.NoError(t, err)
	_, err = r.Run(t.Context())
	require.Error(t, err)
	assert.NotErrorIs(t, err, upgrade.ErrPointOfNoReturn)
	assert.Equal(t, []string{"run a", "rollback a"}, tr.get())
}

func TestCancellationRunsRollback(t *testing.T) {
	t.Parallel()
	tr := &trace{}
	ctx, cancel := context.WithCancel(t.Context())
	var rbCtxErr error
	p := upgrade.NewPlan("p",
		step(tr, "a", nil),
		upgrade.Func("b", func(ctx context.Context, s *upgrade.State) error {
			tr.add("run b")
			cancel()
			<-ctx.Done()
			return ctx.Err()
		}).RollbackWith(func(ctx context.Context, s *upgrade.State) error {
			rbCtxErr = ctx.Err()
			tr.add("rollback b")
			return nil
		}),
		step(tr, "c", nil),
	)
	r, err := upgrade.NewRunner(p)
	require.NoError(t, err)
	_, err = r.Run(ctx)
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, []string{"run a", "run b", "rollback b", "rollback a"}, tr.get())
	assert.NoError(t, rbCtxErr, "rollback must not see the run's cancellation")
}

func TestRetriesKeepLastError(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		attempts := 0
		evs, obs := collect()
		p := upgrade.NewPlan("p", upgrade.Func("flaky", func(ctx context.Context, s *upgrade.State) error {
			attempts++
			return fmt.Errorf("not in sync (attempt %d)", attempts)
		}).WithPolicy(upgrade.Policy{Retry: upgrade.RetryPolicy{MaxAttempts: 4, Initial: time.Second, Max: 4 * time.Second}}))
		r, err := upgrade.NewRunner(p, obs)
		require.NoError(t, err)
		start := time.Now()
		rep, err := r.Run(t.Context())
		require.Error(t, err)
		assert.Contains(t, err.Error(), "not in sync (attempt 4)")
		assert.Equal(t, 4, attempts)
		assert.Equal(t, 4, rep.Steps[0].Attempts)
		// Waits 1s, 2s, 4s on the fake clock.
		assert.Equal(t, 7*time.Second, time.Since(start))
		var waits []time.Duration
		for _, e := range *evs {
			if e.Kind == upgrade.EventRetrying {
				waits = append(waits, e.Wait)
			}
		}
		assert.Equal(t, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}, waits)
	})
}

func TestRetryCancelledKeepsLastError(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
		defer cancel()
		p := upgrade.NewPlan("p", upgrade.Func("wait", func(ctx context.Context, s *upgrade.State) error {
			return errors.New("zone not in sync")
		}).WithPolicy(upgrade.Policy{Retry: upgrade.RetryPolicy{MaxAttempts: 100, Initial: time.Minute}}))
		r, err := upgrade.NewRunner(p)
		require.NoError(t, err)
		_, err = r.Run(ctx)
		require.Error(t, err)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Contains(t, err.Error(), "zone not in sync")
	})
}

func TestStepTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := fake.New("h1")
		f.Expect(fake.Exact("sleep", "inf")).Hang().Times(2)
		p := upgrade.NewPlan("p", upgrade.PerHost("hang", []string{"h1"}, func(h string) upgrade.Node {
			return upgrade.Func("cmd", func(ctx context.Context, s *upgrade.State) error {
				return transport.Check(ctx, s.Transport(), transport.Cmd("sleep", "inf"))
			}).WithPolicy(upgrade.Policy{Timeout: 10 * time.Second, Retry: upgrade.RetryPolicy{MaxAttempts: 2, Initial: time.Second}})
		}))
		r, err := upgrade.NewRunner(p, upgrade.WithHosts(map[string]transport.Transport{"h1": f}))
		require.NoError(t, err)
		start := time.Now()
		_, err = r.Run(t.Context())
		require.Error(t, err)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Contains(t, err.Error(), "timed out after 10s")
		assert.Equal(t, 21*time.Second, time.Since(start))
		he, ok := errors.AsType[*transport.HostError](err)
		require.True(t, ok)
		assert.Equal(t, "h1", he.Host)
		f.AssertExpectations(t)
	})
}

func hostsPlan(n int) ([]string, map[string]transport.Transport, *fake.Cluster) {
	var names []string
	for i := range n {
		names = append(names, fmt.Sprintf("h%02d", i))
	}
	c := fake.NewCluster(names...)
	inv := map[string]transport.Transport{}
	for _, h := range names {
		inv[h] = c.Host(h)
	}
	return names, inv, c
}

func TestConcurrencyLimit(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		names, inv, c := hostsPlan(25)
		for _, h := range names {
			c.Host(h).Expect(fake.Exact("upgrade")).Delay(time.Second)
		}
		var cur, peak atomic.Int32
		p := upgrade.NewPlan("p", upgrade.PerHost("up", names, func(h string) upgrade.Node {
			return upgrade.Func("pkg", func(ctx context.Context, s *upgrade.State) error {
				n := cur.Add(1)
				defer cur.Add(-1)
				for {
					old := peak.Load()
					if n <= old || peak.CompareAndSwap(old, n) {
						break
					}
				}
				return transport.Check(ctx, s.Transport(), transport.Cmd("upgrade"))
			})
		}).WithParallel(upgrade.ParallelPolicy{Concurrency: 4}))
		r, err := upgrade.NewRunner(p, upgrade.WithHosts(inv))
		require.NoError(t, err)
		start := time.Now()
		rep, err := r.Run(t.Context())
		require.NoError(t, err)
		assert.Equal(t, int32(4), peak.Load())
		assert.Equal(t, 7*time.Second, time.Since(start)) // ceil(25/4) rounds of 1s
		assert.Len(t, rep.Hosts, 25)
		c.AssertExpectations(t)
	})
}

func TestCanaryFailureStopsRest(t *testing.T) {
	t.Parallel()
	names, inv, c := hostsPlan(5)
	c.Host(names[0]).Expect(fake.Exact("upgrade")).Exit(1, "dependency conflict")
	evs, obs := collect()
	p := upgrade.NewPlan("p", upgrade.PerHost("up", names, func(h string) upgrade.Node {
		return upgrade.Func("pkg", func(ctx context.Context, s *upgrade.State) error {
			return transport.Check(ctx, s.Transport(), transport.Cmd("upgrade"))
		})
	}).WithParallel(upgrade.ParallelPolicy{Canary: true, FailureBudget: 3}))
	r, err := upgrade.NewRunner(p, upgrade.WithHosts(inv), obs)
	require.NoError(t, err)
	rep, err := r.Run(t.Context())
	require.Error(t, err)
	ee, ok := errors.AsType[*transport.ExitError](err)
	require.True(t, ok)
	assert.Equal(t, 1, ee.Code)
	c.AssertExpectations(t) // no other host was called (strict fake)
	skipped := 0
	for _, e := range *evs {
		if e.Kind == upgrade.EventHostSkipped {
			skipped++
			assert.Equal(t, "canary h00 failed", e.Reason)
		}
	}
	assert.Equal(t, 4, skipped)
	assert.Equal(t, upgrade.StatusFailed, rep.Hosts[0].Status)
	assert.Equal(t, upgrade.StatusSkipped, rep.Hosts[4].Status)
}

func TestFailureBudget(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		budget      int
		wantStarted int
	}{
		{"default budget stops at first failure", 0, 1},
		{"budget 2", 2, 2},
		{"budget 3", 3, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			names, inv, _ := hostsPlan(6)
			var started atomic.Int32
			p := upgrade.NewPlan("p", upgrade.PerHost("up", names, func(h string) upgrade.Node {
				return upgrade.Func("pkg", func(ctx context.Context, s *upgrade.State) error {
					started.Add(1)
					return errors.New("broken " + s.Host())
				})
			}).WithParallel(upgrade.ParallelPolicy{Concurrency: 1, FailureBudget: tc.budget}))
			r, err := upgrade.NewRunner(p, upgrade.WithHosts(inv))
			require.NoError(t, err)
			rep, err := r.Run(t.Context())
			require.Error(t, err)
			assert.Equal(t, int32(tc.wantStarted), started.Load())
			var hostErrs []string
			for _, e := range err.(*upgrade.PartialError).Err.(interface{ Unwrap() []error }).Unwrap() {
				he, ok := errors.AsType[*transport.HostError](e)
				require.True(t, ok)
				hostErrs = append(hostErrs, he.Host)
			}
			assert.Len(t, hostErrs, tc.wantStarted)
			skipped := 0
			for _, h := range rep.Hosts {
				if h.Status == upgrade.StatusSkipped {
					skipped++
					assert.Contains(t, h.Reason, "failure budget")
				}
			}
			assert.Equal(t, 6-tc.wantStarted, skipped)
		})
	}
}

func TestPerHostSubstepsAndRollback(t *testing.T) {
	t.Parallel()
	tr := &trace{}
	names, inv, _ := hostsPlan(3)
	p := upgrade.NewPlan("p",
		step(tr, "stop", nil),
		upgrade.PerHost("followers", names, func(h string) upgrade.Node {
			var fail error
			if h == "h02" {
				fail = errors.New("restore failed")
			}
			return upgrade.Phase("db", step(tr, "backup", nil), step(tr, "restore", fail))
		}).WithParallel(upgrade.ParallelPolicy{Concurrency: 1}),
	)
	r, err := upgrade.NewRunner(p, upgrade.WithHosts(inv))
	require.NoError(t, err)
	_, err = r.Run(t.Context())
	require.Error(t, err)
	ops := tr.get()
	assert.Equal(t, []string{
		"run stop",
		"run followers/h00/db/backup", "run followers/h00/db/restore",
		"run followers/h01/db/backup", "run followers/h01/db/restore",
		"run followers/h02/db/backup", "run followers/h02/db/restore",
		"rollback followers/h02/db/restore", "rollback followers/h02/db/backup",
		"rollback followers/h01/db/restore", "rollback followers/h01/db/backup",
		"rollback followers/h00/db/restore", "rollback followers/h00/db/backup",
		"rollback stop",
	}, ops)
	se, ok := errors.AsType[*upgrade.StepError](err)
	require.True(t, ok)
	assert.Equal(t, "followers/h02/db/restore", se.Step)
	assert.Equal(t, "h02", se.Host)
}

func TestSkipOnlyAndChecker(t *testing.T) {
	t.Parallel()
	tr := &trace{}
	store := &upgrade.MemoryStore{}
	p := upgrade.NewPlan("p",
		step(tr, "a", nil),
		step(tr, "b", nil).CheckWith(func(ctx context.Context, s *upgrade.State) (bool, error) { return true, nil }),
		upgrade.Phase("g", step(tr, "c", nil), step(tr, "d", nil)),
	)
	evs, obs := collect()
	r, err := upgrade.NewRunner(p, upgrade.WithOnly("b", "g"), upgrade.WithSkip("g/d"), upgrade.WithJournal(store), obs)
	require.NoError(t, err)
	rep, err := r.Run(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []string{"run g/c"}, tr.get())
	reasons := map[string]string{}
	for _, e := range *evs {
		if e.Kind == upgrade.EventStepSkipped {
			reasons[e.Step] = e.Reason
		}
	}
	assert.Equal(t, map[string]string{"a": "not selected (skip/only)", "b": "already done (check)", "g/d": "not selected (skip/only)"}, reasons)
	assert.Equal(t, "already done (check)", rep.Steps[1].Reason)
	assert.Equal(t, upgrade.StatusSkipped, rep.Steps[3].Status)
}

func TestPreflight(t *testing.T) {
	t.Parallel()
	tr := &trace{}
	store := &upgrade.MemoryStore{}
	p := upgrade.NewPlan("p",
		step(tr, "a", nil).PrecheckWith(func(ctx context.Context, s *upgrade.State) error { return errors.New("db too old") }),
	).WithPreflight(
		upgrade.Preflight("disk-space", func(ctx context.Context, s *upgrade.State) error { return errors.New("only 1G free") }),
		upgrade.Preflight("versions", func(ctx context.Context, s *upgrade.State) error { return nil }),
	)
	r, err := upgrade.NewRunner(p, upgrade.WithJournal(store))
	require.NoError(t, err)
	rep, err := r.Run(t.Context())
	require.ErrorIs(t, err, upgrade.ErrPreflight)
	assert.Contains(t, err.Error(), "only 1G free")
	assert.Contains(t, err.Error(), "db too old")
	assert.Empty(t, tr.get())
	assert.Len(t, rep.Preflight, 3)

	r, err = upgrade.NewRunner(p, upgrade.WithJournal(store),
		upgrade.WithPreflightSkip("disk-space", "extra disk mounted by hand"), upgrade.WithPreflightSkip("a", "checked manually"))
	require.NoError(t, err)
	rep, err = r.Run(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []string{"run a"}, tr.get())
	assert.Equal(t, upgrade.CheckReport{Name: "disk-space", Status: "skipped", Reason: "extra disk mounted by hand"}, rep.Preflight[0])
	var skips []string
	for _, rec := range store.Records() {
		if rec.Type == upgrade.RecordPreflight && rec.State == upgrade.StateSkipped {
			skips = append(skips, rec.Check+": "+rec.Reason)
		}
	}
	assert.Equal(t, []string{"disk-space: extra disk mounted by hand", "a: checked manually"}, skips)
}

func TestResumeRules(t *testing.T) {
	t.Parallel()
	dirtyJournal := func(t *testing.T, step string) string {
		path := filepath.Join(t.TempDir(), "journal")
		p := resumePlan(nil, nil)
		s := upgrade.NewFileStore(path)
		require.NoError(t, s.Append(t.Context(), upgrade.Record{V: 1, Type: upgrade.RecordPlan, Fingerprint: p.Fingerprint()}))
		require.NoError(t, s.Append(t.Context(), upgrade.Record{V: 1, Type: upgrade.RecordStep, Step: "a", State: upgrade.StateInProgress}))
		require.NoError(t, s.Append(t.Context(), upgrade.Record{V: 1, Type: upgrade.RecordStep, Step: "a", State: upgrade.StateDone}))
		if step == "c" {
			require.NoError(t, s.Append(t.Context(), upgrade.Record{V: 1, Type: upgrade.RecordStep, Step: "b", State: upgrade.StateDone}))
		}
		require.NoError(t, s.Append(t.Context(), upgrade.Record{V: 1, Type: upgrade.RecordStep, Step: step, State: upgrade.StateInProgress}))
		require.NoError(t, s.Close())
		return path
	}
	t.Run("dirty without checker is refused", func(t *testing.T) {
		t.Parallel()
		tr := &trace{}
		path := dirtyJournal(t, "b")
		r, err := upgrade.NewRunner(resumePlan(tr, nil), upgrade.WithJournal(upgrade.NewFileStore(path)))
		require.NoError(t, err)
		_, err = r.Run(t.Context())
		require.ErrorIs(t, err, upgrade.ErrDirtyStep)
		de, ok := errors.AsType[*upgrade.DirtyStepError](err)
		require.True(t, ok)
		assert.Equal(t, "b", de.Step)
		assert.Empty(t, tr.get())
		// Forced: b re-runs, a stays done.
		r, err = upgrade.NewRunner(resumePlan(tr, nil), upgrade.WithJournal(upgrade.NewFileStore(path)), upgrade.WithForce("b"))
		require.NoError(t, err)
		_, err = r.Run(t.Context())
		require.NoError(t, err)
		assert.Equal(t, []string{"run b", "run c"}, tr.get())
	})
	t.Run("checker decides", func(t *testing.T) {
		t.Parallel()
		for _, done := range []bool{true, false} {
			tr := &trace{}
			path := dirtyJournal(t, "c")
			r, err := upgrade.NewRunner(resumePlan(tr, &done), upgrade.WithJournal(upgrade.NewFileStore(path)))
			require.NoError(t, err)
			_, err = r.Run(t.Context())
			require.NoError(t, err)
			if done {
				assert.Empty(t, tr.get())
			} else {
				assert.Equal(t, []string{"run c"}, tr.get())
			}
		}
	})
	t.Run("plan mismatch", func(t *testing.T) {
		t.Parallel()
		path := dirtyJournal(t, "b")
		other := upgrade.NewPlan("p", upgrade.Func("a", nil), upgrade.Func("x", nil))
		r, err := upgrade.NewRunner(other, upgrade.WithJournal(upgrade.NewFileStore(path)))
		require.NoError(t, err)
		_, err = r.Run(t.Context())
		require.ErrorIs(t, err, upgrade.ErrPlanMismatch)
		r, err = upgrade.NewRunner(other, upgrade.WithJournal(upgrade.NewFileStore(path)), upgrade.WithAllowPlanChange())
		require.NoError(t, err)
		_, err = r.Run(t.Context())
		require.NoError(t, err)
	})
}

// resumePlan: a, b (no checker), c (checker reporting *done when set).
func resumePlan(tr *trace, cDone *bool) *upgrade.Plan {
	if tr == nil {
		tr = &trace{}
	}
	c := step(tr, "c", nil)
	c.CheckWith(func(ctx context.Context, s *upgrade.State) (bool, error) { return cDone != nil && *cDone, nil })
	return upgrade.NewPlan("p", step(tr, "a", nil), step(tr, "b", nil), c)
}

func TestDowntimeReport(t *testing.T) {
	t.Parallel()
	p := upgrade.NewPlan("p",
		upgrade.Func("stop", func(ctx context.Context, s *upgrade.State) error { return s.ServiceDown("oned") }),
		upgrade.Func("upgrade", nil),
		upgrade.Func("start", func(ctx context.Context, s *upgrade.State) error { return s.ServiceUp("oned") }),
		upgrade.Func("stop-sched", func(ctx context.Context, s *upgrade.State) error { return s.ServiceDown("scheduler") }),
	)
	r, err := upgrade.NewRunner(p, upgrade.WithClock(fixedClock(time.Second)))
	require.NoError(t, err)
	rep, err := r.Run(t.Context())
	require.NoError(t, err)
	require.Len(t, rep.Downtime, 2)
	assert.Equal(t, "oned", rep.Downtime[0].Service)
	assert.False(t, rep.Downtime[0].Open)
	assert.Positive(t, rep.Downtime[0].Dur)
	assert.Equal(t, rep.Downtime[0].End.Sub(rep.Downtime[0].Start), rep.Downtime[0].Dur)
	assert.True(t, rep.Downtime[1].Open)
	var text strings.Builder
	require.NoError(t, rep.WriteText(&text))
	assert.Contains(t, text.String(), "downtime oned: ")
	assert.Contains(t, text.String(), "still down at end of run")
	var js strings.Builder
	require.NoError(t, rep.WriteJSON(&js))
	assert.Contains(t, js.String(), `"service": "oned"`)
}

func TestRunTwice(t *testing.T) {
	t.Parallel()
	r, err := upgrade.NewRunner(upgrade.NewPlan("p", upgrade.Func("a", nil)))
	require.NoError(t, err)
	_, err = r.Run(t.Context())
	require.NoError(t, err)
	_, err = r.Run(t.Context())
	require.ErrorIs(t, err, upgrade.ErrAlreadyRun)
}

// TestRollbackGoesOnPastAFailure: a step whose rollback fails (its host
// unreachable) does not stop the rollback: every other step is undone,
// the PartialError lists the one that could not be, the report says where
// each host stands, and a resume goes backward to retry it.
func TestRollbackGoesOnPastAFailure(t *testing.T) {
	t.Parallel()
	tr := &trace{}
	store := &upgrade.MemoryStore{}
	rbErr := errors.New("cannot restore backup")
	hosts := map[string]transport.Transport{"fe1": fake.New("fe1"), "fe2": fake.New("fe2")}
	on := func(host string) func(ctx context.Context, s *upgrade.State) error {
		return func(ctx context.Context, s *upgrade.State) error { _, err := s.HostTransport(host); return err }
	}
	failing := true
	plan := func() *upgrade.Plan {
		return upgrade.NewPlan("p",
			upgrade.Func("a", func(ctx context.Context, s *upgrade.State) error { tr.add("run a"); return on("fe1")(ctx, s) }).
				RollbackWith(func(ctx context.Context, s *upgrade.State) error { tr.add("rollback a"); return on("fe1")(ctx, s) }),
			upgrade.Func("b", func(ctx context.Context, s *upgrade.State) error { tr.add("run b"); return on("fe2")(ctx, s) }).
				RollbackWith(func(ctx context.Context, s *upgrade.State) error {
					tr.add("rollback b")
					if failing {
						return rbErr
					}
					return on("fe2")(ctx, s)
				}),
			step(tr, "c", errors.New("boom")),
		)
	}
	r, err := upgrade.NewRunner(plan(), upgrade.WithJournal(store), upgrade.WithHosts(hosts))
	require.NoError(t, err)
	rep, err := r.Run(t.Context())
	require.Error(t, err)
	assert.Equal(t, []string{"run a", "run b", "run c", "rollback c", "rollback b", "rollback a"}, tr.get(), "a is rolled back past b's failed rollback")
	pe, ok := errors.AsType[*upgrade.PartialError](err)
	require.True(t, ok)
	assert.ErrorIs(t, pe.RollbackErr, rbErr)
	assert.ErrorIs(t, err, rbErr)
	assert.Equal(t, []string{"c", "a"}, pe.RolledBack)
	assert.Equal(t, []string{"b"}, pe.RollbackFailed)
	assert.Contains(t, pe.Failed, "b")
	assert.Contains(t, err.Error(), "could not roll back 1 (b)")
	last := map[string]string{}
	var rollback []string
	for _, rec := range store.Records() {
		switch rec.Type {
		case upgrade.RecordStep:
			last[rec.Step] = rec.State
		case upgrade.RecordRollback:
			rollback = append(rollback, rec.State)
		}
	}
	assert.Equal(t, map[string]string{"a": "rolled_back", "b": "rollback_failed", "c": "rolled_back"}, last)
	assert.Equal(t, []string{"started", "failed"}, rollback)
	assert.Equal(t, "cannot restore backup", rep.Steps[1].RollbackErr)
	assert.Equal(t, []upgrade.HostState{
		{Host: "fe1", State: upgrade.HostRolledBack, RolledBack: []string{"a"}},
		{Host: "fe2", State: upgrade.HostRollbackFailed, RollbackFailed: []string{"b"}},
	}, rep.HostStates)
	var text strings.Builder
	require.NoError(t, rep.WriteText(&text))
	assert.Contains(t, text.String(), "state fe2                  rollback_failed; could not roll back: b")

	// The host is back: a resume goes backward and retries b alone.
	failing = false
	tr2 := len(tr.get())
	r, err = upgrade.NewRunner(plan(), upgrade.WithJournal(store), upgrade.WithHosts(hosts))
	require.NoError(t, err)
	rep, err = r.Run(t.Context())
	require.ErrorIs(t, err, upgrade.ErrRollbackResumed)
	pe, ok = errors.AsType[*upgrade.PartialError](err)
	require.True(t, ok)
	assert.NoError(t, pe.RollbackErr)
	assert.Equal(t, upgrade.DirBackward, rep.Direction)
	assert.Equal(t, []string{"rollback b"}, tr.get()[tr2:])

	// Then forward: everything runs again.
	r, err = upgrade.NewRunner(upgrade.NewPlan("p", step(tr, "a", nil), step(tr, "b", nil), step(tr, "c", nil)), upgrade.WithJournal(store), upgrade.WithAllowPlanChange())
	require.NoError(t, err)
	rep, err = r.Run(t.Context())
	require.NoError(t, err)
	assert.Equal(t, upgrade.DirForward, rep.Direction)
	assert.Equal(t, []string{"run a", "run b", "run c"}, tr.get()[tr2+1:])
}

func TestCanarySuccessRunsRest(t *testing.T) {
	t.Parallel()
	names, inv, c := hostsPlan(4)
	var order []string
	var mu sync.Mutex
	for _, h := range names {
		c.Host(h).Expect(fake.Exact("upgrade"))
	}
	p := upgrade.NewPlan("p", upgrade.PerHost("up", names, func(h string) upgrade.Node {
		return upgrade.Func("pkg", func(ctx context.Context, s *upgrade.State) error {
			mu.Lock()
			order = append(order, s.Host())
			mu.Unlock()
			return transport.Check(ctx, s.Transport(), transport.Cmd("upgrade"))
		})
	}).WithParallel(upgrade.ParallelPolicy{Canary: true, Concurrency: 3}))
	r, err := upgrade.NewRunner(p, upgrade.WithHosts(inv))
	require.NoError(t, err)
	_, err = r.Run(t.Context())
	require.NoError(t, err)
	require.Len(t, order, 4)
	assert.Equal(t, "h00", order[0], "canary first")
	c.AssertExpectations(t)
}

// TestRollbackMakesStepsPendingAgain: after a rollback, a resume runs
// again the steps whose effects the rollback undid, including one without
// a rollback of its own whose change an earlier step's rollback reverted
// (onecfg upgrade, undone by the configuration backup's restore).
func TestRollbackMakesStepsPendingAgain(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	config := "7.2"
	fail := true
	tr := &trace{}
	plan := func() *upgrade.Plan {
		return upgrade.NewPlan("p",
			upgrade.Func("backup-config", func(ctx context.Context, s *upgrade.State) error { tr.add("run backup-config"); return nil }).
				RollbackWith(func(ctx context.Context, s *upgrade.State) error {
					mu.Lock()
					defer mu.Unlock()
					config = "7.2"
					return nil
				}),
			upgrade.Func("onecfg", func(ctx context.Context, s *upgrade.State) error {
				tr.add("run onecfg")
				mu.Lock()
				defer mu.Unlock()
				config = "7.4"
				return nil
			}),
			upgrade.Func("onedb-upgrade", func(ctx context.Context, s *upgrade.State) error {
				tr.add("run onedb-upgrade")
				mu.Lock()
				defer mu.Unlock()
				if fail {
					return errors.New("injected")
				}
				return nil
			}),
		)
	}
	path := filepath.Join(t.TempDir(), "journal")
	r, err := upgrade.NewRunner(plan(), upgrade.WithJournal(upgrade.NewFileStore(path)))
	require.NoError(t, err)
	_, err = r.Run(t.Context())
	require.Error(t, err)
	require.Equal(t, "7.2", config)
	fail = false
	r, err = upgrade.NewRunner(plan(), upgrade.WithJournal(upgrade.NewFileStore(path)))
	require.NoError(t, err)
	_, err = r.Run(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "7.4", config, "configuration upgraded by the resume")
	assert.Equal(t, []string{"run backup-config", "run onecfg", "run onedb-upgrade", "run backup-config", "run onecfg", "run onedb-upgrade"}, tr.get())
}

// A step of several hosts whose undo fails on one of them (its error
// names that host with a *transport.HostError) leaves only that host
// rollback_failed: the others were rolled back.
func TestRollbackFailureOfOneHostOfAStep(t *testing.T) {
	t.Parallel()
	hosts := map[string]transport.Transport{"fe1": fake.New("fe1"), "fe2": fake.New("fe2")}
	both := func(ctx context.Context, s *upgrade.State) error {
		for _, h := range []string{"fe1", "fe2"} {
			if _, err := s.HostTransport(h); err != nil {
				return err
			}
		}
		return nil
	}
	lost := errors.New("unreachable")
	p := upgrade.NewPlan("p",
		upgrade.Func("stop", both).RollbackWith(func(ctx context.Context, s *upgrade.State) error {
			return errors.Join(&transport.HostError{Host: "fe2", Err: lost})
		}),
		upgrade.Func("c", func(context.Context, *upgrade.State) error { return errors.New("boom") }),
	)
	r, err := upgrade.NewRunner(p, upgrade.WithHosts(hosts))
	require.NoError(t, err)
	rep, err := r.Run(t.Context())
	pe, ok := errors.AsType[*upgrade.PartialError](err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, []string{"stop"}, pe.RollbackFailed)
	assert.ErrorIs(t, err, lost)
	assert.Equal(t, []string{"fe2"}, rep.Steps[0].RollbackHosts)
	assert.Equal(t, []upgrade.HostState{
		{Host: "fe1", State: upgrade.HostRolledBack, RolledBack: []string{"stop"}},
		{Host: "fe2", State: upgrade.HostRollbackFailed, RollbackFailed: []string{"stop"}},
	}, rep.HostStates)
}
