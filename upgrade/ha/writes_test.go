package ha_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/sim"
	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/upgrade"
	"github.com/upgradekit/upgradekit/upgrade/ha"
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
