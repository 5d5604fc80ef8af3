package onebed

import (
	"context"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/upgradekit/upgradekit/internal/testbed"
	"github.com/upgradekit/upgradekit/transport"
	sshtransport "github.com/upgradekit/upgradekit/transport/ssh"
	"go.uber.org/zap/zaptest"
)

// EnvCapture, when set, names a directory where the real suite writes
// what OpenNebula's own tools printed (fixtures for the simulator).
const EnvCapture = "UPGRADEKIT_ONE_CAPTURE"

func capture(t *testing.T, name, out string) {
	t.Helper()
	t.Logf("%s:\n%s", name, out)
	if dir := os.Getenv(EnvCapture); dir != "" {
		require.NoError(t, os.MkdirAll(dir, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(out), 0o644))
	}
}

// TestRealSolo boots one real oned of every install on its own MariaDB and
// checks what an operator checks first: versions, the zone, a dummy host
// monitored and a VM running on it. An install's label is its version.
func TestRealSolo(t *testing.T) {
	for _, in := range RequireAll(t) {
		t.Run(in.Label, func(t *testing.T) { testSolo(t, in) })
	}
}

func testSolo(t *testing.T, in *Install) {
	v := in.Label
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	z, err := StartZone(ctx, ZoneConfig{Install: in, Servers: 1, Dir: t.TempDir(), Log: zaptest.NewLogger(t)})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, z.Close()) })
	s := z.Servers[0]

	out, err := s.MustCLI(ctx, "oned", "--version")
	require.NoError(t, err)
	capture(t, "oned-version-"+v+".txt", out)
	assert.True(t, strings.HasPrefix(out, "OpenNebula "+v+" "), out)

	out, err = s.MustCLI(ctx, "onedb", append([]string{"version", "-v"}, s.OnedbArgs()...)...)
	require.NoError(t, err)
	capture(t, "onedb-version-v-bootstrap-"+v+".txt", out)
	// A patch release keeps its minor release's database version (7.4.1
	// bootstraps 7.4.0 tables, as seen here): x.y.z has tables x.y.0.
	db := v[:strings.LastIndex(v, ".")] + ".0"
	assert.Contains(t, out, "Shared tables version:   "+db+"\n")
	assert.Contains(t, out, "Local tables version:    "+db+"\n")
	assert.Contains(t, out, "Comment:   OpenNebula "+v+" ")

	st, err := s.RaftStatus(ctx)
	require.NoError(t, err)
	assert.Equal(t, StateSolo, st.State)

	checkHostAndVM(ctx, t, s, "solo-"+v)
}

