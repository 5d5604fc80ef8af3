package sim

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/transport"
)

// leaderSID returns the SERVER_ID reported as leader by onezone show on
// node, or -1.
func leaderSID(t testing.TB, c *Cloud, node string) int {
	t.Helper()
	st := raftView(t, c, node)
	for sid, s := range st {
		if s == "3" {
			return sid
		}
	}
	return -1
}

// raftView maps SERVER ID to the STATE onezone show -x reports.
func raftView(t testing.TB, c *Cloud, node string) map[int]string {
	t.Helper()
	out := ok(t, c, node, "onezone", "show", "0", "-x", "--endpoint", "http://localhost:2633/RPC2")
	m := map[int]string{}
	for i, blk := range strings.Split(out, "<SERVER>")[1:] {
		_, rest, _ := strings.Cut(blk, "<STATE>")
		st, _, _ := strings.Cut(rest, "</STATE>")
		m[i] = st
	}
	return m
}

func stopAll(t testing.TB, c *Cloud) {
	for _, n := range []string{"fe3", "fe2", "fe1"} {
		ok(t, c, n, "systemctl", "stop", "opennebula")
	}
}

func TestElectionAfterFullStop(t *testing.T) {
	t.Parallel()
	c, err := HA(3, "7.2.0")
	require.NoError(t, err)
	stopAll(t, c)
	start := c.Now()
	for _, n := range []string{"fe1", "fe2", "fe3"} {
		ok(t, c, n, "systemctl", "start", "opennebula")
	}
	assert.Equal(t, -1, leaderSID(t, c, "fe1"), "no leader during the warm-up")
	for leaderSID(t, c, "fe1") < 0 {
		require.NoError(t, c.Clock().Sleep(context.Background(), time.Second))
		require.Less(t, c.Now().Sub(start), time.Minute)
	}
	took := c.Now().Sub(start)
	assert.GreaterOrEqual(t, took, 18*time.Second)
	assert.LessOrEqual(t, took, 26*time.Second)
	log, err := c.ReadFile("fe1", "/var/log/one/oned.log")
	require.NoError(t, err)
	assert.Contains(t, string(log), "oned started in follower mode")
	assert.Contains(t, string(log), "[RCM][I]: oned is now the leader of the zone")
	// The API was down from the leader's stop until the new election.
	ws := c.APIWindows(0)
	require.Len(t, ws, 1)
	assert.InDelta(t, float64(c.APIDowntime(0)), float64(ws[0].Duration()), float64(time.Second))
	assert.Greater(t, ws[0].Duration(), 20*time.Second)
}

func TestLoneNodeNeverLeads(t *testing.T) {
	t.Parallel()
	c, err := HA(3, "7.2.0")
	require.NoError(t, err)
	stopAll(t, c)
	ok(t, c, "fe1", "systemctl", "start", "opennebula")
	require.NoError(t, c.Clock().Sleep(context.Background(), 2*time.Minute))
	v := raftView(t, c, "fe1")
	assert.Equal(t, "1", v[0], "candidate")
	assert.Equal(t, "-", v[1])
	res := do(t, c, "fe1", "onehost", "disable", "0")
	assert.Equal(t, 255, res.ExitCode)
	assert.Equal(t, "Failed to open TCP connection to 10.0.0.10:2633 (Connection refused - connect(2) for \"10.0.0.10\" port 2633)\n",
		string(res.Stderr), "nobody holds the VIP")
	res = do(t, c, "fe1", "onehost", "disable", "0", "--endpoint", "http://localhost:2633/RPC2")
	assert.Equal(t, 255, res.ExitCode)
	assert.Equal(t, "[one.host.status] Cannot process request, oned cluster in election mode\n", string(res.Stderr))
	// A second node gives the majority.
	ok(t, c, "fe2", "systemctl", "start", "opennebula")
	require.NoError(t, c.Clock().Sleep(context.Background(), 6*time.Second))
	assert.GreaterOrEqual(t, leaderSID(t, c, "fe2"), 0)
	ok(t, c, "fe1", "onehost", "disable", "0")
}

func TestLeaderStopElectsAmongRemaining(t *testing.T) {
	t.Parallel()
	c, err := HA(3, "7.2.0")
	require.NoError(t, err)
	before := c.Now()
	ok(t, c, "fe1", "systemctl", "stop", "opennebula")
	res := do(t, c, "fe2", "onehost", "disable", "0", "--endpoint", "http://localhost:2633/RPC2")
	assert.Equal(t, "[one.host.status] Cannot process request, no leader found\n", string(res.Stderr))
	// Both followers time out together; with the default seed they split
	// the vote of term 5 and fe2 wins term 6 after its random back-off.
	require.NoError(t, c.Clock().Sleep(context.Background(), 6*time.Second))
	assert.Equal(t, 1, leaderSID(t, c, "fe3"))
	assert.Contains(t, ok(t, c, "fe3", "onezone", "show", "0", "-x"), "<TERM>6</TERM>")
	d := c.APIDowntime(0)
	assert.Greater(t, d, 4*time.Second)
	assert.Less(t, d, c.Now().Sub(before))
	// The VIP follows the leader: the endpoint file still works.
	ok(t, c, "fe2", "onehost", "disable", "0")
}

