package ha_test

import (
	"bytes"
	"context"
	"maps"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/host"
	"github.com/upgradekit/upgradekit/onedb"
	"github.com/upgradekit/upgradekit/sim"
	"github.com/upgradekit/upgradekit/upgrade"
	"github.com/upgradekit/upgradekit/upgrade/ha"
	"github.com/upgradekit/upgradekit/upgrade/internal/nebula/nebulatest"
)

// replicated drops the tables oned writes outside the Raft log
// (onedb.LocalTables): the leader's monitoring differs from its
// followers'.
func replicated(m map[string]string) map[string]string {
	out := maps.Clone(m)
	for _, t := range onedb.LocalTables() {
		delete(out, t)
	}
	return out
}

// cluster is a simulated 3-node HA cloud at 7.2.0 with its plan to 7.4.1.
type cluster struct {
	c    *sim.Cloud
	plan *upgrade.Plan
	opts []upgrade.Option
}

func newCluster(t *testing.T, n int, planOpts ...ha.Option) *cluster {
	t.Helper()
	c, err := sim.HA(n, "7.2.0")
	require.NoError(t, err)
	inv, err := nebulatest.Inventory(c, "7.4.1")
	require.NoError(t, err)
	plan, err := ha.Plan(inv, append(nebulatest.Options(c), planOpts...)...)
	require.NoError(t, err)
	return &cluster{c: c, plan: plan, opts: nebulatest.RunnerOptions(c)}
}

func (cl *cluster) run(t *testing.T, opts ...upgrade.Option) (upgrade.Report, error) {
	t.Helper()
	r, err := upgrade.NewRunner(cl.plan, append(append([]upgrade.Option(nil), cl.opts...), opts...)...)
	require.NoError(t, err)
	return r.Run(context.Background())
}

func TestHAUpgradeSimulator(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, 3)
	c := cl.c
	before := hostStates(t, c)
	start := c.Now()
	var console bytes.Buffer
	rep, err := cl.run(t, upgrade.WithObserver(upgrade.NewConsole(&console).Observe))
	require.NoError(t, err, console.String())

	for _, n := range c.Frontends() {
		st, err := c.Status(n)
		require.NoError(t, err)
		assert.Equal(t, "7.4.1", st.Version, n)
		assert.Equal(t, "7.4.1", st.ConfigVersion, n)
		assert.Equal(t, "7.4.0", st.DBShared, n)
		assert.Equal(t, "7.4.0", st.DBLocal, n)
		assert.Equal(t, "active", st.Units["opennebula"], n)
	}
	for _, h := range c.Hypervisors() {
		st, err := c.Status(h)
		require.NoError(t, err)
		assert.Equal(t, "7.4.1", st.Version, h)
	}
	l, err := c.TableChecksums("fe1")
	require.NoError(t, err)
	for _, f := range []string{"fe2", "fe3"} {
		s, err := c.TableChecksums(f)
		require.NoError(t, err)
		assert.Equal(t, replicated(l), replicated(s), f)
	}
	assert.Equal(t, map[string]host.State{"kvm1": host.StateMonitored, "kvm2": host.StateMonitored, "kvm3": host.StateDisabled}, before)
	assert.Equal(t, before, hostStates(t, c))
	hosts, err := host.List(context.Background(), c.MustFrontend("fe2"))
	require.NoError(t, err)
	for _, h := range hosts {
		assert.Equal(t, "7.4.1", h.Version, "%s: remotes synced", h.Name)
	}
	api := window(t, rep, ha.ServiceAPI)
	writes := window(t, rep, ha.ServiceWrites)
	assert.Greater(t, api.Dur, 20*time.Second)
	assert.Greater(t, writes.Dur, api.Dur, "writes stop before the API (majority lost first)")
	assert.Equal(t, api.End, writes.End, "both come back with the new leader")
	t.Logf("virtual duration %s; engine: API down %s, writes down %s; simulator: API down %s, writes down %s",
		c.Now().Sub(start), api.Dur, writes.Dur, c.APIDowntime(0), c.WriteDowntime(0))
	t.Log(console.String())
}

// hostStates returns every host's STATE as oned has it.
func hostStates(t *testing.T, c *sim.Cloud) map[string]host.State {
	t.Helper()
	hosts, err := host.List(context.Background(), c.MustFrontend("fe1"))
	require.NoError(t, err)
	out := map[string]host.State{}
	for _, h := range hosts {
		out[h.Name] = h.State
	}
	return out
}

// A single front-end is an HA cluster of one.
func TestSoloFrontend(t *testing.T) {
	t.Parallel()
	c, err := sim.Solo("7.2.0")
	require.NoError(t, err)
	inv, err := nebulatest.Inventory(c, "7.4.1")
	require.NoError(t, err)
	require.Len(t, inv.Zones[0].Frontends, 1)
	assert.Equal(t, -1, inv.Zones[0].Frontends[0].ServerID)
	// The CLI runs as oneadmin through sudo, as with a non-root SSH user.
	plan, err := ha.Plan(inv, append(nebulatest.Options(c), ha.WithCLIUser("oneadmin"))...)
	require.NoError(t, err)
	assert.NotContains(t, plan.Steps(), ha.StepStartRest)
	r, err := upgrade.NewRunner(plan, nebulatest.RunnerOptions(c)...)
	require.NoError(t, err)
	rep, err := r.Run(context.Background())
	require.NoError(t, err)
	st, err := c.Status("fe1")
	require.NoError(t, err)
	assert.Equal(t, "7.4.1", st.Version)
	assert.Equal(t, "7.4.0", st.DBLocal)
	assert.Equal(t, "active", st.Units["opennebula"])
	api := window(t, rep, ha.ServiceAPI)
	t.Logf("solo: engine API downtime %s, simulator API downtime %s", api.Dur, c.APIDowntime(0))
}

// window returns the report's one closed downtime window of service.
func window(t *testing.T, rep upgrade.Report, service string) upgrade.Window {
	t.Helper()
	var out []upgrade.Window
	for _, w := range rep.Downtime {
		if w.Service == service {
			out = append(out, w)
		}
	}
	require.Len(t, out, 1, "windows of %s: %+v", service, rep.Downtime)
	assert.False(t, out[0].Open)
	return out[0]
}
