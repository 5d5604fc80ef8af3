package proctest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/sim"
	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/upgrade"
)

// Procedure is a plan under test on the simulator.
type Procedure struct {
	// Name names the procedure (and selects it in the helper process).
	Name string
	// NewCloud returns a fresh simulated cloud at the old release.
	NewCloud func() (*sim.Cloud, error)
	// Plan builds the plan upgrading c; it is called again to resume and
	// must give the same plan (fingerprint).
	Plan func(c *sim.Cloud) (*upgrade.Plan, error)
	// NoReturn is the plan's point of no return ("" when there is none:
	// every failure rolls back).
	NoReturn string
	// To and ToDB are the target release and its database version.
	To, ToDB string
	// RollbackFault is the step RollbackKillMatrix and RollbackThenResume
	// fail (before the point of no return, late, so the rollback has
	// many steps to undo).
	RollbackFault string
	// KnownBugs maps a step to a reported bug that leaves the cloud
	// different after a rollback from a fault in that step: the case is
	// skipped while the bug reproduces and fails once it is fixed.
	KnownBugs map[string]string
}

// RollbackProblems lists how after differs from before where a rollback
// must leave nothing changed: releases and units (ServiceChanges),
// database tables (StableChecksums), host states and rows.
func RollbackProblems(before, after Snapshot) []string {
	out := ServiceChanges(before, after)
	bs, as := before.StableChecksums(), after.StableChecksums()
	for _, n := range slices.Sorted(maps.Keys(bs)) {
		for _, tb := range slices.Sorted(maps.Keys(bs[n])) {
			if bs[n][tb] != as[n][tb] {
				out = append(out, fmt.Sprintf("%s: table %s changed", n, tb))
			}
		}
	}
	for _, n := range slices.Sorted(maps.Keys(before.HostStates)) {
		for _, h := range slices.Sorted(maps.Keys(before.HostStates[n])) {
			if b, a := before.HostStates[n][h], after.HostStates[n][h]; a != b {
				out = append(out, fmt.Sprintf("%s: host %s in state %d, was %d", n, h, a, b))
			}
		}
	}
	for _, r := range MissingRows(before, after) {
		out = append(out, "row lost: "+r)
	}
	return out
}

// RunnerOptions are the engine options of a run of p on c with hosts and
// store.
func RunnerOptions(c *sim.Cloud, hosts map[string]transport.Transport, store upgrade.Store) []upgrade.Option {
	return []upgrade.Option{upgrade.WithHosts(hosts), upgrade.WithClock(c.Now), upgrade.WithJournal(store)}
}

// Run runs a fresh plan of p on c with hosts and the journal store.
func (p Procedure) Run(ctx context.Context, c *sim.Cloud, hosts map[string]transport.Transport, store upgrade.Store, more ...upgrade.Option) (upgrade.Report, error) {
	plan, err := p.Plan(c)
	if err != nil {
		return upgrade.Report{}, err
	}
	r, err := upgrade.NewRunner(plan, append(RunnerOptions(c, hosts, store), more...)...)
	if err != nil {
		return upgrade.Report{}, err
	}
	return r.Run(ctx)
}

// MatrixStats counts a fault matrix's cases.
type MatrixStats struct {
	mu sync.Mutex
	// Steps is the number of leaf steps of the plan.
	Steps int
	// FaultPoints are the cases where a fault was injected, by step.
	FaultPoints map[string][]FaultKind
	// NoFaultPoint lists the steps that issued no mutating command.
	NoFaultPoint []string
	// RolledBack and Resumed count the two outcomes (a rollback that
	// left the cloud changed by a known bug included).
	RolledBack, Resumed int
	// KnownBugs counts the cases skipped for a Procedure.KnownBugs entry.
	KnownBugs int
}

// caseResult is what one case of the matrix found.
type caseResult struct {
	fired, resumed, knownBug bool
}

