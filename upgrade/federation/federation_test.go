package federation_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/sim"
	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/upgrade"
	"github.com/upgradekit/upgradekit/upgrade/federation"
	"github.com/upgradekit/upgradekit/zone"
)

var local = zone.WithEndpoint("http://localhost:2633/RPC2")

// checkFederation checks every front-end's release and database, every
// zone enabled and in sync, and the FED_INDEX equal everywhere.
func checkFederation(t *testing.T, c *sim.Cloud, version, db string) {
	t.Helper()
	ctx := context.Background()
	for _, n := range c.Frontends() {
		st := status(t, c, n)
		assert.Equal(t, version, st.Version, n)
		assert.Equal(t, db, st.DBShared, n)
		assert.Equal(t, db, st.DBLocal, n)
		assert.Equal(t, "active", st.Units["opennebula"], n)
	}
	zs, err := zone.FederationInSync(ctx, c.MustFrontend("fr-fe1"), local)
	require.NoError(t, err)
	require.Len(t, zs, 3)
	for _, z := range zs {
		assert.Equal(t, zone.Enabled, z.State, z.ID)
		assert.True(t, z.FedIndex.Known(), z.ID)
	}
	for zid, via := range map[int]string{0: "fr-fe2", 100: "ge-fe1", 101: "us-fe1"} {
		z, err := zone.Show(ctx, c.MustFrontend(via), zid, local)
		require.NoError(t, err)
		assert.NoError(t, z.CheckSync(0), zid)
	}
}

// zoneCommands returns, in order, the `onezone enable|disable` commands
// the cloud received (as "disable 100").
func zoneCommands(c *sim.Cloud) []string {
	var out []string
	for _, e := range c.Events() {
		if e.Kind != sim.EventCommand {
			continue
		}
		f := strings.Fields(e.Detail)
		if len(f) >= 3 && f[0] == "onezone" && (f[1] == "enable" || f[1] == "disable") {
			out = append(out, f[1]+" "+f[2])
		}
	}
	return out
}

func TestFederationEndToEnd(t *testing.T) {
	t.Parallel()
	c, err := sim.Federation("7.2.0")
	require.NoError(t, err)
	p, err := federation.Plan(fedInventory("7.4.1"), simOpts(c)...)
	require.NoError(t, err)
	start := c.Now()
	rep, err := run(context.Background(), t, c, p, &upgrade.MemoryStore{})
	require.NoError(t, err)
	checkFederation(t, c, "7.4.1", "7.4.0")

	// Slaves disabled before the master, the master enabled first.
	assert.Equal(t, []string{"disable 100", "disable 101", "disable 0", "enable 0", "enable 100", "enable 101"}, zoneCommands(c))
	// The federated backup went to each slave leader and was restored.
	for _, n := range []string{"ge-fe2", "us-fe1"} {
		assert.True(t, slices.ContainsFunc(c.Commands(n), func(s string) bool {
			return strings.Contains(s, "onedb restore --federated")
		}), n)
	}
	assert.Len(t, rep.Downtime, 3)
	for _, z := range []int{0, 100, 101} {
		t.Logf("federation zone %d: write downtime %s (sim), API downtime %s", z, c.WriteDowntime(z), c.APIDowntime(z))
	}
	t.Logf("federation 3 zones: virtual duration %s, report downtime per zone %v", c.Now().Sub(start), windows(rep))
}

func windows(rep upgrade.Report) []string {
	var out []string
	for _, w := range rep.Downtime {
		out = append(out, w.Service+"="+w.Dur.String())
	}
	return out
}

func TestFederationPatchSkipsFederatedRestore(t *testing.T) {
	t.Parallel()
	c, err := sim.Federation("7.4.0")
	require.NoError(t, err)
	p, err := federation.Plan(fedInventory("7.4.1"), simOpts(c)...)
	require.NoError(t, err)
	_, err = run(context.Background(), t, c, p, &upgrade.MemoryStore{})
	require.NoError(t, err)
	checkFederation(t, c, "7.4.1", "7.4.0")
	for _, n := range c.Frontends() {
		for _, cmd := range c.Commands(n) {
			assert.NotContains(t, cmd, "--federated", n)
		}
	}
}

