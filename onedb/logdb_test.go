package onedb

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// logdbSchema is logdb as oned creates it (one_db::log_db_bootstrap in
// OpenNebula's src/sql/OneDB.cc, release-7.4.0).
const logdbSchema = "CREATE TABLE IF NOT EXISTS logdb (log_index BIGINT UNSIGNED PRIMARY KEY, term INTEGER, sqlcmd MEDIUMTEXT, " +
	"timestamp INTEGER, fed_index BIGINT UNSIGNED, applied BOOLEAN)"

func TestRaftLogOnRealMariaDB(t *testing.T) {
	t.Parallel()
	srv := requireServer(t)
	d := newDatabase(t, srv, logdbSchema)
	db, _ := open(t, d.conn)
	ctx := context.Background()

	// Only the zero record LogDB's constructor writes (applied, its
	// fed_index UINT64_MAX).
	_, err := d.root.Exec("INSERT INTO logdb VALUES (0, 0, 'MTc2Mzc=', 1763720000, 18446744073709551615, '1')")
	require.NoError(t, err)
	l, err := db.RaftLog(ctx)
	require.NoError(t, err)
	assert.Equal(t, RaftLog{}, l)
	require.NoError(t, l.Err())

	// Committed records carry their apply time and applied = '1'; the
	// ones a leader could not replicate keep timestamp 0, applied = '0'
	// (LogDB::insert, LogDB::apply_log_record).
	for _, q := range []string{
		"INSERT INTO logdb VALUES (1, 3, 'eJwr', 1763720100, 18446744073709551615, '1')",
		"INSERT INTO logdb VALUES (2, 3, 'eJwr', 1763720101, 18446744073709551615, '1')",
		"INSERT INTO logdb VALUES (3, 3, 'eJwr', 0, 18446744073709551615, '0')",
		"INSERT INTO logdb VALUES (4, 3, 'eJwr', 0, 4, '0')",
	} {
		_, err := d.root.Exec(q)
		require.NoError(t, err)
	}
	l, err = db.RaftLog(ctx)
	require.NoError(t, err)
	assert.Equal(t, RaftLog{LastIndex: 4, LastApplied: 2, Unapplied: 2, First: 3, Last: 4}, l)
	err = l.Err()
	require.ErrorIs(t, err, ErrUnappliedLog)
	ue, ok := errors.AsType[*UnappliedLogError](err)
	require.True(t, ok)
	assert.Equal(t, l, ue.Log)
	assert.Contains(t, err.Error(), "2 logdb record(s) with applied = 0 (log_index 3..4, last applied 2)")

	// The next leader applies them (LogDB::apply_log_record).
	_, err = d.root.Exec("UPDATE logdb SET timestamp = 1763720200, applied = '1' WHERE timestamp = 0")
	require.NoError(t, err)
	l, err = db.RaftLog(ctx)
	require.NoError(t, err)
	assert.NoError(t, l.Err())
	assert.Equal(t, uint64(4), l.LastApplied)
}

func TestRaftLogWithoutTable(t *testing.T) {
	t.Parallel()
	srv := requireServer(t)
	d := newDatabase(t, srv, "")
	db, _ := open(t, d.conn)
	_, err := db.RaftLog(context.Background())
	assert.ErrorIs(t, err, ErrNotBootstrapped)
}
