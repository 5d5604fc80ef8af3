package rolling_test

import (
	"context"
	"fmt"
	"time"

	"github.com/upgradekit/upgradekit/sim"
	"github.com/upgradekit/upgradekit/upgrade"
	"github.com/upgradekit/upgradekit/upgrade/rolling"
)

// exampleInventory describes sim.HA(3, ...).
func exampleInventory(target string) rolling.Inventory {
	return rolling.Inventory{
		Target:     target,
		Repository: rolling.Repository{URL: "https://downloads.opennebula.io/repo/{series}/Ubuntu/24.04"},
		Zones: []rolling.Zone{{ID: 0, Frontends: []rolling.Frontend{
			{Name: "fe1", ServerID: 0}, {Name: "fe2", ServerID: 1}, {Name: "fe3", ServerID: 2},
		}}},
	}
}

func exampleRun(c *sim.Cloud, p *upgrade.Plan) (upgrade.Report, error) {
	hosts := c.Transports()
	r, err := upgrade.NewRunner(p, upgrade.WithHosts(hosts), upgrade.WithClock(c.Now))
	if err != nil {
		return upgrade.Report{}, err
	}
	return r.Run(context.Background())
}

// A rolling patch upgrade of a simulated 3-node cluster: the API is down
// only while the remaining servers elect a new leader.
func ExamplePlan() {
	cloud, _ := sim.HA(3, "7.4.0")
	p, err := rolling.Plan(exampleInventory("7.4.1"),
		rolling.WithClock(cloud.Now), rolling.WithTimer(cloud.Clock().NewTimer), rolling.WithHypervisors(false))
	if err != nil {
		panic(err)
	}
	if _, err := exampleRun(cloud, p); err != nil {
		panic(err)
	}
	for _, n := range []string{"fe1", "fe2", "fe3"} {
		st, _ := cloud.Status(n)
		fmt.Println(n, st.Version)
	}
	fmt.Println("write downtime:", cloud.WriteDowntime(0).Round(100*time.Millisecond))
	// Output:
	// fe1 7.4.1
	// fe2 7.4.1
	// fe3 7.4.1
	// write downtime: 4.7s
}

// A break-and-rejoin minor upgrade: writes stop for the leader's database
// upgrade and, briefly, when the first follower joins again; each
// follower comes back with the zone's highest server ID + 1.
func ExampleRejoinPlan() {
	cloud, _ := sim.HA(3, "7.2.0")
	p, err := rolling.RejoinPlan(exampleInventory("7.4.1"),
		rolling.WithClock(cloud.Now), rolling.WithTimer(cloud.Clock().NewTimer), rolling.WithHypervisors(false))
	if err != nil {
		panic(err)
	}
	rep, err := exampleRun(cloud, p)
	if err != nil {
		panic(err)
	}
	for _, w := range cloud.WriteWindows(0) {
		fmt.Println("writes refused for", w.Duration().Round(100*time.Millisecond))
	}
	fmt.Println("windows in the report:", len(rep.Downtime))
	// Output:
	// writes refused for 29s
	// writes refused for 4.5s
	// windows in the report: 2
}

// Rolling upgrades need a majority while one node is down.
func ExamplePlan_tooSmall() {
	inv := exampleInventory("7.4.1")
	inv.Zones[0].Frontends = inv.Zones[0].Frontends[:2]
	_, err := rolling.Plan(inv)
	fmt.Println(err)
	// Output:
	// zone 0 has 2 front-end(s), the procedure needs at least 3: while one front-end is down the others must keep a Raft majority; use upgrade/ha (full stop) instead
}
