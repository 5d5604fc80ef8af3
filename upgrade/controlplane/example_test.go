package controlplane_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/upgradekit/upgradekit/openstack"
	ossim "github.com/upgradekit/upgradekit/sim/openstack"
	"github.com/upgradekit/upgradekit/system"
	"github.com/upgradekit/upgradekit/upgrade"
	"github.com/upgradekit/upgradekit/upgrade/controlplane"
)

// The plan for one controller and one compute node, keystone and nova
// only: backups, the installed release's online data migrations, then
// each service (packages, schema, check, restart), then the computes,
// then the pin removal, contract (the point of no return), the new
// release's online data migrations and a final check.
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
	// backup/configs/cmp1/copy
	// prepare/online-data-migrations/nova
	// services/keystone/packages/ctl1/upgrade
	// services/keystone/check
	// services/keystone/schema
	// services/keystone/restart/keystone/ctl1/systemctl
	// services/nova/packages/ctl1/upgrade
	// services/nova/check
	// services/nova/schema
	// services/nova/pin/ctl1/set
	// services/nova/pin/cmp1/set
	// services/nova/restart/nova-conductor/ctl1/systemctl
	// services/nova/restart/nova-scheduler/ctl1/systemctl
	// services/nova/restart/nova-novncproxy/ctl1/systemctl
	// services/nova/restart/nova-api/ctl1/systemctl
	// computes/cmp1/node/packages
	// computes/cmp1/node/restart
	// computes/cmp1/node/verify
	// finish/unpin/ctl1/unset
	// finish/unpin/cmp1/unset
	// finish/contract
	// finish/online-data-migrations/nova
	// finish/verify/keystone
	// finish/verify/nova
}

// A whole upgrade of a simulated Zed control plane (one controller, one
// compute) to 2023.1 Antelope, and what each service's API lost.
func ExamplePlan_simulated() {
	cloud, err := ossim.New(ossim.Topology{Controllers: []string{"ctl"}, Computes: []string{"cmp"}})
	if err != nil {
		panic(err)
	}
	p, err := controlplane.Plan(controlplane.Inventory{
		Controllers: []string{"ctl"}, Computes: []string{"cmp"}, Family: openstack.Debian,
		Repository: system.Repo{Name: "openstack-antelope", URL: "http://osbpo.debian.net/debian",
			Suite: "bookworm-antelope-backports", Components: []string{"main"}},
	})
	if err != nil {
		panic(err)
	}
	r, err := upgrade.NewRunner(p, upgrade.WithHosts(cloud.Transports()), upgrade.WithClock(cloud.Now),
		upgrade.WithJournal(&upgrade.MemoryStore{}))
	if err != nil {
		panic(err)
	}
	rep, err := r.Run(context.Background())
	if err != nil {
		panic(err)
	}
	fmt.Println("keystone:", cloud.Installed("ctl", "python3-keystone"), "nova-compute:", cloud.Installed("cmp", "nova-compute"))
	down := cloud.APIDowntime()
	for _, svc := range []string{"keystone", "nova", "neutron", "horizon"} {
		fmt.Printf("%s API down %s\n", svc, down[svc])
	}
	fmt.Println("windows in the report:", len(rep.ServiceDowntime), "violations:", len(cloud.Violations()))
	// Output:
	// keystone: 2:23.0.0-1~bpo12+1 nova-compute: 2:27.0.0-1~bpo12+1
	// keystone API down 6s
	// nova API down 6s
	// neutron API down 20.09s
	// horizon API down 3s
	// windows in the report: 8 violations: 0
}
