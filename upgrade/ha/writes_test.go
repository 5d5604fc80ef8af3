package ha_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/onedb"
	"github.com/upgradekit/upgradekit/sim"
	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/upgrade"
	"github.com/upgradekit/upgradekit/upgrade/ha"
	"github.com/upgradekit/upgradekit/vm"
)

// A client keeps calling the API during the upgrade: at the start of
// every step, one write through the zone's endpoint. Real oned writes a
// call it cannot commit into logdb with applied = 0 and the next leader
// applies it (LogDB::_exec_wr, RaftManager::leader); the procedure must
// never let the leader run without a majority while work goes on, so
// that no write of the old release is applied to the upgraded database.
func TestNoWriteOfTheOldReleaseReachesTheNewDatabase(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, 3)
	c := cl.c
	client := c.MustFrontend("fe1")
	writing := false
	observe := func(e upgrade.Event) {
		if e.Kind != upgrade.EventStepStarted {
			return
		}
		if strings.HasPrefix(e.Step, ha.StepLeader+"/") {
			writing = false // the database is being upgraded: the zone is down anyway
		}
		if writing {
			_, _ = client.Run(context.Background(), transport.Cmd("onehost", "disable", "0"))
		}
		if e.Step == ha.StepDisable {
			writing = true
		}
	}
	rep, err := cl.run(t, upgrade.WithObserver(observe))
	require.NoError(t, err)
	var applied []string
	for _, e := range c.Events() {
		if e.Kind == sim.EventLogApplied || e.Kind == sim.EventStaleApply {
			applied = append(applied, e.Node+": "+e.Detail)
		}
	}
	assert.Empty(t, applied, "writes that failed for their clients were applied later")
	for _, n := range c.Frontends() {
		l, err := c.RaftLog(n)
		require.NoError(t, err)
		assert.Zero(t, l.Unapplied, n)
	}
	t.Logf("writes down %s", window(t, rep, ha.ServiceWrites).Dur)
}

// WithDryFsck: no fsck inside the outage; `onedb fsck --dry` on the leader
// once the zone runs again.
func TestDryFsckAfterTheOutage(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, 3, ha.WithDryFsck(true))
	assert.NotContains(t, cl.plan.Steps(), ha.StepLeader+"/onedb-fsck")
	assert.Contains(t, cl.plan.Steps(), ha.StepFsckDry)
	_, err := cl.run(t)
	require.NoError(t, err)
	var fsck []string
	started := false
	for _, cmd := range cl.c.Commands("fe1") {
		if strings.Contains(cmd, "systemctl start") {
			started = true
		}
		if strings.Contains(cmd, "onedb fsck") {
			fsck = append(fsck, cmd)
			assert.True(t, started, "fsck runs after the zone is back: %s", cmd)
		}
	}
	require.Len(t, fsck, 1)
	assert.Contains(t, fsck[0], "--dry")
}

// A migration started by hand after vms-settled (hosts are disabled, not
// locked against migrations) is caught just before the leader stops: the
// stop fails and rolls back, every front-end runs the old release again.
func TestVMsCheckedAgainBeforeTheLeaderStops(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, 3)
	c := cl.c
	observe := func(e upgrade.Event) {
		if e.Kind == upgrade.EventStepStarted && e.Step == ha.StepStop {
			require.NoError(t, c.AddVM(0, sim.VM{Name: "moved-by-hand", State: int(vm.StateActive), LCMState: int(vm.LCMMigrate),
				HostName: "kvm1", SettleIn: time.Hour, SettleState: int(vm.StateActive), SettleLCM: int(vm.LCMRunning)}))
		}
	}
	rep, err := cl.run(t, upgrade.WithObserver(observe))
	require.Error(t, err)
	_, ok := errors.AsType[*vm.NotSettledError](err)
	assert.True(t, ok, "want a *vm.NotSettledError: %v", err)
	assert.Contains(t, err.Error(), "moved-by-hand")
	for _, st := range rep.Steps {
		if st.Name == ha.StepStop {
			assert.Equal(t, upgrade.StatusRolledBack, st.Status, "the stop is rolled back")
		}
	}
	for _, n := range c.Frontends() {
		st, err := c.Status(n)
		require.NoError(t, err)
		assert.Equal(t, "7.2.0", st.Version, n)
		assert.Equal(t, "active", st.Units["opennebula"], n)
	}
}

// writeBeforeStop is fe1's transport with a client that calls the API
// just before fe1's oned is stopped: the leader, alone by then, keeps the
// call in logdb unapplied.
type writeBeforeStop struct {
	*sim.Transport
	done bool
}

func (w *writeBeforeStop) Run(ctx context.Context, cmd transport.Command) (transport.Result, error) {
	if !w.done && cmd.Path == "systemctl" && len(cmd.Args) > 0 && cmd.Args[0] == "stop" {
		w.done = true
		_, _ = w.Transport.Run(ctx, transport.Cmd("onehost", "enable", "0"))
	}
	return w.Transport.Run(ctx, cmd)
}

// A call that lands between the last follower's stop and the leader's
// stays in the leader's logdb with applied = 0; the database is not
// upgraded then (the next leader would apply that 7.2 SQL to the 7.4
// schema): the run stops with onedb's typed error and rolls back.
func TestUnappliedLogStopsTheDatabaseUpgrade(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, 3)
	c := cl.c
	hosts := c.Transports()
	hosts["fe1"] = &writeBeforeStop{Transport: c.MustFrontend("fe1")}
	rep, err := cl.run(t, upgrade.WithHosts(hosts))
	require.Error(t, err)
	require.ErrorIs(t, err, onedb.ErrUnappliedLog)
	ue, ok := errors.AsType[*onedb.UnappliedLogError](err)
	require.True(t, ok)
	assert.Equal(t, int64(1), ue.Log.Unapplied)
	for _, st := range rep.Steps {
		if st.Name == ha.StepLeader+"/onedb-upgrade" {
			assert.NotEqual(t, upgrade.StatusDone, st.Status)
		}
	}
	for _, n := range c.Frontends() {
		st, err := c.Status(n)
		require.NoError(t, err)
		assert.Equal(t, "7.2.0", st.DBShared, n)
	}
	for _, e := range c.Events() {
		assert.NotEqual(t, sim.EventStaleApply, e.Kind, e.Detail)
	}
}
