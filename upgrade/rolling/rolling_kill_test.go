package rolling_test

import (
	"testing"

	"github.com/upgradekit/upgradekit/upgrade/internal/proctest"
)

// TestHelperProcess is the child process of the kill tests; it does
// nothing in the normal test run.
func TestHelperProcess(t *testing.T) {
	proctest.HelperProcess(t)
}

// TestRollingKillAtEveryBoundary runs the rolling patch upgrade in a child
// process whose simulated cloud lives in a file, SIGKILLs it at every
// step boundary in turn and resumes from the journal to completion.
func TestRollingKillAtEveryBoundary(t *testing.T) {
	t.Parallel()
	proctest.KillMatrix(t, proctest.Rolling(), proctest.AtBoundary, 1)
}

// TestRejoinKillAtEveryBoundary does the same for break-and-rejoin.
func TestRejoinKillAtEveryBoundary(t *testing.T) {
	t.Parallel()
	proctest.KillMatrix(t, proctest.Rejoin(), proctest.AtBoundary, 1)
}

// TestRollingKillMidStep kills the child right after the first change of
// each step (before the step saw it) and resumes.
func TestRollingKillMidStep(t *testing.T) {
	t.Parallel()
	proctest.KillMatrix(t, proctest.Rolling(), proctest.MidStep, 1)
}

// TestRejoinKillMidStep does the same for break-and-rejoin.
func TestRejoinKillMidStep(t *testing.T) {
	t.Parallel()
	proctest.KillMatrix(t, proctest.Rejoin(), proctest.MidStep, 1)
}
