package upgrade_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/upgrade"
)

// recordPlan is a, b (the point of no return), c (fails while *failC),
// d; ran counts the steps' runs and the preflight check's.
func recordPlan(failC *atomic.Bool, ran map[string]*atomic.Int32) *upgrade.Plan {
	for _, n := range []string{"pre", "a", "b", "c", "d"} {
		if ran[n] == nil {
			ran[n] = new(atomic.Int32)
		}
	}
	step := func(name string) *upgrade.FuncStep {
		return upgrade.Func(name, func(ctx context.Context, s *upgrade.State) error {
			ran[name].Add(1)
			if name == "c" && failC.Load() {
				return errors.New("c failed")
			}
			return nil
		}).RollbackWith(func(context.Context, *upgrade.State) error { return nil })
	}
	return upgrade.NewPlan("p", step("a"), step("b"), step("c"), step("d")).
		PointOfNoReturn("b").
		WithPreflight(upgrade.Preflight("pre", func(context.Context, *upgrade.State) error {
			ran["pre"].Add(1)
			return nil
		}))
}

// A run that loses its journal past the point of no return: the next run
// (new, empty journal, the lock free) finds the cluster's record of the
// run in flight and refuses before its preflight, instead of starting
// over; a journal rebuilt from the record resumes it to the end, and the
// record is gone once the run finished.
func TestLostJournalRefusedByClusterRecord(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	lk, err := upgrade.NewFileLock(filepath.Join(t.TempDir(), "lock"))
	require.NoError(t, err)
	var failC atomic.Bool
	failC.Store(true)
	ran := map[string]*atomic.Int32{}
	run := func(store upgrade.Store) error {
		r, err := upgrade.NewRunner(recordPlan(&failC, ran), upgrade.WithLocker(lk), upgrade.WithJournal(store))
		require.NoError(t, err)
		_, err = r.Run(ctx)
		return err
	}

	err = run(&upgrade.MemoryStore{})
	require.ErrorIs(t, err, upgrade.ErrPointOfNoReturn)
	rec, err := lk.ReadRecord(ctx)
	require.NoError(t, err)
	require.NotNil(t, rec, "the cluster records the run in flight")
	assert.True(t, rec.NoReturn)
	assert.Equal(t, "c", rec.Point)
	names, states := rec.Steps()
	assert.Equal(t, []string{"a", "b", "c"}, names)
	assert.Equal(t, []string{upgrade.StateDone, upgrade.StateDone, upgrade.StateFailed}, states)

	// The journal is lost; the lock is free.
	failC.Store(false)
	err = run(&upgrade.MemoryStore{})
	inflight, ok := errors.AsType[*upgrade.RunInFlightError](err)
	require.True(t, ok, "want *RunInFlightError, got %v", err)
	assert.Equal(t, rec.Run, inflight.Record.Run)
	assert.Contains(t, err.Error(), "past its point of no return")
	assert.EqualValues(t, 1, ran["pre"].Load(), "no preflight for a refused run")
	assert.EqualValues(t, 1, ran["a"].Load(), "no step ran again")

	rebuilt := &upgrade.MemoryStore{}
	require.NoError(t, upgrade.RebuildJournal(ctx, rebuilt, inflight.Record))
	require.NoError(t, run(rebuilt), "resume from the rebuilt journal")
	assert.EqualValues(t, 1, ran["a"].Load(), "done steps stay done")
	assert.EqualValues(t, 1, ran["b"].Load())
	assert.EqualValues(t, 2, ran["c"].Load())
	assert.EqualValues(t, 1, ran["d"].Load())
	rec, err = lk.ReadRecord(ctx)
	require.NoError(t, err)
	assert.Nil(t, rec, "a finished run leaves no record")
}

// A run rolled back completely, or refused by its preflight, leaves no
// record: the next run starts afresh.
func TestSettledRunLeavesNoRecord(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	lk, err := upgrade.NewFileLock(filepath.Join(t.TempDir(), "lock"))
	require.NoError(t, err)
	p := upgrade.NewPlan("p",
		upgrade.Func("a", func(context.Context, *upgrade.State) error { return nil }).
			RollbackWith(func(context.Context, *upgrade.State) error { return nil }),
		upgrade.Func("b", func(context.Context, *upgrade.State) error { return errors.New("b failed") }))
	r, err := upgrade.NewRunner(p, upgrade.WithLocker(lk), upgrade.WithJournal(&upgrade.MemoryStore{}))
	require.NoError(t, err)
	_, err = r.Run(ctx)
	pe, ok := errors.AsType[*upgrade.PartialError](err)
	require.True(t, ok, "%v", err)
	require.NoError(t, pe.RollbackErr)
	rec, err := lk.ReadRecord(ctx)
	require.NoError(t, err)
	assert.Nil(t, rec, "rolled back: nothing in flight")
}
