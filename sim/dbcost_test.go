package sim

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOnedbCostsFollowTheLog: onedb's database work is charged for the
// Raft log a zone with that log index holds, and a copy of the backup
// costs what the real file would.
func TestOnedbCostsFollowTheLog(t *testing.T) {
	t.Parallel()
	took := func(c *Cloud, node string, argv ...string) time.Duration {
		t.Helper()
		start := c.Now()
		ok(t, c, node, argv...)
		return c.Now().Sub(start)
	}
	solo, err := Solo("7.4.0")
	require.NoError(t, err)
	ha, err := HA(3, "7.4.0")
	require.NoError(t, err)
	small := took(solo, "fe1", "onedb", "backup", "-f", "/var/tmp/db.sql")
	big := took(ha, "fe1", "onedb", "backup", "-f", "/var/tmp/db.sql")
	const rows = 184233 // HA's log index, below LOG_RETENTION
	assert.InDelta(t, rows*logRowBytes/dumpRate, (big - small).Seconds(), 0.01, "mysqldump of %d logdb rows", rows)
	assert.Greater(t, big-small, time.Second)

	b, err := ha.ReadFile("fe1", "/var/tmp/db.sql")
	require.NoError(t, err)
	assert.Equal(t, int64(len(b))+rows*logRowBytes, modelledSize(b))
	assert.Equal(t, int64(len("plain")), modelledSize([]byte("plain")))

	// The restore reads the same modelled size, 4x slower than the dump.
	ok(t, solo, "fe1", "systemctl", "stop", "opennebula")
	require.NoError(t, solo.WriteFile("fe1", "/var/tmp/ha.sql", b, 0o600))
	restore := took(solo, "fe1", "onedb", "restore", "-f", "/var/tmp/ha.sql")
	assert.InDelta(t, restoreCost(b).Seconds()+baseCost("onedb").Seconds(), restore.Seconds(), 0.05)
	assert.Greater(t, restore, 3*(big-small))

	// A federated log beyond LOG_RETENTION is capped.
	assert.Equal(t, int64(logRetention), logRecords(&database{LogIndex: 930211}))
	huge := fmt.Appendf(nil, "x\n-- upgradekit-sim log_records=%d\n", int64(1)<<62)
	assert.Equal(t, int64(len(huge))+logRetention*logRowBytes, modelledSize(huge))
}