func TestWritesNeedMajority(t *testing.T) {
	t.Parallel()
	c, err := HA(3, "7.2.0")
	require.NoError(t, err)
	ok(t, c, "fe2", "systemctl", "stop", "opennebula")
	ok(t, c, "fe1", "onehost", "disable", "0")
	ok(t, c, "fe3", "systemctl", "stop", "opennebula")
	assert.Equal(t, 0, leaderSID(t, c, "fe1"), "a leader never steps down")
	res := do(t, c, "fe1", "onehost", "enable", "0")
	assert.Equal(t, 255, res.ExitCode)
	assert.Equal(t, "[one.host.status] Cannot replicate log record on followers\n", string(res.Stderr))
	assert.Len(t, c.WriteWindows(0), 1)
	assert.Empty(t, c.APIWindows(0))
}

func switchRepo(t testing.TB, c *Cloud, node, ser string) {
	t.Helper()
	cmd := transport.Shell(`printf 'deb https://downloads.opennebula.io/repo/%s/Ubuntu/24.04 stable opennebula\n' "$1" > /etc/apt/sources.list.d/opennebula.list`, ser)
	res := doCmd(t, c, node, cmd)
	require.Equal(t, 0, res.ExitCode, string(res.Stderr))
	ok(t, c, node, "apt-get", "update")
}

func upgradePkgs(t testing.TB, c *Cloud, node string) {
	t.Helper()
	cmd := transport.Cmd("apt-get", "install", "--only-upgrade", "-y", "-o", "Dpkg::Options::=--force-confold",
		"opennebula", "opennebula-gate", "opennebula-flow", "opennebula-fireedge", "python3-pyone")
	cmd.Env = map[string]string{"DEBIAN_FRONTEND": "noninteractive"}
	res := doCmd(t, c, node, cmd)
	require.Equal(t, 0, res.ExitCode, string(res.Stderr))
}

func TestPackageUpgradeFollowsRepository(t *testing.T) {
	t.Parallel()
	c, err := HA(3, "7.2.0")
	require.NoError(t, err)
	upgradePkgs(t, c, "fe1")
	assert.Equal(t, "install ok installed\t7.2.0-1\n", ok(t, c, "fe1", "dpkg-query", "-W", "-f=${Status}\t${Version}\n", "opennebula"))
	switchRepo(t, c, "fe1", "7.4")
	upgradePkgs(t, c, "fe1")
	assert.Equal(t, "install ok installed\t7.4.1-1\n", ok(t, c, "fe1", "dpkg-query", "-W", "-f=${Status}\t${Version}\n", "opennebula"))
	assert.True(t, strings.HasPrefix(ok(t, c, "fe1", "oned", "--version"), "OpenNebula 7.4.1 ("))
	res := do(t, c, "fe1", "apt-get", "install", "--only-upgrade", "-y", "opennebula-nonexistent-x")
	assert.Equal(t, 100, res.ExitCode)

	r, err := New(Spec{Version: "7.2.0", Family: "rpm", Zones: []ZoneSpec{{ID: 0, Name: "OpenNebula", Frontends: []NodeSpec{{Name: "fe1", Address: "10.0.0.11"}}}}})
	require.NoError(t, err)
	ok(t, r, "fe1", "sed", "-i", "s#/repo/7.2/#/repo/7.4/#", "/etc/yum.repos.d/opennebula.repo")
	ok(t, r, "fe1", "dnf", "-y", "makecache")
	ok(t, r, "fe1", "dnf", "upgrade", "-y", "opennebula")
	assert.Equal(t, "7.4.1-1.el9\n", ok(t, r, "fe1", "rpm", "-q", "--qf", "%{VERSION}-%{RELEASE}\n", "opennebula"))
	res = do(t, r, "fe1", "apt-get", "update")
	assert.Equal(t, 127, res.ExitCode)
}

func TestVersionMismatchRefusesStart(t *testing.T) {
	t.Parallel()
	c, err := Solo("7.2.0")
	require.NoError(t, err)
	ok(t, c, "fe1", "systemctl", "stop", "opennebula")
	switchRepo(t, c, "fe1", "7.4")
	upgradePkgs(t, c, "fe1")
	res := do(t, c, "fe1", "systemctl", "start", "opennebula")
	assert.Equal(t, 0, res.ExitCode, "the start job succeeds")
	assert.Contains(t, string(res.Stderr), "daemon-reload")
	res = do(t, c, "fe1", "systemctl", "is-active", "opennebula")
	assert.Equal(t, 3, res.ExitCode)
	assert.Equal(t, "failed\n", string(res.Stdout))
	log, _ := c.ReadFile("fe1", "/var/log/one/oned.log")
	assert.Contains(t, string(log), "[Z0][ONE][E]: Database version mismatch ( local_db_versioning). Installed OpenNebula 7.4.1 ("+gitID("7.4.1")+") needs DB version '7.4.0', and existing DB version is '7.2.0'.\n")
	assert.Contains(t, string(log), "[Z0][ONE][E]: Use onedb to upgrade DB.\n")
	// onedb upgrade fixes it.
	out := ok(t, c, "fe1", "onedb", "upgrade", "-v")
	assert.Contains(t, out, "Database migrated from 7.2.0 to 7.4.0 (OpenNebula 7.4.1) by onedb command.")
	ok(t, c, "fe1", "systemctl", "daemon-reload")
	ok(t, c, "fe1", "systemctl", "start", "opennebula")
	assert.Equal(t, "active\n", ok(t, c, "fe1", "systemctl", "is-active", "opennebula"))
	ws := c.APIWindows(0)
	require.NotEmpty(t, ws)
	assert.False(t, ws[len(ws)-1].To.IsZero(), "API back")
}

