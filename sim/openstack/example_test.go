package ossim_test

import (
	"context"
	"fmt"

	"github.com/upgradekit/upgradekit/openstack"
	ossim "github.com/upgradekit/upgradekit/sim/openstack"
	"github.com/upgradekit/upgradekit/transport"
)

// A simulated control plane answers the openstack primitives like real
// nodes: here the versions check and keystone's lying --check.
func Example() {
	c, err := ossim.New(ossim.Topology{Controllers: []string{"ctl1"}, Computes: []string{"cmp1"}})
	if err != nil {
		panic(err)
	}
	ctl, _ := c.Transport("ctl1")
	ctx := context.Background()
	ks, _ := openstack.DefaultCatalog().Service("keystone")
	vr, err := openstack.CheckVersions(ctx, ctl, ks, openstack.WithFamily(openstack.Debian))
	if err != nil {
		panic(err)
	}
	fmt.Println(vr.Package, vr.Version, vr.Databases[0].State.Revisions, vr.Databases[0].AtHead)

	res, _ := ctl.Run(ctx, transport.Cmd("keystone-manage", "db_sync", "--check"))
	fmt.Println("keystone-manage db_sync --check:", res.ExitCode)
	res, _ = ctl.Run(ctx, transport.Cmd("nova-status", "upgrade", "check", "--json"))
	fmt.Println("nova-status upgrade check --json:", res.ExitCode)
	// Output:
	// python3-keystone 2:22.0.2-0+deb12u6 [29e87d24a316 e25ffa003242] true
	// keystone-manage db_sync --check: 0
	// nova-status upgrade check --json: 2
}

// Faults: a command failing, then the database dying.
func ExampleCloud_Inject() {
	c, _ := ossim.New(ossim.Topology{Controllers: []string{"ctl1"}})
	ctl, _ := c.Transport("ctl1")
	ctx := context.Background()
	_ = c.Inject(ossim.Fault{Node: "ctl1", Argv: []string{"glance-manage", "db", "check"}, Times: 1, Exit: 1, Stderr: "simulated\n"})
	res, _ := ctl.Run(ctx, transport.Cmd("glance-manage", "db", "check"))
	fmt.Printf("%d %s", res.ExitCode, res.Stderr)
	res, _ = ctl.Run(ctx, transport.Cmd("glance-manage", "db", "check"))
	fmt.Printf("%d %s", res.ExitCode, res.Stdout)
	c.SetDatabaseDown(true)
	res, _ = ctl.Run(ctx, transport.Cmd("nova-manage", "api_db", "sync"))
	fmt.Println(res.ExitCode, "after", c.Now().Sub(c.Events()[0].Time).Round(1e9))
	// Output:
	// 1 simulated
	// 0 Database is up to date. No upgrades needed.
	// 255 after 1m47s
}
