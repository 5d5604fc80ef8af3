package onedb

import (
	"context"
	"errors"
	"fmt"
)

// ErrUnappliedLog: the database's Raft log holds records never applied
// (see *UnappliedLogError).
var ErrUnappliedLog = errors.New("raft log has unapplied records")

// RaftLog summarises one server's Raft log: the logdb table of
// OpenNebula's src/sql/OneDB.cc (release-7.2.0, release-7.4.0),
//
//	logdb (log_index BIGINT UNSIGNED PRIMARY KEY, term INTEGER,
//	       sqlcmd MEDIUMTEXT, timestamp INTEGER,
//	       fed_index BIGINT UNSIGNED, applied BOOLEAN)
//
// A leader writes every change into logdb with applied = 0 and timestamp
// 0 before replicating it (LogDB::_exec_wr in src/sql/LogDB.cc), and sets
// applied = 1 only once a majority has it. A record whose replication
// timed out stays with applied = 0, and whoever leads next applies it
// (RaftManager::leader, LogDB::apply_log_records): its SQL runs then,
// even on a database migrated in between, and even though its client was
// told the call failed.
type RaftLog struct {
	// LastIndex is MAX(log_index), LastApplied the highest applied one
	// (0 in an empty log).
	LastIndex, LastApplied uint64
	// Unapplied counts the rows with applied = 0; First and Last are the
	// lowest and highest of their log_index values.
	Unapplied   int64
	First, Last uint64
}

// Err returns nil when every record is applied, else an
// *UnappliedLogError.
func (l RaftLog) Err() error {
	if l.Unapplied == 0 {
		return nil
	}
	return &UnappliedLogError{Log: l}
}

// UnappliedLogError reports a Raft log with records never applied: do not
// upgrade that database (the next leader would run their old SQL on the
// new schema). Start the old release's zone again so that its leader
// applies them, check the result, and stop it with no client writing.
type UnappliedLogError struct {
	Log RaftLog
}

func (e *UnappliedLogError) Error() string {
	return fmt.Sprintf("onedb: %v: %d logdb record(s) with applied = 0 (log_index %d..%d, last applied %d)",
		ErrUnappliedLog, e.Log.Unapplied, e.Log.First, e.Log.Last, e.Log.LastApplied)
}

// Is reports ErrUnappliedLog.
func (e *UnappliedLogError) Is(target error) bool { return target == ErrUnappliedLog }

// RaftLog reads the state of the database's Raft log (see RaftLog). A
// database without a logdb table gives an error matching
// ErrNotBootstrapped.
func (db *DB) RaftLog(ctx context.Context) (RaftLog, error) {
	// The same predicates as LogDB::setup_index: applied = '1' for the
	// last applied record; the rest are applied = '0'.
	const q = "SELECT COALESCE(MAX(log_index), 0)," +
		" COALESCE(MAX(CASE WHEN applied = '1' THEN log_index END), 0)," +
		" COUNT(CASE WHEN applied = '0' THEN 1 END)," +
		" COALESCE(MIN(CASE WHEN applied = '0' THEN log_index END), 0)," +
		" COALESCE(MAX(CASE WHEN applied = '0' THEN log_index END), 0)" +
		" FROM logdb"
	var l RaftLog
	err := db.db.QueryRowContext(ctx, q).Scan(&l.LastIndex, &l.LastApplied, &l.Unapplied, &l.First, &l.Last)
	if err != nil {
		return RaftLog{}, fmt.Errorf("onedb: logdb: %w", classifySQL(err))
	}
	return l, nil
}
