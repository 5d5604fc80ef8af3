package sim

import (
	"fmt"
	"path"
	"strings"
	"time"
)

var onedbOpts = []opt{
	{"sqlite", "s", true}, {"type", "t", true}, {"server", "S", true}, {"port", "P", true},
	{"username", "u", true}, {"password", "p", true}, {"dbname", "d", true}, {"encoding", "", true},
	{"verbose", "v", false}, {"help", "h", false}, {"version", "V", false},
	{"force", "f", false}, {"federated", "", false}, {"backup", "b", true}, {"no-backup", "", false},
	{"dry", "", false}, {"slave", "", false},
}

// dbConn is a resolved onedb connection.
type dbConn struct {
	n      *node // node holding the database
	server string
	user   string
	name   string
}

func cmdOnedb(p *proc) int {
	o, err := parseOpts(p.argv[1:], onedbOpts)
	if err != nil {
		p.errf("%s\n", err)
		return 255
	}
	if o.has("version") {
		return p.cliVersion()
	}
	if len(o.args) == 0 {
		p.errf("Usage: onedb COMMAND [args..] [options..]\n")
		return 255
	}
	sub, args := o.args[0], o.args[1:]
	switch sub {
	case "version", "backup", "restore", "upgrade", "fsck", "history":
	default:
		p.errf("Unknown command '%s'\n", sub)
		return 255
	}
	conn, code := p.dbConnect(o)
	if conn == nil {
		return code
	}
	switch sub {
	case "version":
		return p.onedbVersion(conn, o)
	case "history":
		for _, r := range conn.n.DB.Shared {
			p.outf("Version:   %s\nTimestamp: %s\nComment:   %s\n\n", r.Version, r.Timestamp.Format("01/02 15:04:05"), r.Comment)
		}
		return 0
	case "backup":
		file := ""
		if len(args) > 0 {
			file = args[0]
		}
		_, code := p.onedbBackup(conn, file, o.has("force"), o.has("federated"))
		return code
	case "restore":
		return p.onedbRestore(conn, o, args)
	case "upgrade":
		return p.onedbUpgrade(conn, o)
	case "fsck":
		return p.onedbFsck(conn, o)
	}
	return 255
}

func (p *proc) dbConnect(o parsed) (*dbConn, int) {
	if o.has("sqlite") || o.get("type") == "sqlite" {
		p.errf("Error connecting to DB: SQLite3::CantOpenException: unable to open database file\n")
		return nil, 255
	}
	explicit := o.has("server") || o.has("port") || o.has("username") || o.has("password") || o.has("dbname") || o.has("type")
	server, user, pass, name := "localhost", "", "", ""
	if explicit {
		if o.has("server") {
			server = o.get("server")
		}
		user, name = o.get("username"), o.get("dbname")
		if user == "" || name == "" {
			p.errf("MySQL backend needs username and dbname options\n")
			return nil, 255
		}
		switch {
		case o.has("password"):
			pass = o.get("password")
		case hasKey(p.env, "ONE_DB_PASSWORD"):
			pass = p.env["ONE_DB_PASSWORD"]
		default:
			p.outf("MySQL Password: ")
			p.errf("Inappropriate ioctl for device\n")
			return nil, 255
		}
	} else {
		if !p.canRead("/etc/one/oned.conf") {
			p.errf("Error parsing config file /etc/one/oned.conf: Permission denied @ rb_sysopen - /etc/one/oned.conf\n")
			return nil, 255
		}
		_, _, _, _, db, err := p.n.onedConf()
		if err != nil || db == nil {
			p.errf("Error parsing config file /etc/one/oned.conf\n")
			return nil, 255
		}
		if strings.ToLower(db["BACKEND"]) != "mysql" {
			p.errf("Error connecting to DB: SQLite3::CantOpenException: unable to open database file\n")
			return nil, 255
		}
		if db["SERVER"] != "" {
			server = db["SERVER"]
		}
		user, pass, name = db["USER"], db["PASSWD"], db["DB_NAME"]
	}
	target := p.c.nodeAt(p.n, server)
	if server != "localhost" && server != "127.0.0.1" {
		// a front-end's address reaches that front-end's own MariaDB
		target = nil
		for _, nn := range p.c.st.Nodes {
			if !nn.Hypervisor && (nn.Name == server || nn.Address == server) {
				target = nn
			}
		}
		if server == p.n.Name || server == p.n.Address {
			target = p.n
		}
	}
	if target == nil || target.Unreachable || target.Units["mariadb"] == nil || !target.Units["mariadb"].Active {
		p.spend(2 * time.Second)
		if server == "localhost" {
			p.errf("Error connecting to DB: Mysql2::Error::ConnectionError: Can't connect to local server through socket '/run/mysqld/mysqld.sock' (2)\n")
		} else {
			p.errf("Error connecting to DB: Mysql2::Error::ConnectionError: Can't connect to server on '%s' (115)\n", server)
		}
		return nil, 255
	}
	if target.DB == nil || user != target.DBUser || pass != target.DBPassword {
		using := "YES"
		if pass == "" {
			using = "NO"
		}
		p.errf("Error connecting to DB: Mysql2::Error::ConnectionError: Access denied for user '%s'@'localhost' (using password: %s)\n", user, using)
		return nil, 255
	}
	if name != target.DB.Name {
		p.errf("Error connecting to DB: Mysql2::Error::ConnectionError: Unknown database '%s'\n", name)
		return nil, 255
	}
	return &dbConn{n: target, server: server, user: user, name: name}, 0
}