func (s *MatrixStats) add(step string, kind FaultKind, r caseResult) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fired, resumed := r.fired, r.resumed
	if r.knownBug {
		s.KnownBugs++
	}
	switch {
	case !fired:
		if !slices.Contains(s.NoFaultPoint, step) {
			s.NoFaultPoint = append(s.NoFaultPoint, step)
		}
	case resumed:
		s.FaultPoints[step] = append(s.FaultPoints[step], kind)
		s.Resumed++
	default:
		s.FaultPoints[step] = append(s.FaultPoints[step], kind)
		s.RolledBack++
	}
}

func (s *MatrixStats) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, ks := range s.FaultPoints {
		n += len(ks)
	}
	slices.Sort(s.NoFaultPoint)
	return fmt.Sprintf("%d steps: %d with a fault point (%d injected cases: %d rolled back, %d resumed past the point of no return; %d hit a known bug), %d without (%s)",
		s.Steps, len(s.FaultPoints), n, s.RolledBack, s.Resumed, s.KnownBugs, len(s.NoFaultPoint), strings.Join(s.NoFaultPoint, ", "))
}

// FaultMatrix runs p once per leaf step with an Injector on that step
// (FaultExit for every step, FaultConnectionLost as well for every third
// one; with -short, every fourth step only) in parallel subtests, and
// checks each outcome (see the package documentation). The stats are
// logged when every case has finished.
func FaultMatrix(t *testing.T, p Procedure) *MatrixStats {
	t.Helper()
	c0, err := p.NewCloud()
	require.NoError(t, err)
	plan0, err := p.Plan(c0)
	require.NoError(t, err)
	steps := plan0.Steps()
	noReturn := len(steps)
	if p.NoReturn != "" {
		noReturn = slices.Index(steps, p.NoReturn)
		require.GreaterOrEqual(t, noReturn, 0, "point of no return %q is not a step", p.NoReturn)
	}
	stats := &MatrixStats{Steps: len(steps), FaultPoints: map[string][]FaultKind{}}
	t.Cleanup(func() { t.Logf("%s fault matrix: %s", p.Name, stats) })
	// A step the uninterrupted run skips (by its check or by itself)
	// issues no mutating command: its case would be that same run again.
	skipped := map[string]bool{}
	var mu sync.Mutex
	_, err = p.Run(context.Background(), c0, Hosts(c0), &upgrade.MemoryStore{}, upgrade.WithObserver(func(e upgrade.Event) {
		if e.Kind == upgrade.EventStepSkipped {
			mu.Lock()
			skipped[e.Step] = true
			mu.Unlock()
		}
	}))
	require.NoError(t, err, "uninterrupted run")
	for i, step := range steps {
		if testing.Short() && i%4 != 0 {
			continue
		}
		if skipped[step] {
			stats.add(step, FaultExit, caseResult{})
			continue
		}
		kinds := []FaultKind{FaultExit}
		if i%3 == 0 {
			kinds = append(kinds, FaultConnectionLost)
		}
		for _, kind := range kinds {
			t.Run(fmt.Sprintf("%02d:%s:%s", i+1, step, kind), func(t *testing.T) {
				t.Parallel()
				var res caseResult
				defer func() { stats.add(step, kind, res) }()
				faultCase(t, p, step, kind, i >= noReturn, &res)
			})
		}
	}
	return stats
}

