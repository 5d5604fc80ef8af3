package onedb

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"maps"
	"slices"
	"strings"
)

// Raft-local state that legitimately differs between the servers of one
// HA zone once they run (src/raft/RaftManager.cc, src/sql/LogDB.cc in OpenNebula/one): every server keeps and purges its own
// copy of the replicated log, and stores its own term and vote.
const (
	// RaftLogTable is the replicated log, logdb(log_index, term, sqlcmd,
	// timestamp, fed_index, applied). Each server purges it on its own
	// schedule (LOG_PURGE_TIMEOUT, LIMIT_PURGE) and a follower may hold
	// entries the leader has not committed yet, so its rows differ even
	// between servers whose data tables are identical.
	RaftLogTable = "logdb"
	// RaftStateTable and RaftStateRow locate each server's own Raft term
	// and vote: the system_attributes row named RAFT_STATE.
	RaftStateTable = "system_attributes"
	RaftStateRow   = "RAFT_STATE"
)

// LocalTables are the tables oned writes outside the Raft log, so they
// differ between the servers of a running HA zone: RaftLogTable, and the
// monitoring tables, which only the leader's monitor daemon fills
// (src/monitor/src/monitor/HostMonitorManager.cc ignores monitoring
// unless it leads; src/monitor/src/data_model/HostRPCPool.cc and
// VMRPCPool.cc write them with SqlDB::exec_local_wr, never replicated),
// disabled hosts included. In OpenNebula release-7.4.0 every other
// exec_local_wr is a bootstrap CREATE TABLE. Checksums leaves them out by
// default.
func LocalTables() []string { return []string{RaftLogTable, "host_monitoring", "vm_monitoring"} }

// A ChecksumOption changes what Checksums covers.
type ChecksumOption interface {
	applyChecksum(*checksumOptions) error
}

type checksumFunc func(*checksumOptions) error

func (f checksumFunc) applyChecksum(o *checksumOptions) error { return f(o) }

type rowFilter struct {
	column string
	values []string
}

type checksumOptions struct {
	noDefaults bool
	tables     map[string]bool
	rows       map[string]rowFilter
}

// ExcludeTables leaves the named tables out of the checksums (for
// example monitoring tables when comparing servers that are running).
func ExcludeTables(names ...string) ChecksumOption {
	return checksumFunc(func(o *checksumOptions) error {
		for _, n := range names {
			if n == "" {
				return fmt.Errorf("%w: ExcludeTables with an empty name", ErrInvalidOption)
			}
			o.tables[n] = true
		}
		return nil
	})
}

// ExcludeRows checksums table without the rows whose column equals one
// of values. Such a table is hashed row by row in primary-column order
// instead of with CHECKSUM TABLE.
func ExcludeRows(table, column string, values ...string) ChecksumOption {
	return checksumFunc(func(o *checksumOptions) error {
		if table == "" || column == "" || len(values) == 0 {
			return fmt.Errorf("%w: ExcludeRows needs a table, a column and values", ErrInvalidOption)
		}
		f := o.rows[table]
		if f.column != "" && f.column != column {
			return fmt.Errorf("%w: ExcludeRows on %s: one column per table", ErrInvalidOption, table)
		}
		f.column = column
		f.values = append(f.values, values...)
		o.rows[table] = f
		return nil
	})
}

// NoDefaultExclusions includes the Raft-local state (RaftLogTable and the
// RaftStateRow of RaftStateTable) that Checksums leaves out by default.
// Use it to prove that a follower holds an exact copy of the leader's
// database right after `onedb restore`, before either oned starts: a
// full restore copies the leader's term and whole logdb.
func NoDefaultExclusions() ChecksumOption {
	return checksumFunc(func(o *checksumOptions) error { o.noDefaults = true; return nil })
}

