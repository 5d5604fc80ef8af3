package upgrade_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/upgrade"
)

// killedRollbackJournal writes the journal of a run of a, b (no rollback),
// c that failed in c and was killed while rolling back a (c rolled back, b
// passed, a rolling_back).
func killedRollbackJournal(t *testing.T, p *upgrade.Plan) string {
	path := filepath.Join(t.TempDir(), "journal")
	s := upgrade.NewFileStore(path)
	for _, r := range []upgrade.Record{
		{Type: upgrade.RecordRun, State: upgrade.StateStarted, Dir: upgrade.DirForward},
		{Type: upgrade.RecordPlan, Fingerprint: p.Fingerprint()},
		{Type: upgrade.RecordStep, Step: "a", State: upgrade.StateInProgress},
		{Type: upgrade.RecordStep, Step: "a", State: upgrade.StateDone},
		{Type: upgrade.RecordStep, Step: "b", State: upgrade.StateInProgress},
		{Type: upgrade.RecordStep, Step: "b", State: upgrade.StateDone},
		{Type: upgrade.RecordStep, Step: "c", State: upgrade.StateInProgress},
		{Type: upgrade.RecordStep, Step: "c", State: upgrade.StateFailed},
		{Type: upgrade.RecordRollback, State: upgrade.StateStarted},
		{Type: upgrade.RecordStep, Step: "c", State: upgrade.StateRollingBack},
		{Type: upgrade.RecordStep, Step: "c", State: upgrade.StateRolledBack},
		{Type: upgrade.RecordStep, Step: "a", State: upgrade.StateRollingBack},
	} {
		r.V, r.Run = upgrade.JournalVersion, "killed"
		require.NoError(t, s.Append(t.Context(), r))
	}
	require.NoError(t, s.Close())
	return path
}

func directionPlan(tr *trace) *upgrade.Plan {
	return upgrade.NewPlan("p", step(tr, "a", nil),
		upgrade.Func("b", func(ctx context.Context, s *upgrade.State) error { tr.add("run b"); return nil }),
		step(tr, "c", nil))
}

// TestKilledRollbackResumesBackward: a rollback killed half way is
// finished by the next run (nothing runs forward), and the run after it
// upgrades from the start.
func TestKilledRollbackResumesBackward(t *testing.T) {
	t.Parallel()
	tr := &trace{}
	path := killedRollbackJournal(t, directionPlan(tr))
	r, err := upgrade.NewRunner(directionPlan(tr), upgrade.WithJournal(upgrade.NewFileStore(path)))
	require.NoError(t, err)
	rep, err := r.Run(t.Context())
	require.ErrorIs(t, err, upgrade.ErrRollbackResumed)
	pe, ok := errors.AsType[*upgrade.PartialError](err)
	require.True(t, ok)
	assert.NoError(t, pe.RollbackErr)
	assert.Equal(t, []string{"a"}, pe.RolledBack)
	assert.Equal(t, upgrade.DirBackward, rep.Direction)
	assert.Equal(t, []string{"rollback a"}, tr.get())
	var text strings.Builder
	require.NoError(t, rep.WriteText(&text))
	assert.Contains(t, text.String(), "backward")

	r, err = upgrade.NewRunner(directionPlan(tr), upgrade.WithJournal(upgrade.NewFileStore(path)))
	require.NoError(t, err)
	rep, err = r.Run(t.Context())
	require.NoError(t, err)
	assert.Equal(t, upgrade.DirForward, rep.Direction)
	assert.Equal(t, []string{"rollback a", "run a", "run b", "run c"}, tr.get())
}

// TestKilledRollbackForwardByChoice: the operator goes forward after a
// killed rollback: a (rolling back at the kill) is dirty, b (passed by
// the rollback) and c (rolled back) run again.
func TestKilledRollbackForwardByChoice(t *testing.T) {
	t.Parallel()
	tr := &trace{}
	path := killedRollbackJournal(t, directionPlan(tr))
	r, err := upgrade.NewRunner(directionPlan(tr), upgrade.WithJournal(upgrade.NewFileStore(path)), upgrade.WithDirection(upgrade.DirForward))
	require.NoError(t, err)
	rep, err := r.Run(t.Context())
	require.ErrorIs(t, err, upgrade.ErrDirtyStep, "a was rolling back: verify by hand or force")
	assert.Contains(t, strings.Join(rep.Notes, "\n"), "going forward as asked")
	r, err = upgrade.NewRunner(directionPlan(tr), upgrade.WithJournal(upgrade.NewFileStore(path)),
		upgrade.WithDirection(upgrade.DirForward), upgrade.WithForce("a"))
	require.NoError(t, err)
	rep, err = r.Run(t.Context())
	require.NoError(t, err)
	assert.Equal(t, upgrade.DirForward, rep.Direction, "the journal goes forward since the operator chose it")
	assert.Equal(t, []string{"run a", "run b", "run c"}, tr.get())

	_, err = upgrade.NewRunner(directionPlan(tr), upgrade.WithDirection("sideways"))
	require.ErrorIs(t, err, upgrade.ErrInvalidPlan)
}

