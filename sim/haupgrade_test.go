package sim

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/transport"
)

// copyFile copies path from one node to another through the controller.
func copyFile(t *testing.T, c *Cloud, from, to, src, dst string) {
	t.Helper()
	ctx := context.Background()
	var buf bytes.Buffer
	_, err := transport.Download(ctx, c.MustFrontend(from), src, &buf, transport.FileOptions{Sudo: true})
	require.NoError(t, err)
	_, err = transport.Upload(ctx, c.MustFrontend(to), dst, &buf, transport.FileOptions{Mode: 0o600, Sudo: true})
	require.NoError(t, err)
}

// syncDir replaces dir on node to with the leader's copy (tar through the
// controller), like `rsync -r` in the guide.
func syncDir(t *testing.T, c *Cloud, from, to, dir string) {
	t.Helper()
	var archive bytes.Buffer
	cmd := transport.Cmd("tar", "-C", dir, "-cpf", "-", "--numeric-owner", ".")
	cmd.Stdout = &archive
	res, err := c.MustFrontend(from).Run(context.Background(), cmd)
	require.NoError(t, err)
	require.Equal(t, 0, res.ExitCode, string(res.Stderr))
	_, err = transport.Upload(context.Background(), c.MustFrontend(to), "/var/tmp/sync.tar", &archive, transport.FileOptions{Sudo: true})
	require.NoError(t, err)
	ok(t, c, to, "tar", "-C", dir, "-xpf", "/var/tmp/sync.tar", "--numeric-owner")
	ok(t, c, to, "rm", "-f", "/var/tmp/sync.tar")
}

