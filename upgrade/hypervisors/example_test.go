package hypervisors_test

import (
	"fmt"

	"github.com/upgradekit/upgradekit/upgrade/hypervisors"
)

func ExamplePlan() {
	inv := hypervisors.Inventory{
		Target:     "7.4.1",
		Repository: hypervisors.Repository{URL: "https://downloads.opennebula.io/repo/{series}/Ubuntu/24.04"},
		Zones: []hypervisors.Zone{{
			Frontends:   []hypervisors.Frontend{{Name: "fe1", Address: "10.0.0.11", ServerID: -1}},
			Hypervisors: []hypervisors.Hypervisor{{Name: "kvm1"}, {Name: "lxc1", Kind: "lxc"}},
		}},
	}
	plan, err := hypervisors.Plan(inv, hypervisors.WithConcurrency(4), hypervisors.WithCanary(true))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range plan.Steps() {
		fmt.Println(s)
	}
	// Output:
	// vms-settled
	// hosts-disable
	// hypervisors/kvm1/upgrade/repository
	// hypervisors/kvm1/upgrade/packages
	// hypervisors/kvm1/upgrade/restart-libvirtd
	// hypervisors/kvm1/upgrade/sync
	// hypervisors/kvm1/upgrade/restore-state
	// hypervisors/lxc1/upgrade/repository
	// hypervisors/lxc1/upgrade/packages
	// hypervisors/lxc1/upgrade/sync
	// hypervisors/lxc1/upgrade/restore-state
	// hosts-restore
}