// oneNotRunning implements onedb's "oned stopped" check.
func (p *proc) oneNotRunning() bool {
	if p.n.FS.Exists("/var/lock/one/one") {
		p.errf("First stop OpenNebula. Lock file found: /var/lock/one/one\n")
		return false
	}
	ep := p.clientEndpoint(parsed{set: map[string][]string{}})
	if p.c.answering(p.n, ep) != nil {
		p.errf("OpenNebula found listening on '%s'\n", ep)
		return false
	}
	return true
}

func (p *proc) onedbVersion(conn *dbConn, o parsed) int {
	d := conn.n.DB
	if !d.Bootstrapped || len(d.Shared) == 0 || len(d.Local) == 0 {
		p.errf("Database is not correctly bootstraped.\n")
		return 1
	}
	need := dbVersion(p.n.version())
	sh, lo := d.shared(), d.local()
	if o.has("verbose") {
		p.outf("Shared tables version:   %s\nRequired version:        %s\nTimestamp: %s\nComment:   %s\n\n", sh.Version, need, sh.Timestamp.Format("01/02 15:04:05"), sh.Comment)
		p.outf("Local tables version:    %s\nRequired version:        %s\nTimestamp: %s\nComment:   %s\n\n", lo.Version, need, lo.Timestamp.Format("01/02 15:04:05"), lo.Comment)
		if lo.IsSlave {
			p.outf("This database is a federation slave\n\n")
		}
	} else {
		p.outf("Shared: %s\nLocal:  %s\nRequired shared version: %s\nRequired local version:  %s\n", sh.Version, lo.Version, need, need)
	}
	cs, cl := cmpVersion(sh.Version, need), cmpVersion(lo.Version, need)
	switch {
	case cs < 0 || cl < 0:
		p.outf("\nUpdate required. Expected DB version is:\nLocal:  %s\nShared: %s\n", need, need)
		return 2
	case cs > 0 || cl > 0:
		p.outf("\nWARNING: Source version is lower than DB version\n")
		return 3
	}
	return 0
}

