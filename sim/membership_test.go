package sim

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/transport"
)

func logIndexes(t *testing.T, c *Cloud, via string) []string {
	t.Helper()
	out := ok(t, c, via, "onezone", "show", "0", "-x")
	return regexpAll(out, `<LOG_INDEX>(\d+|-)</LOG_INDEX>`)
}

// TestMonitoringIsLocalToLeader: only the leader's monitor daemon writes
// host_monitoring and vm_monitoring, outside the Raft log.
func TestMonitoringIsLocalToLeader(t *testing.T) {
	t.Parallel()
	c, err := HA(3, "7.2.0")
	require.NoError(t, err)
	before := logIndexes(t, c, "fe1")
	require.NoError(t, c.Clock().Sleep(context.Background(), 3*time.Minute))
	l, err := c.TableChecksums("fe1")
	require.NoError(t, err)
	for _, f := range []string{"fe2", "fe3"} {
		s, err := c.TableChecksums(f)
		require.NoError(t, err)
		assert.NotEqual(t, l["host_monitoring"], s["host_monitoring"], f)
		assert.NotEqual(t, l["vm_monitoring"], s["vm_monitoring"], f)
		assert.Equal(t, replicated(l), replicated(s), f)
	}
	assert.Equal(t, before, logIndexes(t, c, "fe1"), "monitoring writes no log record")
}

// seedAndAdd removes running follower f (server sid) the safe way,
// re-seeds it from a fresh leader backup and adds it back; it returns
// the new server ID.
func seedAndAdd(t *testing.T, c *Cloud, f string, sid int, rpc string) string {
	t.Helper()
	stopServices(t, c, f)
	ok(t, c, "fe1", "onezone", "server-del", "0", strconv.Itoa(sid))
	ok(t, c, "fe1", "onedb", "backup", "-f", "--", "/var/tmp/seed.sql")
	copyFile(t, c, "fe1", f, "/var/tmp/seed.sql", "/var/tmp/seed.sql")
	res := doCmd(t, c, f, transport.Command{Path: "onedb", Args: []string{"restore", "-f", "--", "/var/tmp/seed.sql"}, Env: localEP})
	require.Equal(t, 0, res.ExitCode, string(res.Stderr))
	ok(t, c, "fe1", "onezone", "server-add", "0", "--name", f, "--rpc", rpc)
	ids := regexpAll(ok(t, c, "fe1", "onezone", "show", "0", "-x"), `<ID><!\[CDATA\[(\d+)\]\]></ID>`)
	id := ids[len(ids)-1]
	ok(t, c, f, "sed", "-i", "s/SERVER_ID        = [0-9]*,/SERVER_ID        = "+id+",/", "/etc/one/oned.conf")
	startServices(t, c, f)
	ok(t, c, "fe1", "onezone", "server-reset", "0", id)
	require.NoError(t, c.Clock().Sleep(context.Background(), 30*time.Second))
	return id
}

// TestServerAddRecordMissesSeededFollower: server-add's own record is
// written after the seed backup and the new server's next index is past
// it, so the follower lags by one until the next replicated write. The
// re-added server gets max(existing)+1, its old ID when it was the
// highest.
func TestServerAddRecordMissesSeededFollower(t *testing.T) {
	t.Parallel()
	c, err := HA(3, "7.2.0")
	require.NoError(t, err)
	id := seedAndAdd(t, c, "fe3", 2, "http://10.0.0.13:2633/RPC2")
	assert.Equal(t, "2", id, "max(0, 1) + 1")
	idx := logIndexes(t, c, "fe1")
	li, _ := strconv.Atoi(idx[0])
	assert.Equal(t, strconv.Itoa(li-1), idx[2], "fe3 lacks the server-add record")
	assert.Equal(t, idx[0], idx[1], "fe2 has it")

	ok(t, c, "fe1", "onezone", "enable", "0")
	require.NoError(t, c.Clock().Sleep(context.Background(), time.Second))
	idx = logIndexes(t, c, "fe1")
	assert.Equal(t, []string{idx[0], idx[0], idx[0]}, idx, "the next write brings fe3 in step")

	// Re-adding the middle server: ID 3, not the freed 1.
	assert.Equal(t, "3", seedAndAdd(t, c, "fe2", 1, "http://10.0.0.12:2633/RPC2"))
}

