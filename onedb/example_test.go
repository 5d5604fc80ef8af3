package onedb_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/upgradekit/upgradekit/onedb"
	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/transport/fake"
)

// Taking the leader's backup, then restoring it on a follower while the
// leader keeps answering at the VIP.
func Example() {
	ctx := context.Background()
	leader, follower := fake.New("fe1"), fake.New("fe2")
	leader.Expect(fake.Exact("onedb", "backup", "-f", "--", "/var/tmp/db_leader.sql")).
		Reply("MySQL dump stored in /var/tmp/db_leader.sql\n" +
			"Use 'onedb restore' or restore the DB using the mysql command:\n" +
			"mysql -u user -h server -P port db_name < backup_file\n\n")
	follower.Expect(fake.Exact("onedb", "restore", "-f", "--", "/var/tmp/db_leader.sql")).
		Reply("MySQL DB opennebula at localhost restored.\n")

	path, err := onedb.Backup(ctx, leader, onedb.Force(), onedb.ToFile("/var/tmp/db_leader.sql"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("backup:", path)
	// (copy the file to the follower here)
	r, err := onedb.Restore(ctx, follower, path, onedb.Force())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("restored:", r.Database, "at", r.Server)
	fmt.Println("with", follower.Calls()[0].Command.Env)
	// Output:
	// backup: /var/tmp/db_leader.sql
	// restored: opennebula at localhost
	// with map[ONE_XMLRPC:http://localhost:2633/RPC2]
}

func ExampleVersion() {
	fe := fake.New("fe1")
	fe.Expect(fake.Exact("onedb", "version", "-v")).Stdout(
		"Shared tables version:   7.2.0\n" +
			"Required version:        7.4.0\n" +
			"Timestamp: 11/21 10:25:02\n" +
			"Comment:   Database migrated from 7.0.0 to 7.2.0 (OpenNebula 7.2.0) by onedb command.\n\n" +
			"Local tables version:    7.2.0\n" +
			"Required version:        7.4.0\n" +
			"Timestamp: 11/21 10:25:03\n" +
			"Comment:   Database migrated from 7.0.0 to 7.2.0 (OpenNebula 7.2.0) by onedb command.\n\n").Exit(2)

	v, err := onedb.Version(context.Background(), fe)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(v.Status)
	fmt.Println("shared", v.Shared.Version, "->", v.Shared.Required)
	fmt.Println("local ", v.Local.Version, "->", v.Local.Required)
	// Output:
	// upgrade required
	// shared 7.2.0 -> 7.4.0
	// local  7.2.0 -> 7.4.0
}

func ExampleUpgrade() {
	fe := fake.New("fe1")
	fe.Expect(fake.Exact("onedb", "upgrade", "-v")).Reply("Database schema is up to date.\n")
	fe.Expect(fake.Exact("onedb", "upgrade", "-v")).
		Exit(255, "First stop OpenNebula. Lock file found: /var/lock/one/one\n")

	r, err := onedb.Upgrade(context.Background(), fe)
	fmt.Println("already current:", r.AlreadyCurrent, err)

	_, err = onedb.Upgrade(context.Background(), fe)
	fmt.Println("oned running:", errors.Is(err, onedb.ErrOnedRunning))
	fmt.Println(err)
	// Output:
	// already current: true <nil>
	// oned running: true
	// host fe1: onedb upgrade: oned is running: First stop OpenNebula. Lock file found: /var/lock/one/one
}

// From 7.2, fsck exits 1 whenever it found errors; with Release the
// wrapper knows that this is a result.
func ExampleFsck() {
	fe := fake.New("fe1")
	fe.Expect(fake.Exact("onedb", "fsck")).Stdout(
		"Host 0 RUNNING_VMS has 3 \tis\t2\n" +
			"[UNREPAIRED] History record for VM 15 seq # 0 is not closed (etime = 0)\n\n" +
			"Total errors found: 2\nTotal errors repaired: 1\nTotal errors unrepaired: 1\n" +
			"A copy of this output was stored in /var/log/one/onedb-fsck.log\n").Exit(1)

	r, err := onedb.Fsck(context.Background(), fe, onedb.Release("7.4.0"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("found %d, repaired %d, unrepaired %d\n", r.Found, r.Repaired, r.Unrepaired)
	fmt.Println("needs a human:", r.UnrepairedProblems)
	// Output:
	// found 2, repaired 1, unrepaired 1
	// needs a human: [History record for VM 15 seq # 0 is not closed (etime = 0)]
}

// Explicit credentials: the password goes to onedb in $ONE_DB_PASSWORD,
// never in argv.
func ExampleWithConn() {
	fe := fake.New("fe1")
	fe.Expect(fake.Exact("onedb", "backup", "-S", "db1", "-u", "oneadmin", "-d", "opennebula")).
		Exit(255, "Unknown error running 'mysqldump -u oneadmin -p'hunter2' -h db1 -P 0 --add-drop-database --databases --add-drop-table opennebula  > /var/lib/one/x.sql'\n")

	_, err := onedb.Backup(context.Background(), fe, onedb.WithConn(onedb.Conn{
		Server: "db1", User: "oneadmin", DBName: "opennebula", Password: transport.NewSecret("hunter2"),
	}))
	fmt.Println(errors.Is(err, onedb.ErrDumpFailed))
	fmt.Println(err)
	c := fe.Calls()[0].Command
	fmt.Println(c.Argv())
	fmt.Println(c)
	// Output:
	// true
	// host fe1: onedb backup: database dump failed: Unknown error running 'mysqldump -u oneadmin -p'[REDACTED]' -h db1 -P 0 --add-drop-database --databases --add-drop-table opennebula  > /var/lib/one/x.sql'
	// [onedb backup -S db1 -u oneadmin -d opennebula]
	// env ONE_DB_PASSWORD=[REDACTED] onedb backup -S db1 -u oneadmin -d opennebula
}

// Comparing two fingerprints, as taken with DB.Checksums on the leader and
// on a follower.
func ExampleCompare() {
	leader := onedb.TableChecksums{
		Tables:   map[string]uint64{"vm_pool": 1111, "host_pool": 2222, "user_pool": 3333},
		Triggers: map[string]string{},
		Excluded: []string{"logdb"},
	}
	follower := onedb.TableChecksums{
		Tables:   map[string]uint64{"vm_pool": 1112, "user_pool": 3333, "leftover": 1},
		Triggers: map[string]string{},
		Excluded: []string{"logdb"},
	}
	err := onedb.Compare(leader, follower)
	if me, ok := errors.AsType[*onedb.MismatchError](err); ok {
		fmt.Println(me.Tables)
	}
	fmt.Println(err)
	// Output:
	// [host_pool leftover vm_pool]
	// onedb: follower database differs from leader in 3 objects: table host_pool (missing on follower), table vm_pool (differs), table leftover (extra on follower)
}
