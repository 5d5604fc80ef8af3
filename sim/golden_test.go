package sim

import (
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGoldenZoneShow3Node(t *testing.T) {
	t.Parallel()
	c, err := HA(3, "7.4.0")
	require.NoError(t, err)
	assert.Equal(t, sample(t, "onezone-show-3node.xml"), ok(t, c, "fe1", "onezone", "show", "0", "-x"))
	assert.Equal(t, sample(t, "onezone-show-3node.txt"), ok(t, c, "fe2", "onezone", "show", "0"))
	assert.Equal(t, sample(t, "onezone-show-3node.json"), ok(t, c, "fe3", "onezone", "show", "--json", "0"))
}

func TestGoldenZoneShowDegraded(t *testing.T) {
	t.Parallel()
	z := ZoneSpec{ID: 0, Name: "OpenNebula", VIP: "10.0.0.10", HA: true, Term: 5, LogIndex: 184240, FedLogIndex: -1}
	for i, a := range []string{"10.0.0.11", "10.0.0.12", "10.0.0.13"} {
		z.Frontends = append(z.Frontends, NodeSpec{Name: []string{"fe1", "fe2", "fe3"}[i], Address: a})
	}
	c, err := New(Spec{Version: "7.4.0", Zones: []ZoneSpec{z}})
	require.NoError(t, err)
	ok(t, c, "fe2", "systemctl", "stop", "opennebula")
	ok(t, c, "fe1", "onezone", "disable", "0")
	for _, n := range []string{"fe1", "fe3"} {
		withNode(c, n, func(n *node) { n.DB.Commit = 184240 })
	}
	start := c.Now()
	assert.Equal(t, sample(t, "onezone-show-3node-degraded.xml"), ok(t, c, "fe1", "onezone", "show", "0", "-x"))
	assert.GreaterOrEqual(t, c.Now().Sub(start), 5*time.Second, "an unreachable server costs 5 s")
	assert.Equal(t, sample(t, "onezone-show-3node-degraded.txt"), ok(t, c, "fe3", "onezone", "show", "0"))
}

func TestGoldenZoneShowSolo(t *testing.T) {
	t.Parallel()
	c, err := Solo("7.4.0")
	require.NoError(t, err)
	assert.Equal(t, sample(t, "onezone-show-solo.xml"), ok(t, c, "fe1", "onezone", "show", "0", "-x"))
}

func TestGoldenFederation(t *testing.T) {
	t.Parallel()
	c, err := Federation("7.4.0")
	require.NoError(t, err)
	withNode(c, "us-fe1", func(n *node) { n.DB.FedLogIndex = 715430 })
	assert.Equal(t, sample(t, "onezone-show-federation-slave-zone100.xml"), ok(t, c, "ge-fe1", "onezone", "show", "100", "-x"))
	assert.Equal(t, sample(t, "onezone-list-federation.xml"), ok(t, c, "fr-fe1", "onezone", "list", "-x"))
	assert.Equal(t, sample(t, "onezone-list-federation.csv"), ok(t, c, "fr-fe1", "onezone", "list", "--csv"))
	assert.Equal(t, sample(t, "onezone-list-federation.txt"), ok(t, c, "fr-fe2", "onezone", "list"))
}

func TestGoldenOnedbVersion(t *testing.T) {
	t.Parallel()
	c, err := HA(3, "7.4.0")
	require.NoError(t, err)
	res := do(t, c, "fe1", "onedb", "version")
	assert.Equal(t, 0, res.ExitCode)
	assert.Equal(t, section(t, "onedb-version.txt", "Case A"), string(res.Stdout))

	// Case B: packages upgraded, DB not yet.
	c2, err := HA(3, "7.2.0")
	require.NoError(t, err)
	withNode(c2, "fe1", func(n *node) { n.Pkgs["opennebula"] = "7.4.0" })
	res = do(t, c2, "fe1", "onedb", "version")
	assert.Equal(t, 2, res.ExitCode)
	assert.Equal(t, section(t, "onedb-version.txt", "Case B"), string(res.Stdout))

	// Case C: old code, upgraded DB.
	withNode(c, "fe2", func(n *node) { n.Pkgs["opennebula"] = "7.2.0" })
	res = do(t, c, "fe2", "onedb", "version")
	assert.Equal(t, 3, res.ExitCode)
	assert.Equal(t, section(t, "onedb-version.txt", "Case C"), string(res.Stdout))

	// Case D (-v after an upgrade), E (fresh bootstrap), F (slave):
	// same layout modulo timestamps.
	ts := regexp.MustCompile(`Timestamp: \d\d/\d\d \d\d:\d\d:\d\d`)
	norm := func(s string) string { return ts.ReplaceAllString(s, "Timestamp: XX") }
	res = do(t, c, "fe3", "onedb", "version", "-v")
	assert.Equal(t, 0, res.ExitCode)
	assert.Equal(t, norm(section(t, "onedb-version.txt", "Case D")), norm(string(res.Stdout)))
	f, err := Federation("7.4.0")
	require.NoError(t, err)
	res = do(t, f, "ge-fe1", "onedb", "version", "-v")
	assert.Equal(t, norm(section(t, "onedb-version.txt", "Case F")), norm(string(res.Stdout)))

	// Case G: not bootstrapped.
	withNode(c, "fe3", func(n *node) { n.DB.Bootstrapped = false })
	res = do(t, c, "fe3", "onedb", "version")
	assert.Equal(t, 1, res.ExitCode)
	assert.Equal(t, section(t, "onedb-version.txt", "Case G"), string(res.Stderr))

	// Case H: bad credentials.
	res = do(t, c, "fe1", "onedb", "version", "-u", "oneadmin", "-p", "wrong", "-d", "opennebula")
	assert.Equal(t, 255, res.ExitCode)
	assert.Equal(t, section(t, "onedb-version.txt", "Case H"), string(res.Stderr))
}

func TestGoldenOnedbBackup(t *testing.T) {
	t.Parallel()
	// the name takes the time after onedb's start (1 s), before the dump
	c, err := HA(3, "7.4.0", WithStart(time.Date(2025, 11, 21, 9, 5, 6, 0, time.UTC)))
	require.NoError(t, err)
	res := do(t, c, "fe1", "onedb", "backup")
	require.Equal(t, 0, res.ExitCode, string(res.Stderr))
	// (the sample's stderr line is MySQL's password warning; MariaDB prints none)
	assert.Equal(t, section(t, "onedb-backup.txt", "### stdout:"), string(res.Stdout))
	assert.Empty(t, res.Stderr)

	res = do(t, c, "fe1", "onedb", "backup", "-f", "/var/tmp/db_leader.sql")
	assert.Equal(t, section(t, "onedb-backup.txt", "explicit file, overwrite allowed"), string(res.Stdout))
	res = do(t, c, "fe1", "onedb", "backup", "/var/tmp/db_leader.sql")
	assert.Equal(t, 255, res.ExitCode)
	assert.Equal(t, section(t, "onedb-backup.txt", "when the file already exists"), string(res.Stderr))
}

func TestGoldenOnedVersionAndOnecfg(t *testing.T) {
	t.Parallel()
	c, err := Solo("7.4.0")
	require.NoError(t, err)
	out := ok(t, c, "fe1", "oned", "--version")
	assert.Equal(t, section(t, "oned-version.txt", "`oned --version`"), out)
	assert.Equal(t, section(t, "onecfg-status.txt", "### clean:"), ok(t, c, "fe1", "onecfg", "status"))
}

func TestGoldenHostListAndSync(t *testing.T) {
	t.Parallel()
	z := ZoneSpec{ID: 0, Name: "OpenNebula", Endpoint: "http://localhost:2633/RPC2", FedLogIndex: -1,
		Frontends: []NodeSpec{{Name: "fe1", Address: "10.0.0.11"}}}
	for i := 1; i <= 4; i++ {
		z.Hypervisors = append(z.Hypervisors, HostSpec{Name: "kvm-node-0" + string(rune('0'+i)), Address: "10.0.1." + string(rune('0'+i)), VMs: []VM{}})
	}
	c, err := New(Spec{Version: "7.4.0", Zones: []ZoneSpec{z}})
	require.NoError(t, err)
	withNode(c, "fe1", func(n *node) {
		hs := n.DB.hosts()
		hs[0].VMs, hs[0].Threads, hs[0].Version = []int{12, 14}, 2, "7.4.0"
		hs[1].VMs, hs[1].Threads, hs[1].State, hs[1].Version = []int{13, 15}, 2, HostDisabled, "7.2.0"
		hs[2].State, hs[2].PrevState, hs[2].Capacity, hs[2].Version = HostOffline, HostDisabled, false, "7.2.0"
		hs[3].State, hs[3].Threads, hs[3].Version = HostError, 2, "7.2.0"
		hs[3].Error = "Fri Nov 21 10:20:11 2025 : Error monitoring Host kvm-node-04 (3): -"
		for _, h := range hs {
			n.DB.putHost(h)
		}
	})
	assert.Equal(t, sample(t, "onehost-list.xml"), ok(t, c, "fe1", "onehost", "list", "-x"))

	res := doCmd(t, c, "fe1", cmdAs("oneadmin", "onehost", "sync", "--force"))
	assert.Equal(t, 0, res.ExitCode, string(res.Stderr))
	assert.Equal(t, section(t, "onehost-sync.txt", "`onehost sync --force`"), string(res.Stdout))
	res = doCmd(t, c, "fe1", cmdAs("oneadmin", "onehost", "sync"))
	assert.Equal(t, section(t, "onehost-sync.txt", "nothing to do"), string(res.Stdout))
	res = do(t, c, "fe1", "onehost", "sync")
	assert.Equal(t, 255, res.ExitCode)
	assert.Equal(t, section(t, "onehost-sync.txt", "run as root"), string(res.Stderr))
}

func TestGoldenVMList(t *testing.T) {
	t.Parallel()
	z := ZoneSpec{ID: 0, Name: "OpenNebula", Endpoint: "http://localhost:2633/RPC2", FedLogIndex: -1,
		Frontends:   []NodeSpec{{Name: "fe1", Address: "10.0.0.11"}},
		Hypervisors: []HostSpec{{Name: "kvm-node-01", VMs: []VM{}}, {Name: "kvm-node-02", VMs: []VM{}}}}
	c, err := New(Spec{Version: "7.4.0", Zones: []ZoneSpec{z}})
	require.NoError(t, err)
	str := func(s string) *string { return &s }
	i64 := func(n int64) *int64 { return &n }
	vms := []VM{
		{ID: 12, Name: "web-01", UName: "oneadmin", State: 3, LCMState: 3, HostName: "kvm-node-01", HostID: 0,
			LastPoll: i64(1763720512), STime: 1763640011, DeployID: str("8b2f55e4-1d2c-4f0e-9a51-3c1b2a7f6d10"),
			CPU: "1", Memory: "2048", VCPU: str("2"),
			Disks:      []VMDisk{{ID: 0, Datastore: "default", DatastoreID: 1, Image: "ubuntu2404", ImageID: 3, Size: 10240}},
			NICs:       []VMNIC{{IP: "172.16.100.12", MAC: "02:00:ac:10:64:0c", Network: "vnet-public"}},
			Graphics:   &VMGraphics{Listen: "0.0.0.0", Port: 5912, Type: "VNC"},
			Monitoring: &VMMonitoring{CPU: "2.0", Memory: "1048576", State: "a"}, UserTemplate: []KV{{"LABELS", "prod"}}},
		{ID: 13, Name: "db-01", UID: 2, GID: 1, UName: "alice", GName: "users", State: 3, LCMState: 4, HostName: "kvm-node-02", HostID: 1,
			LastPoll: i64(1763720498), STime: 1763640222, DeployID: str("2c9d0a61-77b4-4a9f-8e0e-4bd6f3a1c2e7"), Locked: 1,
			CPU: "2", Memory: "4096", VCPU: str("4"),
			Disks:      []VMDisk{{ID: 0, Datastore: "default", DatastoreID: 1, Image: "alma9", ImageID: 4, Size: 20480}},
			NICs:       []VMNIC{{IP: "172.16.100.13", MAC: "02:00:ac:10:64:0d", Network: "vnet-public"}},
			Monitoring: &VMMonitoring{CPU: "11.0", Memory: "4194304", State: "a"}, HistorySeq: 1, HistoryAction: 2},
		{ID: 14, Name: "build-agent", UName: "oneadmin", State: 8, HostName: "kvm-node-01", HostID: 0, LastPoll: i64(0),
			STime: 1763641000, DeployID: str("5f1e7a3b-0c2d-4e8f-9b1a-6d7c8e9f0a1b"), CPU: "0.5", Memory: "1024", VCPU: str("1"), HistoryAction: 19},
		{ID: 15, Name: "broken-vm", UName: "oneadmin", State: 3, LCMState: 36, HostName: "kvm-node-02", HostID: 1, LastPoll: i64(0),
			STime: 1763700000, DeployID: str(""), CPU: "1", Memory: "512", VCPU: str(""),
			UserTemplate: []KV{{"ERROR", "Fri Nov 21 09:40:00 2025: Error executing image transfer script: ..."}}},
		{ID: 16, Name: "queued", UID: 2, GID: 1, UName: "alice", GName: "users", State: 1, LastPoll: i64(0),
			STime: 1763720000, DeployID: str(""), CPU: "1", Memory: "512", VCPU: str(""),
			UserTemplate: []KV{{"SCHED_MESSAGE", "Fri Nov 21 10:21:40 2025 : Cannot dispatch VM: No hosts enabled to run VMs"}}},
	}
	withNode(c, "fe1", func(n *node) {
		for _, v := range vms {
			n.DB.putVM(v)
		}
	})
	assert.Equal(t, sample(t, "onevm-list.xml"), ok(t, c, "fe1", "onevm", "list", "-x"))
}
