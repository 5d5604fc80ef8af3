package ha_test

import (
	"testing"

	"github.com/upgradekit/upgradekit/upgrade/internal/proctest"
)

// TestRollbackThenResume fails onedb upgrade, lets the rollback run, and
// resumes with the same journal: the steps the rollback undid (the
// configuration upgrade, the repository switch) run again and every
// front-end ends at the target release and configuration.
func TestRollbackThenResume(t *testing.T) {
	t.Parallel()
	proctest.RollbackThenResume(t, proctest.HA())
}

// TestKillDuringRollback SIGKILLs the run while it rolls back a failed
// onedb upgrade, before each undo in turn (every second one; all with
// PROCTEST_FULL=1): the resume finishes the rollback, the next run
// upgrades.
func TestKillDuringRollback(t *testing.T) {
	t.Parallel()
	proctest.RollbackKillMatrix(t, proctest.HA(), proctest.DuringRollback, 2)
}

// TestKillResumeAfterRollback SIGKILLs the resume that follows a full
// rollback at its step boundaries (every fourth; all with
// PROCTEST_FULL=1): the next resume completes the upgrade.
func TestKillResumeAfterRollback(t *testing.T) {
	t.Parallel()
	proctest.RollbackKillMatrix(t, proctest.HA(), proctest.AfterRollback, 4)
}

// TestRollbackPastAnUnreachableFrontend fails onedb upgrade and makes
// fe3 unreachable as the rollback starts: the rollback still restores
// fe1, fe2 and the hosts, reports fe3's undos as failed and fe3's state,
// and once fe3 is back a resume finishes the rollback.
func TestRollbackPastAnUnreachableFrontend(t *testing.T) {
	t.Parallel()
	proctest.RollbackWithUnreachable(t, proctest.HA(), "fe3")
}

// TestKillMidRollback SIGKILLs the run right after the first change of
// an undo (every second; all with PROCTEST_FULL=1), before the undo saw
// it: the resume runs that undo again and finishes the rollback.
func TestKillMidRollback(t *testing.T) {
	t.Parallel()
	proctest.RollbackKillMatrix(t, proctest.HA(), proctest.MidRollback, 2)
}