func TestOnedbUpgradeOutput(t *testing.T) {
	t.Parallel()
	c, err := Solo("7.2.0")
	require.NoError(t, err)
	ok(t, c, "fe1", "systemctl", "stop", "opennebula")
	res := do(t, c, "fe1", "onedb", "upgrade", "-v")
	assert.Equal(t, 0, res.ExitCode)
	assert.Equal(t, "Database schema is up to date.\n", string(res.Stdout))
	switchRepo(t, c, "fe1", "7.4")
	withNode(c, "fe1", func(n *node) { n.Pkgs["opennebula"] = "7.4.0" })
	withNode(c, "fe1", func(n *node) { _ = n.FS.Remove("/var/lib/one/.one/oneform_auth", false) })
	res = do(t, c, "fe1", "onedb", "upgrade", "-v")
	require.Equal(t, 0, res.ExitCode, string(res.Stderr))
	want := section(t, "onedb-upgrade.txt", "`onedb upgrade -v` on a MySQL DB")
	file := strings.Fields(strings.Split(string(res.Stdout), "MySQL dump stored in ")[1])[0]
	want = strings.Replace(want, "/var/lib/one/mysql_localhost_opennebula_2025-11-21_10:24:51.sql", file, 1)
	// The sample's timings are invented; the simulator prints what it
	// charged: onedb's index work on this log-less database and the
	// local migrator.
	want = strings.Replace(want, "Total time: 0.49s", "Total time: 0.40s", 1)
	assert.Equal(t, want, string(res.Stdout))
	assert.Equal(t, 0, do(t, c, "fe1", "onedb", "version").ExitCode)
	b, err := c.ReadFile("fe1", "/var/lib/one/.one/oneform_auth")
	require.NoError(t, err)
	assert.NotEmpty(t, b, "the 7.2→7.4 migrator writes the form/ks auth files")

	// While oned runs, upgrade refuses.
	ok(t, c, "fe1", "systemctl", "start", "opennebula")
	res = do(t, c, "fe1", "onedb", "upgrade")
	assert.Equal(t, 255, res.ExitCode)
	assert.Equal(t, "First stop OpenNebula. Lock file found: /var/lock/one/one\n", string(res.Stderr))
}

func TestSlaveUpgradeAndFederationJoin(t *testing.T) {
	t.Parallel()
	c, err := Federation("7.2.0")
	require.NoError(t, err)
	for _, n := range []string{"ge-fe1", "ge-fe3", "ge-fe2"} {
		ok(t, c, n, "systemctl", "stop", "opennebula")
	}
	switchRepo(t, c, "ge-fe1", "7.4")
	upgradePkgs(t, c, "ge-fe1")
	res := doCmd(t, c, "ge-fe1", transport.Command{Path: "onedb", Args: []string{"upgrade", "-v"}, Env: map[string]string{"ONE_XMLRPC": "http://localhost:2633/RPC2"}})
	require.Equal(t, 0, res.ExitCode, string(res.Stderr))
	assert.NotContains(t, string(res.Stdout), "shared tables", "slaves skip the shared migrators")
	assert.Contains(t, string(res.Stdout), ">>> Running migrators for local tables")
	ok(t, c, "ge-fe1", "systemctl", "start", "opennebula")
	assert.Equal(t, "failed\n", string(do(t, c, "ge-fe1", "systemctl", "is-active", "opennebula").Stdout))
	log, _ := c.ReadFile("ge-fe1", "/var/log/one/oned.log")
	assert.Contains(t, string(log), "[Z100][ONE][E]: Database version mismatch ( db_versioning).")
	assert.Contains(t, string(log), "[Z100][ONE][E]: Cannot join federation, oned master needs upgrade.\n")
}

