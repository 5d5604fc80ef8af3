package rolling_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/sim"
	"github.com/upgradekit/upgradekit/upgrade"
	"github.com/upgradekit/upgradekit/upgrade/rolling"
	"github.com/upgradekit/upgradekit/zone"
)

func stepReport(rep upgrade.Report, name string) (upgrade.StepReport, bool) {
	for _, s := range rep.Steps {
		if s.Name == name {
			return s, true
		}
	}
	return upgrade.StepReport{}, false
}

// inSync checks through node that zone 0 has one leader and every
// follower caught up.
func inSync(t *testing.T, c *sim.Cloud, node string) zone.Zone {
	t.Helper()
	z, err := zone.Show(context.Background(), c.MustFrontend(node), 0, zone.WithEndpoint("http://localhost:2633/RPC2"))
	require.NoError(t, err)
	require.NoError(t, z.CheckSync(0))
	return z
}

func TestRollingEndToEnd(t *testing.T) {
	t.Parallel()
	c, err := sim.HA(3, "7.4.0")
	require.NoError(t, err)
	p, err := rolling.Plan(haInventory(3, "7.4.1"), simOpts(c)...)
	require.NoError(t, err)
	start := c.Now()
	rep, err := run(context.Background(), t, c, p, &upgrade.MemoryStore{})
	require.NoError(t, err)

	for _, n := range []string{"fe1", "fe2", "fe3"} {
		st := status(t, c, n)
		assert.Equal(t, "7.4.1", st.Version, n)
		assert.Equal(t, "7.4.1", st.ConfigVersion, n)
		assert.Equal(t, "7.4.0", st.DBLocal, n)
		assert.Equal(t, "active", st.Units["opennebula"], n)
	}
	for _, h := range []string{"kvm1", "kvm2", "kvm3"} {
		assert.Equal(t, "7.4.1", status(t, c, h).Version, h)
	}
	z := inSync(t, c, "fe2")
	assert.Len(t, z.Servers, 3)

	// The cluster kept a majority: writes failed only once, around the
	// leader handoff, for about one election.
	ws := c.WriteWindows(0)
	require.Len(t, ws, 1, "writes must be refused only during the handoff")
	stop, ok := stepReport(rep, "nodes/fe1/stop")
	require.True(t, ok)
	handoff, ok := stepReport(rep, "nodes/fe1/handoff")
	require.True(t, ok)
	assert.False(t, ws[0].From.Before(stop.Start), "window starts with the leader's stop")
	assert.False(t, ws[0].To.After(handoff.Start.Add(handoff.Dur)), "window ends by the end of the handoff")
	assert.Less(t, ws[0].Duration(), 10*time.Second)
	assert.Equal(t, c.APIWindows(0), ws)

	// The report's own window covers the sim's and is one election long.
	require.Len(t, rep.Downtime, 1)
	assert.False(t, rep.Downtime[0].Start.After(ws[0].From))
	assert.False(t, rep.Downtime[0].End.Before(ws[0].To))
	assert.Less(t, rep.TotalDowntime, 15*time.Second)
	t.Logf("rolling 3 nodes: virtual duration %s, write downtime %s (sim), %s (report)", c.Now().Sub(start), c.WriteDowntime(0), rep.TotalDowntime)
}

func TestRollingRefusesSmallClusters(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 2} {
		_, err := rolling.Plan(haInventory(n, "7.4.1"))
		require.ErrorIs(t, err, rolling.ErrTooFewNodes, n)
		var me *rolling.MajorityError
		require.ErrorAs(t, err, &me)
		assert.Equal(t, n, me.Nodes)
		assert.Equal(t, 3, me.Need)
	}
	_, err := rolling.Plan(haInventory(3, "7.4.1"), rolling.WithFsck(rolling.FsckMode(9)))
	require.Error(t, err)
}

func TestRollingRefusesMinorUpgrade(t *testing.T) {
	t.Parallel()
	c, err := sim.HA(3, "7.2.0")
	require.NoError(t, err)
	p, err := rolling.Plan(haInventory(3, "7.4.1"), simOpts(c)...)
	require.NoError(t, err)
	_, err = run(context.Background(), t, c, p, &upgrade.MemoryStore{})
	require.ErrorIs(t, err, upgrade.ErrPreflight)
	require.ErrorIs(t, err, rolling.ErrNotRolling)
	var pe *rolling.PathError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "7.2.0", pe.Decision.From.String())
	for _, n := range []string{"fe1", "fe2", "fe3"} {
		assert.Equal(t, "7.2.0", status(t, c, n).Version)
	}
}

