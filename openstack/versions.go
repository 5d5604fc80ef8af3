package openstack

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/upgradekit/upgradekit/transport"
)

// DetectFamily reads /etc/os-release on the node and returns its family.
func DetectFamily(ctx context.Context, t transport.Transport) (Family, error) {
	out, err := transport.Output(ctx, t, transport.Query("cat", "--", "/etc/os-release"))
	if err != nil {
		return "", wrapOp("detect distribution", err)
	}
	return parseOSRelease(out)
}

func parseOSRelease(out []byte) (Family, error) {
	var ids []string
	for _, ln := range strings.Split(string(out), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(ln), "=")
		if !ok || (k != "ID" && k != "ID_LIKE") {
			continue
		}
		ids = append(ids, strings.Fields(strings.Trim(v, `"'`))...)
	}
	for _, id := range ids {
		switch id {
		case "debian", "ubuntu":
			return Debian, nil
		case "rhel", "centos", "fedora", "rocky", "almalinux":
			return RHEL, nil
		}
	}
	return "", parseErr("os-release", "unknown distribution", out)
}

func (o *options) familyOf(ctx context.Context, t transport.Transport) (Family, error) {
	if o.family != "" {
		return o.family, nil
	}
	return DetectFamily(ctx, t)
}

// InstalledVersion returns the installed version of pkg ("2:22.0.2-0+deb12u6"
// from dpkg-query, "1:22.0.0-1.el9" from rpm with the epoch first).
func InstalledVersion(ctx context.Context, t transport.Transport, f Family, pkg string) (string, error) {
	return installedVersion(ctx, t, f, pkg, nil)
}

func installedVersion(ctx context.Context, t transport.Transport, f Family, pkg string, wrap func(transport.Command) transport.Command) (string, error) {
	var c transport.Command
	switch f {
	case Debian:
		c = transport.Query("dpkg-query", "-W", "-f=${Version}", "--", pkg)
	case RHEL:
		c = transport.Query("rpm", "-q", "--qf", "%{EPOCH}:%{VERSION}-%{RELEASE}", "--", pkg)
	default:
		return "", fmt.Errorf("openstack: unknown family %q", f)
	}
	if wrap != nil {
		c = wrap(c)
		c.ReadOnly = true
	}
	out, err := transport.Output(ctx, t, c)
	if err != nil {
		return "", wrapOp("package "+pkg, err)
	}
	v := strings.TrimSpace(string(out))
	v = strings.TrimPrefix(v, "(none):")
	if v == "" || strings.ContainsAny(v, " \n") {
		return "", parseErr("package version", "not a version", out)
	}
	return v, nil
}

// CompareVersions compares two Debian package versions
// ([epoch:]upstream[-revision]) with dpkg's algorithm and returns -1, 0
// or +1. It also orders RPM epoch:version-release strings sensibly.
func CompareVersions(a, b string) int {
	ea, ua, ra := splitVersion(a)
	eb, ub, rb := splitVersion(b)
	if ea != eb {
		if ea < eb {
			return -1
		}
		return 1
	}
	if c := compareFragment(ua, ub); c != 0 {
		return c
	}
	return compareFragment(ra, rb)
}

func splitVersion(v string) (epoch int, upstream, revision string) {
	v = strings.TrimSpace(v)
	if e, rest, ok := strings.Cut(v, ":"); ok {
		if n, err := strconv.Atoi(e); err == nil && n >= 0 {
			epoch, v = n, rest
		}
	}
	if i := strings.LastIndexByte(v, '-'); i >= 0 {
		return epoch, v[:i], v[i+1:]
	}
	return epoch, v, ""
}