// TestRealZone forms a zone of three real front-ends and checks it as the
// HA guide does: one leader, two followers in sync; a write sent to a
// follower is forwarded to the leader and replicated; after the leader is
// killed the others elect a new one, and the old leader rejoins.
func TestRealZone(t *testing.T) {
	in := Require(t, "7.4.0")
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Minute)
	defer cancel()
	t0 := time.Now()
	z, err := StartZone(ctx, ZoneConfig{Install: in, Dir: t.TempDir(), Log: zaptest.NewLogger(t)})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, z.Close()) })
	t.Logf("zone of 3 formed in %v", time.Since(t0).Round(time.Second))

	leader, err := z.Leader(ctx)
	require.NoError(t, err)
	out, err := leader.MustCLI(ctx, "onezone", "show", "0")
	require.NoError(t, err)
	capture(t, "onezone-show-3node.txt", out)
	for _, s := range z.Servers {
		assert.Contains(t, out, s.Endpoint())
	}
	assert.Equal(t, 1, strings.Count(out, " leader "), out)
	assert.Equal(t, 2, strings.Count(out, " follower "), out)
	out, err = leader.MustCLI(ctx, "onezone", "show", "0", "-x")
	require.NoError(t, err)
	capture(t, "onezone-show-3node.xml", out)
	out, err = leader.MustCLI(ctx, "onezone", "list")
	require.NoError(t, err)
	capture(t, "onezone-list.txt", out)

	// Each front-end is reached over real SSH (an sshd per front-end whose
	// sessions get the front-end's environment), as the procedures reach it.
	bed := testbed.New(t, testbed.Config{
		Hosts: len(z.Servers), FirstAddr: netip.MustParseAddr("127.61.0.1"), Port: 22611,
		// A private, empty home per host: root's own ~/.bashrc is slow.
		NamePrefix: "fe", Mounts: []string{"/root"},
		Setup: func(h *testbed.Host) { maps.Copy(h.Env, z.Servers[h.Index].EnvMap()) },
	})
	for i, h := range bed.Hosts {
		cfg := sshtransport.NewConfig(h.HostPort())
		cfg.Name, cfg.User = h.Name, bed.User
		cfg.IdentityFiles = []string{bed.ClientKeyFile}
		cfg.KnownHostsFiles = []string{bed.KnownHostsFile}
		c, err := sshtransport.New(cfg)
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		out, err := transport.Output(ctx, c, transport.Command{Path: "onezone", Args: []string{"show", "0"}})
		require.NoError(t, err, h.Name)
		for _, s := range z.Servers {
			assert.Contains(t, string(out), s.Endpoint(), "onezone show over SSH on %s", h.Name)
		}
		out, err = transport.Output(ctx, c, transport.Command{Path: "sh", Args: []string{"-c", "echo $ONE_LOCATION"}})
		require.NoError(t, err, h.Name)
		assert.Equal(t, z.Servers[i].Dir, strings.TrimSpace(string(out)))
	}

	// A write through a follower is forwarded to the leader, then replicated.
	// Right after a leader change a follower may still answer "no leader
	// found" (a refusal: nothing logged), so retry only those.
	leader, err = z.Leader(ctx)
	require.NoError(t, err)
	follower := z.Servers[(leader.ID+1)%len(z.Servers)]
	var v any
	tw := time.Now()
	require.NoError(t, Poll(ctx, 500*time.Millisecond, func() (bool, error) {
		v, err = follower.Client().Call(ctx, "one.document.allocate", `NAME="through-follower"`, 100)
		if err != nil && Classify(err) == Failed {
			t.Logf("write through follower %s refused: %v", follower.Name, err)
			return false, nil
		}
		return true, err
	}))
	t.Logf("write through follower %s acknowledged after %v", follower.Name, time.Since(tw).Round(100*time.Millisecond))
	docID, ok := v.(int64)
	require.True(t, ok, "%T", v)
	require.NoError(t, z.WaitSynced(ctx))
	for _, s := range z.Servers {
		v, err := s.Client().Call(ctx, "one.document.info", int(docID), false)
		require.NoError(t, err, s.Name)
		assert.Contains(t, v, "<NAME>through-follower</NAME>", s.Name)
	}

	checkHostAndVM(ctx, t, leader, "ha")

	// A client keeps writing through the failover.
	var eps []string
	for _, s := range z.Servers {
		eps = append(eps, s.Endpoint())
	}
	load := StartLoad(ctx, LoadConfig{Endpoints: eps, Session: leader.Client().Session, Interval: 50 * time.Millisecond})
	loadStopped := false
	defer func() {
		if !loadStopped {
			load.Stop()
		}
	}()
	time.Sleep(2 * time.Second)

	// Kill the leader as a crash would; the two others elect a new one.
	t1 := time.Now()
	leader.Kill()
	var next *Server
	require.NoError(t, Poll(ctx, 200*time.Millisecond, func() (bool, error) {
		next, err = z.Leader(ctx)
		return err == nil, nil
	}))
	t.Logf("new leader %s elected %v after the kill", next.Name, time.Since(t1).Round(100*time.Millisecond))
	assert.NotEqual(t, leader.Name, next.Name)
	out, err = next.MustCLI(ctx, "onezone", "show", "0")
	require.NoError(t, err)
	capture(t, "onezone-show-3node-degraded.txt", out)

	// The old leader restarts and catches up as a follower.
	t2 := time.Now()
	require.NoError(t, leader.Start(ctx))
	require.NoError(t, z.WaitSynced(ctx))
	t.Logf("old leader rejoined and in sync %v after its restart", time.Since(t2).Round(100*time.Millisecond))
	st, err := leader.RaftStatus(ctx)
	require.NoError(t, err)
	assert.Equal(t, StateFollower, st.State)

	time.Sleep(2 * time.Second)
	writes := load.Stop()
	loadStopped = true
	require.NoError(t, z.WaitSynced(ctx))
	held := map[string]map[string][]int64{}
	for _, s := range z.Servers {
		docs, err := Documents(ctx, s.Client(), 100)
		require.NoError(t, err, s.Name)
		held[s.Name] = docs
	}
	verdict := Check(writes, held, "load-")
	t.Logf("load: %d acknowledged, %d failed, %d indeterminate; longest time without an acknowledged write %v",
		verdict.Acked, verdict.Failed, verdict.Indeterminate, verdict.WritesDown.Round(100*time.Millisecond))
	for _, w := range writes {
		if w.Outcome != Acked {
			t.Logf("  %s %s via %s: %s", w.Name, w.Outcome, w.Server, w.Err)
		}
	}
	assert.True(t, verdict.OK(), "%v", verdict.Problems)
	assert.Greater(t, verdict.Acked, 0)
}

