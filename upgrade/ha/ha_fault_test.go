package ha_test

import (
	"testing"

	"github.com/upgradekit/upgradekit/upgrade/internal/proctest"
)

// TestFaultAtEveryStep injects a fault into the first mutating command of
// every step of the 3-node HA upgrade (an exit 1 everywhere, a lost
// connection at every third step): before the point of no return the
// cloud must be rolled back to where it was; from it on, a resume with
// the fault removed must finish the upgrade. Nothing is ever lost.
func TestFaultAtEveryStep(t *testing.T) {
	t.Parallel()
	proctest.FaultMatrix(t, proctest.HA())
}