// TableChecksums is a fingerprint of one database. Compare two of them
// taken with the same options.
type TableChecksums struct {
	// Schema is the database name.
	Schema string
	// Tables maps every base table to its CHECKSUM TABLE … EXTENDED value
	// (or to a row hash for tables with ExcludeRows).
	Tables map[string]uint64
	// Routines maps "PROCEDURE name" / "FUNCTION name" to a SHA-256 of its
	// definition, characteristics and parameters; Triggers maps a trigger
	// name to a SHA-256 of its table, timing, event, order and statement.
	// CHECKSUM TABLE covers neither. DEFINER and creation times are left
	// out: they legitimately differ between copies.
	Routines, Triggers map[string]string
	// Definitions maps every checksummed table to a SHA-256 of its columns
	// (name, position, type, nullability, default, collation, extra) and
	// indexes, which CHECKSUM TABLE does not cover: two empty tables
	// checksum to 0 whatever their columns.
	Definitions map[string]string
	// Excluded describes what was left out, e.g. "logdb" and
	// "system_attributes rows with name in [RAFT_STATE]".
	Excluded []string
}

// Checksums fingerprints every base table, routine and trigger of the
// database. By default what each server writes on its own is left out
// (LocalTables, and the RaftStateTable row RaftStateRow): after a full
// restore and a restart the followers apply the leader's SQL, so every
// other table must match, while those diverge by design. Options: ExcludeTables, ExcludeRows,
// NoDefaultExclusions.
//
// CHECKSUM TABLE is not transactional across tables: take checksums while
// oned is stopped (or the zone is quiet), and compare servers running the
// same MySQL/MariaDB version, since the checksum depends on the row format.
func (db *DB) Checksums(ctx context.Context, opts ...ChecksumOption) (TableChecksums, error) {
	o := &checksumOptions{tables: map[string]bool{}, rows: map[string]rowFilter{}}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt.applyChecksum(o); err != nil {
			return TableChecksums{}, fmt.Errorf("onedb checksums: %w", err)
		}
	}
	if !o.noDefaults {
		for _, t := range LocalTables() {
			o.tables[t] = true
		}
		if f := o.rows[RaftStateTable]; f.column == "" || f.column == "name" {
			f.column = "name"
			f.values = append(f.values, RaftStateRow)
			o.rows[RaftStateTable] = f
		}
	}
	sum := TableChecksums{Schema: db.name, Tables: map[string]uint64{}, Routines: map[string]string{},
		Triggers: map[string]string{}, Definitions: map[string]string{}}
	for _, t := range slices.Sorted(maps.Keys(o.tables)) {
		sum.Excluded = append(sum.Excluded, t)
	}
	for _, t := range slices.Sorted(maps.Keys(o.rows)) {
		if o.tables[t] {
			continue
		}
		f := o.rows[t]
		sum.Excluded = append(sum.Excluded, fmt.Sprintf("%s rows with %s in %v", t, f.column, f.values))
	}

	tables, err := db.baseTables(ctx)
	if err != nil {
		return TableChecksums{}, err
	}
	var plain []string
	for _, t := range tables {
		switch {
		case o.tables[t]:
		case o.rows[t].column != "":
			h, err := db.rowHash(ctx, t, o.rows[t])
			if err != nil {
				return TableChecksums{}, err
			}
			sum.Tables[t] = h
		default:
			plain = append(plain, t)
		}
	}
	if err := db.checksumTables(ctx, plain, sum.Tables); err != nil {
		return TableChecksums{}, err
	}
	if err := db.definitions(ctx, sum.Tables, sum.Definitions); err != nil {
		return TableChecksums{}, err
	}
	if err := db.routines(ctx, sum.Routines); err != nil {
		return TableChecksums{}, err
	}
	if err := db.triggers(ctx, sum.Triggers); err != nil {
		return TableChecksums{}, err
	}
	return sum, nil
}

