package controlplane_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/openstack"
	"github.com/upgradekit/upgradekit/system"
	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/transport/fake"
	"github.com/upgradekit/upgradekit/upgrade"
	"github.com/upgradekit/upgradekit/upgrade/controlplane"
)

var inv = controlplane.Inventory{
	Controllers: []string{"ctl1", "ctl2"},
	Networks:    []string{"net1"},
	Computes:    []string{"cmp1", "cmp2"},
	Family:      openstack.Debian,
	Repository:  system.Repo{Name: "openstack", URL: "http://mirror/debian", Suite: "bookworm-antelope", Components: []string{"main"}},
}

func TestPlanOrder(t *testing.T) {
	t.Parallel()
	p, err := controlplane.Plan(inv)
	require.NoError(t, err)
	steps := p.Steps()
	idx := func(name string) int {
		i := slices.Index(steps, name)
		require.GreaterOrEqual(t, i, 0, "step %s in %v", name, steps)
		return i
	}
	order := []string{
		"backup/databases",
		"backup/configs/ctl1/copy",
		"backup/configs/cmp2/copy",
		"prepare/online-data-migrations/nova",
		"repositories/cmp2/switch",
		"services/keystone/schema",
		"services/keystone/restart/keystone/ctl2/systemctl",
		"services/glance/schema",
		"services/placement/schema",
		"services/placement/restart/placement-api/ctl1/systemctl", // placement before nova
		"services/nova/packages/ctl1/upgrade",
		"services/nova/check", // the new release's upgrade check before its schema step
		"services/nova/schema",
		"services/nova/pin/cmp1/set",
		"services/nova/restart/nova-conductor/ctl1/systemctl",
		"services/nova/restart/nova-conductor/ctl2/systemctl", // every conductor
		"services/nova/restart/nova-api/ctl1/systemctl",       // before any API
		"services/neutron/schema",
		"services/neutron/restart/neutron-api/ctl2/systemctl",
		"services/neutron/restart/neutron-rpc-server/ctl2/systemctl",        // servers
		"services/neutron/restart/neutron-openvswitch-agent/net1/systemctl", // before agents, L2 first
		"services/neutron/restart/neutron-l3-agent/net1/systemctl",
		"services/cinder/schema",
		"services/cinder/restart/cinder-scheduler/ctl2/systemctl",
		"services/cinder/restart/cinder-volume/ctl1/systemctl",
		"services/cinder/restart/cinder-backup/ctl2/systemctl",
		"services/cinder/restart/cinder-api/ctl1/systemctl",
		"services/heat/check",
		"services/heat/schema",
		"services/horizon/restart/apache2/ctl1/systemctl",
		"computes/cmp1/node/packages",
		"computes/cmp1/node/restart",
		"computes/cmp1/node/verify",
		"finish/unpin/cmp2/unset",
		controlplane.ContractStep,
		"finish/online-data-migrations/placement",
		"finish/online-data-migrations/nova",
		"finish/online-data-migrations/cinder",
		"finish/verify/heat",
	}
	for i := 1; i < len(order); i++ {
		assert.Less(t, idx(order[i-1]), idx(order[i]), "%s before %s", order[i-1], order[i])
	}
	assert.NotContains(t, steps, "services/horizon/schema")
	assert.NotContains(t, steps, "services/keystone/pin/ctl1/set")
	assert.NotContains(t, steps, "services/neutron/restart/neutron-l3-agent/ctl1/systemctl")

	_, err = controlplane.Plan(controlplane.Inventory{Family: openstack.Debian})
	assert.ErrorContains(t, err, "no controllers")
	_, err = controlplane.Plan(inv, controlplane.WithComputeBatch(0))
	assert.Error(t, err)
	_, err = controlplane.Plan(inv, controlplane.WithServiceToolOptions("swift", openstack.WithTimeout(time.Minute)))
	assert.ErrorContains(t, err, `no service "swift"`)
	bad := inv
	bad.Target = "2099.9"
	_, err = controlplane.Plan(bad)
	assert.ErrorIs(t, err, controlplane.ErrInvalidInventory)
}

// TestRunHorizonOnly runs a one-service plan for real on fake nodes:
// config backups, repository switch, package upgrade and restart.
func TestRunHorizonOnly(t *testing.T) {
	t.Parallel()
	horizon, _ := openstack.DefaultCatalog().Service("horizon")
	cat, err := openstack.NewCatalog(horizon)
	require.NoError(t, err)
	sys, err := system.New(system.WithPackageManager(system.Apt))
	require.NoError(t, err)
	small := controlplane.Inventory{Controllers: []string{"ctl1", "ctl2"}, Family: openstack.Debian}
	p, err := controlplane.Plan(small, controlplane.WithCatalog(cat), controlplane.WithSystem(sys))
	require.NoError(t, err)

	cl := fake.NewCluster("ctl1", "ctl2")
	hosts := map[string]transport.Transport{}
	for _, h := range []string{"ctl1", "ctl2"} {
		f := cl.Host(h)
		hosts[h] = f
		f.Expect(fake.Exact("test", "-d", "/etc/openstack-dashboard")).Exit(1) // not on this node
		f.Expect(fake.Exact("dpkg-query", "-W", "-f=${Version}", "--", "openstack-dashboard")).Reply("3:23.0.0-5")
		f.Expect(fake.Exact("dpkg-query", "-W", "-f=${Version}", "--", "python3-django-horizon")).Reply("3:23.0.0-5")
		f.Expect(fake.Func(func(c transport.Command) bool {
			return slices.Contains(c.Argv(), "openstack-dashboard") && slices.Contains(c.Argv(), "python3-django-horizon")
		}))
		f.Expect(fake.Func(func(c transport.Command) bool {
			return slices.Contains(c.Argv(), "systemctl") && slices.Contains(c.Argv(), "restart") && slices.Contains(c.Argv(), "apache2")
		}))
	}
	r, err := upgrade.NewRunner(p, upgrade.WithHosts(hosts))
	require.NoError(t, err)
	rep, err := r.Run(context.Background())
	require.NoError(t, err)
	require.NotNil(t, rep)
	cl.AssertExpectations(t)
	var argvs []string
	for _, c := range cl.Calls() {
		argvs = append(argvs, c.Host+": "+strings.Join(c.Argv(), " "))
	}
	assert.Len(t, argvs, 10)
}