func backupName(conn *dbConn, federated bool, now time.Time) string {
	fed := ""
	if federated {
		fed = "federated_"
	}
	return fmt.Sprintf("/var/lib/one/mysql_%s_%s_%s%d-%d-%d_%d:%02d:%02d.sql", conn.server, conn.name, fed,
		now.Year(), int(now.Month()), now.Day(), now.Hour(), now.Minute(), now.Second())
}

// onedbBackup writes a dump and prints onedb's lines; it returns the file.
func (p *proc) onedbBackup(conn *dbConn, file string, force, federated bool) (string, int) {
	// onedb names the file before mysqldump runs.
	now := p.now()
	if file == "" {
		file = backupName(conn, federated, now)
	}
	file = absPath(p.dir, file)
	if p.n.FS.Exists(file) && !force {
		p.errf("File %s exists, backup aborted. Use -f to overwrite.\n", file)
		return "", 255
	}
	if st, err := p.n.FS.Stat(path.Dir(file)); err != nil || !st.Dir {
		p.errf("sh: 1: cannot create %s: Directory nonexistent\n", file)
		p.errf("Unknown error running 'mysqldump -u %s -p'%s' -h %s -P 0 --add-drop-database --databases --add-drop-table %s  > %s'\n", conn.user, conn.n.DBPassword, conn.server, conn.name, file)
		return "", 255
	}
	p.spend(backupCost(conn.n.DB, federated))
	now = p.now()
	data := writeDump(conn.n.DB, conn.server, federated, now)
	if m := p.c.st.Mirrors[conn.n.Name]; m != nil {
		p.c.logMirror(p.c.pushMirrors(p.ctx))
		out, stderr, err := m.dump(p.ctx, federated)
		if err != nil {
			_, _ = p.stderr.Write(stderr)
			p.errf("Unknown error running 'mysqldump -u %s -p'%s' -h %s -P 0 --add-drop-database --databases --add-drop-table %s  > %s'\n", conn.user, conn.n.DBPassword, conn.server, conn.name, file)
			return "", 255
		}
		data = out
	}
	if err := p.n.FS.WriteFile(file, data, 0o644, p.user, p.user, now); err != nil {
		p.errf("Unknown error running 'mysqldump ...  > %s'\n", file)
		return "", 255
	}
	p.outf("MySQL dump stored in %s\nUse 'onedb restore' or restore the DB using the mysql command:\nmysql -u user -h server -P port db_name < backup_file\n\n", file)
	return file, 0
}

func absPath(dir, f string) string {
	if strings.HasPrefix(f, "/") {
		return path.Clean(f)
	}
	return path.Clean(dir + "/" + f)
}

func (p *proc) onedbRestore(conn *dbConn, o parsed, args []string) int {
	if len(args) == 0 {
		p.errf("missing argument: backup_file\n")
		return 255
	}
	if !p.oneNotRunning() {
		return 255
	}
	file := absPath(p.dir, args[0])
	data, err := p.n.FS.ReadFile(file)
	if err != nil {
		p.errf("File %s doesn't exist, backup restoration aborted.\n", args[0])
		return 255
	}
	if !o.has("federated") && conn.n.DB.Bootstrapped && !o.has("force") {
		p.errf("MySQL database %s at %s exists, use -f to overwrite.\n", conn.name, conn.server)
		return 255
	}
	p.spend(restoreCost(data))
	if m := p.c.st.Mirrors[conn.n.Name]; m != nil {
		if stderr, err := m.restore(p.ctx, data); err != nil {
			_, _ = p.stderr.Write(stderr)
			p.errf("Error while restoring MySQL DB %s at %s.\n", conn.name, conn.server)
			return 255
		}
		d, err := m.read(p.ctx)
		if err != nil {
			p.errf("Error while restoring MySQL DB %s at %s.\n", conn.name, conn.server)
			return 255
		}
		m.Pushed = sha256hex(writeDump(d, "", false, time.Time{}))
		conn.n.DB = d
		p.outf("MySQL DB %s at %s restored.\n", d.Name, conn.server)
		return 0
	}
	d, fed, err := readDump(data)
	if err != nil {
		p.errf("ERROR 1064 (42000) at line 1: You have an error in your SQL syntax\n")
		p.errf("Error while restoring MySQL DB %s at %s.\n", conn.name, conn.server)
		return 255
	}
	t := conn.n
	if fed {
		for _, tb := range federatedTables {
			if rows, ok := d.Tables[tb]; ok {
				t.DB.Tables[tb] = rows
			}
		}
		t.DB.Shared = d.Shared
		// The federated dump ends with `mysqldump ... logdb
		// --where="fed_index!=-1"` (src/onedb/onedb_backend.rb backup):
		// fed_index is BIGINT UNSIGNED (src/sql/OneDB.cc
		// log_db_bootstrap), so the condition matches every row and
		// the restore drops the slave's logdb for the master's whole
		// log. RAFT_STATE (term, vote) stays the slave's.
		t.DB.Log, t.DB.LogBase, t.DB.BaseTerm = d.Log, d.LogBase, d.BaseTerm
		t.DB.LogIndex, t.DB.Commit, t.DB.FedLogIndex = d.LogIndex, d.LogIndex, d.FedLogIndex
	} else {
		t.DB = d
	}
	p.outf("MySQL DB %s at %s restored.\n", d.Name, conn.server)
	return 0
}

