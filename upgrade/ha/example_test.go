package ha_test

import (
	"context"
	"fmt"
	"time"

	"github.com/upgradekit/upgradekit/sim"
	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/upgrade"
	"github.com/upgradekit/upgradekit/upgrade/ha"
)

// The plan for a 3-node cluster with one hypervisor, leader fe1.
func ExamplePlan() {
	inv := ha.Inventory{
		Target:     "7.4.1",
		Repository: ha.Repository{URL: "https://downloads.opennebula.io/repo/{series}/Ubuntu/24.04"},
		Zones: []ha.Zone{{
			ID: 0,
			Frontends: []ha.Frontend{
				{Name: "fe1", Address: "10.0.0.11", ServerID: 0},
				{Name: "fe2", Address: "10.0.0.12", ServerID: 1},
				{Name: "fe3", Address: "10.0.0.13", ServerID: 2},
			},
			Hypervisors: []ha.Hypervisor{{Name: "kvm1", Address: "10.0.1.1"}},
		}},
	}
	plan, err := ha.Plan(inv, ha.WithLeader("fe1"))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range plan.Steps() {
		fmt.Println(s)
	}
	// Output:
	// prepare/fe2/upgrade/backup-config
	// prepare/fe2/upgrade/repository
	// prepare/fe2/upgrade/download
	// prepare/fe3/upgrade/backup-config
	// prepare/fe3/upgrade/repository
	// prepare/fe3/upgrade/download
	// prepare/fe1/upgrade/backup-config
	// prepare/fe1/upgrade/repository
	// prepare/fe1/upgrade/download
	// vms-settled
	// hosts-disable
	// stop
	// upgrade/fe2/node/backup-db
	// upgrade/fe2/node/packages
	// upgrade/fe2/node/onecfg
	// upgrade/fe3/node/backup-db
	// upgrade/fe3/node/packages
	// upgrade/fe3/node/onecfg
	// upgrade/fe1/node/backup-db
	// upgrade/fe1/node/packages
	// upgrade/fe1/node/onecfg
	// daemon-reload/fe2/systemd
	// daemon-reload/fe3/systemd
	// daemon-reload/fe1/systemd
	// leader/raft-log
	// leader/onedb-upgrade
	// leader/onedb-fsck
	// leader/onedb-backup
	// leader/start-alone
	// followers/fe2/seed/copy-backup
	// followers/fe2/seed/restore
	// followers/fe2/seed/sync-config
	// followers/fe3/seed/copy-backup
	// followers/fe3/seed/restore
	// followers/fe3/seed/sync-config
	// start/majority
	// start/leader
	// start/rest
	// wait-in-sync
	// db-checksums
	// hypervisors/kvm1/upgrade/repository
	// hypervisors/kvm1/upgrade/packages
	// hypervisors/kvm1/upgrade/restart-libvirtd
	// hypervisors/kvm1/upgrade/sync
	// hypervisors/kvm1/upgrade/restore-state
	// hosts-restore
}

// The whole procedure on a simulated 3-node cluster: the waits and the
// report run on the simulator's virtual clock.
func ExamplePlan_simulator() {
	cloud, err := sim.HA(3, "7.2.0")
	if err != nil {
		fmt.Println(err)
		return
	}
	inv := ha.Inventory{
		Target:     "7.4.1",
		Repository: ha.Repository{URL: "https://downloads.opennebula.io/repo/{series}/Ubuntu/24.04"},
		Zones:      []ha.Zone{{ID: 0}},
	}
	hosts := map[string]transport.Transport{}
	for i, n := range cloud.Frontends() {
		inv.Zones[0].Frontends = append(inv.Zones[0].Frontends, ha.Frontend{Name: n, Address: n, ServerID: i})
		hosts[n] = cloud.MustFrontend(n)
	}
	for _, h := range cloud.Hypervisors() {
		inv.Zones[0].Hypervisors = append(inv.Zones[0].Hypervisors, ha.Hypervisor{Name: h, Address: h})
		hosts[h] = cloud.MustHost(h)
	}
	plan, err := ha.Plan(inv, ha.WithClock(cloud.Now), ha.WithTimer(cloud.Clock().NewTimer))
	if err != nil {
		fmt.Println(err)
		return
	}
	r, err := upgrade.NewRunner(plan, upgrade.WithHosts(hosts), upgrade.WithClock(cloud.Now))
	if err != nil {
		fmt.Println(err)
		return
	}
	rep, err := r.Run(context.Background())
	fmt.Println("error:", err)
	for _, n := range cloud.Frontends() {
		st, _ := cloud.Status(n)
		fmt.Println(n, st.Version, "db", st.DBLocal, st.Units["opennebula"])
	}
	for _, w := range rep.Downtime {
		fmt.Println("downtime:", w.Service, w.Dur > 20*time.Second)
	}
	// Output:
	// error: <nil>
	// fe1 7.4.1 db 7.4.0 active
	// fe2 7.4.1 db 7.4.0 active
	// fe3 7.4.1 db 7.4.0 active
	// downtime: opennebula true
	// downtime: opennebula-writes true
}
