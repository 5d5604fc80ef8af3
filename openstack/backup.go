package openstack

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/upgradekit/upgradekit/transport"
)

// TableState is a table's content fingerprint.
type TableState struct {
	Name string
	// Checksum is CHECKSUM TABLE's value ("NULL" when the engine has
	// none).
	Checksum string
	// Rows is COUNT(*).
	Rows int64
}

// DatabaseBackup describes a verified dump of one database on the node.
type DatabaseBackup struct {
	Database string
	// File is the dump's path on the node.
	File string
	// Bytes and SHA256 describe the dump file.
	Bytes  int64
	SHA256 string
	// Created is when the dump was started.
	Created time.Time
	// Tables are the tables' fingerprints taken with the dump; a restore
	// must reproduce them.
	Tables []TableState
}

// ConfigBackup describes a copy of a configuration directory.
type ConfigBackup struct {
	// Source is the directory copied; Copy where the copy is.
	Source, Copy string
	// Digest fingerprints the tree: names, types, modes, owners and
	// file contents.
	Digest  string
	Created time.Time
}

func stamp(t time.Time) string { return t.UTC().Format("20060102T150405Z") }

// TableStates fingerprints every base table of a database: CHECKSUM TABLE
// and COUNT(*), sorted by name.
func TableStates(ctx context.Context, t transport.Transport, a DBAccess, opts ...Option) ([]TableState, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	return tableStates(ctx, t, o, a)
}

func tableStates(ctx context.Context, t transport.Transport, o *options, a DBAccess) ([]TableState, error) {
	rows, err := query(ctx, t, o, a, "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY table_name;\n")
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, nil
	}
	var names, quoted, counts []string
	for _, r := range rows {
		names = append(names, r[0])
		quoted = append(quoted, quoteIdent(r[0]))
		counts = append(counts, fmt.Sprintf("SELECT 'rows', %s, COUNT(*) FROM %s", sqlString(r[0]), quoteIdent(r[0])))
	}
	sql := "CHECKSUM TABLE " + strings.Join(quoted, ", ") + ";\n" + strings.Join(counts, " UNION ALL ") + ";\n"
	out, err := query(ctx, t, o, a, sql)
	if err != nil {
		return nil, err
	}
	return parseTableStates(a.Database, names, out)
}

func parseTableStates(db string, names []string, rows [][]string) ([]TableState, error) {
	byName := map[string]*TableState{}
	var states []TableState
	for _, n := range names {
		states = append(states, TableState{Name: n, Rows: -1})
	}
	for i := range states {
		byName[states[i].Name] = &states[i]
	}
	for _, r := range rows {
		switch {
		case len(r) == 3 && r[0] == "rows":
			s := byName[r[1]]
			n, err := strconv.ParseInt(r[2], 10, 64)
			if s == nil || err != nil || n < 0 {
				return nil, parseErr("table fingerprint", "bad count row", []byte(strings.Join(r, "\t")))
			}
			s.Rows = n
		case len(r) == 2:
			name := strings.TrimPrefix(r[0], db+".")
			s := byName[name]
			if s == nil {
				return nil, parseErr("table fingerprint", "checksum of an unknown table", []byte(strings.Join(r, "\t")))
			}
			s.Checksum = r[1]
		default:
			return nil, parseErr("table fingerprint", "unexpected row", []byte(strings.Join(r, "\t")))
		}
	}
	for _, s := range states {
		if s.Checksum == "" || s.Rows < 0 {
			return nil, parseErr("table fingerprint", "table "+s.Name+" missing from the output", nil)
		}
	}
	return states, nil
}

func sqlString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(s) + "'"
}

// CompareTables returns a *ChecksumMismatchError listing the tables whose
// fingerprints differ between want (a backup) and got, or nil.
func CompareTables(db string, want, got []TableState) error {
	var diffs []string
	g := map[string]TableState{}
	for _, s := range got {
		g[s.Name] = s
	}
	for _, w := range want {
		s, ok := g[w.Name]
		switch {
		case !ok:
			diffs = append(diffs, w.Name+": missing")
		case s.Rows != w.Rows:
			diffs = append(diffs, fmt.Sprintf("%s: rows %d != %d", w.Name, s.Rows, w.Rows))
		case s.Checksum != w.Checksum:
			diffs = append(diffs, fmt.Sprintf("%s: checksum %s != %s", w.Name, s.Checksum, w.Checksum))
		}
		delete(g, w.Name)
	}
	for _, n := range slices.Sorted(mapsKeys(g)) {
		diffs = append(diffs, n+": not in the backup")
	}
	if len(diffs) > 0 {
		return &ChecksumMismatchError{Database: db, Tables: diffs}
	}
	return nil
}

