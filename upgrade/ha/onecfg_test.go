package ha_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/sim"
	"github.com/upgradekit/upgradekit/upgrade"
	"github.com/upgradekit/upgradekit/upgrade/ha"
	"github.com/upgradekit/upgradekit/upgrade/internal/nebula/nebulatest"
)

// TestCommunityEdition610To70 upgrades a Community Edition 6.10 cluster,
// whose onecfg has no status or upgrade command (and so never had a
// state), to 7.0, whose onecfg has them: preflight records it, and after
// the packages each front-end's onecfg is initialised at the old release
// and upgraded, instead of failing with "Unknown config version" once
// the zone is stopped.
func TestCommunityEdition610To70(t *testing.T) {
	t.Parallel()
	c, err := sim.HA(3, "6.10.3")
	require.NoError(t, err)
	inv, err := nebulatest.Inventory(c, "7.0.0")
	require.NoError(t, err)
	plan, err := ha.Plan(inv, nebulatest.Options(c)...)
	require.NoError(t, err)
	r, err := upgrade.NewRunner(plan, nebulatest.RunnerOptions(c)...)
	require.NoError(t, err)
	rep, err := r.Run(context.Background())
	require.NoError(t, err)
	var found bool
	for _, p := range rep.Preflight {
		found = found || p.Name == ha.CheckOnecfg
	}
	assert.True(t, found, "onecfg preflight check ran")
	for _, n := range c.Frontends() {
		st, err := c.Status(n)
		require.NoError(t, err)
		assert.Equal(t, "7.0.0", st.Version, n)
		assert.Equal(t, "7.0.0", st.ConfigVersion, n)
		assert.Equal(t, "7.0.0", st.DBLocal, n)
		assert.Contains(t, c.Commands(n), "onecfg init --force --to 6.10.3", n)
	}
	for _, s := range rep.Steps {
		if strings.HasSuffix(s.Name, "/onecfg") {
			assert.Equal(t, upgrade.StatusDone, s.Status, s.Name)
		}
	}
}
