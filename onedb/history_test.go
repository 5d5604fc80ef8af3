package onedb

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/transport/fake"
)

// No sample exists for `onedb history`; this transcript follows the
// format onedb prints (Version/Timestamp/Comment, blank line per row).
const historyOut = `Version:   7.2.0
Timestamp: 11/21 09:02:11
Comment:   OpenNebula 7.2.0 (0a1b2c3d) daemon bootstrap

Version:   7.4.0
Timestamp: 11/21 10:25:02
Comment:   Database migrated from 7.2.0 to 7.4.0 (OpenNebula 7.4.0) by onedb command.

`

func TestHistory(t *testing.T) {
	t.Parallel()
	f := fake.New("fe1")
	f.Expect(fake.Exact("onedb", "history")).Reply(historyOut)
	got, err := History(context.Background(), f)
	require.NoError(t, err)
	assert.Equal(t, []HistoryEntry{
		{Version: "7.2.0", Timestamp: "11/21 09:02:11", Comment: "OpenNebula 7.2.0 (0a1b2c3d) daemon bootstrap"},
		{Version: "7.4.0", Timestamp: "11/21 10:25:02", Comment: "Database migrated from 7.2.0 to 7.4.0 (OpenNebula 7.4.0) by onedb command."},
	}, got)
	assert.True(t, f.Calls()[0].Command.ReadOnly)
	f.AssertExpectations(t)
}

func TestHistoryFailures(t *testing.T) {
	t.Parallel()
	for name, in := range map[string]string{
		"empty":          "",
		"truncated":      historyOut[:110],
		"cut timestamp":  historyOut[:30],
		"missing field":  "Version:   7.2.0\nComment:   x\n",
		"bad version":    "Version:   seven\nTimestamp: 11/21 09:02:11\nComment:   x\n",
		"bad timestamp":  "Version:   7.2.0\nTimestamp: yesterday\nComment:   x\n",
		"stray line":     historyOut + "garbage\n",
		"blank in entry": "Version:   7.2.0\n\nTimestamp: 11/21 09:02:11\nComment:   x\n",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseHistory([]byte(in))
			assert.ErrorIs(t, err, ErrMalformedOutput)
		})
	}
	f := fake.New("fe1")
	f.Expect(fake.Exact("onedb", "history")).Exit(255, "Error connecting to DB: Mysql2::Error::ConnectionError: Can't connect\n")
	_, err := History(context.Background(), f)
	requireCommandError(t, err, ErrDBConnect)
}