func (db *DB) baseTables(ctx context.Context) ([]string, error) {
	rows, err := db.db.QueryContext(ctx,
		"SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME")
	if err != nil {
		return nil, fmt.Errorf("onedb checksums: list tables: %w", classifySQL(err))
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("onedb checksums: list tables: %w", err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("onedb checksums: list tables: %w", classifySQL(err))
	}
	return names, nil
}

func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

func (db *DB) checksumTables(ctx context.Context, tables []string, into map[string]uint64) error {
	if len(tables) == 0 {
		return nil
	}
	quoted := make([]string, len(tables))
	byName := make(map[string]string, len(tables))
	for i, t := range tables {
		quoted[i] = quoteIdent(t)
		byName[db.name+"."+t] = t
	}
	rows, err := db.db.QueryContext(ctx, "CHECKSUM TABLE "+strings.Join(quoted, ", ")+" EXTENDED")
	if err != nil {
		return fmt.Errorf("onedb checksums: %w", classifySQL(err))
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var raw sql.RawBytes
		if err := rows.Scan(&name, &raw); err != nil {
			return fmt.Errorf("onedb checksums: %w", err)
		}
		t, ok := byName[name]
		if !ok {
			return fmt.Errorf("onedb checksums: unexpected table %q in CHECKSUM TABLE result", name)
		}
		if raw == nil {
			return fmt.Errorf("onedb checksums: table %s vanished during CHECKSUM TABLE", t)
		}
		var v uint64
		if _, err := fmt.Sscan(string(raw), &v); err != nil {
			return fmt.Errorf("onedb checksums: table %s: checksum %q: %w", t, raw, err)
		}
		into[t] = v
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("onedb checksums: %w", classifySQL(err))
	}
	for _, t := range tables {
		if _, ok := into[t]; !ok {
			return fmt.Errorf("onedb checksums: no checksum for table %s", t)
		}
	}
	return nil
}

// rowHash hashes the rows of table except those filtered, ordered by all
// columns.
func (db *DB) rowHash(ctx context.Context, table string, f rowFilter) (uint64, error) {
	var ncols int
	err := db.db.QueryRowContext(ctx,
		"SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?", table).Scan(&ncols)
	if err != nil {
		return 0, fmt.Errorf("onedb checksums: %s: %w", table, classifySQL(err))
	}
	if ncols == 0 {
		return 0, fmt.Errorf("onedb checksums: %s: no columns", table)
	}
	order := make([]string, ncols)
	for i := range order {
		order[i] = fmt.Sprint(i + 1)
	}
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(f.values)), ", ")
	col := quoteIdent(f.column)
	q := fmt.Sprintf("SELECT * FROM %s WHERE (%s IS NULL OR %s NOT IN (%s)) ORDER BY %s",
		quoteIdent(table), col, col, marks, strings.Join(order, ", "))
	args := make([]any, len(f.values))
	for i, v := range f.values {
		args[i] = v
	}
	rows, err := db.db.QueryContext(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("onedb checksums: %s: %w", table, classifySQL(err))
	}
	defer rows.Close()
	h := sha256.New()
	vals := make([]sql.RawBytes, ncols)
	ptrs := make([]any, ncols)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return 0, fmt.Errorf("onedb checksums: %s: %w", table, err)
		}
		for _, v := range vals {
			writeField(h, v, v == nil)
		}
		h.Write([]byte{'\n'})
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("onedb checksums: %s: %w", table, classifySQL(err))
	}
	return binary.BigEndian.Uint64(h.Sum(nil)[:8]), nil
}

// writeField writes an unambiguous encoding of one value.
func writeField(h hash.Hash, v []byte, null bool) {
	if null {
		h.Write([]byte{0xff})
		return
	}
	var n [9]byte
	n[0] = 1
	binary.BigEndian.PutUint64(n[1:], uint64(len(v)))
	h.Write(n[:])
	h.Write(v)
}