// faultCase runs one case and fills res as it learns.
func faultCase(t *testing.T, p Procedure, step string, kind FaultKind, pastNoReturn bool, res *caseResult) {
	ctx := context.Background()
	c, err := p.NewCloud()
	require.NoError(t, err)
	before, err := Take(c)
	require.NoError(t, err)
	in := NewInjector(step, kind)
	store := &upgrade.MemoryStore{}
	_, runErr := p.Run(ctx, c, in.Wrap(Hosts(c)), store, upgrade.WithObserver(in.Observe))
	fired, host, cmd := in.Fired()
	if !fired {
		require.NoError(t, runErr, "step %s issued no mutating command, yet the run failed", step)
		CheckUpgraded(t, c, p, before)
		return
	}
	res.fired, res.resumed = true, pastNoReturn
	t.Logf("fault %s on %s: %s", kind, host, cmd)
	require.Error(t, runErr, "the fault on %s: %s was swallowed: the run succeeded", host, cmd)
	pe, ok := errors.AsType[*upgrade.PartialError](runErr)
	require.True(t, ok, "want a *upgrade.PartialError, got %T: %v", runErr, runErr)
	assert.Equal(t, []string{step}, pe.Failed, "failed steps")
	se, ok := errors.AsType[*upgrade.StepError](runErr)
	if assert.True(t, ok, "no *upgrade.StepError in %v", runErr) {
		assert.Equal(t, step, se.Step)
	}
	switch kind {
	case FaultExit:
		if ee, ok := errors.AsType[*transport.ExitError](runErr); assert.True(t, ok, "the injected exit is not reachable as *transport.ExitError: %v", runErr) {
			assert.Equal(t, 1, ee.Code)
			assert.Contains(t, string(ee.Stderr), InjectedStderr)
		}
	case FaultConnectionLost:
		cl, ok := errors.AsType[*transport.ConnectionLostError](runErr)
		if assert.True(t, ok, "the injected connection loss is not reachable as *transport.ConnectionLostError: %v", runErr) {
			assert.False(t, cl.Started)
			assert.Equal(t, host, cl.Host)
		}
		assert.ErrorIs(t, runErr, ErrInjected)
	}

	if !pastNoReturn {
		require.NoError(t, pe.RollbackErr, "rollback after the fault in %s", step)
		assert.NotErrorIs(t, runErr, upgrade.ErrPointOfNoReturn)
		_, err := InSync(ctx, c)
		require.NoError(t, err, "after rollback")
		after, err := Take(c)
		require.NoError(t, err)
		problems := RollbackProblems(before, after)
		if bug, ok := p.KnownBugs[step]; ok {
			if len(problems) == 0 {
				t.Errorf("known bug %q no longer reproduces: drop %s from KnownBugs", bug, step)
			} else {
				res.knownBug = true
				t.Skipf("known bug (reported): %s: %v", bug, problems)
			}
		}
		assert.Empty(t, problems, "the cloud after rollback differs from before the run")
		return
	}
	require.ErrorIs(t, runErr, upgrade.ErrPointOfNoReturn, "a failure past the point of no return is not rolled back")
	assert.Empty(t, pe.RolledBack)
	in.Disarm()
	_, err = p.Run(ctx, c, Hosts(c), store)
	require.NoError(t, err, "resume after the fault in %s", step)
	CheckUpgraded(t, c, p, before)
}

// CheckUpgraded checks that c runs p.To everywhere, every zone in sync
// with one leader, followers' databases equal to their leader's, the
// hosts in their states of before and no row of before lost.
func CheckUpgraded(t *testing.T, c *sim.Cloud, p Procedure, before Snapshot) {
	t.Helper()
	leaders, err := InSync(context.Background(), c)
	require.NoError(t, err)
	after, err := Take(c)
	require.NoError(t, err)
	for _, n := range c.Frontends() {
		st := after.Nodes[n]
		assert.Equal(t, p.To, st.Version, n)
		assert.Equal(t, p.To, st.ConfigVersion, n)
		assert.Equal(t, p.ToDB, st.DBShared, n)
		assert.Equal(t, p.ToDB, st.DBLocal, n)
		assert.Equal(t, "active", st.Units["opennebula"], n)
	}
	for _, h := range c.Hypervisors() {
		assert.Equal(t, p.To, after.Nodes[h].Version, h)
	}
	zones, err := Zones(c)
	require.NoError(t, err)
	for _, id := range slices.Sorted(maps.Keys(zones)) {
		l := leaders[id]
		for _, n := range zones[id] {
			assert.Equal(t, replicatedSums(after.Checksums[l]), replicatedSums(after.Checksums[n]), "zone %d: %s's tables differ from leader %s's", id, n, l)
		}
		assert.Equal(t, before.HostStates[l], after.HostStates[l], "zone %d: host states", id)
	}
	assert.Empty(t, MissingRows(before, after), "rows lost")
}