func TestRestoreRefusedWhileOnedAnswers(t *testing.T) {
	t.Parallel()
	c, err := HA(3, "7.2.0")
	require.NoError(t, err)
	ok(t, c, "fe1", "onedb", "backup", "/var/tmp/leader.sql")
	data, err := c.ReadFile("fe1", "/var/tmp/leader.sql")
	require.NoError(t, err)
	_, err = transport.Upload(context.Background(), c.MustFrontend("fe2"), "/var/tmp/leader.sql", strings.NewReader(string(data)), transport.FileOptions{})
	require.NoError(t, err)

	res := do(t, c, "fe2", "onedb", "restore", "-f", "/var/tmp/leader.sql")
	assert.Equal(t, "First stop OpenNebula. Lock file found: /var/lock/one/one\n", string(res.Stderr))
	ok(t, c, "fe2", "systemctl", "stop", "opennebula")
	res = do(t, c, "fe2", "onedb", "restore", "-f", "/var/tmp/leader.sql")
	assert.Equal(t, 255, res.ExitCode)
	assert.Equal(t, "OpenNebula found listening on 'http://10.0.0.10:2633/RPC2'\n", string(res.Stderr))
	local := map[string]string{"ONE_XMLRPC": "http://localhost:2633/RPC2"}
	res = doCmd(t, c, "fe2", transport.Command{Path: "onedb", Args: []string{"restore", "/var/tmp/leader.sql"}, Env: local})
	assert.Equal(t, "MySQL database opennebula at localhost exists, use -f to overwrite.\n", string(res.Stderr))
	res = doCmd(t, c, "fe2", transport.Command{Path: "onedb", Args: []string{"restore", "-f", "/tmp/missing.sql"}, Env: local})
	assert.Equal(t, "File /tmp/missing.sql doesn't exist, backup restoration aborted.\n", string(res.Stderr))
	res = doCmd(t, c, "fe2", transport.Command{Path: "onedb", Args: []string{"restore", "-f", "--", "/var/tmp/leader.sql"}, Env: local})
	require.Equal(t, 0, res.ExitCode, string(res.Stderr))
	assert.Equal(t, "MySQL DB opennebula at localhost restored.\n", string(res.Stdout))
	l, err := c.TableChecksums("fe1")
	require.NoError(t, err)
	f, err := c.TableChecksums("fe2")
	require.NoError(t, err)
	assert.Equal(t, l, f)

	// The leader kept writing after the backup: fe2's seed is stale. Raft
	// log matching catches it up (ZoneAPI::replicate_log refuses a record
	// whose previous one it lacks, RaftManager::replicate_failure steps
	// the next index back), with no server-reset.
	ok(t, c, "fe1", "onehost", "disable", "1")
	ok(t, c, "fe2", "systemctl", "start", "opennebula")
	require.NoError(t, c.Clock().Sleep(context.Background(), 5*time.Second))
	lag := func() bool {
		out := ok(t, c, "fe1", "onezone", "show", "0", "-x")
		idx := regexpAll(out, `<LOG_INDEX>(\d+)</LOG_INDEX>`)
		return idx[0] != idx[1]
	}
	assert.False(t, lag(), "a stale seed is caught up by log matching")
	l, err = c.TableChecksums("fe1")
	require.NoError(t, err)
	f, err = c.TableChecksums("fe2")
	require.NoError(t, err)
	assert.Equal(t, replicated(l), replicated(f))
}

func TestFsckExitCodes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		version string
		errs    int
		code    int
	}{{"7.4.0", 0, 0}, {"7.4.0", 2, 1}, {"7.2.0", 1, 1}, {"7.0.0", 2, 0}} {
		t.Run(tc.version+"/"+string(rune('0'+tc.errs)), func(t *testing.T) {
			t.Parallel()
			c, err := Solo(tc.version)
			require.NoError(t, err)
			require.NoError(t, c.SetFsckErrors("fe1", tc.errs))
			ok(t, c, "fe1", "systemctl", "stop", "opennebula")
			res := do(t, c, "fe1", "onedb", "fsck")
			assert.Equal(t, tc.code, res.ExitCode)
			assert.Contains(t, string(res.Stdout), "Total errors found: "+string(rune('0'+tc.errs))+"\n")
			if tc.errs == 0 {
				out := string(res.Stdout)
				out = out[strings.Index(out, "Use 'onedb restore'"):]
				want := section(t, "onedb-fsck.txt", "no errors found")
				assert.Equal(t, want[strings.Index(want, "Use 'onedb restore'"):], out)
			}
		})
	}
	c, err := Solo("7.2.0")
	require.NoError(t, err)
	ok(t, c, "fe1", "systemctl", "stop", "opennebula")
	withNode(c, "fe1", func(n *node) { n.Pkgs["opennebula"] = "7.4.0" })
	res := do(t, c, "fe1", "onedb", "fsck")
	assert.Equal(t, 255, res.ExitCode)
	assert.Equal(t, section(t, "onedb-fsck.txt", "DB version differs"), string(res.Stdout))
}

func TestZoneDisableBlocksWrites(t *testing.T) {
	t.Parallel()
	c, err := HA(3, "7.2.0")
	require.NoError(t, err)
	assert.Equal(t, "ZONE 0: disable zone\n", ok(t, c, "fe2", "onezone", "disable", "0", "-v"))
	for _, argv := range [][]string{
		{"onehost", "disable", "0"}, {"onehost", "enable", "kvm1"}, {"onehost", "offline", "0"},
	} {
		res := do(t, c, "fe1", argv...)
		assert.Equal(t, 255, res.ExitCode)
		assert.Equal(t, "[one.host.status] Cannot process request, zone disabled\n", string(res.Stderr))
	}
	res := do(t, c, "fe1", "onezone", "server-add", "0", "--name", "fe4", "--rpc", "http://10.0.0.14:2633/RPC2")
	assert.Equal(t, "http://10.0.0.14:2633/RPC2:\n", string(res.Stdout))
	assert.Equal(t, "[one.zone.addserver] Cannot process request, zone disabled\n", string(res.Stderr))
	ok(t, c, "fe1", "onehost", "list", "-x")
	assert.Equal(t, "ZONE 0: enable zone\n", ok(t, c, "fe3", "onezone", "enable", "0", "-v"))
	ok(t, c, "fe1", "onehost", "disable", "0")
	assert.Len(t, c.WriteWindows(0), 1)
	assert.Empty(t, c.APIWindows(0))
}

