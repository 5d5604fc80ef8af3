package vm_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/sim"
	"github.com/upgradekit/upgradekit/vm"
)

// These run the primitives against the simulator (build tag simcheck,
// while sim is being written).
func TestOnSimulator(t *testing.T) {
	ctx := context.Background()
	c, err := sim.HA(3, "7.4.0")
	require.NoError(t, err)
	fe := c.MustFrontend("fe1")
	vms, err := vm.List(ctx, fe)
	require.NoError(t, err)
	for _, v := range vms {
		t.Logf("%d %s %s %s %s", v.ID, v.Name, v.StateName(), v.Hostname, vm.Classify(v))
	}
	_, err = vm.WaitSettled(ctx, fe)
	require.NoError(t, err)
}
