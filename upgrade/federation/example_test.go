package federation_test

import (
	"context"
	"fmt"

	"github.com/upgradekit/upgradekit/sim"
	"github.com/upgradekit/upgradekit/upgrade"
	"github.com/upgradekit/upgradekit/upgrade/federation"
	"github.com/upgradekit/upgradekit/zone"
)

// The coordinated upgrade of a simulated federation (an HA master, an HA
// slave and a solo slave) from 7.2.0 to 7.4.1.
func ExamplePlan() {
	cloud, _ := sim.Federation("7.2.0")
	p, err := federation.Plan(fedInventory("7.4.1"),
		federation.WithClock(cloud.Now), federation.WithTimer(cloud.Clock().NewTimer), federation.WithHypervisors(false))
	if err != nil {
		panic(err)
	}
	r, err := upgrade.NewRunner(p, upgrade.WithHosts(cloud.Transports()), upgrade.WithClock(cloud.Now))
	if err != nil {
		panic(err)
	}
	rep, err := r.Run(context.Background())
	if err != nil {
		panic(err)
	}
	zs, _ := zone.FederationInSync(context.Background(), cloud.MustFrontend("fr-fe1"), zone.WithEndpoint("http://localhost:2633/RPC2"))
	for _, z := range zs {
		st, _ := cloud.Status(map[int]string{0: "fr-fe1", 100: "ge-fe2", 101: "us-fe1"}[z.ID])
		fmt.Printf("zone %d %s: %s, OpenNebula %s, shared DB %s\n", z.ID, z.Name, z.State, st.Version, st.DBShared)
	}
	fmt.Println("downtime windows:", len(rep.Downtime))
	// Output:
	// zone 0 M-EU-FR: ENABLED, OpenNebula 7.4.1, shared DB 7.4.0
	// zone 100 S-EU-GE: ENABLED, OpenNebula 7.4.1, shared DB 7.4.0
	// zone 101 S-US-CA: ENABLED, OpenNebula 7.4.1, shared DB 7.4.0
	// downtime windows: 3
}

// The step names say the order: slaves disabled before the master, the
// master enabled first.
func ExamplePlan_order() {
	p, err := federation.Plan(fedInventory("7.4.1"))
	if err != nil {
		panic(err)
	}
	for _, s := range p.Steps() {
		switch s {
		case "zones-disable/zone-100", "zones-disable/zone-101", "zones-disable/zone-0",
			"zone-0/fed-backup", "zone-100/leader/fed-restore", "zone-101/leader/fed-restore",
			"zones-enable/zone-0", "zones-enable/zone-100", "zones-enable/zone-101":
			fmt.Println(s)
		}
	}
	fmt.Println("point of no return:", federation.PointOfNoReturn(0))
	// Output:
	// zones-disable/zone-100
	// zones-disable/zone-101
	// zones-disable/zone-0
	// zone-0/fed-backup
	// zone-100/leader/fed-restore
	// zone-101/leader/fed-restore
	// zones-enable/zone-0
	// zones-enable/zone-100
	// zones-enable/zone-101
	// point of no return: start/zone-0/majority
}