// dbChain lists the DB schema versions migrators exist between.
var dbChain = []string{"6.10.0", "7.0.0", "7.2.0", "7.4.0", "7.6.0"}

func migrationSteps(from, to string) ([][2]string, bool) {
	i, j := -1, -1
	for k, v := range dbChain {
		if v == from {
			i = k
		}
		if v == to {
			j = k
		}
	}
	if i < 0 || j < 0 || i > j {
		return nil, false
	}
	var out [][2]string
	for k := i; k < j; k++ {
		out = append(out, [2]string{dbChain[k], dbChain[k+1]})
	}
	return out, true
}

func (p *proc) onedbUpgrade(conn *dbConn, o parsed) int {
	if !p.oneNotRunning() {
		return 255
	}
	d := conn.n.DB
	code := p.n.version()
	need := dbVersion(code)
	sh, lo := d.shared(), d.local()
	slave := lo.IsSlave
	if lo.Version == need && (sh.Version == need || slave) {
		p.outf("Database schema is up to date.\n")
		return 0
	}
	shSteps, ok1 := migrationSteps(sh.Version, need)
	loSteps, ok2 := migrationSteps(lo.Version, need)
	if o.has("verbose") {
		p.outf("Version read:\nShared tables %s : %s\nLocal tables  %s : %s\n\n", sh.Version, sh.Comment, lo.Version, lo.Comment)
	}
	if !o.has("no-backup") {
		if _, c := p.onedbBackup(conn, o.get("backup"), true, false); c != 0 {
			return c
		}
		p.outf("\n")
	}
	if (!ok1 && !slave) || !ok2 {
		p.outf("ERROR: Database upgrade to the latest versions (local %s, shared %s)\nwasn't successful due to missing migration descriptors. Migrators are\nprovided as part of Enterprise Edition for customers with active subscription.\nFor community with non-commercial deployments they are provided via a\ndedicated migration package, which must be obtained separately.\n\nThe database will be restored\nMySQL DB %s at %s restored.\n", lo.Version, sh.Version, conn.name, conn.server)
		return 255
	}
	// onedb's "Total time" spans delete_idx, the migrators and create_idx.
	idx := indexCost(d)
	p.spend(idx / 2)
	total := idx
	now := p.now()
	run := func(kind string, steps [][2]string, from string) {
		if len(steps) == 0 {
			return
		}
		p.outf(">>> Running migrators for %s tables\n", kind)
		for _, s := range steps {
			took := time.Duration(0) // the shared migrators only bump the version
			if kind == "local" {
				took = localMigrator
			}
			p.spend(took)
			total += took
			if o.has("verbose") {
				p.outf("  > Running migrator /usr/lib/one/ruby/onedb/%s/%s_to_%s.rb\n", kind, s[0], s[1])
				p.outf("  > Done in %ss\n\n", seconds(took))
			}
			if kind == "local" && s[1] == "7.4.0" {
				p.authFilesMigrator(conn.n, now)
			}
		}
		comment := fmt.Sprintf("Database migrated from %s to %s (OpenNebula %s) by onedb command.", from, need, code)
		p.outf("%s\n\n", comment)
		if kind == "shared" {
			d.Shared = append(d.Shared, verRow{OID: len(d.Shared), Version: need, Timestamp: now, Comment: comment})
		} else {
			d.Local = append(d.Local, verRow{OID: len(d.Local), Version: need, Timestamp: now, Comment: comment, IsSlave: slave})
		}
	}
	if !slave {
		run("shared", shSteps, sh.Version)
	}
	run("local", loSteps, lo.Version)
	p.spend(idx - idx/2)
	if o.has("verbose") {
		p.outf("Total time: %ss\n", seconds(total))
	}
	return 0
}