// TestBackwardRefusedPastNoReturn: going backward once the point of no
// return has started is refused.
func TestBackwardRefusedPastNoReturn(t *testing.T) {
	t.Parallel()
	tr := &trace{}
	p := func() *upgrade.Plan { return directionPlan(tr).PointOfNoReturn("b") }
	path := filepath.Join(t.TempDir(), "journal")
	r, err := upgrade.NewRunner(p(), upgrade.WithJournal(upgrade.NewFileStore(path)))
	require.NoError(t, err)
	_, err = r.Run(t.Context())
	require.NoError(t, err)
	r, err = upgrade.NewRunner(p(), upgrade.WithJournal(upgrade.NewFileStore(path)), upgrade.WithDirection(upgrade.DirBackward))
	require.NoError(t, err)
	_, err = r.Run(t.Context())
	require.ErrorIs(t, err, upgrade.ErrPointOfNoReturn)
	assert.Equal(t, []string{"run a", "run b", "run c"}, tr.get())
}

// TestTornRecordKeepsItsStep: a torn last record that was the point of
// no return's start is kept as evidence: the step counts as started, so
// a step without a check is not run again blindly (the operator verifies
// it) and a failure after it is not rolled back; the torn bytes stay in
// the journal.
func TestTornRecordKeepsItsStep(t *testing.T) {
	t.Parallel()
	tr := &trace{}
	p := func() *upgrade.Plan {
		return upgrade.NewPlan("p", step(tr, "a", nil), step(tr, "migrate", nil), step(tr, "c", errors.New("boom"))).PointOfNoReturn("migrate")
	}
	path := filepath.Join(t.TempDir(), "journal")
	s := upgrade.NewFileStore(path)
	for _, r := range []upgrade.Record{
		{Type: upgrade.RecordPlan, Fingerprint: p().Fingerprint()},
		{Type: upgrade.RecordStep, Step: "a", State: upgrade.StateInProgress},
		{Type: upgrade.RecordStep, Step: "a", State: upgrade.StateDone},
	} {
		r.V = upgrade.JournalVersion
		require.NoError(t, s.Append(t.Context(), r))
	}
	require.NoError(t, s.Close())
	torn := `{"v":2,"t":"2026-01-01T00:00:00Z","type":"step","run":"x","state":"in_progress","step":"migrate","crc":"0bad`
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.WriteString(torn)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	r, err := upgrade.NewRunner(p(), upgrade.WithJournal(upgrade.NewFileStore(path)))
	require.NoError(t, err)
	rep, err := r.Run(t.Context())
	require.ErrorIs(t, err, upgrade.ErrDirtyStep, "migrate has no check: the operator decides")
	de, ok := errors.AsType[*upgrade.DirtyStepError](err)
	require.True(t, ok)
	assert.Equal(t, "migrate", de.Step)
	assert.Empty(t, tr.get(), "nothing ran again")
	require.NotEmpty(t, rep.Notes)
	assert.Contains(t, rep.Notes[0], "step migrate")

	// The operator checked: migrate took effect. c fails: no rollback
	// past the point of no return.
	r, err = upgrade.NewRunner(p(), upgrade.WithJournal(upgrade.NewFileStore(path)), upgrade.WithMarkDone("migrate"))
	require.NoError(t, err)
	_, err = r.Run(t.Context())
	require.ErrorIs(t, err, upgrade.ErrPointOfNoReturn)
	assert.Equal(t, []string{"run c"}, tr.get())

	recs, err := upgrade.ReadJournal(path)
	require.NoError(t, err)
	var kept []string
	for _, r := range recs {
		if r.Type == upgrade.RecordTorn {
			var raw string
			require.NoError(t, json.Unmarshal(r.Value, &raw))
			kept = append(kept, r.Step+" "+raw)
		}
	}
	assert.Equal(t, []string{"migrate " + torn}, kept)
}

// TestBackwardReport: the report of a run that finished a rollback shows
// the steps it undid and those it passed as rolled back, not done.
func TestBackwardReport(t *testing.T) {
	t.Parallel()
	tr := &trace{}
	path := killedRollbackJournal(t, directionPlan(tr))
	r, err := upgrade.NewRunner(directionPlan(tr), upgrade.WithJournal(upgrade.NewFileStore(path)))
	require.NoError(t, err)
	rep, err := r.Run(t.Context())
	require.ErrorIs(t, err, upgrade.ErrRollbackResumed)
	status := map[string]string{}
	for _, s := range rep.Steps {
		status[s.Name] = s.Status
	}
	// a undone now; b had been passed and c undone by the killed run.
	assert.Equal(t, map[string]string{"a": upgrade.StatusRolledBack, "b": upgrade.StatusPending, "c": upgrade.StatusPending}, status)
}