// TestDeletedRunningFollowerDeposesLeader: a follower deleted while it
// runs campaigns with a higher term and the leader steps down, again and
// again until it stops; stopped first, nothing happens.
func TestDeletedRunningFollowerDeposesLeader(t *testing.T) {
	t.Parallel()
	c, err := HA(3, "7.2.0")
	require.NoError(t, err)
	ok(t, c, "fe1", "onezone", "server-del", "0", "2")
	require.NoError(t, c.Clock().Sleep(context.Background(), 30*time.Second))
	do(t, c, "fe2", "onezone", "list") // the model advances with each command
	assert.NotEmpty(t, c.WriteWindows(0), "the leader was deposed")
	log, err := c.ReadFile("fe1", "/var/log/one/oned.log")
	require.NoError(t, err)
	assert.Contains(t, string(log), "discovered from candidate 2")
	n := len(c.WriteWindows(0))
	stopServices(t, c, "fe3")
	require.NoError(t, c.Clock().Sleep(context.Background(), time.Minute))
	do(t, c, "fe2", "onezone", "list")
	n = len(c.WriteWindows(0))
	require.NoError(t, c.Clock().Sleep(context.Background(), time.Minute))
	do(t, c, "fe2", "onezone", "list")
	assert.Len(t, c.WriteWindows(0), n, "quiet once the removed server stopped")

	c2, err := HA(3, "7.2.0")
	require.NoError(t, err)
	stopServices(t, c2, "fe3")
	ok(t, c2, "fe1", "onezone", "server-del", "0", "2")
	require.NoError(t, c2.Clock().Sleep(context.Background(), time.Minute))
	do(t, c2, "fe2", "onezone", "list")
	assert.Empty(t, c2.WriteWindows(0), "stopped, then deleted: the leader stays")
}

// TestFederatedRestoreReplacesLogdb: onedb restore --federated replaces
// the slave's whole logdb with the master's.
func TestFederatedRestoreReplacesLogdb(t *testing.T) {
	t.Parallel()
	c, err := Federation("7.4.0")
	require.NoError(t, err)
	ok(t, c, "fr-fe1", "onedb", "backup", "--federated", "-f", "--", "/var/tmp/fed.sql")
	copyFile(t, c, "fr-fe1", "ge-fe2", "/var/tmp/fed.sql", "/var/tmp/fed.sql")
	stopServices(t, c, "ge-fe2")
	res := doCmd(t, c, "ge-fe2", transport.Command{Path: "onedb", Args: []string{"restore", "--federated", "--", "/var/tmp/fed.sql"}, Env: localEP})
	require.Equal(t, 0, res.ExitCode, string(res.Stderr))
	m, err := c.Status("fr-fe1")
	require.NoError(t, err)
	s, err := c.Status("ge-fe2")
	require.NoError(t, err)
	f, err := c.Status("ge-fe1")
	require.NoError(t, err)
	assert.Equal(t, m.LogIndex, s.LogIndex, "the master's log replaced the slave's")
	assert.NotEqual(t, f.LogIndex, s.LogIndex, "its followers keep the old log until re-seeded")
	dump, err := c.ReadFile("fr-fe1", "/var/tmp/fed.sql")
	require.NoError(t, err)
	assert.True(t, strings.Contains(string(dump), "INSERT INTO `logdb`"))
}

// TestDumpCarriesLog: a backup holds the Raft log (logdb rows), so a
// follower restored from it shares the leader's history.
func TestDumpCarriesLog(t *testing.T) {
	t.Parallel()
	c, err := HA(3, "7.2.0")
	require.NoError(t, err)
	ok(t, c, "fe1", "onehost", "disable", "0")
	ok(t, c, "fe1", "onehost", "enable", "0")
	d := c.st.Nodes["fe1"].DB
	got, fed, err := readDump(writeDump(d, "localhost", false, time.Unix(0, 0)))
	require.NoError(t, err)
	assert.False(t, fed)
	assert.Equal(t, d.Log, got.Log)
	assert.Equal(t, []string{"host_pool"}, got.Log[len(got.Log)-1].Tables)
	assert.Equal(t, [3]int64{d.LogBase, d.BaseTerm, d.LogIndex}, [3]int64{got.LogBase, got.BaseTerm, got.LogIndex})
}