func TestFederationZoneOrder(t *testing.T) {
	t.Parallel()
	c, err := Federation("7.2.0")
	require.NoError(t, err)
	res := do(t, c, "fr-fe1", "onezone", "disable", "100")
	assert.Equal(t, "[one.zone.enable] Enable/disable mode have to be set through the target zone endpoints\n", string(res.Stderr))
	ok(t, c, "fr-fe1", "onezone", "disable", "100", "--endpoint", "http://192.168.150.2:2633/RPC2")
	ok(t, c, "fr-fe1", "onezone", "disable", "0")
	res = do(t, c, "ge-fe1", "onezone", "enable", "100")
	assert.Equal(t, 255, res.ExitCode)
	assert.Equal(t, "[one.zone.enable] Cannot process request, zone disabled\n", string(res.Stderr))
	ok(t, c, "fr-fe2", "onezone", "enable", "0")
	ok(t, c, "ge-fe1", "onezone", "enable", "100")
	out := ok(t, c, "fr-fe1", "onezone", "list", "--csv")
	assert.Equal(t, "CURRENT,ID,NAME,ENDPOINT,FED_INDEX,STAT\n*,0,M-EU-FR,http://192.168.150.1:2633/RPC2,715442,on\n"+
		",100,S-EU-GE,http://192.168.150.2:2633/RPC2,715442,on\n,101,S-US-CA,http://192.168.150.3:2633/RPC2,715442,on\n",
		out, "four federated writes replicated to every slave")
}

func TestServicesNotStoppedWithOpennebula(t *testing.T) {
	t.Parallel()
	c, err := HA(3, "7.2.0")
	require.NoError(t, err)
	ok(t, c, "fe1", "systemctl", "stop", "opennebula")
	out := ok(t, c, "fe1", "systemctl", "list-units", "--type=service", "--state=active", "--no-legend", "--plain", "--full", "--", "opennebula*")
	for _, u := range []string{"opennebula-flow", "opennebula-gate", "opennebula-hem", "opennebula-fireedge"} {
		assert.Contains(t, out, u+".service loaded active running")
	}
	assert.NotContains(t, out, "opennebula.service")
	ok(t, c, "fe1", "systemctl", "stop", "--", "opennebula-flow", "opennebula-gate", "opennebula-hem", "opennebula-fireedge", "opennebula-guacd", "opennebula-ssh-agent")
	out = ok(t, c, "fe1", "systemctl", "list-units", "--type=service", "--state=active", "--no-legend", "--plain", "--full", "--", "opennebula*")
	assert.Empty(t, out)
	res := do(t, c, "fe1", "systemctl", "is-active", "--", "opennebula", "opennebula-flow")
	assert.Equal(t, 3, res.ExitCode)
	assert.Equal(t, "inactive\ninactive\n", string(res.Stdout))
	res = do(t, c, "fe1", "systemctl", "start", "opennebula-nope")
	assert.Equal(t, 5, res.ExitCode)
	assert.Equal(t, "Failed to start opennebula-nope.service: Unit opennebula-nope.service not found.\n", string(res.Stderr))
	// Starting opennebula starts what it Wants=, not flow/gate.
	ok(t, c, "fe1", "systemctl", "start", "opennebula")
	assert.Equal(t, "active\ninactive\n", string(do(t, c, "fe1", "systemctl", "is-active", "opennebula-hem", "opennebula-flow").Stdout))
	// As a plain user systemctl stop is refused.
	res = doCmd(t, c, "fe1", transport.Cmd("systemctl", "stop", "opennebula").AsUser("oneadmin"))
	assert.Equal(t, 1, res.ExitCode)
}

func TestVMsSettle(t *testing.T) {
	t.Parallel()
	c, err := HA(3, "7.2.0")
	require.NoError(t, err)
	require.NoError(t, c.AddVM(0, VM{Name: "migrating", State: 3, LCMState: 4, HostName: "kvm1", SettleIn: 2 * time.Minute, SettleState: 3, SettleLCM: 3}))
	out := ok(t, c, "fe2", "onevm", "list", "-x")
	assert.Contains(t, out, "<NAME>migrating</NAME>\n    <LAST_POLL>1763720512</LAST_POLL>\n    <STATE>3</STATE>\n    <LCM_STATE>4</LCM_STATE>")
	require.NoError(t, c.Clock().Sleep(context.Background(), 2*time.Minute))
	out = ok(t, c, "fe2", "onevm", "list", "-x")
	assert.NotContains(t, out, "<LCM_STATE>4</LCM_STATE>")
}

func TestHostSyncSkipsOfflineFailsUnreachable(t *testing.T) {
	t.Parallel()
	c, err := HA(3, "7.2.0")
	require.NoError(t, err)
	ok(t, c, "fe1", "onehost", "offline", "kvm3")
	require.NoError(t, c.SetUnreachable("kvm2", true))
	res := doCmd(t, c, "fe1", cmdAs("oneadmin", "onehost", "sync", "--force"))
	assert.Equal(t, 255, res.ExitCode)
	assert.Contains(t, string(res.Stdout), "* Adding kvm1 to upgrade\n* Adding kvm2 to upgrade\n[")
	assert.NotContains(t, string(res.Stdout), "kvm3")
	assert.Equal(t, "Failed to update the following hosts:\n* kvm2\n", string(res.Stderr))
	_, err = c.MustHost("kvm2").Run(context.Background(), transport.Cmd("true"))
	var cl *transport.ConnectionLostError
	require.ErrorAs(t, err, &cl)
	assert.False(t, cl.Started)
	// kvm1 got the new remotes version file.
	b, err := c.ReadFile("kvm1", "/var/tmp/one/VERSION")
	require.NoError(t, err)
	assert.Equal(t, "7.2.0\n", string(b))
}

