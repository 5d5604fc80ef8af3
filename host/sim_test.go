package host_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/host"
	"github.com/upgradekit/upgradekit/sim"
	"github.com/upgradekit/upgradekit/zone"
)

// These run the primitives against the simulator (build tag simcheck,
// while sim is being written).
func TestOnSimulator(t *testing.T) {
	ctx := context.Background()
	c, err := sim.HA(3, "7.4.0")
	require.NoError(t, err)
	fe := c.MustFrontend("fe1")
	hs, err := host.List(ctx, fe)
	require.NoError(t, err)
	for _, h := range hs {
		t.Logf("%d %s %s %s", h.ID, h.Name, h.State, h.Version)
	}
	snap, err := host.TakeSnapshot(ctx, fe)
	require.NoError(t, err)
	var ids []int
	for _, h := range hs {
		ids = append(ids, h.ID)
	}
	require.NoError(t, host.Disable(ctx, fe, ids))
	require.NoError(t, host.SetOffline(ctx, fe, ids[:1]))
	r, err := host.Sync(ctx, fe)
	t.Logf("sync: %+v %v", r, err)
	require.NoError(t, err)
	r, err = host.Sync(ctx, fe, host.WithSyncForce(), host.WithSyncHosts(ids[1:]...))
	t.Logf("sync --force: %+v %v", r, err)
	require.NoError(t, err)
	_, err = host.Sync(ctx, fe, host.AsLoginUser())
	t.Logf("sync as login user: %v", err)
	rep, err := host.Restore(ctx, fe, snap)
	require.NoError(t, err)
	for _, a := range rep.Actions {
		t.Logf("%+v", a)
	}
	hs2, err := host.List(ctx, fe)
	require.NoError(t, err)
	for i := range hs {
		assert.Equal(t, hs[i].State.Mode(), hs2[i].State.Mode())
	}
	require.NoError(t, zoneDisable(ctx, c))
	err = host.Enable(ctx, fe, ids)
	t.Log(err)
	assert.ErrorIs(t, err, zone.ErrZoneDisabled)
}

func zoneDisable(ctx context.Context, c *sim.Cloud) error {
	return zone.Disable(ctx, c.MustFrontend("fe1"), 0)
}