// authFilesMigrator is the 7.2→7.4 local migrator's filesystem side: it
// copies an existing server auth file to oneform_auth and oneks_auth.
func (p *proc) authFilesMigrator(n *node, now time.Time) {
	for _, src := range []string{"/var/lib/one/.one/oneflow_auth", "/var/lib/one/.one/onegate_auth", "/var/lib/one/.one/sunstone_auth"} {
		b, err := n.FS.ReadFile(src)
		if err != nil {
			continue
		}
		for _, dst := range []string{"oneform_auth", "oneks_auth"} {
			f := "/var/lib/one/.one/" + dst
			if !n.FS.Exists(f) {
				_ = n.FS.WriteFile(f, b, 0o600, "oneadmin", "oneadmin", now)
			}
		}
		return
	}
}

func (p *proc) onedbFsck(conn *dbConn, o parsed) int {
	dry := o.has("dry")
	if !dry && !p.oneNotRunning() {
		return 255
	}
	d := conn.n.DB
	need := dbVersion(p.n.version())
	if d.shared().Version != need || d.local().Version != need {
		p.outf("Version mismatch: fsck file is for version\nShared: %s, Local: %s\n\nCurrent database is version\nShared: %s, Local: %s\n", need, need, d.shared().Version, d.local().Version)
		return 255
	}
	if !dry {
		if _, c := p.onedbBackup(conn, o.get("backup"), true, false); c != 0 {
			return c
		}
	}
	p.spend(15 * time.Second)
	errs := conn.n.FsckErrors
	var out strings.Builder
	out.WriteString("\n")
	for i := 0; i < errs; i++ {
		fmt.Fprintf(&out, "Host %d RUNNING_VMS has 3 \tis\t2\n", i)
	}
	out.WriteString("\n")
	fmt.Fprintf(&out, "Total errors found: %d\n", errs)
	if dry {
		fmt.Fprintf(&out, "Total repairable errors: %d\nTotal unrepairable errors: 0\nDry run, no changes have been written to the DB\n", errs)
	} else {
		fmt.Fprintf(&out, "Total errors repaired: %d\nTotal errors unrepaired: 0\n", errs)
		conn.n.FsckErrors = 0
	}
	out.WriteString("A copy of this output was stored in /var/log/one/onedb-fsck.log\n")
	p.outf("%s", out.String())
	_ = p.n.FS.WriteFile("/var/log/one/onedb-fsck.log", []byte(out.String()), 0o640, "oneadmin", "oneadmin", p.now())
	if errs > 0 && cmpVersion(p.n.version(), "7.2.0") >= 0 {
		return 1
	}
	return 0
}

func hasKey(m map[string]string, k string) bool {
	_, ok := m[k]
	return ok
}
