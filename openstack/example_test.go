package openstack_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/upgradekit/upgradekit/openstack"
	"github.com/upgradekit/upgradekit/transport/fake"
)

func ExampleDefaultCatalog() {
	cat := openstack.DefaultCatalog()
	fmt.Println(cat.Names())
	nova, _ := cat.Service("nova")
	fmt.Println(nova.UnitsFor(openstack.Debian, openstack.Controller))
	cinder, _ := cat.Service("cinder")
	fmt.Println(cinder.ODM.MaxCountFlag)
	// Output:
	// [keystone glance placement nova neutron cinder heat horizon]
	// [nova-conductor nova-scheduler nova-novncproxy nova-api]
	// --max_count
}

func ExampleCatalog_Override() {
	cat := openstack.DefaultCatalog()
	// A containerised keystone whose config lives elsewhere; the default
	// catalog is left untouched.
	ks, _ := cat.Service("keystone")
	ks.ConfigFiles = []string{"/etc/kolla/keystone/keystone.conf"}
	custom, err := cat.Override(ks)
	if err != nil {
		panic(err)
	}
	// An extra service, upgraded after heat.
	custom, err = custom.With(openstack.Service{Name: "barbican", Order: 75})
	if err != nil {
		panic(err)
	}
	got, _ := custom.Service("keystone")
	orig, _ := cat.Service("keystone")
	fmt.Println(got.ConfigFiles, orig.ConfigFiles)
	fmt.Println(custom.Names())
	// Output:
	// [/etc/kolla/keystone/keystone.conf] [/etc/keystone/keystone.conf]
	// [keystone glance placement nova neutron cinder heat barbican horizon]
}

func ExampleUpgradeCheck() {
	node := fake.New("controller1")
	// placement-status ignores --json, so the primitive asks for the table.
	node.Expect(fake.Exact("placement-status", "--config-file", "/etc/placement/placement.conf", "upgrade", "check")).
		Exit(1).Stdout(`+-------------------------------------------------+
| Upgrade Check Results                           |
+-------------------------------------------------+
| Check: Missing Root Provider IDs                |
| Result: Success                                 |
| Details: None                                   |
+-------------------------------------------------+
| Check: Incomplete Consumers                     |
| Result: Warning                                 |
| Details: There are 1 incomplete consumers table |
|   records for existing allocations.             |
+-------------------------------------------------+
`)
	node.Expect(fake.Prefix("placement-status")).Exit(255).Stdout("Error:\nTraceback (most recent call last): ...")

	placement, _ := openstack.DefaultCatalog().Service("placement")
	// The check alone: with its databases, UpgradeCheck first compares
	// them with the installed tool (CheckVersions).
	placement.Databases = nil
	rep, err := openstack.UpgradeCheck(context.Background(), node, placement)
	if err != nil {
		panic(err)
	}
	fmt.Println("exit:", rep.Code, "blocking:", rep.Err() != nil)
	for _, c := range rep.Checks {
		line := c.Name + ": " + c.Result.String()
		if c.Details != "" {
			line += " (" + c.Details + ")"
		}
		fmt.Println(line)
	}

	// Exit 255 is the tool crashing, not a failed check.
	_, err = openstack.UpgradeCheck(context.Background(), node, placement)
	fmt.Println(errors.Is(err, openstack.ErrToolCrashed))
	// Output:
	// exit: Warning blocking: false
	// Missing Root Provider IDs: Success
	// Incomplete Consumers: Warning (There are 1 incomplete consumers table records for existing allocations.)
	// true
}

func ExampleOnlineDataMigrations() {
	node := fake.New("controller1")
	argv := []string{"nova-manage", "--config-file", "/etc/nova/nova.conf", "db", "online_data_migrations", "--max-count", "2"}
	table := func(n string) string {
		return "+----------------------------+--------------+-----------+\n" +
			"|         Migration          | Total Needed | Completed |\n" +
			"+----------------------------+--------------+-----------+\n" +
			"| populate_queued_for_delete |      " + n + "       |     " + n + "     |\n" +
			"+----------------------------+--------------+-----------+\n"
	}
	// Exit 1: rows migrated, run again; exit 0: done.
	node.Expect(fake.Exact(argv...)).Exit(1).Stdout(table("2"))
	node.Expect(fake.Exact(argv...)).Exit(1).Stdout(table("1"))
	node.Expect(fake.Exact(argv...)).Exit(0).Stdout(table("0"))

	nova, _ := openstack.DefaultCatalog().Service("nova")
	nova.Databases = nil // skip the schema-version comparison in this example
	rep, err := openstack.OnlineDataMigrations(context.Background(), node, nova, openstack.WithBatchSize(2))
	if err != nil {
		panic(err)
	}
	fmt.Println("batches:", rep.Batches, "rows:", rep.Migrated())
	// Output:
	// batches: 3 rows: 3
}