// TestScriptedHAUpgrade runs the HA upgrade guide's procedure, with
// its corrections, as raw commands against a 3-node 7.2.0 cluster and checks it
// ends at 7.4.1 with every follower in sync.
func TestScriptedHAUpgrade(t *testing.T) {
	t.Parallel()
	c, err := HA(3, "7.2.0")
	require.NoError(t, err)
	ctx := context.Background()
	nodes := []string{"fe1", "fe2", "fe3"}
	followersFirst := []string{"fe2", "fe3", "fe1"}
	local := map[string]string{"ONE_XMLRPC": "http://localhost:2633/RPC2"}
	services := []string{"opennebula", "opennebula-flow", "opennebula-gate", "opennebula-hem", "opennebula-fireedge", "opennebula-guacd", "opennebula-form", "opennebula-ssh-agent"}
	start := c.Now()

	// 1. No VM in a transient state.
	vms := ok(t, c, "fe1", "onevm", "list", "-x")
	assert.NotContains(t, vms, "<LCM_STATE>4</LCM_STATE>")
	// 2. Disable the enabled hosts, remembering their states.
	hosts := ok(t, c, "fe1", "onehost", "list", "-x")
	assert.Equal(t, []string{"2", "2", "4"}, regexpAll(hosts, `<STATE>(\d+)</STATE>`)[:3])
	for _, h := range []string{"0", "1"} {
		ok(t, c, "fe1", "onehost", "disable", h)
	}
	// 3. Stop every service, followers first, leader last, and verify.
	for _, n := range followersFirst {
		ok(t, c, n, append([]string{"systemctl", "stop", "--"}, services...)...)
		out := ok(t, c, n, "systemctl", "list-units", "--type=service", "--state=active", "--no-legend", "--plain", "--full", "--", "opennebula*")
		assert.Empty(t, out, n)
	}
	// 4. Back up the configuration on every node.
	for _, n := range nodes {
		ok(t, c, n, "cp", "-a", "-T", "--", "/etc/one", "/etc/one.2025-11-21")
		ok(t, c, n, "cp", "-a", "-T", "--", "/var/lib/one/remotes/etc", "/var/lib/one/remotes/etc.2025-11-21")
	}
	// 5. Every node: repository, packages, onecfg, onedb upgrade, fsck.
	for _, n := range nodes {
		_, err := transport.Upload(ctx, c.MustFrontend(n), "/etc/apt/sources.list.d/opennebula.list",
			strings.NewReader("deb [signed-by=/etc/apt/keyrings/opennebula.gpg] https://downloads.opennebula.io/repo/7.4/Ubuntu/24.04 stable opennebula\n"),
			transport.FileOptions{Mode: 0o644, Owner: "root", Group: "root", Sudo: true})
		require.NoError(t, err)
		ok(t, c, n, "apt-get", "update")
		upgradePkgs(t, c, n)
		assert.Equal(t, 1, do(t, c, n, "onecfg", "status").ExitCode)
		assert.Contains(t, ok(t, c, n, "onecfg", "upgrade"), "Configuration updated to 7.4.1")
		assert.Equal(t, 0, do(t, c, n, "onecfg", "status").ExitCode)
		res := doCmd(t, c, n, transport.Command{Path: "onedb", Args: []string{"upgrade", "-v"}, Env: local})
		require.Equal(t, 0, res.ExitCode, "%s: %s", n, res.Stderr)
		res = doCmd(t, c, n, transport.Command{Path: "onedb", Args: []string{"fsck"}, Env: local})
		require.Equal(t, 0, res.ExitCode, "%s: %s", n, res.Stderr)
	}
	// 6. Leader backup, restored on each follower; config synced with the
	// follower's own SERVER_ID kept; ownership fixed.
	ok(t, c, "fe1", "onedb", "backup", "-f", "/var/tmp/leader.sql")
	for i, f := range []string{"fe2", "fe3"} {
		copyFile(t, c, "fe1", f, "/var/tmp/leader.sql", "/var/tmp/leader.sql")
		res := doCmd(t, c, f, transport.Command{Path: "onedb", Args: []string{"restore", "-f", "--", "/var/tmp/leader.sql"}, Env: local})
		require.Equal(t, 0, res.ExitCode, string(res.Stderr))
		for _, d := range []string{"/etc/one", "/var/lib/one/remotes/etc", "/var/lib/one/.one"} {
			syncDir(t, c, "fe1", f, d)
		}
		ok(t, c, f, "sed", "-i", fmt.Sprintf("s/SERVER_ID        = 0,/SERVER_ID        = %d,/", i+1), "/etc/one/oned.conf")
		ok(t, c, f, "chown", "-R", "oneadmin:oneadmin", "/var/lib/one/remotes/etc", "/var/lib/one/.one")
		conf, err := c.ReadFile(f, "/etc/one/oned.conf")
		require.NoError(t, err)
		assert.Contains(t, string(conf), fmt.Sprintf("SERVER_ID        = %d,", i+1))
	}
	// 7. daemon-reload and start everything (all three nodes).
	for _, n := range nodes {
		ok(t, c, n, "systemctl", "daemon-reload")
		ok(t, c, n, "systemctl", "start", "--", "opennebula", "opennebula-flow", "opennebula-gate", "opennebula-fireedge", "opennebula-form", "opennebula-ks")
	}
	// 8. Wait for one leader and every follower in sync.
	deadline := c.Now().Add(2 * time.Minute)
	for {
		out := ok(t, c, "fe2", "onezone", "show", "0", "-x", "--endpoint", "http://localhost:2633/RPC2")
		states := regexpAll(out, `<STATE>(\d|-)</STATE>`)[1:]
		idx := regexpAll(out, `<LOG_INDEX>(\d+|-)</LOG_INDEX>`)
		if strings.Count(strings.Join(states, ","), "3") == 1 && idx[0] == idx[1] && idx[1] == idx[2] {
			break
		}
		require.True(t, c.Now().Before(deadline), "not in sync: %v %v", states, idx)
		require.NoError(t, c.Clock().Sleep(ctx, 2*time.Second))
	}
	l, err := c.TableChecksums("fe1")
	require.NoError(t, err)
	for _, f := range []string{"fe2", "fe3"} {
		s, err := c.TableChecksums(f)
		require.NoError(t, err)
		assert.Equal(t, replicated(l), replicated(s), f)
		assert.NotEqual(t, l["host_monitoring"], s["host_monitoring"], "only the leader monitors")
	}
	// 9. Hypervisors: node packages, libvirt restart, sync as oneadmin,
	// hosts back to their prior states.
	for _, h := range []string{"kvm1", "kvm2", "kvm3"} {
		ok(t, c, h, "sed", "-i", "s#/repo/7.2/#/repo/7.4/#", "/etc/apt/sources.list.d/opennebula.list")
		ok(t, c, h, "apt-get", "update")
		ok(t, c, h, "apt-get", "install", "--only-upgrade", "-y", "opennebula-node-kvm")
		ok(t, c, h, "systemctl", "restart", "libvirtd")
	}
	sync := doCmd(t, c, "fe1", cmdAs("oneadmin", "onehost", "sync"))
	require.Equal(t, 0, sync.ExitCode, string(sync.Stderr))
	assert.Contains(t, string(sync.Stdout), "All hosts updated successfully.")
	for _, h := range []string{"0", "1"} {
		ok(t, c, "fe1", "onehost", "enable", h)
	}
	hosts = ok(t, c, "fe3", "onehost", "list", "-x")
	assert.Equal(t, []string{"2", "2", "4"}, regexpAll(hosts, `<STATE>(\d+)</STATE>`)[:3])
	assert.Equal(t, []string{"7.4.1", "7.4.1", "7.4.1"}, regexpAll(hosts, `<VERSION><!\[CDATA\[(.*)\]\]></VERSION>`))

	for _, n := range nodes {
		st, err := c.Status(n)
		require.NoError(t, err)
		assert.Equal(t, "7.4.1", st.Version, n)
		assert.Equal(t, "7.4.1", st.ConfigVersion, n)
		assert.Equal(t, "7.4.0", st.DBShared, n)
		assert.Equal(t, "7.4.0", st.DBLocal, n)
		assert.Equal(t, "active", st.Units["opennebula"], n)
		assert.Equal(t, "active", st.Units["opennebula-ks"], n)
	}
	for _, h := range []string{"kvm1", "kvm2", "kvm3"} {
		st, err := c.Status(h)
		require.NoError(t, err)
		assert.Equal(t, "7.4.1", st.Version, h)
	}
	total := c.Now().Sub(start)
	down := c.APIDowntime(0)
	assert.Greater(t, down, 20*time.Second)
	assert.Less(t, down, total)
	t.Logf("virtual duration %s, API downtime %s, write downtime %s", total, down, c.WriteDowntime(0))
}
