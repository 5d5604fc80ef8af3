package sim

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// onedStopped returns when oned last stopped on node.
func onedStopped(c *Cloud, node string) time.Time {
	var at time.Time
	for _, e := range c.Events() {
		if e.Kind == EventUnitStop && e.Node == node && strings.HasPrefix(e.Detail, "opennebula") {
			at = e.At
		}
	}
	return at
}

// hostState returns host id's STATE in node's database.
func hostState(c *Cloud, name string, id int) int {
	var st int
	withNode(c, name, func(n *node) {
		for _, h := range n.DB.hosts() {
			if h.ID == id {
				st = h.State
			}
		}
	})
	return st
}

// leaderAfter returns when the first leader after since was elected.
func leaderAfter(c *Cloud, since time.Time) (time.Time, bool) {
	for _, e := range c.Events() {
		if e.Kind == EventLeader && !e.At.Before(since) {
			return e.At, true
		}
	}
	return time.Time{}, false
}

// Followers get the leader's last heartbeat in the same round and time out
// together (RaftManager::timer_action, 50 ms timer); when they split the
// vote each backs off a random 0-5 s (RaftManager::request_vote). The
// election after a leader's stop is a distribution over seeds, not a
// fixed 5 s.
func TestElectionAfterLeaderStopIsADistribution(t *testing.T) {
	t.Parallel()
	var delays []time.Duration
	for seed := range uint64(50) {
		c, err := HA(3, "7.2.0", WithSeed(seed))
		require.NoError(t, err)
		ok(t, c, "fe1", "systemctl", "stop", "opennebula")
		stop := onedStopped(c, "fe1")
		withNode(c, "fe2", func(n2 *node) {
			gap := n2.ElectAt.Sub(c.st.Nodes["fe3"].ElectAt).Abs()
			assert.Less(t, gap, timerPeriod, "seed %d: followers time out within one timer period", seed)
		})
		require.NoError(t, c.Clock().Sleep(context.Background(), time.Minute))
		ok(t, c, "fe2", "onezone", "show", "0")
		at, found := leaderAfter(c, stop)
		require.True(t, found, "seed %d: a leader is elected", seed)
		d := at.Sub(stop)
		assert.GreaterOrEqual(t, d, electionTimeout-broadcastTimeout, "seed %d", seed)
		delays = append(delays, d)
	}
	slices.Sort(delays)
	split := 0
	for _, d := range delays {
		if d > electionTimeout+timerPeriod {
			split++
		}
	}
	t.Logf("election after the leader's stop over 50 seeds: min %s, median %s, max %s, %d split votes",
		delays[0], delays[len(delays)/2], delays[len(delays)-1], split)
	assert.Positive(t, split, "some seeds split the vote and back off")
	assert.Less(t, split, len(delays), "most seeds elect at the first timeout")
	assert.Less(t, delays[len(delays)-1], 30*time.Second)
	assert.NotEqual(t, delays[0], delays[len(delays)-1], "seeds differ")
}

// The same seed gives the same elections.
func TestElectionsReproducibleBySeed(t *testing.T) {
	t.Parallel()
	run := func() time.Duration {
		c, err := HA(3, "7.2.0", WithSeed(7))
		require.NoError(t, err)
		ok(t, c, "fe1", "systemctl", "stop", "opennebula")
		stop := onedStopped(c, "fe1")
		require.NoError(t, c.Clock().Sleep(context.Background(), time.Minute))
		ok(t, c, "fe2", "onezone", "show", "0")
		at, found := leaderAfter(c, stop)
		require.True(t, found)
		return at.Sub(stop)
	}
	assert.Equal(t, run(), run())
}

// A write the leader cannot commit waits 90 s (SyncRequest::wait) and
// fails, but its record stays in logdb with applied = 0 (LogDB::_exec_wr)
// and the next committed write applies it (LogDB::apply_log_records): the
// client was told it failed, and it happened.
func TestUncommittedWriteWaitsAndIsAppliedLater(t *testing.T) {
	t.Parallel()
	c, err := HA(3, "7.2.0")
	require.NoError(t, err)
	ok(t, c, "fe2", "systemctl", "stop", "opennebula")
	ok(t, c, "fe3", "systemctl", "stop", "opennebula")
	before := c.Now()
	res := do(t, c, "fe1", "onehost", "disable", "0")
	assert.Equal(t, 255, res.ExitCode)
	assert.Equal(t, "[one.host.status] Cannot replicate log record on followers\n", string(res.Stderr))
	assert.GreaterOrEqual(t, c.Now().Sub(before), writeWait, "the call waits for the replication timeout")
	assert.Equal(t, HostMonitored, hostState(c, "fe1", 0), "not applied yet")
	withNode(c, "fe1", func(n *node) {
		require.Len(t, n.DB.Unapplied, 1, "the record stays in logdb, applied = 0")
		assert.Equal(t, n.DB.LogIndex, n.DB.Unapplied[0].Index)
		assert.Equal(t, n.DB.LogIndex-1, n.DB.Commit)
	})
	ok(t, c, "fe2", "systemctl", "start", "opennebula")
	ok(t, c, "fe1", "onehost", "disable", "1")
	assert.Equal(t, HostDisabled, hostState(c, "fe1", 0), "the failed call was applied")
	var applied []string
	for _, e := range c.Events() {
		if e.Kind == EventLogApplied {
			applied = append(applied, e.Detail)
		}
	}
	require.Len(t, applied, 1)
	assert.True(t, strings.Contains(applied[0], "one.host.status"), applied[0])
}

// The records not applied travel in the leader's backup: a server
// restored from it and elected leader applies them, on whatever schema it
// has by then.
func TestUnappliedRecordsTravelInBackup(t *testing.T) {
	t.Parallel()
	c, err := HA(3, "7.2.0")
	require.NoError(t, err)
	ok(t, c, "fe2", "systemctl", "stop", "opennebula")
	ok(t, c, "fe3", "systemctl", "stop", "opennebula")
	do(t, c, "fe1", "onehost", "disable", "0")
	ok(t, c, "fe1", "systemctl", "stop", "opennebula")
	ok(t, c, "fe1", "onedb", "backup", "-f", "--", "/var/tmp/leader.sql")
	data, err := c.ReadFile("fe1", "/var/tmp/leader.sql")
	require.NoError(t, err)
	d, _, err := readDump(data)
	require.NoError(t, err)
	require.Len(t, d.Unapplied, 1)
	assert.Equal(t, "7.2.0", d.Unapplied[0].Version)
}
