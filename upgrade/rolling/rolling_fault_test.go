package rolling_test

import (
	"testing"

	"github.com/upgradekit/upgradekit/upgrade/internal/proctest"
)

// TestRollingFaultAtEveryStep injects a fault into the first mutating
// command of every step of the rolling patch upgrade: the plan has no
// point of no return, so every failure must roll the cloud back to where
// it was, nothing lost.
func TestRollingFaultAtEveryStep(t *testing.T) {
	t.Parallel()
	proctest.FaultMatrix(t, proctest.Rolling())
}

// TestRejoinFaultAtEveryStep does the same for break-and-rejoin: rolled
// back before its point of no return, resumed to completion after it.
func TestRejoinFaultAtEveryStep(t *testing.T) {
	t.Parallel()
	proctest.FaultMatrix(t, proctest.Rejoin())
}
