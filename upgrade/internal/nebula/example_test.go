package nebula_test

import (
	"fmt"

	"github.com/upgradekit/upgradekit/upgrade"
	"github.com/upgradekit/upgradekit/upgrade/internal/nebula"
)

// A procedure is a plan of Kit steps; here the hypervisor part of one.
func ExampleKit() {
	inv := nebula.Inventory{
		Target:     "7.4.1",
		Repository: nebula.Repository{URL: "https://downloads.opennebula.io/repo/{series}/Ubuntu/24.04"},
		Zones: []nebula.Zone{{
			Frontends:   []nebula.Frontend{{Name: "fe1", ServerID: -1}},
			Hypervisors: []nebula.Hypervisor{{Name: "kvm1"}},
		}},
	}
	k, err := nebula.New(inv)
	if err != nil {
		fmt.Println(err)
		return
	}
	z := inv.Zones[0]
	plan := upgrade.NewPlan("hosts",
		k.DisableHosts("disable", z, "fe1"),
		upgrade.PerHost("hv", z.HypervisorNames(), k.HypervisorNodes(z, "fe1")).WithParallel(k.Parallel()),
		k.RestoreHosts("restore", z, "fe1"),
	)
	fmt.Println(plan.Validate())
	for _, s := range plan.Steps() {
		fmt.Println(s)
	}
	fmt.Println(k.Repo().URL)
	// Output:
	// <nil>
	// disable
	// hv/kvm1/upgrade/repository
	// hv/kvm1/upgrade/packages
	// hv/kvm1/upgrade/restart-libvirtd
	// hv/kvm1/upgrade/sync
	// hv/kvm1/upgrade/restore-state
	// restore
	// https://downloads.opennebula.io/repo/7.4/Ubuntu/24.04
}

func ExampleParseDfAvail() {
	n, err := nebula.ParseDfAvail([]byte("Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/vda1 41152736 9231012 29807880 24% /\n"))
	fmt.Println(n>>20, "MiB", err)
	// Output: 29109 MiB <nil>
}
