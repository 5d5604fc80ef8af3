package upgrade_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/upgrade"
)

func TestStepSkipsItself(t *testing.T) {
	t.Parallel()
	const reason = "no database connection configured"
	var rolledBack, skipRuns atomic.Int32
	boom := errors.New("boom")
	store := &upgrade.MemoryStore{}
	p := upgrade.NewPlan("p",
		upgrade.Func("a", nil).RollbackWith(func(ctx context.Context, s *upgrade.State) error { return nil }),
		upgrade.Func("checksums", func(ctx context.Context, s *upgrade.State) error {
			skipRuns.Add(1)
			return fmt.Errorf("checksums: %w", upgrade.Skip(reason)) // wrapped: still a skip
		}).RollbackWith(func(ctx context.Context, s *upgrade.State) error {
			rolledBack.Add(1)
			return nil
		}).WithPolicy(upgrade.Policy{Retry: upgrade.RetryPolicy{MaxAttempts: 5, Initial: time.Hour}}),
		upgrade.Func("fails", func(ctx context.Context, s *upgrade.State) error { return boom }),
	)
	evs, obs := collect()
	var console strings.Builder
	r, err := upgrade.NewRunner(p, upgrade.WithJournal(store), obs,
		upgrade.WithObserver(upgrade.NewConsole(&console).Observe))
	require.NoError(t, err)
	rep, err := r.Run(t.Context())
	require.Error(t, err)
	assert.ErrorIs(t, err, boom)
	_, isSkip := errors.AsType[*upgrade.SkipError](err)
	assert.False(t, isSkip, "the run's error is the real failure")

	assert.EqualValues(t, 1, skipRuns.Load(), "a skip is not retried")
	assert.Zero(t, rolledBack.Load(), "a step that skipped itself changed nothing: no rollback")

	pe, ok := errors.AsType[*upgrade.PartialError](err)
	require.True(t, ok)
	assert.Equal(t, []string{"fails"}, pe.Failed)
	assert.NotContains(t, pe.Completed, "checksums")
	assert.Equal(t, []string{"a"}, pe.RolledBack)

	require.Len(t, rep.Steps, 3)
	sr := rep.Steps[1]
	assert.Equal(t, "checksums", sr.Name)
	assert.Equal(t, upgrade.StatusSkipped, sr.Status)
	assert.Equal(t, reason, sr.Reason)
	assert.Empty(t, sr.Err)
	assert.Equal(t, 1, sr.Attempts)

	var skipped []upgrade.Event
	for _, e := range *evs {
		if e.Step == "checksums" {
			assert.NotEqual(t, upgrade.EventStepFinished, e.Kind, "a skip is not reported finished")
			assert.NotEqual(t, upgrade.EventRetrying, e.Kind)
			if e.Kind == upgrade.EventStepSkipped {
				skipped = append(skipped, e)
			}
		}
	}
	require.Len(t, skipped, 1)
	assert.Equal(t, reason, skipped[0].Reason)
	assert.NoError(t, skipped[0].Err)
	assert.Contains(t, console.String(), "checksums: skipped ("+reason+")")

	var states []string
	for _, rec := range store.Records() {
		if rec.Type == upgrade.RecordStep && rec.Step == "checksums" {
			states = append(states, rec.State+" "+rec.Reason)
		}
	}
	assert.Equal(t, []string{"in_progress ", "skipped " + reason}, states)

	var text strings.Builder
	require.NoError(t, rep.WriteText(&text))
	assert.Regexp(t, `checksums\s+skipped.*\(`+reason+`\)`, text.String())
}

// A step that skipped itself in an earlier run is not rolled back when a
// later run of the same journal fails, and it runs again on resume.
func TestSelfSkipResumeNoRollback(t *testing.T) {
	t.Parallel()
	store := &upgrade.MemoryStore{}
	var rolledBack, runs atomic.Int32
	fail := true
	plan := func() *upgrade.Plan {
		return upgrade.NewPlan("p",
			upgrade.Func("maybe", func(ctx context.Context, s *upgrade.State) error {
				runs.Add(1)
				return upgrade.Skip("nothing to do")
			}).RollbackWith(func(ctx context.Context, s *upgrade.State) error { rolledBack.Add(1); return nil }),
			upgrade.Func("last", func(ctx context.Context, s *upgrade.State) error {
				if fail {
					return errors.New("boom")
				}
				return nil
			}),
		)
	}
	r, err := upgrade.NewRunner(plan(), upgrade.WithJournal(store), upgrade.WithoutRollback())
	require.NoError(t, err)
	_, err = r.Run(t.Context())
	require.Error(t, err)
	// Run 2 runs only "last": "maybe" is known from the journal alone.
	r, err = upgrade.NewRunner(plan(), upgrade.WithJournal(store), upgrade.WithOnly("last"))
	require.NoError(t, err)
	_, err = r.Run(t.Context())
	require.Error(t, err)
	assert.Zero(t, rolledBack.Load(), "self-skipped in an earlier run: not rolled back")
	assert.EqualValues(t, 1, runs.Load())
	r, err = upgrade.NewRunner(plan(), upgrade.WithJournal(store), upgrade.WithoutRollback())
	require.NoError(t, err)
	rep, err := r.Run(t.Context())
	require.Error(t, err)
	assert.EqualValues(t, 2, runs.Load(), "a skipped step is evaluated again on resume")
	assert.Equal(t, upgrade.StatusSkipped, rep.Steps[0].Status)
	fail = false
	r, err = upgrade.NewRunner(plan(), upgrade.WithJournal(store))
	require.NoError(t, err)
	_, err = r.Run(t.Context())
	require.NoError(t, err)
}

func TestSkipError(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("x: %w", upgrade.Skip("why"))
	se, ok := errors.AsType[*upgrade.SkipError](err)
	require.True(t, ok)
	assert.Equal(t, "why", se.Reason)
	assert.Equal(t, "x: step skipped: why", err.Error())
}
