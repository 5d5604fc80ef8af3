package zone_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/sim"
	"github.com/upgradekit/upgradekit/zone"
)

// These run the primitives against the simulator (build tag simcheck,
// while sim is being written).
func TestOnSimulatorHA(t *testing.T) {
	ctx := context.Background()
	c, err := sim.HA(3, "7.4.0")
	require.NoError(t, err)
	fe := c.MustFrontend("fe1")
	z, err := zone.Show(ctx, fe, 0)
	require.NoError(t, err)
	t.Logf("%+v", z)
	assert.Len(t, z.Servers, 3)
	l, err := zone.Leader(ctx, fe, 0)
	require.NoError(t, err)
	assert.Equal(t, "fe1", l.Name)
	_, err = zone.WaitInSync(ctx, fe, 0)
	require.NoError(t, err)
	zs, err := zone.List(ctx, fe)
	require.NoError(t, err)
	t.Logf("%+v", zs)
	id, err := zone.ServerAdd(ctx, fe, 0, "fe4", "http://10.0.0.14:2633/RPC2", "")
	require.NoError(t, err)
	assert.Equal(t, 3, id)
	id2, err := zone.ServerAdd(ctx, fe, 0, "fe4", "http://10.0.0.14:2633/RPC2", "")
	require.NoError(t, err)
	assert.Equal(t, id, id2)
	z, err = zone.Show(ctx, fe, 0)
	require.NoError(t, err)
	s, _ := z.Server("fe4")
	assert.False(t, s.Reachable())
	require.NoError(t, zone.ServerDel(ctx, fe, 0, id))
	require.NoError(t, zone.ServerReset(ctx, fe, 0, 1))
	require.NoError(t, zone.Disable(ctx, fe, 0))
	z, err = zone.Show(ctx, fe, 0)
	require.NoError(t, err)
	assert.Equal(t, zone.Disabled, z.State)
	_, err = zone.ServerAdd(ctx, fe, 0, "fe5", "http://10.0.0.15:2633/RPC2", "")
	assert.ErrorIs(t, err, zone.ErrZoneDisabled)
	require.NoError(t, zone.Enable(ctx, fe, 0))
	require.NoError(t, c.SetUnreachable("fe3", true))
	z, err = zone.Show(ctx, fe, 0)
	require.NoError(t, err)
	t.Log(z.CheckSync(0))
}

func TestOnSimulatorFederation(t *testing.T) {
	ctx := context.Background()
	c, err := sim.Federation("7.4.0")
	require.NoError(t, err)
	fe := c.MustFrontend("fr-fe1")
	zs, err := zone.FederationInSync(ctx, fe)
	t.Logf("%+v %v", zs, err)
	require.NoError(t, err)
	z, err := zone.Show(ctx, fe, 100, zone.WithEndpoint("http://192.168.150.2:2633/RPC2"))
	require.NoError(t, err)
	l, _ := z.Leader()
	assert.Equal(t, "ge-fe2", l.Name)
	err = zone.Disable(ctx, fe, 100)
	t.Log("disable slave via master:", err)
	assert.ErrorIs(t, err, zone.ErrWrongZone)
	require.NoError(t, zone.Disable(ctx, fe, 100, zone.WithEndpoint("http://192.168.150.2:2633/RPC2")))
}