func mapsKeys(m map[string]TableState) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// dumpScript runs the dump tool ($3...) with a private umask into
// "$1.partial" for database $2 and renames it to $1 only when the tool
// succeeded: a failed dump (a client refusing the server's TLS, a lost
// connection) leaves no file behind, empty or partial.
const dumpScript = `umask 077
f=$1 db=$2
shift 2
if "$@" "--result-file=$f.partial" -- "$db"; then
  mv -f -- "$f.partial" "$f"
else
  rc=$?
  rm -f -- "$f.partial"
  exit $rc
fi`

// verifyScript prints the dump's size, SHA-256 and last line.
const verifyScript = `test -s "$1" || { echo "empty or missing dump $1" >&2; exit 3; }
wc -c < "$1" && sha256sum < "$1" && tail -n 1 "$1"`

// BackupDatabase dumps one database into dir on the node with mysqldump
// (--single-transaction --routines --triggers --events), then verifies
// the dump (non-empty, ends with "-- Dump completed") and records its
// SHA-256 and every table's checksum and row count. The password goes
// through a 0600 --defaults-extra-file, never argv.
func BackupDatabase(ctx context.Context, t transport.Transport, a DBAccess, dir string, opts ...Option) (*DatabaseBackup, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	return backupDatabase(ctx, t, o, a, dir)
}

func backupDatabase(ctx context.Context, t transport.Transport, o *options, a DBAccess, dir string) (*DatabaseBackup, error) {
	if a.Database == "" {
		return nil, fmt.Errorf("openstack: backup: no database name")
	}
	b := &DatabaseBackup{Database: a.Database, Created: o.now()}
	b.File = path.Join(dir, a.Database+"-"+stamp(b.Created)+".sql")
	mk := transport.Cmd("mkdir", "-p", "-m", "0700", "--", dir)
	mk.Sudo = o.sudo
	if err := transport.Check(ctx, t, mk); err != nil {
		return nil, wrapOp("backup "+a.Database, err)
	}
	// Fingerprint first: if the database changes during the dump the
	// restore check will say so rather than certify a moving target.
	tables, err := tableStates(ctx, t, o, a)
	if err != nil {
		return nil, wrapOp("backup "+a.Database, err)
	}
	b.Tables = tables
	err = withDefaultsFile(ctx, t, o, a, func(arg string) error {
		args := append([]string{b.File, a.Database, o.dumpTool, arg}, o.tlsArgs()...)
		args = append(args, "--single-transaction", "--routines", "--triggers", "--events", "--no-tablespaces")
		c := transport.Shell(dumpScript, args...)
		c.Sudo = o.sudo
		res, err := t.Run(ctx, c)
		if err != nil {
			return err
		}
		return transport.ResultError(c, res)
	})
	if err != nil {
		return nil, o.cmdFailed("", "backup "+a.Database+": "+o.dumpTool, err)
	}
	if err := verifyDump(ctx, t, o, b); err != nil {
		// Never leave a dump that failed its check where a restore
		// could pick it up.
		rm := transport.Cmd("rm", "-f", "--", b.File)
		rm.Sudo = o.sudo
		if rerr := transport.Check(ctx, t, rm); rerr != nil {
			o.log.Warn("could not remove the invalid dump", zapStr("file", b.File), zapErr(rerr))
		}
		return nil, err
	}
	return b, nil
}

func verifyDump(ctx context.Context, t transport.Transport, o *options, b *DatabaseBackup) error {
	out, err := transport.Output(ctx, t, o.probe(transport.Shell(verifyScript, b.File)))
	if err != nil {
		return fmt.Errorf("backup %s: %w: %s", b.Database, ErrBackupInvalid, briefErr(err))
	}
	n, sum, err := parseDumpCheck(out)
	if err != nil {
		return fmt.Errorf("backup %s: %w: %w", b.Database, ErrBackupInvalid, err)
	}
	if b.SHA256 != "" && (sum != b.SHA256 || n != b.Bytes) {
		return fmt.Errorf("backup %s: %w: %s changed since the backup (sha256 %s, want %s)", b.Database, ErrBackupInvalid, b.File, sum, b.SHA256)
	}
	b.Bytes, b.SHA256 = n, sum
	return nil
}