// checkHostAndVM creates a dummy host and a VM on it through s and waits
// for MONITORED and RUNNING.
func checkHostAndVM(ctx context.Context, t *testing.T, s *Server, tag string) {
	t.Helper()
	hid, err := AddDummyHost(ctx, s, "dummy-"+tag+"-0")
	require.NoError(t, err)
	t0 := time.Now()
	var h HostState
	require.NoError(t, Poll(ctx, time.Second, func() (bool, error) {
		h, err = HostInfo(ctx, s, hid)
		return err == nil && h.State == HostMonitored, err
	}), "host state %d", h.State)
	t.Logf("dummy host %d MONITORED after %v", hid, time.Since(t0).Round(100*time.Millisecond))
	out, err := s.MustCLI(ctx, "onehost", "list")
	require.NoError(t, err)
	capture(t, "onehost-list-"+tag+".txt", out)

	vid, err := CreateVM(ctx, s, "vm-"+tag+"-0", hid)
	require.NoError(t, err)
	var vm VMState
	require.NoError(t, Poll(ctx, time.Second, func() (bool, error) {
		vm, err = VMInfo(ctx, s, vid)
		return err == nil && vm.State == VMActive && vm.LCMState == VMLCMRunning, err
	}), "vm state %d/%d", vm.State, vm.LCMState)
	out, err = s.MustCLI(ctx, "onevm", "list")
	require.NoError(t, err)
	capture(t, "onevm-list-"+tag+".txt", out)
}

// TestRealOnedbUpgrade upgrades a solo front-end from 7.2.0 to 7.4.0 as
// the procedures do: stop oned, switch the packages (here the install),
// `onedb version` says an upgrade is needed, `onedb upgrade`, start the new
// oned; a host and a document made before are still there.
func TestRealOnedbUpgrade(t *testing.T) {
	from, to := Require(t, "7.2.0"), Require(t, "7.4.0")
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Minute)
	defer cancel()
	z, err := StartZone(ctx, ZoneConfig{Install: from, Servers: 1, Dir: t.TempDir(), Log: zaptest.NewLogger(t)})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, z.Close()) })
	s := z.Servers[0]
	hid, err := AddDummyHost(ctx, s, "kept-host")
	require.NoError(t, err)
	v, err := s.Client().Call(ctx, "one.document.allocate", `NAME="kept-doc"`, 100)
	require.NoError(t, err)
	docID := v.(int64)

	require.NoError(t, s.Stop(60*time.Second))
	require.NoError(t, s.SwitchInstall(to))
	r, err := s.CLI(ctx, "onedb", append([]string{"version"}, s.OnedbArgs()...)...)
	require.NoError(t, err)
	capture(t, "onedb-version-needs-upgrade-7.2.0-7.4.0.txt", r.Stdout+r.Stderr)
	t.Logf("onedb version before the upgrade: exit %d", r.ExitCode)
	assert.Equal(t, 2, r.ExitCode, "onedb version with newer code than the DB")

	t0 := time.Now()
	r, err = s.CLI(ctx, "onedb", append([]string{"upgrade", "-v", "--no-backup"}, s.OnedbArgs()...)...)
	require.NoError(t, err)
	capture(t, "onedb-upgrade-v-7.2.0-7.4.0.txt", r.Stdout+r.Stderr)
	require.Equal(t, 0, r.ExitCode, r.Stdout+r.Stderr)
	t.Logf("onedb upgrade 7.2.0 -> 7.4.0 took %v", time.Since(t0).Round(100*time.Millisecond))

	out, err := s.MustCLI(ctx, "onedb", append([]string{"version", "-v"}, s.OnedbArgs()...)...)
	require.NoError(t, err)
	capture(t, "onedb-version-v-upgraded-7.4.0.txt", out)
	assert.Contains(t, out, "Shared tables version:   7.4.0\n")
	assert.Contains(t, out, "Local tables version:    7.4.0\n")

	require.NoError(t, s.Start(ctx))
	v, err = s.Client().Call(ctx, "one.system.version")
	require.NoError(t, err)
	assert.Equal(t, "7.4.0", v)
	h, err := HostInfo(ctx, s, hid)
	require.NoError(t, err)
	assert.Equal(t, "kept-host", h.Name)
	v, err = s.Client().Call(ctx, "one.document.info", int(docID), false)
	require.NoError(t, err)
	assert.Contains(t, v, "<NAME>kept-doc</NAME>")
}