func TestRollingDryRun(t *testing.T) {
	t.Parallel()
	c, err := sim.HA(3, "7.4.0")
	require.NoError(t, err)
	p, err := rolling.Plan(haInventory(3, "7.4.1"), simOpts(c)...)
	require.NoError(t, err)
	rec := upgrade.NewRecorder()
	_, err = run(context.Background(), t, c, p, &upgrade.MemoryStore{}, upgrade.WithDryRun(rec))
	require.NoError(t, err)
	assertUntouched(t, c, "7.4.0")
	var text strings.Builder
	require.NoError(t, rec.WriteText(&text))
	out := text.String()
	for _, want := range []string{"would run sudo -n -- systemctl stop", "apt-get install", "would run sudo -n -- systemctl start"} {
		assert.Contains(t, out, want)
	}
	assert.NotEmpty(t, rec.Commands(true))
}

// assertUntouched checks that a dry run changed nothing on c.
func assertUntouched(t *testing.T, c *sim.Cloud, version string) {
	t.Helper()
	for _, e := range c.Events() {
		switch e.Kind {
		case sim.EventPackage, sim.EventUnitStop, sim.EventLeader, sim.EventWriteDown, sim.EventAPIDown:
			t.Errorf("dry run changed the cloud: %s %s %s", e.Node, e.Kind, e.Detail)
		}
	}
	for _, n := range c.Frontends() {
		assert.Equal(t, version, status(t, c, n).Version, n)
	}
	inSync(t, c, "fe1")
}

func TestRollingFaultRollsBack(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		inject func(c *sim.Cloud) error
		step   string
		is     error
	}{
		{"packages on the second follower", func(c *sim.Cloud) error { return c.FailPackageUpgrade("fe3") }, "nodes/fe3/packages", nil},
		{"database changed", func(c *sim.Cloud) error {
			return c.Inject(sim.Fault{Node: "fe2", Argv: []string{"onedb", "version"}, Exit: 2,
				Stdout: "Shared: 7.4.0\nLocal:  7.4.0\nRequired shared version: 7.6.0\nRequired local version:  7.6.0\n\nUpdate required. Expected DB version is:\nLocal:  7.6.0\nShared: 7.6.0\n"})
		}, "nodes/fe2/db-current", rolling.ErrDBChanged},
		{"leader start", func(c *sim.Cloud) error {
			return c.Inject(sim.Fault{Node: "fe1", Argv: []string{"systemctl", "start", "--", "opennebula.service"}, Times: 1, Exit: 1,
				Stderr: "Job for opennebula.service failed because the control process exited with error code.\n"})
		}, "nodes/fe1/start", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := sim.HA(3, "7.4.0")
			require.NoError(t, err)
			p, err := rolling.Plan(haInventory(3, "7.4.1"), simOpts(c)...)
			require.NoError(t, err)
			require.NoError(t, tc.inject(c))
			rep, err := run(context.Background(), t, c, p, &upgrade.MemoryStore{})
			require.Error(t, err)
			var pe *upgrade.PartialError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, []string{tc.step}, pe.Failed)
			assert.NoError(t, pe.RollbackErr)
			if tc.is != nil {
				assert.ErrorIs(t, err, tc.is)
			}
			assert.NotEmpty(t, pe.RolledBack)
			c.ClearFaults()
			// Nothing lost: every node back on the old release, running,
			// the zone in sync with its three servers.
			for _, n := range []string{"fe1", "fe2", "fe3"} {
				st := status(t, c, n)
				assert.Equal(t, "7.4.0", st.Version, n)
				assert.Equal(t, "active", st.Units["opennebula"], n)
			}
			z := inSync(t, c, "fe1")
			assert.Len(t, z.Servers, 3)
			assert.NotEmpty(t, rep.Steps)
		})
	}
}