func TestFaults(t *testing.T) {
	t.Parallel()
	c, err := HA(3, "7.2.0")
	require.NoError(t, err)
	require.NoError(t, c.Inject(Fault{Node: "fe1", Argv: []string{"onedb", "backup"}, Nth: 2, Exit: 255, Stderr: "boom\n"}))
	ok(t, c, "fe1", "onedb", "backup", "-f", "/var/tmp/a.sql")
	res := do(t, c, "fe1", "onedb", "backup", "-f", "/var/tmp/a.sql")
	assert.Equal(t, 255, res.ExitCode)
	assert.Equal(t, "boom\n", string(res.Stderr))
	ok(t, c, "fe1", "onedb", "backup", "-f", "/var/tmp/a.sql")

	require.NoError(t, c.Inject(Fault{Argv: []string{"onecfg", "upgrade"}, Delay: 10 * time.Minute}))
	before := c.Now()
	ok(t, c, "fe2", "/usr/bin/onecfg", "upgrade")
	assert.GreaterOrEqual(t, c.Now().Sub(before), 10*time.Minute)

	require.NoError(t, c.SetStuck("fe3", true))
	ok(t, c, "fe1", "onehost", "disable", "0")
	out := ok(t, c, "fe1", "onezone", "show", "0", "-x")
	idx := regexpAll(out, `<LOG_INDEX>(\d+)</LOG_INDEX>`)
	assert.Equal(t, []string{"184234", "184234", "184233"}, idx)

	require.NoError(t, c.FailPackageUpgrade("fe2"))
	res = do(t, c, "fe2", "apt-get", "install", "--only-upgrade", "-y", "opennebula")
	assert.Equal(t, 100, res.ExitCode)

	require.NoError(t, c.SetUnreachable("fe3", true))
	_, err = c.MustFrontend("fe3").Run(context.Background(), transport.Cmd("true"))
	assert.True(t, errors.Is(err, transport.ErrConnectionLost))
	require.NoError(t, c.Inject(Fault{Argv: []string{"onedb", "fsck"}, Delay: 2 * time.Hour}))
	cmd := transport.Cmd("onedb", "fsck", "--dry")
	cmd.Timeout = time.Hour
	_, err = c.MustFrontend("fe1").Run(context.Background(), cmd)
	assert.ErrorIs(t, err, transport.ErrTimeout)

	require.NoError(t, c.SetDiskFree("fe1", 1024))
	assert.Equal(t, "Filesystem     1024-blocks     Used Available Capacity Mounted on\n/dev/sda1        102687672 102686648      1024     100% /\n",
		ok(t, c, "fe1", "df", "-Pk", "--", "/var/lib/one"))
	res = doCmd(t, c, "fe1", transport.Command{Path: "pwd", Dir: "/var/lib/one"})
	assert.Equal(t, "/var/lib/one\n", string(res.Stdout))
	res = doCmd(t, c, "fe1", transport.Command{Path: "pwd", Dir: "/nope"})
	assert.Equal(t, 2, res.ExitCode)
	assert.Equal(t, "sh: 1: cd: can't cd to /nope\n", string(res.Stderr))
	res = do(t, c, "fe1", "bogus-tool", "-x")
	assert.Equal(t, 127, res.ExitCode)
	assert.Equal(t, "sh: 1: bogus-tool: not found\n", string(res.Stderr))
	res = do(t, c, "fe1", "onezone", "show", "0", "--bogus")
	assert.Equal(t, 255, res.ExitCode)
	assert.Equal(t, "invalid option: --bogus\n", string(res.Stderr))
}

func TestBackoffOnVirtualClock(t *testing.T) {
	t.Parallel()
	c, err := HA(3, "7.2.0")
	require.NoError(t, err)
	stopAll(t, c)
	for _, n := range []string{"fe1", "fe2", "fe3"} {
		ok(t, c, n, "systemctl", "start", "opennebula")
	}
	b := backoff.NewExponentialBackOff()
	b.Clock = c.Clock()
	b.MaxElapsedTime = 2 * time.Minute
	realStart := time.Now()
	attempts := 0
	err = backoff.RetryNotifyWithTimer(func() error {
		attempts++
		if leaderSID(t, c, "fe1") < 0 {
			return errors.New("no leader yet")
		}
		return nil
	}, b, nil, c.Clock().NewTimer())
	require.NoError(t, err)
	assert.Greater(t, attempts, 3)
	assert.Less(t, time.Since(realStart), 5*time.Second, "no real waiting")
}

