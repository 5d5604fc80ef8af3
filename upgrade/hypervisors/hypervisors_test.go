package hypervisors_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/host"
	"github.com/upgradekit/upgradekit/sim"
	"github.com/upgradekit/upgradekit/system"
	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/upgrade"
	"github.com/upgradekit/upgradekit/upgrade/hypervisors"
	"github.com/upgradekit/upgradekit/upgrade/internal/nebula/nebulatest"
)

func setup(t *testing.T, opts ...hypervisors.Option) (*sim.Cloud, *upgrade.Plan) {
	t.Helper()
	c, err := sim.HA(3, "7.4.0")
	require.NoError(t, err)
	upgradeFrontends(t, c)
	inv, err := nebulatest.Inventory(c, "7.4.1")
	require.NoError(t, err)
	p, err := hypervisors.Plan(inv, append(nebulatest.Options(c), opts...)...)
	require.NoError(t, err)
	return c, p
}

// upgradeFrontends moves every front-end's packages to the repository's
// newest 7.4 release (7.4.1; the database version stays 7.4.0), as the
// front-end part of an upgrade would, so that the hypervisors may follow.
func upgradeFrontends(t *testing.T, c *sim.Cloud) {
	t.Helper()
	for _, fe := range c.Frontends() {
		res, err := c.MustFrontend(fe).Run(context.Background(),
			transport.Command{Path: "apt-get", Args: []string{"install", "-y", "--only-upgrade", "opennebula"}, Sudo: true})
		require.NoError(t, err)
		require.Equal(t, 0, res.ExitCode, "%s: %s", fe, res.Stderr)
		st, err := c.Status(fe)
		require.NoError(t, err)
		require.Equal(t, "7.4.1", st.Version, fe)
	}
}

// TestRefusesNodesAheadOfFrontends: with the front-ends still at 7.4.0,
// upgrading the hypervisors to 7.4.1 is refused by the first preflight
// check, before anything changed.
func TestRefusesNodesAheadOfFrontends(t *testing.T) {
	t.Parallel()
	c, err := sim.HA(3, "7.4.0")
	require.NoError(t, err)
	inv, err := nebulatest.Inventory(c, "7.4.1")
	require.NoError(t, err)
	p, err := hypervisors.Plan(inv, nebulatest.Options(c)...)
	require.NoError(t, err)
	before := states(t, c)
	r, err := upgrade.NewRunner(p, nebulatest.RunnerOptions(c)...)
	require.NoError(t, err)
	rep, err := r.Run(context.Background())
	require.Error(t, err)
	assert.ErrorIs(t, err, hypervisors.ErrFrontendsBehind)
	fb, ok := errors.AsType[*hypervisors.FrontendsBehindError](err)
	require.True(t, ok, "%v", err)
	assert.Len(t, fb.Behind, 3)
	assert.Equal(t, "7.4.0", fb.Behind["fe1"].String())
	require.NotEmpty(t, rep.Preflight)
	assert.Equal(t, hypervisors.CheckFrontends, rep.Preflight[0].Name, "checked first")
	for _, h := range c.Hypervisors() {
		st, err := c.Status(h)
		require.NoError(t, err)
		assert.Equal(t, "7.4.0", st.Version, h)
	}
	assert.Equal(t, before, states(t, c), "no host touched")
}

func states(t *testing.T, c *sim.Cloud) map[string]host.State {
	t.Helper()
	hosts, err := host.List(context.Background(), c.MustFrontend("fe1"))
	require.NoError(t, err)
	out := map[string]host.State{}
	for _, h := range hosts {
		out[h.Name] = h.State
	}
	return out
}

func TestPlanUpgradesEveryHypervisor(t *testing.T) {
	t.Parallel()
	c, p := setup(t, hypervisors.WithConcurrency(2))
	before := states(t, c)
	r, err := upgrade.NewRunner(p, nebulatest.RunnerOptions(c)...)
	require.NoError(t, err)
	rep, err := r.Run(context.Background())
	require.NoError(t, err)
	for _, h := range c.Hypervisors() {
		st, err := c.Status(h)
		require.NoError(t, err)
		assert.Equal(t, "7.4.1", st.Version, h)
	}
	assert.Equal(t, before, states(t, c), "hosts back to their prior states")
	hosts, err := host.List(context.Background(), c.MustFrontend("fe1"))
	require.NoError(t, err)
	for _, h := range hosts {
		// onehost sync copies the front-end's remotes, 7.4.1 here.
		assert.Equal(t, "7.4.1", h.Version, "%s synced", h.Name)
	}
	var n int
	for _, h := range rep.Hosts {
		if h.Node == hypervisors.StepHypervisors {
			n++
			assert.Equal(t, upgrade.StatusDone, h.Status)
		}
	}
	assert.Equal(t, 3, n)
	// onehost sync runs as oneadmin, after the node package.
	cmds := c.Commands("fe1")
	assert.Contains(t, cmds, "onehost sync 0") // the simulator refuses it as root
}

func TestCanaryFailureStopsTheRest(t *testing.T) {
	t.Parallel()
	c, p := setup(t, hypervisors.WithCanary(true))
	require.NoError(t, c.FailPackageUpgrade("kvm1"))
	r, err := upgrade.NewRunner(p, nebulatest.RunnerOptions(c)...)
	require.NoError(t, err)
	rep, err := r.Run(context.Background())
	require.Error(t, err)
	_, ok := errors.AsType[*system.PackageError](err)
	assert.True(t, ok, "%v", err)
	for _, h := range rep.Hosts {
		if h.Node != hypervisors.StepHypervisors {
			continue
		}
		if h.Host == "kvm1" {
			assert.Equal(t, upgrade.StatusFailed, h.Status)
		} else {
			assert.Equal(t, upgrade.StatusSkipped, h.Status, h.Host)
		}
	}
	for _, h := range []string{"kvm2", "kvm3"} {
		st, err := c.Status(h)
		require.NoError(t, err)
		assert.Equal(t, "7.4.0", st.Version, h)
	}
	// Rolled back: the disabled hosts are enabled again.
	assert.Equal(t, map[string]host.State{"kvm1": host.StateMonitored, "kvm2": host.StateMonitored, "kvm3": host.StateDisabled}, states(t, c))
}

func TestFailureBudget(t *testing.T) {
	t.Parallel()
	c, p := setup(t, hypervisors.WithCanary(false), hypervisors.WithConcurrency(1), hypervisors.WithFailureBudget(2))
	require.NoError(t, c.FailPackageUpgrade("kvm1"))
	require.NoError(t, c.FailPackageUpgrade("kvm2"))
	r, err := upgrade.NewRunner(p, nebulatest.RunnerOptions(c)...)
	require.NoError(t, err)
	rep, err := r.Run(context.Background())
	require.Error(t, err)
	got := map[string]string{}
	for _, h := range rep.Hosts {
		if h.Node == hypervisors.StepHypervisors {
			got[h.Host] = h.Status
		}
	}
	assert.Equal(t, map[string]string{"kvm1": upgrade.StatusFailed, "kvm2": upgrade.StatusFailed, "kvm3": upgrade.StatusSkipped}, got)
}