func TestRollingKillAndResume(t *testing.T) {
	t.Parallel()
	for _, at := range []string{"nodes/fe2/packages", "nodes/fe3/start", "nodes/fe1/handoff", "nodes/fe1/wait-in-sync", "hypervisors"} {
		t.Run(at, func(t *testing.T) {
			t.Parallel()
			c, err := sim.HA(3, "7.4.0")
			require.NoError(t, err)
			p, err := rolling.Plan(haInventory(3, "7.4.1"), simOpts(c)...)
			require.NoError(t, err)
			store := &upgrade.MemoryStore{}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			_, err = run(ctx, t, c, p, store, upgrade.WithoutRollback(), upgrade.WithObserver(func(e upgrade.Event) {
				if (e.Kind == upgrade.EventStepStarted || e.Kind == upgrade.EventHostStarted) && strings.HasPrefix(e.Step, at) {
					cancel()
				}
			}))
			require.Error(t, err)
			require.True(t, errors.Is(err, context.Canceled), "%v", err)

			p2, err := rolling.Plan(haInventory(3, "7.4.1"), simOpts(c)...)
			require.NoError(t, err)
			rep, err := run(context.Background(), t, c, p2, store)
			require.NoError(t, err)
			for _, n := range []string{"fe1", "fe2", "fe3"} {
				assert.Equal(t, "7.4.1", status(t, c, n).Version, n)
			}
			inSync(t, c, "fe2")
			assert.NotEmpty(t, rep.Steps)
		})
	}
}

func TestRollingPreflightNeedsEveryServer(t *testing.T) {
	t.Parallel()
	c, err := sim.HA(3, "7.4.0")
	require.NoError(t, err)
	// A follower already down: upgrading another one would lose the
	// majority, so nothing may start.
	_, err = c.MustFrontend("fe3").Run(context.Background(), transportStop)
	require.NoError(t, err)
	p, err := rolling.Plan(haInventory(3, "7.4.1"), simOpts(c)...)
	require.NoError(t, err)
	rep, err := run(context.Background(), t, c, p, &upgrade.MemoryStore{}, upgrade.WithPreflightSkip(rolling.CheckInSync, "test the majority check"))
	require.ErrorIs(t, err, upgrade.ErrPreflight)
	var nis *zone.NotInSyncError
	require.ErrorAs(t, err, &nis)
	failed := ""
	for _, pc := range rep.Preflight {
		if pc.Status == "failed" {
			failed += pc.Name + " "
		}
	}
	assert.Contains(t, failed, rolling.CheckMajority)
	for _, e := range c.Events() {
		assert.NotEqual(t, sim.EventPackage, e.Kind)
	}
}

// TestRollingHotfixRelease upgrades a Community Edition cluster to a
// four-part hotfix release (6.10.0 → 6.10.0.1, a real tag whose oned
// reports code_version() "6.10.0.1" and keeps database version 6.10.0): a
// patch upgrade, rolled.
func TestRollingHotfixRelease(t *testing.T) {
	t.Parallel()
	c, err := sim.HA(3, "6.10.0", sim.WithRepo("6.10.0", "6.10.0.1", "7.0.0"))
	require.NoError(t, err)
	p, err := rolling.Plan(haInventory(3, "6.10.0.1-1"), simOpts(c)...)
	require.NoError(t, err)
	rep, err := run(context.Background(), t, c, p, &upgrade.MemoryStore{})
	require.NoError(t, err)
	// Community Edition 6.10's onecfg has no status/upgrade command: the
	// onecfg steps skip with the reason instead of reading its help as
	// "no updates available".
	for _, n := range []string{"fe1", "fe2", "fe3"} {
		s, ok := stepReport(rep, "nodes/"+n+"/onecfg")
		require.True(t, ok, n)
		assert.Equal(t, upgrade.StatusSkipped, s.Status, n)
		assert.Contains(t, s.Reason, "Community Edition before 7.0", n)
	}
	for _, n := range []string{"fe1", "fe2", "fe3"} {
		st := status(t, c, n)
		assert.Equal(t, "6.10.0.1", st.Version, n)
		assert.Equal(t, "6.10.0", st.DBLocal, n)
		assert.Equal(t, "active", st.Units["opennebula"], n)
	}
	for _, h := range []string{"kvm1", "kvm2", "kvm3"} {
		assert.Equal(t, "6.10.0.1", status(t, c, h).Version, h)
	}
	inSync(t, c, "fe2")
}