func TestServerAddDel(t *testing.T) {
	t.Parallel()
	c, err := HA(3, "7.2.0")
	require.NoError(t, err)
	res := do(t, c, "fe1", "onezone", "server-add", "0", "--name", "fe4")
	assert.Equal(t, "To add a server set:\n\t-n <server name>\n\t-r <XML-RPC endpoint>\n\t-g <gRPC endpoint>\n", string(res.Stderr))
	res = do(t, c, "fe1", "onezone", "server-add", "0", "-n", "fe4", "-r", "10.0.0.14:2633/RPC2")
	assert.Equal(t, "Wrong protocol specified. Only http or https allowed!\n", string(res.Stdout))
	assert.Equal(t, "http://10.0.0.14:2633/RPC2:\nZONE 0: server added\n",
		ok(t, c, "fe2", "onezone", "server-add", "0", "--name", "fe4", "--rpc", "http://10.0.0.14:2633/RPC2", "-v"))
	v := raftView(t, c, "fe1")
	assert.Equal(t, "-", v[3])
	ok(t, c, "fe1", "systemctl", "stop", "opennebula")
	ok(t, c, "fe2", "systemctl", "stop", "opennebula")
	require.NoError(t, c.Clock().Sleep(context.Background(), time.Minute))
	assert.Equal(t, -1, leaderSID(t, c, "fe3"), "2 of 4 is no majority")
	ok(t, c, "fe2", "systemctl", "start", "opennebula")
	require.NoError(t, c.Clock().Sleep(context.Background(), 30*time.Second))
	assert.Equal(t, -1, leaderSID(t, c, "fe3"), "3 of 4 needed")
	ok(t, c, "fe1", "systemctl", "start", "opennebula")
	require.NoError(t, c.Clock().Sleep(context.Background(), 10*time.Second))
	require.GreaterOrEqual(t, leaderSID(t, c, "fe3"), 0)
	res = do(t, c, "fe3", "onezone", "server-del", "0", "fe9")
	assert.Equal(t, "fe9 not found or duplicated\n", string(res.Stderr))
	assert.Equal(t, "ZONE 0: server deleted\n", ok(t, c, "fe3", "onezone", "server-del", "0", "fe4", "-v"))
	assert.Len(t, raftView(t, c, "fe3"), 3)
}

func TestShellScripts(t *testing.T) {
	t.Parallel()
	c, err := HA(3, "7.2.0")
	require.NoError(t, err)
	fe := c.MustFrontend("fe1")
	ctx := context.Background()
	var path string
	err = transport.WithSecretFile(ctx, fe, transport.NewSecret("s3cret"), false, func(p string) error {
		path = p
		b, err := c.ReadFile("fe1", p)
		if err != nil {
			return err
		}
		if string(b) != "s3cret" {
			return errors.New("content " + string(b))
		}
		return nil
	})
	require.NoError(t, err)
	assert.False(t, c.Exists("fe1", path), "removed afterwards")
	// transport's streaming upload script, run through the shell.
	_, err = transport.StreamUpload(ctx, fe, "/var/tmp/x.txt", strings.NewReader("hello\n"), transport.FileOptions{Mode: 0o600, Owner: "oneadmin"})
	require.NoError(t, err)
	out := ok(t, c, "fe1", "stat", "-L", "-c", "%a %u %g", "--", "/var/tmp/x.txt")
	assert.Equal(t, "600 9869 0\n", out, "chown OWNER keeps the group")
	var sb strings.Builder
	_, err = transport.Download(ctx, fe, "/var/tmp/x.txt", &sb, transport.FileOptions{})
	require.NoError(t, err)
	assert.Equal(t, "hello\n", sb.String())
	// cp -a backup and a restore-style script.
	ok(t, c, "fe1", "cp", "-a", "-T", "--", "/etc/one", "/etc/one.2025-11-21")
	script := `set -e
[ -d "$1" ] || { echo "no such directory: $1" >&2; exit 3; }
tmp=$(mktemp -d -- "$2.upgradekit-restore.XXXXXXXX")
trap 'rm -rf -- "$tmp"' EXIT
cp -a -T -- "$1" "$tmp"
old=
if [ -e "$2" ] || [ -L "$2" ]; then old=$tmp.old; mv -T -- "$2" "$old"; fi
mv -T -- "$tmp" "$2"
trap - EXIT
if [ -n "$old" ]; then rm -rf -- "$old"; fi`
	ok(t, c, "fe1", "rm", "-f", "/etc/one/oned.conf")
	res := doCmd(t, c, "fe1", transport.Shell(script, "/etc/one.2025-11-21", "/etc/one"))
	require.Equal(t, 0, res.ExitCode, string(res.Stderr))
	assert.True(t, c.Exists("fe1", "/etc/one/oned.conf"))
	res = doCmd(t, c, "fe1", transport.Shell(script, "/nope", "/etc/one"))
	assert.Equal(t, 3, res.ExitCode)
	// tar round trip and find manifests.
	ok(t, c, "fe1", "tar", "-C", "/var/lib/one/.one", "-cpf", "/var/tmp/one.tar", "--numeric-owner", ".")
	ok(t, c, "fe1", "mkdir", "-p", "/var/tmp/x")
	ok(t, c, "fe1", "tar", "-C", "/var/tmp/x", "-xpf", "/var/tmp/one.tar", "--numeric-owner")
	a := ok(t, c, "fe1", "find", "/var/lib/one/.one", "-mindepth", "1", "-printf", `%y %m %U %G\0%P\0%l\0`)
	b := ok(t, c, "fe1", "find", "/var/tmp/x", "-mindepth", "1", "-printf", `%y %m %U %G\0%P\0%l\0`)
	assert.Equal(t, a, b)
	assert.Contains(t, a, "f 600 9869 9869\x00one_auth\x00\x00")
	sums := ok(t, c, "fe1", "find", "/var/tmp/x", "-type", "f", "-exec", "sha256sum", "-z", "--", "{}", "+")
	assert.Contains(t, sums, "  /var/tmp/x/one_auth\x00")
	// A pipeline with a command substitution.
	res = doCmd(t, c, "fe1", transport.Shell(`n=$(cat /etc/one/oned.conf | grep -c SERVER_ID || true); echo "$n" | tee /var/tmp/n`))
	assert.Equal(t, 0, res.ExitCode, string(res.Stderr))
	res = doCmd(t, c, "fe1", transport.Shell(`frobnicate --now`))
	assert.Equal(t, 127, res.ExitCode)
	assert.Equal(t, "sh: 1: frobnicate: not found\n", string(res.Stderr))
	probe := `for m in apt-get dnf yum zypper; do if command -v "$m" >/dev/null 2>&1; then echo "$m"; exit 0; fi; done; exit 1`
	assert.Equal(t, "apt-get\n", string(doCmd(t, c, "fe1", transport.Shell(probe)).Stdout))
}