func TestFederationDryRun(t *testing.T) {
	t.Parallel()
	c, err := sim.Federation("7.2.0")
	require.NoError(t, err)
	p, err := federation.Plan(fedInventory("7.4.1"), simOpts(c)...)
	require.NoError(t, err)
	rec := upgrade.NewRecorder()
	_, err = run(context.Background(), t, c, p, &upgrade.MemoryStore{}, upgrade.WithDryRun(rec))
	require.NoError(t, err)
	for _, e := range c.Events() {
		switch e.Kind {
		case sim.EventPackage, sim.EventUnitStop, sim.EventWriteDown, sim.EventAPIDown:
			t.Errorf("dry run changed the cloud: %s %s %s", e.Node, e.Kind, e.Detail)
		}
	}
	assert.Empty(t, zoneCommands(c))
	var text strings.Builder
	require.NoError(t, rec.WriteText(&text))
	for _, want := range []string{
		"would run onezone disable 100 --endpoint http://192.168.150.2:2633/RPC2",
		"would run onezone disable 0 --endpoint http://192.168.150.1:2633/RPC2",
		"onedb backup -f --federated -- /var/lib/one/backups/upgradekit/federated-7.4.1.sql",
		"would run onezone enable 101 --endpoint http://192.168.150.3:2633/RPC2",
	} {
		assert.Contains(t, text.String(), want)
	}
	checkFederation(t, c, "7.2.0", "7.2.0")
}

func TestFederationFaultRollsBack(t *testing.T) {
	t.Parallel()
	c, err := sim.Federation("7.2.0")
	require.NoError(t, err)
	p, err := federation.Plan(fedInventory("7.4.1"), simOpts(c)...)
	require.NoError(t, err)
	require.NoError(t, c.FailPackageUpgrade("us-fe1"))
	_, err = run(context.Background(), t, c, p, &upgrade.MemoryStore{})
	var pe *upgrade.PartialError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, []string{"zone-101/leader/packages"}, pe.Failed)
	require.NoError(t, pe.RollbackErr)
	c.ClearFaults()
	// Every zone back on 7.2.0, enabled, in sync; nothing lost.
	checkFederation(t, c, "7.2.0", "7.2.0")
	// An enable refused while the zone still elects its leader is
	// retried: count each zone's enables once.
	cmds := slices.Compact(zoneCommands(c))
	require.GreaterOrEqual(t, len(cmds), 3)
	assert.Equal(t, "enable 0", cmds[len(cmds)-3], "master enabled first on rollback")
	assert.ElementsMatch(t, []string{"enable 0", "enable 100", "enable 101"}, cmds[len(cmds)-3:])
}

func TestFederationFaultAfterNoReturnResumes(t *testing.T) {
	t.Parallel()
	c, err := sim.Federation("7.2.0")
	require.NoError(t, err)
	p, err := federation.Plan(fedInventory("7.4.1"), simOpts(c)...)
	require.NoError(t, err)
	// The slave 100's leader refuses to start once (after the master is
	// back on the new release).
	require.NoError(t, c.Inject(sim.Fault{Node: "ge-fe2", Argv: []string{"systemctl", "start"}, Times: 1, Exit: 1,
		Stderr: "Job for opennebula.service failed because the control process exited with error code.\n"}))
	store := &upgrade.MemoryStore{}
	_, err = run(context.Background(), t, c, p, store)
	require.ErrorIs(t, err, upgrade.ErrPointOfNoReturn)
	var pe *upgrade.PartialError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, []string{"start/zone-100/majority"}, pe.Failed)

	p2, err := federation.Plan(fedInventory("7.4.1"), simOpts(c)...)
	require.NoError(t, err)
	_, err = run(context.Background(), t, c, p2, store)
	require.NoError(t, err)
	checkFederation(t, c, "7.4.1", "7.4.0")
}

func TestFederationKillAndResume(t *testing.T) {
	t.Parallel()
	for _, at := range []string{"zones-disable/zone-0", "stop/zone-100", "backup", "zone-0/leader/onedb-upgrade",
		"zone-0/fed-backup", "zone-100/leader/fed-restore", "start/zone-0/wait-in-sync", "zones-enable/zone-100", "finish/zone-101"} {
		t.Run(at, func(t *testing.T) {
			t.Parallel()
			c, err := sim.Federation("7.2.0")
			require.NoError(t, err)
			p, err := federation.Plan(fedInventory("7.4.1"), simOpts(c)...)
			require.NoError(t, err)
			store := &upgrade.MemoryStore{}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			_, err = run(ctx, t, c, p, store, upgrade.WithoutRollback(), upgrade.WithObserver(func(e upgrade.Event) {
				if (e.Kind == upgrade.EventStepStarted || e.Kind == upgrade.EventHostStarted) && strings.HasPrefix(e.Step, at) {
					cancel()
				}
			}))
			require.True(t, errors.Is(err, context.Canceled), "%v", err)
			p2, err := federation.Plan(fedInventory("7.4.1"), simOpts(c)...)
			require.NoError(t, err)
			_, err = run(context.Background(), t, c, p2, store)
			require.NoError(t, err)
			checkFederation(t, c, "7.4.1", "7.4.0")
		})
	}
}

func TestFederationRefusesSingleZone(t *testing.T) {
	t.Parallel()
	inv := fedInventory("7.4.1")
	inv.Zones = inv.Zones[:1]
	_, err := federation.Plan(inv)
	require.ErrorIs(t, err, federation.ErrNotFederation)
}

