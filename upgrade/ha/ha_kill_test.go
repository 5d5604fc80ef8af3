package ha_test

import (
	"testing"

	"github.com/upgradekit/upgradekit/upgrade/internal/proctest"
)

// TestHelperProcess is the child process of TestKillAtEveryBoundary; it
// does nothing in the normal test run.
func TestHelperProcess(t *testing.T) {
	proctest.HelperProcess(t)
}

// TestKillAtEveryBoundary runs the 3-node HA upgrade in a child process
// whose simulated cloud lives in a file, SIGKILLs it at every step
// boundary in turn and resumes from the journal to completion.
func TestKillAtEveryBoundary(t *testing.T) {
	t.Parallel()
	proctest.KillMatrix(t, proctest.HA(), proctest.AtBoundary, 1)
}

// TestKillMidStep kills the child right after the first mutating command
// of each step took effect, before the step saw its result: the resumed
// run must confirm the step with its check or run it again safely.
func TestKillMidStep(t *testing.T) {
	t.Parallel()
	proctest.KillMatrix(t, proctest.HA(), proctest.MidStep, 1)
}
