package controlplane_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/openstack"
	ossim "github.com/upgradekit/upgradekit/sim/openstack"
	"github.com/upgradekit/upgradekit/upgrade/controlplane"
)

// TestSimUnpinRestoresPriorSetting: the operator's own [upgrade_levels]
// compute comes back after the upgrade; where there was none, none is
// left.
func TestSimUnpinRestoresPriorSetting(t *testing.T) {
	t.Parallel()
	r := newSim(t, ossim.Topology{Controllers: []string{"ctl"}, Computes: []string{"cmp"}})
	ctx := context.Background()
	ctl, err := r.cloud.Transport("ctl")
	require.NoError(t, err)
	cmp, err := r.cloud.Transport("cmp")
	require.NoError(t, err)
	_, err = openstack.SetOption(ctx, ctl, "/etc/nova/nova.conf", "upgrade_levels", "compute", "zed")
	require.NoError(t, err)
	_, had, err := openstack.GetOption(ctx, cmp, "/etc/nova/nova.conf", "upgrade_levels", "compute")
	require.NoError(t, err)
	require.False(t, had)

	_, err = r.run(ctx, t, nil)
	require.NoError(t, err, r.output())
	v, had, err := openstack.GetOption(ctx, ctl, "/etc/nova/nova.conf", "upgrade_levels", "compute")
	require.NoError(t, err)
	assert.True(t, had, "the operator's pin is back")
	assert.Equal(t, "zed", v)
	_, had, err = openstack.GetOption(ctx, cmp, "/etc/nova/nova.conf", "upgrade_levels", "compute")
	require.NoError(t, err)
	assert.False(t, had, "no pin before, none after")
}

// TestSimUpgradePathRefused: Zed straight to 2024.1 skips 2023.1, which
// only a SLURP release may do: refused before anything changes, naming
// the releases to go through. Zed to 2023.1 passes the same preflight.
func TestSimUpgradePathRefused(t *testing.T) {
	t.Parallel()
	r := newSim(t, ossim.Topology{Controllers: []string{"ctl"}})
	before := snap(t, r.cloud)
	r.inv.Target = "2024.1"
	_, err := r.run(context.Background(), t, nil)
	require.ErrorIs(t, err, openstack.ErrUpgradePath)
	pe, ok := errors.AsType[*openstack.UpgradePathError](err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, "2022.2", pe.From.Name)
	assert.Contains(t, err.Error(), "upgrade through 2023.1, then 2024.1")
	assert.Contains(t, err.Error(), "on ctl")
	assert.Equal(t, before, snap(t, r.cloud), "nothing changed")

	r.inv.Target = "antelope"
	_, err = r.run(context.Background(), t, nil)
	require.NoError(t, err, r.output())
	assertUpgraded(t, r.cloud)
}

// TestSimErrorsNameOperationAndHost: a failed preflight check names the
// service once, the operation, and the primary by its inventory name.
func TestSimErrorsNameOperationAndHost(t *testing.T) {
	t.Parallel()
	r := newSim(t, ossim.Topology{Controllers: []string{"ctl"}}, ossim.WithPendingDataMigrations("placement", 3))
	_, err := r.run(context.Background(), t, nil)
	require.Error(t, err)
	msg := err.Error()
	assert.Contains(t, msg, "upgrade check on ctl: placement: upgrade check failed")
	assert.NotContains(t, msg, "placement: placement:")

	// A tool that fails to run: its script stays in the debug log.
	r = newSim(t, ossim.Topology{Controllers: []string{"ctl"}})
	require.NoError(t, r.cloud.Inject(ossim.Fault{Node: "ctl", Contains: "sh keystone common/sql/migrations/versions", Exit: 3, Stderr: "python package keystone not found"}))
	_, err = r.run(context.Background(), t, nil)
	require.Error(t, err)
	msg = err.Error()
	assert.Contains(t, msg, "check database versions on ctl: keystone: list migrations: exit status 3: python package keystone not found")
	assert.NotContains(t, msg, "find_spec")
	assert.NotContains(t, msg, "keystone: keystone:")
	assert.Equal(t, 2, strings.Count(msg, "keystone: list migrations"), "once per preflight: %s", msg)
	assert.NotContains(t, msg, "glance:", "only keystone's probe failed")
}

// TestPlanServiceToolOptions: options for one service reach only its
// primitives (here: a wrong config path for heat only).
func TestSimServiceToolOptions(t *testing.T) {
	t.Parallel()
	r := newSim(t, ossim.Topology{Controllers: []string{"ctl"}})
	_, err := r.run(context.Background(), t, []controlplane.Option{
		controlplane.WithServiceToolOptions("heat", openstack.WithConfigFiles("/etc/heat/missing.conf")),
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "heat")
	assert.Contains(t, err.Error(), "/etc/heat/missing.conf")
	for _, svc := range []string{"keystone", "glance", "nova"} {
		assert.NotContains(t, err.Error(), svc+":", "only heat is affected")
	}
}

// TestSimPendingRowsStopBeforeTheUpgrade: rows nova's online data
// migrations find and cannot migrate (exit 0) stop the run in prepare,
// before anything changes, and are reported.
func TestSimPendingRowsStopBeforeTheUpgrade(t *testing.T) {
	t.Parallel()
	r := newSim(t, ossim.Topology{Controllers: []string{"ctl"}}, ossim.WithUnmigratableRows(6))
	_, err := r.run(context.Background(), t, nil)
	require.ErrorIs(t, err, openstack.ErrRowsPending)
	assert.Contains(t, err.Error(), "online data migrations on ctl: nova: online data migrations exited 0 with rows pending: populate_user_id: 6 rows found, 0 migrated in the last run")
	assert.Contains(t, r.output(), "nova: populate_user_id: 6 rows found, 0 migrated in the last run (tool exit 0): rows pending")
	assert.Equal(t, "2:22.0.2-0+deb12u6", r.cloud.Installed("ctl", "python3-keystone"), "no package upgraded")
}