func TestFederationPreflightOutOfSync(t *testing.T) {
	t.Parallel()
	c, err := sim.Federation("7.2.0")
	require.NoError(t, err)
	// zone 101's endpoint does not answer: its FED_INDEX is "-".
	require.NoError(t, c.SetUnreachable("us-fe1", true))
	p, err := federation.Plan(fedInventory("7.4.1"), simOpts(c)...)
	require.NoError(t, err)
	_, err = run(context.Background(), t, c, p, &upgrade.MemoryStore{}, upgrade.WithPreflightSkip("ssh-reachable", "test"))
	require.ErrorIs(t, err, upgrade.ErrPreflight)
	assert.Empty(t, zoneCommands(c))
}

// TestFederatedRestoreReseedsFollowers: `onedb restore --federated`
// replaces the slave leader's whole logdb with the master's (its
// `fed_index!=-1` dump condition matches every row of an unsigned
// column), so the slave's followers must be re-seeded from the leader
// after it: their restore runs after the fed-restore and the backup of
// the upgraded leader, and they end on the leader's log.
func TestFederatedRestoreReseedsFollowers(t *testing.T) {
	t.Parallel()
	c, err := sim.Federation("7.2.0")
	require.NoError(t, err)
	p, err := federation.Plan(fedInventory("7.4.1"), simOpts(c)...)
	require.NoError(t, err)
	pos := map[string]int{}
	for i, s := range p.Steps() {
		pos[s] = i
	}
	for _, f := range []string{"ge-fe1", "ge-fe3"} {
		restore := "zone-100/followers/" + f + "/upgrade/restore"
		require.Contains(t, pos, restore)
		assert.Greater(t, pos[restore], pos["zone-100/leader/fed-restore"], f)
		assert.Greater(t, pos[restore], pos["zone-100/leader/onedb-backup"], f)
	}
	before := status(t, c, "ge-fe2").LogIndex
	_, err = run(context.Background(), t, c, p, &upgrade.MemoryStore{})
	require.NoError(t, err)
	l := status(t, c, "ge-fe2")
	assert.Less(t, l.LogIndex, before, "the slave leader runs on the master's log")
	for _, f := range []string{"ge-fe1", "ge-fe3"} {
		assert.Equal(t, l.LogIndex, status(t, c, f).LogIndex, f)
	}
}

// TestFederationBefore62SkipsZoneDisable: `onezone disable/enable` do not
// exist before 6.2 (the 6.0 CLI prints its help and exits 0), so a 6.0
// federation upgraded with the coordinated procedure has its zones stopped
// but never disabled: the zone-state steps skip with the reason and no
// such command is sent.
func TestFederationBefore62SkipsZoneDisable(t *testing.T) {
	t.Parallel()
	c, err := sim.Federation("6.0.0", sim.WithRepo("6.0.0", "6.0.1"))
	require.NoError(t, err)
	// Coordinated: the zone-state steps run (a patch release would
	// otherwise upgrade each zone on its own, with no disable at all).
	p, err := federation.Plan(fedInventory("6.0.1"), simOpts(c, federation.WithCoordinated(true))...)
	require.NoError(t, err)
	rep, err := run(context.Background(), t, c, p, &upgrade.MemoryStore{})
	require.NoError(t, err)
	checkFederation(t, c, "6.0.1", "6.0.0")
	assert.Empty(t, zoneCommands(c), "no onezone enable/disable sent to a 6.0 CLI")
	var skipped int
	for _, s := range rep.Steps {
		if strings.HasPrefix(s.Name, federation.StepZonesDisable+"/") || strings.HasPrefix(s.Name, federation.StepZonesEnable+"/") {
			assert.Equal(t, upgrade.StatusSkipped, s.Status, s.Name)
			assert.Contains(t, s.Reason, "does not exist in OpenNebula 6.0", s.Name)
			skipped++
		}
	}
	assert.Equal(t, 6, skipped)
}

