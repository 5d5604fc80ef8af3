package federation_test

import (
	"testing"

	"github.com/upgradekit/upgradekit/upgrade/internal/proctest"
)

// TestFederationFaultAtEveryStep injects a fault into the first mutating
// command of every step of the coordinated federation upgrade: rolled
// back before the master's point of no return, resumed to completion
// after it, nothing lost in any zone.
func TestFederationFaultAtEveryStep(t *testing.T) {
	t.Parallel()
	proctest.FaultMatrix(t, proctest.Federation())
}