// order is dpkg's character order: '~' before everything, even the end
// of the string (end < 0 here means "no more characters"), letters before
// non-letters.
func order(c int) int {
	switch {
	case c < 0:
		return 0
	case c >= '0' && c <= '9':
		return 0
	case (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'):
		return c
	case c == '~':
		return -1
	}
	return c + 256
}

func compareFragment(a, b string) int {
	for a != "" || b != "" {
		// Non-digit prefix.
		for (a != "" && !isDigit(a[0])) || (b != "" && !isDigit(b[0])) {
			ca, cb := -1, -1
			if a != "" && !isDigit(a[0]) {
				ca = int(a[0])
			}
			if b != "" && !isDigit(b[0]) {
				cb = int(b[0])
			}
			if oa, ob := order(ca), order(cb); oa != ob {
				if oa < ob {
					return -1
				}
				return 1
			}
			if ca >= 0 {
				a = a[1:]
			}
			if cb >= 0 {
				b = b[1:]
			}
		}
		// Digit run, compared numerically (leading zeros ignored).
		na, nb := 0, 0
		for na < len(a) && isDigit(a[na]) {
			na++
		}
		for nb < len(b) && isDigit(b[nb]) {
			nb++
		}
		da := strings.TrimLeft(a[:na], "0")
		db := strings.TrimLeft(b[:nb], "0")
		if len(da) != len(db) {
			if len(da) < len(db) {
				return -1
			}
			return 1
		}
		if c := strings.Compare(da, db); c != 0 {
			return c
		}
		a, b = a[na:], b[nb:]
	}
	return 0
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// UpstreamMajor returns the major upstream version of a package version:
// 22 for "2:22.0.2-0+deb12u6" (keystone Zed).
func UpstreamMajor(v string) (int, error) {
	_, up, _ := splitVersion(v)
	end := 0
	for end < len(up) && isDigit(up[end]) {
		end++
	}
	if end == 0 {
		return 0, parseErr("package version", "no major version", []byte(v))
	}
	n, err := strconv.Atoi(up[:end])
	if err != nil {
		return 0, parseErr("package version", "major version out of range", []byte(v))
	}
	return n, nil
}

// Migrations is what the installed tool knows about a database's schema:
// the migration scripts shipped in its Python package.
type Migrations struct {
	// Dir is the versions directory on the node.
	Dir string
	// Table is how revisions are recorded.
	Table VersionTable
	// Revisions maps every alembic revision to its parents (down_revision
	// and depends_on; none for the root); for sqlalchemy-migrate the keys
	// are the script numbers.
	Revisions map[string][]string
	// ExpandHead and ContractHead come from the EXPAND_HEAD and
	// CONTRACT_HEAD files (keystone, neutron), when shipped.
	ExpandHead, ContractHead string
}

// Known reports whether the tool knows revision r.
func (m Migrations) Known(r string) bool {
	_, ok := m.Revisions[r]
	return ok
}

// Reached reports whether revision r is recorded in st or implied by a
// recorded revision (an ancestor through down_revision or depends_on:
// glance records only its contract head once expand is implied). For
// sqlalchemy-migrate, whether the recorded number is at least r.
func (m Migrations) Reached(st SchemaState, r string) bool {
	if m.Table == Migrate {
		want, err := strconv.Atoi(r)
		if err != nil {
			return false
		}
		for _, v := range st.Revisions {
			if n, err := strconv.Atoi(v); err == nil && n >= want {
				return true
			}
		}
		return false
	}
	seen := map[string]bool{}
	stack := slices.Clone(st.Revisions)
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if x == r {
			return true
		}
		if seen[x] {
			continue
		}
		seen[x] = true
		stack = append(stack, m.Revisions[x]...)
	}
	return false
}

// AtHeads reports whether st has reached every head the tool knows.
func (m Migrations) AtHeads(st SchemaState) bool {
	heads := m.Heads()
	for _, h := range heads {
		if !m.Reached(st, h) {
			return false
		}
	}
	return len(heads) > 0
}

// Heads returns the revisions no other revision builds on (one per
// alembic branch), sorted; for sqlalchemy-migrate the highest number.
func (m Migrations) Heads() []string {
	if m.Table == Migrate {
		best := -1
		for r := range m.Revisions {
			if n, err := strconv.Atoi(r); err == nil && n > best {
				best = n
			}
		}
		if best < 0 {
			return nil
		}
		return []string{strconv.Itoa(best)}
	}
	parent := map[string]bool{}
	for _, ps := range m.Revisions {
		for _, p := range ps {
			parent[p] = true
		}
	}
	var heads []string
	for r := range m.Revisions {
		if !parent[r] {
			heads = append(heads, r)
		}
	}
	slices.Sort(heads)
	return heads
}

// migrationsScript prints the versions directory of a Python package
// (without importing it), its EXPAND_HEAD/CONTRACT_HEAD files, every
// script file name and the revision/down_revision/depends_on lines of
// each script. $1 package, $2 directory relative to the package, $3 the
// management tool whose interpreter to use (or "").
const migrationsScript = `py=python3
# The tool's own interpreter (its shebang), not whatever python3 is first
# in PATH (pyenv, virtualenvs).
if [ -n "$3" ] && t=$(command -v -- "$3") && IFS= read -r l < "$t"; then
  case $l in '#!'*) set -- "$1" "$2" "$3" ${l#??}; [ -x "$4" ] && py=$4 ;; esac
fi
d=$("$py" -c 'import importlib.util,sys
s=importlib.util.find_spec(sys.argv[1])
print(s.submodule_search_locations[0] if s and s.submodule_search_locations else "")' "$1") || exit 3
[ -n "$d" ] || { echo "python package $1 not found" >&2; exit 3; }
v=$d/$2
[ -d "$v" ] || { echo "no migrations directory $v" >&2; exit 4; }
printf 'dir %s\n' "$v"
for h in EXPAND_HEAD CONTRACT_HEAD; do [ -f "$v/$h" ] && printf 'head %s %s\n' "$h" "$(head -n 1 "$v/$h")"; done
find "$v" -name '*.py' -type f | while IFS= read -r f; do
  printf 'file %s\n' "${f#"$v"/}"
  grep -E '^(revision|down_revision|depends_on)[[:space:]]*(:[^=]*)?=' "$f" | sed "s|^|line ${f#"$v"/} |"
done
exit 0`

// InstalledMigrations lists the migrations the installed tool of svc
// knows for database d.
func InstalledMigrations(ctx context.Context, t transport.Transport, svc Service, d Database, opts ...Option) (Migrations, error) {
	o, err := newServiceOptions(opts, svc)
	if err != nil {
		return Migrations{}, err
	}
	return installedMigrations(ctx, t, o, svc, d)
}

func installedMigrations(ctx context.Context, t transport.Transport, o *options, svc Service, d Database) (Migrations, error) {
	m, _, err := installedLayout(ctx, t, o, svc, d)
	return m, err
}

// exitNoMigrationsDir is migrationsScript's exit code for a package that
// does not ship the directory.
const exitNoMigrationsDir = 4

// installedLayout finds which of d's migration systems the installed
// package ships (d.Migrations first, then each Legacy one) and lists its
// migrations; the Database returned carries that system's directory and
// version table.
func installedLayout(ctx context.Context, t transport.Transport, o *options, svc Service, d Database) (Migrations, Database, error) {
	if d.Migrations == "" || svc.PythonPackage == "" {
		return Migrations{}, d, fmt.Errorf("%s: database %s: no migrations directory in the catalog", svc.Name, d.Name)
	}
	var tried []string
	for _, l := range d.Layouts() {
		c := transport.Shell(migrationsScript, svc.PythonPackage, l.Migrations, svc.Manage)
		if o.wrap != nil {
			c = o.wrap(c)
		}
		out, err := transport.Output(ctx, t, o.probe(c))
		if code, ok := transport.ExitCode(err); ok && code == exitNoMigrationsDir {
			tried = append(tried, svc.PythonPackage+"/"+l.Migrations)
			continue
		}
		if err != nil {
			return Migrations{}, d, o.cmdFailed(svc.Name, "list migrations", err)
		}
		m, err := parseMigrations(out, l.VersionTable)
		return m, d.withLayout(l), err
	}
	return Migrations{}, d, fmt.Errorf("%s: list migrations: the installed package ships none of %s: %w", svc.Name, strings.Join(tried, ", "), ErrUnknownLayout)
}

func parseMigrations(out []byte, table VersionTable) (Migrations, error) {
	m := Migrations{Table: table, Revisions: map[string][]string{}}
	type rec struct{ rev, down, deps string }
	files := map[string]*rec{}
	var order []string
	for _, ln := range strings.Split(string(out), "\n") {
		kind, rest, _ := strings.Cut(ln, " ")
		switch kind {
		case "dir":
			m.Dir = rest
		case "head":
			name, val, _ := strings.Cut(rest, " ")
			val = strings.TrimSpace(val)
			switch name {
			case "EXPAND_HEAD":
				m.ExpandHead = val
			case "CONTRACT_HEAD":
				m.ContractHead = val
			}
		case "file":
			if _, ok := files[rest]; !ok {
				files[rest] = &rec{}
				order = append(order, rest)
			}
		case "line":
			file, assign, ok := strings.Cut(rest, " ")
			if !ok {
				continue
			}
			r := files[file]
			if r == nil {
				r = &rec{}
				files[file] = r
				order = append(order, file)
			}
			name, val, ok := strings.Cut(assign, "=")
			if !ok {
				continue
			}
			name, _, _ = strings.Cut(name, ":")
			switch strings.TrimSpace(name) {
			case "revision":
				r.rev = strings.TrimSpace(val)
			case "down_revision":
				r.down = strings.TrimSpace(val)
			case "depends_on":
				r.deps = strings.TrimSpace(val)
			}
		}
	}
	if m.Dir == "" {
		return Migrations{}, parseErr("migrations listing", "no directory line", out)
	}
	for _, f := range order {
		r := files[f]
		if table == Migrate {
			base := f[strings.LastIndexByte(f, '/')+1:]
			num, _, _ := strings.Cut(base, "_")
			if n, err := strconv.Atoi(num); err == nil && n >= 0 {
				m.Revisions[strconv.Itoa(n)] = nil
			}
			continue
		}
		if r.rev == "" {
			continue // __init__.py, helpers
		}
		rev, ok := pyString(r.rev)
		if !ok {
			return Migrations{}, parseErr("migrations listing", "revision of "+f+" is not a string literal", out)
		}
		m.Revisions[rev] = append(pyStrings(r.down), pyStrings(r.deps)...)
	}
	if len(m.Revisions) == 0 {
		return Migrations{}, parseErr("migrations listing", "no migration scripts in "+m.Dir, out)
	}
	return m, nil
}

// pyString parses a Python string literal ('x' or "x").
func pyString(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && (s[0] == '\'' || s[0] == '"') && s[len(s)-1] == s[0] {
		v := s[1 : len(s)-1]
		if v != "" && !strings.ContainsAny(v, `'"\ `) {
			return v, true
		}
	}
	return "", false
}

// pyStrings parses None, a string literal, or a tuple/list of them.
func pyStrings(s string) []string {
	s = strings.TrimSpace(s)
	if i := strings.Index(s, "#"); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	s = strings.Trim(s, "()[] ")
	var out []string
	for _, part := range strings.Split(s, ",") {
		if v, ok := pyString(part); ok {
			out = append(out, v)
		}
	}
	return out
}

// SchemaState is a database's recorded schema version.
type SchemaState struct {
	Database string
	// Exists reports whether the version table exists; false means an
	// empty (never migrated) database.
	Exists bool
	// Revisions are the recorded revisions (alembic: one per branch;
	// sqlalchemy-migrate: the version number), sorted.
	Revisions []string
	// Legacy is true when a keystone/nova/glance database still has
	// only a sqlalchemy-migrate version (pre-alembic).
	Legacy bool
	// Other holds what the other version table records: the
	// migrate_version number under an alembic tool, the alembic_version
	// rows under a sqlalchemy-migrate tool (then the database was taken
	// over by a newer release's alembic migrations).
	Other []string
}

// At reports whether every one of heads is recorded.
func (s SchemaState) At(heads ...string) bool {
	for _, h := range heads {
		if !slices.Contains(s.Revisions, h) {
			return false
		}
	}
	return len(heads) > 0
}

const (
	errNoSuchTable = 1146
)

// ReadSchemaState reads a database's version table through the node's
// SQL client.
func ReadSchemaState(ctx context.Context, t transport.Transport, a DBAccess, table VersionTable, opts ...Option) (SchemaState, error) {
	o, err := newOptions(opts)
	if err != nil {
		return SchemaState{}, err
	}
	return readSchemaState(ctx, t, o, a, table)
}

func readSchemaState(ctx context.Context, t transport.Transport, o *options, a DBAccess, table VersionTable) (SchemaState, error) {
	st := SchemaState{Database: a.Database}
	// Which version tables exist, then their rows: the tool's table in
	// Revisions, the other one in Other (a newer release's alembic_version
	// over an older release's migrate_version, as heat 21+ leaves it).
	rows, err := query(ctx, t, o, a,
		"SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name IN ('alembic_version','migrate_version');\n")
	if err != nil {
		return st, err
	}
	have := map[VersionTable]bool{}
	for _, r := range rows {
		have[VersionTable(strings.ToLower(r[0]))] = true
	}
	other := Migrate
	if table == Migrate {
		other = Alembic
	}
	st.Legacy = table == Alembic && have[Migrate] && !have[Alembic]
	if have[table] {
		revs, ok, err := readVersionTable(ctx, t, o, a, table)
		if err != nil {
			return st, err
		}
		st.Exists, st.Revisions = ok, revs
	}
	if have[other] {
		revs, _, err := readVersionTable(ctx, t, o, a, other)
		if err != nil {
			return st, err
		}
		st.Other = revs
	}
	return st, nil
}

// readVersionTable returns the revisions recorded in table, sorted, and
// whether the table exists.
func readVersionTable(ctx context.Context, t transport.Transport, o *options, a DBAccess, table VersionTable) ([]string, bool, error) {
	col := "version_num"
	if table == Migrate {
		col = "version"
	}
	rows, err := query(ctx, t, o, a, fmt.Sprintf("SELECT %s FROM %s;\n", col, quoteIdent(string(table))))
	if err != nil {
		var dbe *DBError
		if errors.As(err, &dbe) && dbe.Number == errNoSuchTable {
			return nil, false, nil
		}
		return nil, false, err
	}
	var revs []string
	for _, r := range rows {
		if len(r) > 0 && r[0] != "" && r[0] != "NULL" {
			revs = append(revs, r[0])
		}
	}
	slices.Sort(revs)
	return revs, true, nil
}

// VersionReport is the result of comparing the installed tool with the
// databases it would work on.
type VersionReport struct {
	Service string
	Family  Family
	// Package and Version identify the installed management tool.
	Package, Version string
	// Databases holds, per database name, the recorded state and the
	// tool's migrations.
	Databases []DatabaseVersion
}

// DatabaseVersion is one database's state against the installed tool.
type DatabaseVersion struct {
	Database   Database
	Access     DBAccess
	State      SchemaState
	Migrations Migrations
	// AtHead reports whether every head the tool knows is recorded.
	AtHead bool
}

// CheckVersions compares each of svc's databases with the installed
// tool and fails with a *NewerDatabaseError when a database records a
// revision the tool does not know (it was migrated by a newer release),
// before any tool is trusted with it. Databases it cannot reach are an
// error, except derived ones (nova_cell0), which are skipped.
func CheckVersions(ctx context.Context, t transport.Transport, svc Service, opts ...Option) (*VersionReport, error) {
	o, err := newServiceOptions(opts, svc)
	if err != nil {
		return nil, err
	}
	return checkVersions(ctx, t, svc, o)
}

func checkVersions(ctx context.Context, t transport.Transport, svc Service, o *options) (*VersionReport, error) {
	if svc.DBUpgrade == NoDatabase || len(svc.Databases) == 0 {
		return nil, fmt.Errorf("%s: %w", svc.Name, ErrNoDatabase)
	}
	rep := &VersionReport{Service: svc.Name}
	fam, err := o.familyOf(ctx, t)
	if err != nil {
		return nil, err
	}
	rep.Family = fam
	if pkg := svc.ToolPackage[fam]; pkg != "" {
		rep.Package = pkg
		if rep.Version, err = installedVersion(ctx, t, fam, pkg, o.wrap); err != nil {
			return nil, fmt.Errorf("%s: %w", svc.Name, err)
		}
	}
	access, err := serviceDatabases(ctx, t, svc, o)
	if err != nil {
		return nil, err
	}
	type found struct {
		m Migrations
		d Database
	}
	migs := map[string]found{}
	for _, d := range svc.Databases {
		dv := DatabaseVersion{Database: d, Access: access[d.Name]}
		if d.Migrations != "" {
			f, ok := migs[d.Migrations]
			if !ok {
				if f.m, f.d, err = installedLayout(ctx, t, o, svc, d); err != nil {
					return rep, err
				}
				migs[d.Migrations] = f
			}
			dv.Migrations = f.m
			dv.Database = d.withLayout(MigrationLayout{Migrations: f.d.Migrations, VersionTable: f.d.VersionTable})
		}
		dv.State, err = readSchemaState(ctx, t, o, dv.Access, dv.Database.VersionTable)
		if err != nil {
			if d.Derived {
				o.log.Info("skipping derived database", zapStr("service", svc.Name), zapStr("database", d.Name), zapErr(err))
				continue
			}
			return rep, fmt.Errorf("%s: %w", svc.Name, err)
		}
		if dv.Migrations.Revisions != nil {
			m := dv.Migrations
			var unknown []string
			for _, r := range dv.State.Revisions {
				if !m.Known(r) {
					unknown = append(unknown, r)
				}
			}
			if m.Table == Migrate {
				// An alembic_version over migrate_version: a newer
				// release took the database over (heat 21+).
				unknown = append(unknown, dv.State.Other...)
			}
			if len(unknown) > 0 {
				return rep, &NewerDatabaseError{Service: svc.Name, Database: dv.Access.Database, Revisions: unknown, Package: rep.Package, Version: rep.Version}
			}
			if err := legacyTakeover(svc, d, dv); err != nil {
				return rep, err
			}
			dv.AtHead = m.AtHeads(dv.State)
		}
		rep.Databases = append(rep.Databases, dv)
	}
	return rep, nil
}

// LegacySchemaError reports a database still under an older migration
// system but short of that system's last revision: the installed
// release's tool would take it over (heat 21+ stamps its initial alembic
// revision) as if it were complete. It matches ErrUpgradePath.
type LegacySchemaError struct {
	Service, Database string
	// Table and Revision are what the database records; Final the older
	// system's last revision, shipped by Releases.
	Table           VersionTable
	Revision, Final string
	Releases        string
}

func (e *LegacySchemaError) Error() string {
	return fmt.Sprintf("%s: database %s records %s %s, not %s, the last revision of %s: upgrade through those releases first; the installed tool would take it over as complete",
		e.Service, e.Database, e.Table, e.Revision, e.Final, e.Releases)
}

// Is makes errors.Is(err, ErrUpgradePath) true.
func (e *LegacySchemaError) Is(target error) bool { return target == ErrUpgradePath }

// legacyTakeover refuses a database under an older migration system of d
// (an Other revision, no revision of the installed system yet) that is
// not at that system's final revision.
func legacyTakeover(svc Service, d Database, dv DatabaseVersion) error {
	if len(dv.State.Revisions) > 0 || len(dv.State.Other) == 0 {
		return nil
	}
	for _, l := range d.Legacy {
		if l.VersionTable == dv.Database.VersionTable || l.Final == "" {
			continue
		}
		if len(dv.State.Other) != 1 || dv.State.Other[0] != l.Final {
			return &LegacySchemaError{Service: svc.Name, Database: dv.Access.Database, Table: l.VersionTable,
				Revision: strings.Join(dv.State.Other, ","), Final: l.Final, Releases: l.Releases}
		}
	}
	return nil
}
