package rolling_test

import (
	"testing"

	"github.com/upgradekit/upgradekit/upgrade/internal/proctest"
)

// TestRollingRollbackThenResume fails the last front-end's onecfg
// upgrade, lets the rollback undo every node, and resumes: the upgrade
// completes with every configuration at the target.
func TestRollingRollbackThenResume(t *testing.T) {
	t.Parallel()
	proctest.RollbackThenResume(t, proctest.Rolling())
}

// TestRejoinRollbackThenResume does the same for break-and-rejoin, with
// the fault in the leader's onedb upgrade.
func TestRejoinRollbackThenResume(t *testing.T) {
	t.Parallel()
	proctest.RollbackThenResume(t, proctest.Rejoin())
}

// TestRollingKillDuringRollback SIGKILLs the rolling upgrade while it
// rolls back, before each undo in turn (a sample; all with
// PROCTEST_FULL=1): the resume finishes the rollback, the next run
// upgrades.
func TestRollingKillDuringRollback(t *testing.T) {
	t.Parallel()
	proctest.RollbackKillMatrix(t, proctest.Rolling(), proctest.DuringRollback, 3)
}

// TestRejoinKillDuringRollback does the same for break-and-rejoin.
func TestRejoinKillDuringRollback(t *testing.T) {
	t.Parallel()
	proctest.RollbackKillMatrix(t, proctest.Rejoin(), proctest.DuringRollback, 2)
}

// TestRollingKillResumeAfterRollback SIGKILLs the resume that follows a
// full rollback at its step boundaries (a sample; all with
// PROCTEST_FULL=1): the next resume completes the upgrade.
func TestRollingKillResumeAfterRollback(t *testing.T) {
	t.Parallel()
	proctest.RollbackKillMatrix(t, proctest.Rolling(), proctest.AfterRollback, 4)
}

// TestRejoinKillResumeAfterRollback does the same for break-and-rejoin.
func TestRejoinKillResumeAfterRollback(t *testing.T) {
	t.Parallel()
	proctest.RollbackKillMatrix(t, proctest.Rejoin(), proctest.AfterRollback, 4)
}

// TestRollingRollbackPastAnUnreachableFrontend makes fe3 unreachable as
// the rollback starts: every other node is restored, fe3's undos are
// reported, and a resume once fe3 is back finishes the rollback.
func TestRollingRollbackPastAnUnreachableFrontend(t *testing.T) {
	t.Parallel()
	proctest.RollbackWithUnreachable(t, proctest.Rolling(), "fe3")
}

// TestRejoinRollbackPastAnUnreachableFrontend does the same for
// break-and-rejoin.
func TestRejoinRollbackPastAnUnreachableFrontend(t *testing.T) {
	t.Parallel()
	proctest.RollbackWithUnreachable(t, proctest.Rejoin(), "fe3")
}

// TestRollingKillMidRollback SIGKILLs the rolling upgrade right after the
// first change of an undo (a sample; all with PROCTEST_FULL=1): the
// resume runs that undo again and finishes the rollback.
func TestRollingKillMidRollback(t *testing.T) {
	t.Parallel()
	proctest.RollbackKillMatrix(t, proctest.Rolling(), proctest.MidRollback, 3)
}

// TestRejoinKillMidRollback does the same for break-and-rejoin.
func TestRejoinKillMidRollback(t *testing.T) {
	t.Parallel()
	proctest.RollbackKillMatrix(t, proctest.Rejoin(), proctest.MidRollback, 3)
}
