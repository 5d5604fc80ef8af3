package sim

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/transport"
)

var localEP = map[string]string{"ONE_XMLRPC": "http://localhost:2633/RPC2"}

// waitInSync polls node until the zone has one leader and every listed
// server is at the leader's LOG_INDEX.
func waitInSync(t *testing.T, c *Cloud, node string, servers int) {
	t.Helper()
	deadline := c.Now().Add(3 * time.Minute)
	for {
		res := do(t, c, node, "onezone", "show", "0", "-x", "--endpoint", "http://localhost:2633/RPC2")
		if res.ExitCode == 0 {
			out := string(res.Stdout)
			states := regexpAll(out, `<STATE>(\d|-)</STATE>`)[1:]
			idx := regexpAll(out, `<LOG_INDEX>(\d+|-)</LOG_INDEX>`)
			same := len(idx) == servers
			for _, i := range idx {
				same = same && i == idx[0]
			}
			if strings.Count(strings.Join(states, ","), "3") == 1 && same {
				return
			}
		}
		require.True(t, c.Now().Before(deadline), "zone not in sync: %s", res.Stdout)
		require.NoError(t, c.Clock().Sleep(context.Background(), 2*time.Second))
	}
}

func stopServices(t *testing.T, c *Cloud, n string) {
	t.Helper()
	ok(t, c, n, "systemctl", "stop", "--", "opennebula", "opennebula-flow", "opennebula-gate", "opennebula-hem",
		"opennebula-fireedge", "opennebula-guacd", "opennebula-ssh-agent")
}

func startServices(t *testing.T, c *Cloud, n string) {
	t.Helper()
	ok(t, c, n, "systemctl", "daemon-reload")
	ok(t, c, n, "systemctl", "start", "--", "opennebula", "opennebula-flow", "opennebula-gate", "opennebula-fireedge")
}

// TestRollingPatchUpgrade: 7.4.0 → 7.4.1 (same DB version) one node at a
// time, followers first, the leader last: the zone keeps a majority and
// the API is down for about one election.
func TestRollingPatchUpgrade(t *testing.T) {
	t.Parallel()
	c, err := HA(3, "7.4.0")
	require.NoError(t, err)
	for _, n := range []string{"fe2", "fe3", "fe1"} {
		stopServices(t, c, n)
		upgradePkgs(t, c, n)
		ok(t, c, n, "onecfg", "upgrade")
		startServices(t, c, n)
		waitInSync(t, c, "fe2", 3)
	}
	for _, n := range []string{"fe1", "fe2", "fe3"} {
		st, err := c.Status(n)
		require.NoError(t, err)
		assert.Equal(t, "7.4.1", st.Version)
		assert.Equal(t, "7.4.0", st.DBLocal)
		assert.Equal(t, "active", st.Units["opennebula"])
	}
	api, write := c.APIDowntime(0), c.WriteDowntime(0)
	t.Logf("rolling: API downtime %s, write downtime %s", api, write)
	assert.Len(t, c.APIWindows(0), 1, "one election")
	assert.Greater(t, api, 4*time.Second)
	assert.Less(t, api, 10*time.Second)
}

// TestBreakAndRejoin: followers removed, the remaining node upgraded as a
// one-server zone, the others re-seeded from its backup and re-added.
func TestBreakAndRejoin(t *testing.T) {
	t.Parallel()
	c, err := HA(3, "7.2.0")
	require.NoError(t, err)
	// Stop a follower, then delete it: a deleted follower that still
	// runs campaigns and deposes the leader. The last one is deleted
	// first (a 2-server zone with one server down cannot commit the
	// removal) and its oned stopped right away, before its election
	// timeout: alone, since stopping it with the units ordered after it
	// waits for those first (systemd reverses After= on stop).
	stopServices(t, c, "fe2")
	ok(t, c, "fe1", "onezone", "server-del", "0", "1")
	ok(t, c, "fe1", "onezone", "server-del", "0", "2")
	ok(t, c, "fe3", "systemctl", "stop", "opennebula")
	stopServices(t, c, "fe3")
	assert.Equal(t, 0, leaderSID(t, c, "fe1"), "fe1 leads a one-server zone")
	assert.Empty(t, c.WriteWindows(0), "writes never stopped so far")

	stopServices(t, c, "fe1")
	switchRepo(t, c, "fe1", "7.4")
	upgradePkgs(t, c, "fe1")
	ok(t, c, "fe1", "onecfg", "upgrade")
	ok(t, c, "fe1", "onedb", "upgrade", "-v")
	startServices(t, c, "fe1")
	waitInSync(t, c, "fe1", 1)
	writeDown := c.WriteDowntime(0)

	ok(t, c, "fe1", "onedb", "backup", "-f", "--", "/var/tmp/leader.sql")
	for _, f := range []string{"fe2", "fe3"} {
		switchRepo(t, c, f, "7.4")
		upgradePkgs(t, c, f)
		ok(t, c, f, "onecfg", "upgrade")
		copyFile(t, c, "fe1", f, "/var/tmp/leader.sql", "/var/tmp/leader.sql")
		res := doCmd(t, c, f, transport.Command{Path: "onedb", Args: []string{"restore", "-f", "--", "/var/tmp/leader.sql"}, Env: localEP})
		require.Equal(t, 0, res.ExitCode, string(res.Stderr))
		syncDir(t, c, "fe1", f, "/var/lib/one/.one")
		ok(t, c, "fe1", "onezone", "server-add", "0", "--name", f, "--rpc", "http://10.0.0."+map[string]string{"fe2": "12", "fe3": "13"}[f]+":2633/RPC2")
		out := ok(t, c, "fe1", "onezone", "show", "0", "-x", "--endpoint", "http://localhost:2633/RPC2")
		ids := regexpAll(out, `<ID><!\[CDATA\[(\d+)\]\]></ID>`)
		id := ids[len(ids)-1]
		ok(t, c, f, "sed", "-i", "s/SERVER_ID        = [0-9]*,/SERVER_ID        = "+id+",/", "/etc/one/oned.conf")
		startServices(t, c, f)
		ok(t, c, "fe1", "onezone", "server-reset", "0", id)
		// The follower misses server-add's own record until the next
		// replicated write: make a harmless one.
		ok(t, c, "fe1", "onezone", "enable", "0")
		waitInSync(t, c, "fe1", len(ids))
	}
	l, err := c.TableChecksums("fe1")
	require.NoError(t, err)
	for _, f := range []string{"fe2", "fe3"} {
		s, err := c.TableChecksums(f)
		require.NoError(t, err)
		assert.Equal(t, replicated(l), replicated(s))
	}
	out := ok(t, c, "fe3", "onezone", "show", "0", "-x")
	assert.Equal(t, []string{"0", "1", "2"}, regexpAll(out, `<ID><!\[CDATA\[(\d+)\]\]></ID>`))
	t.Logf("break-and-rejoin: API downtime %s, write downtime %s (leader upgrade %s)", c.APIDowntime(0), c.WriteDowntime(0), writeDown)
	assert.Less(t, c.WriteDowntime(0)-writeDown, 30*time.Second, "re-adding costs only the majority bumps")
}