func hashStrings(vs ...sql.NullString) string {
	h := sha256.New()
	for _, v := range vs {
		writeField(h, []byte(v.String), !v.Valid)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// definitions hashes the columns and indexes of every table in tables.
func (db *DB) definitions(ctx context.Context, tables map[string]uint64, into map[string]string) error {
	fields := map[string][]sql.NullString{}
	collect := func(what, q string, n int) error {
		rows, err := db.db.QueryContext(ctx, q)
		if err != nil {
			return fmt.Errorf("onedb checksums: %s: %w", what, classifySQL(err))
		}
		defer rows.Close()
		for rows.Next() {
			var table string
			vals := make([]sql.NullString, n)
			dest := []any{&table}
			for i := range vals {
				dest = append(dest, &vals[i])
			}
			if err := rows.Scan(dest...); err != nil {
				return fmt.Errorf("onedb checksums: %s: %w", what, err)
			}
			if _, ok := tables[table]; ok {
				fields[table] = append(append(fields[table], sql.NullString{String: what, Valid: true}), vals...)
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("onedb checksums: %s: %w", what, classifySQL(err))
		}
		return nil
	}
	err := collect("columns", `SELECT TABLE_NAME, COLUMN_NAME, CAST(ORDINAL_POSITION AS CHAR), COLUMN_TYPE, IS_NULLABLE,
		        COLUMN_DEFAULT, COLLATION_NAME, EXTRA
		   FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()
		  ORDER BY TABLE_NAME, ORDINAL_POSITION`, 7)
	if err != nil {
		return err
	}
	err = collect("indexes", `SELECT TABLE_NAME, INDEX_NAME, CAST(SEQ_IN_INDEX AS CHAR), COLUMN_NAME, CAST(NON_UNIQUE AS CHAR), INDEX_TYPE
		   FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE()
		  ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX`, 5)
	if err != nil {
		return err
	}
	for t := range tables {
		into[t] = hashStrings(fields[t]...)
	}
	return nil
}

func (db *DB) routines(ctx context.Context, into map[string]string) error {
	params := map[string][]sql.NullString{}
	prows, err := db.db.QueryContext(ctx,
		`SELECT ROUTINE_TYPE, SPECIFIC_NAME, CAST(ORDINAL_POSITION AS CHAR), PARAMETER_MODE, PARAMETER_NAME, DTD_IDENTIFIER
		   FROM information_schema.PARAMETERS WHERE SPECIFIC_SCHEMA = DATABASE()
		  ORDER BY ROUTINE_TYPE, SPECIFIC_NAME, ORDINAL_POSITION`)
	if err != nil {
		return fmt.Errorf("onedb checksums: routine parameters: %w", classifySQL(err))
	}
	defer prows.Close()
	for prows.Next() {
		var typ, name string
		var pos, mode, pname, dtd sql.NullString
		if err := prows.Scan(&typ, &name, &pos, &mode, &pname, &dtd); err != nil {
			return fmt.Errorf("onedb checksums: routine parameters: %w", err)
		}
		k := typ + " " + name
		params[k] = append(params[k], pos, mode, pname, dtd)
	}
	if err := prows.Err(); err != nil {
		return fmt.Errorf("onedb checksums: routine parameters: %w", classifySQL(err))
	}
	rows, err := db.db.QueryContext(ctx,
		`SELECT ROUTINE_TYPE, ROUTINE_NAME, ROUTINE_DEFINITION, DTD_IDENTIFIER, IS_DETERMINISTIC,
		        SQL_DATA_ACCESS, SECURITY_TYPE, SQL_MODE
		   FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE()`)
	if err != nil {
		return fmt.Errorf("onedb checksums: routines: %w", classifySQL(err))
	}
	defer rows.Close()
	for rows.Next() {
		var typ, name string
		var def, dtd, det, access, security, mode sql.NullString
		if err := rows.Scan(&typ, &name, &def, &dtd, &det, &access, &security, &mode); err != nil {
			return fmt.Errorf("onedb checksums: routines: %w", err)
		}
		k := typ + " " + name
		fields := append([]sql.NullString{def, dtd, det, access, security, mode}, params[k]...)
		into[k] = hashStrings(fields...)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("onedb checksums: routines: %w", classifySQL(err))
	}
	return nil
}

func (db *DB) triggers(ctx context.Context, into map[string]string) error {
	rows, err := db.db.QueryContext(ctx,
		`SELECT TRIGGER_NAME, EVENT_MANIPULATION, EVENT_OBJECT_TABLE, CAST(ACTION_ORDER AS CHAR), ACTION_TIMING,
		        ACTION_ORIENTATION, ACTION_STATEMENT, SQL_MODE
		   FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()`)
	if err != nil {
		return fmt.Errorf("onedb checksums: triggers: %w", classifySQL(err))
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var f [7]sql.NullString
		if err := rows.Scan(&name, &f[0], &f[1], &f[2], &f[3], &f[4], &f[5], &f[6]); err != nil {
			return fmt.Errorf("onedb checksums: triggers: %w", err)
		}
		into[name] = hashStrings(f[:]...)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("onedb checksums: triggers: %w", classifySQL(err))
	}
	return nil
}

// Difference is one way two fingerprints differ.
type Difference struct {
	// Kind is "table", "routine" or "trigger".
	Kind string
	Name string
	// Problem is "differs", "definition differs" (same rows, different
	// columns or indexes), "missing on follower" or "extra on follower".
	Problem string
}

// MismatchError lists what differs between a leader's and a follower's
// database.
type MismatchError struct {
	// Tables, Routines and Triggers name the objects that differ, are
	// missing or are extra on the follower, sorted.
	Tables, Routines, Triggers []string
	// Differences has one entry per object, in the same order.
	Differences []Difference
}

func (e *MismatchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "onedb: follower database differs from leader in %d objects: ", len(e.Differences))
	for i, d := range e.Differences {
		if i == 10 {
			fmt.Fprintf(&b, ", and %d more", len(e.Differences)-10)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %s (%s)", d.Kind, d.Name, d.Problem)
	}
	return b.String()
}

// Compare returns nil when follower matches leader, a *MismatchError
// naming every table, routine and trigger that differs, is missing or is
// extra on the follower, or an error matching ErrInvalidOption when the
// two were taken with different exclusions.
func Compare(leader, follower TableChecksums) error {
	if !slices.Equal(leader.Excluded, follower.Excluded) {
		return fmt.Errorf("onedb compare: %w: checksums taken with different exclusions (%v vs %v)",
			ErrInvalidOption, leader.Excluded, follower.Excluded)
	}
	e := &MismatchError{}
	e.Tables = diff(e, "table", leader.Tables, follower.Tables)
	for _, k := range slices.Sorted(maps.Keys(leader.Definitions)) {
		fd, ok := follower.Definitions[k]
		if !ok || fd == leader.Definitions[k] || slices.Contains(e.Tables, k) {
			continue
		}
		if _, inBoth := follower.Tables[k]; !inBoth {
			continue
		}
		e.Differences = append(e.Differences, Difference{"table", k, "definition differs"})
		e.Tables = append(e.Tables, k)
	}
	slices.Sort(e.Tables)
	e.Routines = diff(e, "routine", leader.Routines, follower.Routines)
	e.Triggers = diff(e, "trigger", leader.Triggers, follower.Triggers)
	if len(e.Differences) == 0 {
		return nil
	}
	return e
}

func diff[V comparable](e *MismatchError, kind string, l, f map[string]V) []string {
	var names []string
	for _, k := range slices.Sorted(maps.Keys(l)) {
		fv, ok := f[k]
		switch {
		case !ok:
			e.Differences = append(e.Differences, Difference{kind, k, "missing on follower"})
		case fv != l[k]:
			e.Differences = append(e.Differences, Difference{kind, k, "differs"})
		default:
			continue
		}
		names = append(names, k)
	}
	for _, k := range slices.Sorted(maps.Keys(f)) {
		if _, ok := l[k]; !ok {
			e.Differences = append(e.Differences, Difference{kind, k, "extra on follower"})
			names = append(names, k)
		}
	}
	slices.Sort(names)
	return names
}
