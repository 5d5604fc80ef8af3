package nebulatest_test

import (
	"fmt"

	"github.com/upgradekit/upgradekit/sim"
	"github.com/upgradekit/upgradekit/upgrade/internal/nebula/nebulatest"
)

// Inventory reads a simulated cloud back as the inventory a procedure
// upgrades: front-ends ordered by SERVER_ID, hypervisors per zone.
func ExampleInventory() {
	c, err := sim.HA(3, "7.2.0")
	if err != nil {
		fmt.Println(err)
		return
	}
	inv, err := nebulatest.Inventory(c, "7.4.0")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, z := range inv.Zones {
		fmt.Println("zone", z.ID)
		for _, f := range z.Frontends {
			fmt.Println("  front-end", f.Name, "SERVER_ID", f.ServerID)
		}
		fmt.Println("  hypervisors:", len(z.Hypervisors))
	}
	fmt.Println("transports:", len(nebulatest.Hosts(c)))
	// Output:
	// zone 0
	//   front-end fe1 SERVER_ID 0
	//   front-end fe2 SERVER_ID 1
	//   front-end fe3 SERVER_ID 2
	//   hypervisors: 3
	// transports: 6
}