// parseDumpCheck parses verifyScript's output.
func parseDumpCheck(out []byte) (int64, string, error) {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) != 3 {
		return 0, "", parseErr("dump check", "want 3 lines", out)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(lines[0]), 10, 64)
	if err != nil || n <= 0 {
		return 0, "", parseErr("dump check", "bad size", out)
	}
	f := strings.Fields(lines[1])
	if len(f) == 0 || len(f[0]) != 64 || strings.Trim(f[0], "0123456789abcdef") != "" {
		return 0, "", parseErr("dump check", "bad sha256", out)
	}
	if !strings.HasPrefix(lines[2], "-- Dump completed") {
		return 0, "", parseErr("dump check", "no \"-- Dump completed\" line: the dump is truncated", out)
	}
	return n, f[0], nil
}

// BackupServiceDatabases dumps every database of svc that its config
// reaches (see ServiceDatabases) into dir, verified.
func BackupServiceDatabases(ctx context.Context, t transport.Transport, svc Service, dir string, opts ...Option) ([]*DatabaseBackup, error) {
	o, err := newServiceOptions(opts, svc)
	if err != nil {
		return nil, err
	}
	access, err := serviceDatabases(ctx, t, svc, o)
	if err != nil {
		return nil, err
	}
	var out []*DatabaseBackup
	for _, d := range svc.Databases {
		b, err := backupDatabase(ctx, t, o, access[d.Name], dir)
		if err != nil {
			return out, fmt.Errorf("%s: %w", svc.Name, err)
		}
		out = append(out, b)
	}
	return out, nil
}

// VerifyDatabase compares a database with a backup's fingerprints: nil
// when every table's checksum and row count match, a
// *ChecksumMismatchError otherwise (a changed row is detected).
func VerifyDatabase(ctx context.Context, t transport.Transport, a DBAccess, b *DatabaseBackup, opts ...Option) error {
	o, err := newOptions(opts)
	if err != nil {
		return err
	}
	got, err := tableStates(ctx, t, o, a)
	if err != nil {
		return err
	}
	return CompareTables(a.Database, b.Tables, got)
}

// loadScript loads the dump $1 with the client command $2...
const loadScript = `f=$1
shift
exec "$@" < "$f"`

// RestoreDatabase puts a database back to a backup: it checks the dump
// is unchanged (size and SHA-256), drops every table and view (a newer
// release may have added some the dump does not mention), loads the
// dump and verifies that every table's checksum and row count equal the
// backup's (*ChecksumMismatchError otherwise).
func RestoreDatabase(ctx context.Context, t transport.Transport, a DBAccess, b *DatabaseBackup, opts ...Option) error {
	o, err := newOptions(opts)
	if err != nil {
		return err
	}
	if b == nil || b.File == "" || b.SHA256 == "" {
		return fmt.Errorf("restore %s: %w: no verified backup", a.Database, ErrBackupInvalid)
	}
	check := *b
	if err := verifyDump(ctx, t, o, &check); err != nil {
		return err
	}
	rows, err := query(ctx, t, o, a, "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = DATABASE();\n")
	if err != nil {
		return fmt.Errorf("restore %s: %w", a.Database, err)
	}
	if len(rows) > 0 {
		var sql strings.Builder
		sql.WriteString("SET FOREIGN_KEY_CHECKS = 0;\n")
		for _, r := range rows {
			kind := "TABLE"
			if len(r) > 1 && r[1] == "VIEW" {
				kind = "VIEW"
			}
			fmt.Fprintf(&sql, "DROP %s IF EXISTS %s;\n", kind, quoteIdent(r[0]))
		}
		if err := exec(ctx, t, o, a, sql.String()); err != nil {
			return fmt.Errorf("restore %s: drop tables: %w", a.Database, err)
		}
	}
	err = withDefaultsFile(ctx, t, o, a, func(arg string) error {
		args := append([]string{b.File, o.dbClient, arg}, o.tlsArgs()...)
		c := transport.Shell(loadScript, append(args, "--batch", "--", a.Database)...)
		c.Sudo = o.sudo
		res, err := t.Run(ctx, c)
		if err != nil {
			return err
		}
		return transport.ResultError(c, res)
	})
	if err != nil {
		return o.cmdFailed("", "restore "+a.Database+": load", err)
	}
	got, err := tableStates(ctx, t, o, a)
	if err != nil {
		return fmt.Errorf("restore %s: verify: %w", a.Database, err)
	}
	return CompareTables(a.Database, b.Tables, got)
}