// systemctl's --type takes a comma-separated list (and repeats combine).
func TestSystemctlListUnitsTypeList(t *testing.T) {
	t.Parallel()
	c, err := HA(3, "7.2.0")
	require.NoError(t, err)
	lines := func(args ...string) []string {
		out := ok(t, c, "fe1", append([]string{"systemctl", "list-units"}, append(args, "--state=active", "--no-legend", "--plain", "--full", "--", "opennebula*")...)...)
		var units []string
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if f := strings.Fields(l); len(f) > 0 {
				units = append(units, f[0])
			}
		}
		return units
	}
	both := lines("--type=service,timer")
	assert.Contains(t, both, "opennebula.service")
	assert.Contains(t, both, "opennebula-showback.timer")
	assert.Contains(t, both, "opennebula-ssh-socks-cleaner.timer")
	services := lines("--type=service")
	timers := lines("--type", "timer")
	assert.NotEmpty(t, services)
	assert.Equal(t, []string{"opennebula-showback.timer", "opennebula-ssh-socks-cleaner.timer"}, timers)
	assert.ElementsMatch(t, append(append([]string{}, services...), timers...), both)
	assert.ElementsMatch(t, both, lines("-t", "service", "--type=timer"), "repeated options combine")
	assert.Empty(t, lines("--type=socket"))
}

// transport.Download uses the simulator's native Downloader; the streaming
// fallback's script needs fds 3 and 4, which mvdan.cc/sh cannot redirect
// (documented in doc.go): this pins that limitation.
func TestDownloadOnSimulator(t *testing.T) {
	t.Parallel()
	c, err := HA(1, "7.4.0")
	require.NoError(t, err)
	require.NoError(t, c.WriteFile("fe1", "/tmp/x", []byte("hello\n"), 0o644))
	fe := c.MustFrontend("fe1")
	var buf strings.Builder
	tr, err := transport.Download(context.Background(), fe, "/tmp/x", &buf, transport.FileOptions{})
	require.NoError(t, err)
	assert.Equal(t, "hello\n", buf.String())
	assert.Equal(t, int64(6), tr.Bytes)
	buf.Reset()
	_, err = transport.StreamDownload(context.Background(), fe, "/tmp/x", &buf, transport.FileOptions{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "unsupported redirect fd")
	assert.Empty(t, buf.String())
}

// A mount point refuses rename(2) and rmdir(2) with EBUSY, as on Linux
// (mv and rm print "Device or resource busy"); rm -r empties it.
func TestMountPointRefusesRenameAndRmdir(t *testing.T) {
	t.Parallel()
	c, err := HA(1, "7.2.0")
	require.NoError(t, err)
	require.ErrorIs(t, c.SetMountPoint("fe1", "/etc/one/oned.conf", true), ErrBadSpec, "only a directory can be a mount point")
	require.NoError(t, c.SetMountPoint("fe1", "/etc/one", true))
	ok(t, c, "fe1", "mkdir", "/var/tmp/new")

	res := do(t, c, "fe1", "mv", "-T", "--", "/etc/one", "/etc/one.old")
	assert.Equal(t, 1, res.ExitCode)
	assert.Equal(t, "mv: cannot move '/etc/one' to '/etc/one.old': Device or resource busy\n", string(res.Stderr))
	res = do(t, c, "fe1", "mv", "-T", "--", "/var/tmp/new", "/etc/one")
	assert.Equal(t, 1, res.ExitCode)
	assert.Equal(t, "mv: cannot move '/var/tmp/new' to '/etc/one': Device or resource busy\n", string(res.Stderr))
	assert.True(t, c.Exists("fe1", "/etc/one/oned.conf"), "a refused mv changes nothing")
	// Entries inside the mount point move freely.
	ok(t, c, "fe1", "mv", "--", "/etc/one/oned.conf", "/var/tmp/new/")
	assert.True(t, c.Exists("fe1", "/var/tmp/new/oned.conf"))

	res = do(t, c, "fe1", "rm", "-rf", "--", "/etc/one")
	assert.Equal(t, 1, res.ExitCode)
	assert.Equal(t, "rm: cannot remove '/etc/one': Device or resource busy\n", string(res.Stderr))
	assert.True(t, c.Exists("fe1", "/etc/one"), "the mount point stays")
	assert.Equal(t, "", ok(t, c, "fe1", "find", "/etc/one", "-mindepth", "1", "-printf", `%P\n`), "emptied")
	res = do(t, c, "fe1", "rm", "-rf", "--", "/etc")
	assert.Equal(t, "rm: cannot remove '/etc/one': Device or resource busy\nrm: cannot remove '/etc': Directory not empty\n", string(res.Stderr))
	assert.False(t, c.Exists("fe1", "/etc/onecfg.conf"))

	require.NoError(t, c.SetMountPoint("fe1", "/etc/one", false))
	ok(t, c, "fe1", "mv", "-T", "--", "/etc/one", "/etc/one.old")
}