// TestFederationPatchZoneByZone: a patch release keeps the shared database
// version, so each zone is upgraded on its own (upgrading_minor.rst of the
// 6.2-era guide: "Federation: There is no special step to perform"): no
// zone is disabled, and while one zone is stopped the others take writes.
func TestFederationPatchZoneByZone(t *testing.T) {
	t.Parallel()
	c, err := sim.Federation("7.4.0")
	require.NoError(t, err)
	p, err := federation.Plan(fedInventory("7.4.1"), simOpts(c)...)
	require.NoError(t, err)
	rep, err := run(context.Background(), t, c, p, &upgrade.MemoryStore{})
	require.NoError(t, err)
	checkFederation(t, c, "7.4.1", "7.4.0")
	assert.Empty(t, zoneCommands(c), "no zone disabled for a patch release")

	// Each zone refused writes only while it was itself upgraded: the
	// windows of different zones never overlap.
	type span struct {
		zone     int
		from, to time.Time
	}
	var spans []span
	for _, z := range []int{0, 100, 101} {
		ws := c.WriteWindows(z)
		require.NotEmpty(t, ws, "zone %d was stopped", z)
		spans = append(spans, span{z, ws[0].From, ws[len(ws)-1].To})
	}
	for i, a := range spans {
		for _, b := range spans[i+1:] {
			assert.True(t, !a.from.Before(b.to) || !b.from.Before(a.to),
				"zone %d (%s–%s) and zone %d (%s–%s) were down together", a.zone, a.from, a.to, b.zone, b.from, b.to)
		}
	}
	for _, st := range rep.Steps {
		if strings.HasPrefix(st.Name, federation.StepZonesDisable+"/") || strings.HasPrefix(st.Name, federation.StepStop+"/") {
			assert.Equal(t, upgrade.StatusSkipped, st.Status, st.Name)
		}
	}
	assert.Len(t, rep.Downtime, 3, "one window per zone")
	for _, z := range []int{0, 100, 101} {
		t.Logf("zone by zone, zone %d: write downtime %s (sim)", z, c.WriteDowntime(z))
	}
	t.Logf("report downtime per zone %v", windows(rep))
}

// TestFederationZoneAlreadyAtTarget: with zones upgraded one by one, a zone
// already at the target (upgrade/path: none) is left alone while the
// others are upgraded.
func TestFederationZoneAlreadyAtTarget(t *testing.T) {
	t.Parallel()
	c, err := sim.Federation("7.4.0")
	require.NoError(t, err)
	res, err := c.MustFrontend("us-fe1").Run(context.Background(),
		transport.Command{Path: "apt-get", Args: []string{"install", "-y", "--only-upgrade", "opennebula"}, Sudo: true})
	require.NoError(t, err)
	require.Equal(t, 0, res.ExitCode, string(res.Stderr))
	require.Equal(t, "7.4.1", status(t, c, "us-fe1").Version)
	before := len(c.Commands("us-fe1"))

	p, err := federation.Plan(fedInventory("7.4.1"), simOpts(c, federation.WithHypervisors(false))...)
	require.NoError(t, err)
	rep, err := run(context.Background(), t, c, p, &upgrade.MemoryStore{})
	require.NoError(t, err)
	checkFederation(t, c, "7.4.1", "7.4.0")
	for _, st := range rep.Steps {
		if strings.HasPrefix(st.Name, federation.ZoneName(101)+"/") {
			assert.Equal(t, upgrade.StatusSkipped, st.Status, st.Name)
		}
	}
	for _, cmd := range c.Commands("us-fe1")[before:] {
		assert.NotContains(t, cmd, "systemctl stop", "zone 101 was not stopped")
	}
	assert.Empty(t, c.WriteWindows(101), "zone 101 never refused writes")
}

// TestFederationPatchFailureKeepsFinishedZones: zone by zone, a failure in
// the second zone rolls that zone back and keeps the master, already
// upgraded on its own and running; the third zone is never touched.
func TestFederationPatchFailureKeepsFinishedZones(t *testing.T) {
	t.Parallel()
	c, err := sim.Federation("7.4.0")
	require.NoError(t, err)
	require.NoError(t, c.FailPackageUpgrade("ge-fe2"))
	p, err := federation.Plan(fedInventory("7.4.1"), simOpts(c, federation.WithHypervisors(false))...)
	require.NoError(t, err)
	_, err = run(context.Background(), t, c, p, &upgrade.MemoryStore{})
	require.Error(t, err)
	pe, ok := errors.AsType[*upgrade.PartialError](err)
	require.True(t, ok, "%v", err)
	assert.NoError(t, pe.RollbackErr)
	for _, n := range []string{"fr-fe1", "fr-fe2", "fr-fe3"} {
		st := status(t, c, n)
		assert.Equal(t, "7.4.1", st.Version, n)
		assert.Equal(t, "active", st.Units["opennebula"], n)
	}
	for _, n := range []string{"ge-fe1", "ge-fe2", "ge-fe3", "us-fe1"} {
		st := status(t, c, n)
		assert.Equal(t, "7.4.0", st.Version, n)
		assert.Equal(t, "active", st.Units["opennebula"], n)
	}
	for zid, via := range map[int]string{0: "fr-fe2", 100: "ge-fe1", 101: "us-fe1"} {
		z, err := zone.Show(context.Background(), c.MustFrontend(via), zid, local)
		require.NoError(t, err)
		assert.NoError(t, z.CheckSync(0), zid)
		assert.Equal(t, zone.Enabled, z.State, zid)
	}
	assert.Empty(t, c.WriteWindows(101), "zone 101 never stopped")
}