// digestScript fingerprints a directory tree: names, types, modes,
// owners, link targets, and the sizes and contents of regular files. A
// directory's own size is left out: on ext4 a directory that once held
// many entries stays larger than its fresh `cp -a` copy.
const digestScript = `cd -- "$1" || exit 3
{ find . \( -type f -printf '%p %y %m %u %g %s\n' \) -o -printf '%p %y %m %u %g %l\n' | LC_ALL=C sort
  find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum; } | sha256sum`

func dirDigest(ctx context.Context, t transport.Transport, o *options, dir string) (string, error) {
	out, err := transport.Output(ctx, t, o.probe(transport.Shell(digestScript, dir)))
	if err != nil {
		return "", wrapOp("digest "+dir, err)
	}
	f := strings.Fields(string(out))
	if len(f) == 0 || len(f[0]) != 64 {
		return "", parseErr("directory digest", "no sha256", out)
	}
	return f[0], nil
}

// BackupConfigDir copies a configuration directory with `cp -a` (modes,
// owners, times, links kept) to "<dir>.upgradekit-<UTC timestamp>" and
// verifies the copy's digest equals the source's.
func BackupConfigDir(ctx context.Context, t transport.Transport, dir string, opts ...Option) (*ConfigBackup, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	dir = path.Clean(dir)
	if dir == "/" || dir == "." {
		return nil, fmt.Errorf("openstack: refusing to back up %q", dir)
	}
	b := &ConfigBackup{Source: dir, Created: o.now()}
	b.Copy = dir + ".upgradekit-" + stamp(b.Created)
	if b.Digest, err = dirDigest(ctx, t, o, dir); err != nil {
		return nil, err
	}
	cp := transport.Cmd("cp", "-a", "--", dir, b.Copy)
	cp.Sudo = o.sudo
	if err := transport.Check(ctx, t, cp); err != nil {
		return nil, wrapOp("backup "+dir, err)
	}
	got, err := dirDigest(ctx, t, o, b.Copy)
	if err != nil {
		return nil, err
	}
	if got != b.Digest {
		return nil, fmt.Errorf("backup %s: %w: copy differs from the source (changed while copying?)", dir, ErrBackupInvalid)
	}
	return b, nil
}

// restoreScript replaces $2 by a copy of $1 via a temporary sibling, so
// the directory is never half-restored: $3 is the temporary name.
const restoreScript = `set -e
rm -rf -- "$3"
cp -a -- "$1" "$3"
rm -rf -- "$2"
mv -- "$3" "$2"`

// RestoreConfigDir puts a configuration directory back to its backup,
// checking the backup is intact before and the result equals it after.
func RestoreConfigDir(ctx context.Context, t transport.Transport, b *ConfigBackup, opts ...Option) error {
	o, err := newOptions(opts)
	if err != nil {
		return err
	}
	if b == nil || b.Copy == "" || b.Digest == "" {
		return fmt.Errorf("openstack: restore config: %w: no verified backup", ErrBackupInvalid)
	}
	got, err := dirDigest(ctx, t, o, b.Copy)
	if err != nil {
		return err
	}
	if got != b.Digest {
		return fmt.Errorf("restore %s: %w: backup %s changed", b.Source, ErrBackupInvalid, b.Copy)
	}
	c := transport.Shell(restoreScript, b.Copy, b.Source, b.Source+".upgradekit-restore")
	c.Sudo = o.sudo
	if err := transport.Check(ctx, t, c); err != nil {
		return wrapOp("restore "+b.Source, err)
	}
	if got, err = dirDigest(ctx, t, o, b.Source); err != nil {
		return err
	}
	if got != b.Digest {
		return fmt.Errorf("restore %s: %w: restored tree differs from the backup", b.Source, ErrBackupInvalid)
	}
	return nil
}
