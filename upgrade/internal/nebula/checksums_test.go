package nebula_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/sim"
	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/upgrade"
	"github.com/upgradekit/upgradekit/upgrade/internal/nebula"
	"github.com/upgradekit/upgradekit/upgrade/internal/nebula/nebulatest"
)

// TestCompareChecksumsWhileMonitoring: the leader's monitor daemon keeps
// writing host_monitoring and vm_monitoring on the leader alone, outside
// the Raft log; the step compares the replicated tables and passes.
func TestCompareChecksumsWhileMonitoring(t *testing.T) {
	t.Parallel()
	c, err := sim.HA(3, "7.2.0")
	require.NoError(t, err)
	require.NoError(t, c.Clock().Sleep(context.Background(), 5*time.Minute))
	// The model advances with each command.
	_, err = c.MustFrontend("fe1").Run(context.Background(), transport.Cmd("onezone", "list"))
	require.NoError(t, err)
	inv, err := nebulatest.Inventory(c, "7.4.1")
	require.NoError(t, err)
	k, err := nebula.New(inv, append(nebulatest.Options(c), nebula.WithWaitTimeout(time.Minute))...)
	require.NoError(t, err)
	r, err := upgrade.NewRunner(upgrade.NewPlan("c", k.CompareChecksums("db-checksums", inv.Zones[0], "fe1")), nebulatest.RunnerOptions(c)...)
	require.NoError(t, err)
	rep, err := r.Run(context.Background())
	require.NoError(t, err)
	require.Len(t, rep.Steps, 1)
	assert.Equal(t, upgrade.StatusDone, rep.Steps[0].Status)
	l, err := c.TableChecksums("fe1")
	require.NoError(t, err)
	f, err := c.TableChecksums("fe2")
	require.NoError(t, err)
	assert.NotEqual(t, l["host_monitoring"], f["host_monitoring"], "the tables do differ")
}
