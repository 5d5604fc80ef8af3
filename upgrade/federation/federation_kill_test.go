package federation_test

import (
	"testing"

	"github.com/upgradekit/upgradekit/upgrade/internal/proctest"
)

// TestHelperProcess is the child process of the kill test; it does
// nothing in the normal test run.
func TestHelperProcess(t *testing.T) {
	proctest.HelperProcess(t)
}

// TestFederationKillAtEveryBoundary runs the federation upgrade in a
// child process whose simulated cloud lives in a file, SIGKILLs it at
// every step boundary in turn and resumes from the journal to
// completion.
func TestFederationKillAtEveryBoundary(t *testing.T) {
	t.Parallel()
	proctest.KillMatrix(t, proctest.Federation(), proctest.AtBoundary, 1)
}

// TestFederationKillMidStep kills the child right after the first change
// of a step (before the step saw it) and resumes; every third step, to
// keep the package's run time reasonable under -race (the boundary kills
// above cover every step).
func TestFederationKillMidStep(t *testing.T) {
	t.Parallel()
	proctest.KillMatrix(t, proctest.Federation(), proctest.MidStep, 3)
}

// TestFederationPatchKillAtBoundary kills the zone-by-zone patch upgrade
// (7.4.0 → 7.4.1) at every fourth step boundary and resumes: the steps of
// the procedure not taken skip again, each zone ends upgraded.
func TestFederationPatchKillAtBoundary(t *testing.T) {
	t.Parallel()
	proctest.KillMatrix(t, proctest.FederationPatch(), proctest.AtBoundary, 4)
}
