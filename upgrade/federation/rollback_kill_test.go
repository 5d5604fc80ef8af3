package federation_test

import (
	"testing"

	"github.com/upgradekit/upgradekit/upgrade/internal/proctest"
)

// TestFederationRollbackThenResume fails the slave zone's onedb upgrade,
// lets the rollback undo the federation, and resumes: the upgrade
// completes with every configuration at the target.
func TestFederationRollbackThenResume(t *testing.T) {
	t.Parallel()
	proctest.RollbackThenResume(t, proctest.Federation())
}

// TestFederationKillDuringRollback SIGKILLs the run while it rolls back,
// before each undo in turn (a sample; all with PROCTEST_FULL=1): the
// resume finishes the rollback, the next run upgrades.
func TestFederationKillDuringRollback(t *testing.T) {
	t.Parallel()
	proctest.RollbackKillMatrix(t, proctest.Federation(), proctest.DuringRollback, 4)
}

// TestFederationKillResumeAfterRollback SIGKILLs the resume that follows
// a full rollback at its step boundaries (a sample; all with
// PROCTEST_FULL=1): the next resume completes the upgrade.
func TestFederationKillResumeAfterRollback(t *testing.T) {
	t.Parallel()
	proctest.RollbackKillMatrix(t, proctest.Federation(), proctest.AfterRollback, 8)
}

// TestFederationRollbackPastAnUnreachableFrontend makes a follower of the
// slave zone unreachable as the rollback starts: every other front-end is
// restored, its undos are reported, and a resume once it is back
// finishes the rollback.
func TestFederationRollbackPastAnUnreachableFrontend(t *testing.T) {
	t.Parallel()
	proctest.RollbackWithUnreachable(t, proctest.Federation(), "ge-fe3")
}

// TestFederationKillMidRollback SIGKILLs the run right after the first
// change of an undo (a sample; all with PROCTEST_FULL=1): the resume runs
// that undo again and finishes the rollback.
func TestFederationKillMidRollback(t *testing.T) {
	t.Parallel()
	proctest.RollbackKillMatrix(t, proctest.Federation(), proctest.MidRollback, 4)
}
