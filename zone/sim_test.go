package zone_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/sim"
	"github.com/upgradekit/upgradekit/transport"
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

// The waits run on the simulator's virtual clock with WithTimer: after a
// full stop a leader takes ~20 s of virtual time, and no real time is
// slept (with real timers this test would sleep for those seconds).
func TestOnSimulatorWaitWithVirtualTimer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, err := sim.HA(3, "7.4.0")
	require.NoError(t, err)
	for _, n := range c.Frontends() {
		require.NoError(t, transport.Check(ctx, c.MustFrontend(n), transport.Cmd("systemctl", "stop", "opennebula").AsRoot()))
	}
	for _, n := range c.Frontends() {
		require.NoError(t, transport.Check(ctx, c.MustFrontend(n), transport.Cmd("systemctl", "start", "opennebula").AsRoot()))
	}
	clk := c.Clock()
	var timers atomic.Int32
	newTimer := func() backoff.Timer { timers.Add(1); return clk.NewTimer() }
	start := clk.Now()
	fe := c.MustFrontend("fe1")
	l, err := zone.WaitLeader(ctx, fe, 0, zone.WithTimer(newTimer), zone.WithClock(clk.Now))
	require.NoError(t, err)
	assert.NotEmpty(t, l.Name)
	_, err = zone.WaitInSync(ctx, fe, 0, zone.WithTimer(newTimer), zone.WithClock(clk.Now))
	require.NoError(t, err)
	assert.EqualValues(t, 2, timers.Load())
	assert.GreaterOrEqual(t, clk.Since(start), 10*time.Second, "virtual time passed while waiting for the election")
	t.Logf("leader %s after %s of virtual time", l.Name, clk.Since(start))
}

// ServerAdd reads the stored servers from `onezone list -x`: no `onezone
// show` (which would wait on the new, unreachable server).
func TestOnSimulatorServerAddReadsList(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, err := sim.HA(3, "7.4.0")
	require.NoError(t, err)
	fe := c.MustFrontend("fe1")
	before := len(c.Commands("fe1"))
	id, err := zone.ServerAdd(ctx, fe, 0, "fe4", "http://10.0.0.14:2633/RPC2", "")
	require.NoError(t, err)
	assert.Equal(t, 3, id)
	cmds := c.Commands("fe1")[before:]
	require.Len(t, cmds, 3, "%q", cmds)
	assert.Contains(t, cmds[0], "onezone list -x")
	assert.Contains(t, cmds[1], "onezone server-add 0 --name fe4")
	assert.Contains(t, cmds[2], "onezone list -x")
	z, err := zone.Show(ctx, fe, 0)
	require.NoError(t, err)
	s, ok := z.ServerByID(id)
	require.True(t, ok)
	assert.Equal(t, "fe4", s.Name)
	assert.False(t, s.Reachable())
	_, err = zone.ServerAdd(ctx, fe, 100, "fe5", "http://10.0.0.15:2633/RPC2", "")
	assert.ErrorIs(t, err, zone.ErrZoneNotFound)
}
