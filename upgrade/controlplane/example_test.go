package controlplane_test

import (
	"fmt"
	"strings"

	"github.com/upgradekit/upgradekit/openstack"
	"github.com/upgradekit/upgradekit/upgrade/controlplane"
)

// The plan for one controller and one compute node, keystone and nova
// only: backups, then each service (packages, schema, check, restart),
// then the computes, then the pin removal, contract (the point of no
// return), online data migrations and a final check.
func ExamplePlan() {
	cat := openstack.DefaultCatalog().Without("glance", "placement", "neutron", "cinder", "heat", "horizon")
	p, err := controlplane.Plan(controlplane.Inventory{
		Controllers: []string{"ctl1"},
		Computes:    []string{"cmp1"},
		Family:      openstack.Debian,
	}, controlplane.WithCatalog(cat))
	if err != nil {
		panic(err)
	}
	fmt.Println(strings.Join(p.Steps(), "\n"))
	// Output:
	// backup/databases
	// backup/configs/ctl1/copy
	// services/keystone/packages/ctl1/upgrade
	// services/keystone/schema
	// services/keystone/check
	// services/keystone/restart/ctl1/units
	// services/nova/packages/ctl1/upgrade
	// services/nova/schema
	// services/nova/check
	// services/nova/pin/ctl1/set
	// services/nova/pin/cmp1/set
	// services/nova/restart/ctl1/units
	// computes/cmp1/node/packages
	// computes/cmp1/node/restart
	// finish/unpin/ctl1/unset
	// finish/unpin/cmp1/unset
	// finish/contract
	// finish/online-data-migrations/nova
	// finish/verify/keystone
	// finish/verify/nova
}
