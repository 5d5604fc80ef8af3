package ossim

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/upgradekit/upgradekit/openstack"
	"github.com/upgradekit/upgradekit/openstack/osloconf"
)

// toolHandlers returns the OpenStack management tools.
func toolHandlers() map[string]handlerFunc {
	m := map[string]handlerFunc{
		"keystone-manage":   toolMain("keystone", keystoneManage),
		"glance-manage":     toolMain("glance", glanceManage),
		"neutron-db-manage": toolMain("neutron", neutronManage),
		"nova-manage":       toolMain("nova", novaManage),
		"placement-manage":  toolMain("placement", placementManage),
		"cinder-manage":     toolMain("cinder", cinderManage),
		"heat-manage":       toolMain("heat", heatManage),
	}
	for _, s := range []string{"keystone", "glance", "placement", "nova", "neutron", "cinder", "heat"} {
		m[s+"-status"] = toolMain(s, statusTool2)
	}
	return m
}

// tctx is one management-tool invocation.
type tctx struct {
	p    *proc
	svc  openstack.Service
	rel  int
	conf []*osloconf.File
	args []string
	tool string
}

func toolMain(svc string, fn func(t *tctx) int) handlerFunc {
	return func(p *proc, args []string) int {
		s, _ := p.c.catalog.Service(svc)
		rel, ok := p.c.toolRelease(p.n, s)
		tool := svc + "-manage"
		if svc == "neutron" {
			tool = "neutron-db-manage"
		}
		if !ok {
			p.errf("sh: 1: %s: not found\n", tool)
			return 127
		}
		t := &tctx{p: p, svc: s, rel: rel, tool: tool}
		var files []string
		for i := 0; i < len(args); i++ {
			if args[i] == "--config-file" && i+1 < len(args) {
				files = append(files, args[i+1])
				i++
				continue
			}
			if v, ok := strings.CutPrefix(args[i], "--config-file="); ok {
				files = append(files, v)
				continue
			}
			t.args = append(t.args, args[i])
		}
		if len(files) == 0 {
			files = s.ConfigFiles
		}
		for _, f := range files {
			data, err := p.n.fs.ReadFile(p.abs(f))
			if err != nil {
				p.errf("ERROR: Unable to find configuration file: %s\n", f)
				if svc == "cinder" {
					return 2
				}
				return 1
			}
			cf, err := osloconf.Parse(data)
			if err != nil {
				p.errf("oslo_config.cfg.ConfigFileParseError: Failed to parse %s\n", f)
				return 1
			}
			t.conf = append(t.conf, cf)
		}
		p.c.clock.Advance(1500 * time.Millisecond)
		return fn(t)
	}
}

func (t *tctx) get(section, key string) string {
	v := ""
	for _, f := range t.conf {
		if x, ok := f.Get(section, key); ok {
			v = x
		}
	}
	return v
}

// db opens the database of catalog entry name through the config.
func (t *tctx) db(name string) (*database, string, error) {
	var d openstack.Database
	for _, x := range t.svc.Databases {
		if x.Name == name {
			d = x
		}
	}
	raw := t.get(d.Section, "connection")
	if raw == "" {
		return nil, "", fmt.Errorf("oslo_config.cfg.RequiredOptError: value required for option connection in group [%s]", d.Section)
	}
	a, err := openstack.ParseConnection(raw)
	if err != nil {
		return nil, "", err
	}
	if d.Derived {
		a.Database = name
	}
	db, err := t.p.connect(clientAuth{user: a.User, password: a.Password.Reveal(), host: a.Host, socket: a.Socket}, a.Database)
	if err != nil {
		// oslo.db retries for ~100 s (max_retries 10, retry_interval 10)
		t.p.c.clock.Advance(100 * time.Second)
		return nil, "", fmt.Errorf("oslo_db.exception.DBConnectionError: (pymysql.err.OperationalError) (%s)", strings.Replace(err.Error(), " at line 1", "", 1))
	}
	return db, a.Database, nil
}

func (t *tctx) def(db string) *schemaDef { return t.p.c.schemas[schemaOf(db)] }

func (t *tctx) log(format string, a ...any) {
	t.p.outf("%s %d INFO %s [-] %s\n", t.p.now().Format("2006-01-02 15:04:05.000"), 20000+t.p.c.pid, t.svc.Name, fmt.Sprintf(format, a...))
}

func (t *tctx) traceback(err error) int {
	t.p.errf("Traceback (most recent call last):\n  File \"/usr/bin/%s\", line 10, in <module>\n    sys.exit(main())\n%s\n", t.tool, err)
	return 1
}

// migrate applies branch b of db to the tool's release (or to index
// limit of a linear chain when limit >= 0) and logs like alembic.
func (t *tctx) migrate(d *database, dbName, b string, limit int) error {
	def := t.def(dbName)
	st, err := def.state(d)
	if err != nil {
		return err
	}
	for _, b := range def.branches() {
		if st.exists && st.pos[b] > def.target(t.rel, b) {
			return fmt.Errorf("alembic.util.exc.CommandError: Can't locate revision identified by '%s'", def.branch(b)[st.pos[b]].id)
		}
	}
	before := def.newest(st)
	var applied []string
	if limit >= 0 {
		if !st.exists {
			st = schemaState{exists: true, pos: map[string]int{"": -1}}
		}
		for i := st.pos[""] + 1; i <= limit; i++ {
			id := def.revs[i].id
			applied = append(applied, id)
			if _, ok := d.Tables["sim_"+id]; !ok {
				d.Tables["sim_"+id] = &table{Cols: []string{"id", "migration"}, Rows: [][]string{{"1", id}}}
			}
			st.pos[""] = i
		}
		def.write(d, st)
	} else if applied, err = def.upgrade(d, t.rel, b); err != nil {
		return err
	}
	prev := ""
	for _, id := range applied {
		t.log("Running upgrade %s -> %s, simulated migration", prev, id)
		prev = id
		t.p.c.clock.Advance(3 * time.Second)
		t.p.c.event(Event{Kind: EventMigration, Node: t.p.n.name, Service: t.svc.Name, Detail: dbName + " " + id})
	}
	after, _ := def.state(d)
	if def.newest(after) > before && before >= 0 {
		t.p.c.newRelease(t.svc.Name, dbName, def.newest(after))
	}
	return nil
}

// newRelease is called when a database first reaches a newer release's
// schema: that release's online data migrations now have rows to move,
// and old code on a contracted schema is a violation.
func (c *Cloud) newRelease(svc, db string, rel int) {
	if _, ok := odmNames(svc); ok && odmDB(svc) == db {
		names, _ := odmNames(svc)
		if svc == "placement" {
			// a new release's placement migrations create consumers;
			// missing root provider ids are an old release's leftovers
			names = names[:1]
		}
		c.addPendingODM(svc, map[string]int{"nova": 40, "placement": 6, "cinder": 12}[svc], names...)
	}
}

func keystoneManage(t *tctx) int {
	if len(t.args) == 0 {
		t.p.errf("usage: keystone-manage [-h] ...\n")
		return 2
	}
	switch t.args[0] {
	case "doctor":
		t.p.c.clock.Advance(2 * time.Second)
		return 0
	case "token_flush":
		t.p.errf("keystone-manage: error: argument command: invalid choice: 'token_flush'\n")
		return 2
	case "db_version":
		d, name, err := t.db("keystone")
		if err != nil {
			return t.traceback(err)
		}
		st, _ := t.def(name).state(d)
		if p := st.pos["expand"]; st.exists && p >= 0 {
			t.p.outf("%s\n", t.def(name).branch("expand")[p].id)
		}
		return 0
	case "db_sync":
	default:
		t.p.errf("keystone-manage: error: argument command: invalid choice: '%s'\n", t.args[0])
		return 2
	}
	var mode []string
	for _, a := range t.args[1:] {
		if strings.HasPrefix(a, "--") {
			mode = append(mode, a)
		} else {
			t.p.errf("keystone-manage db_sync: Specifying a version is no longer supported\n")
			return 1
		}
	}
	if len(mode) > 1 {
		t.p.errf("keystone-manage db_sync: error: argument %s: not allowed with argument %s\n", mode[1], mode[0])
		return 2
	}
	d, name, err := t.db("keystone")
	if err != nil {
		return t.traceback(err)
	}
	def := t.def(name)
	st, err := def.state(d)
	if err != nil {
		return t.traceback(err)
	}
	m := ""
	if len(mode) == 1 {
		m = mode[0]
	}
	major := t.p.c.releases[t.rel].major(string(t.p.c.family), "keystone")
	switch m {
	case "--check":
		code := 0
		switch {
		case !st.exists:
			code = 2
		case major >= 22 && major <= 27:
			// bug #2080542: compares the database with its own heads
			code = 0
		case !def.atHead(st, t.rel, "expand"):
			code = 2
		case !def.atHead(st, t.rel, "contract"):
			code = 4
		}
		msgs := map[int]string{0: "All db_sync commands are upgraded to the same version and up-to-date.",
			2: "Your database is not up to date. Your first step is to run `keystone-manage db_sync --expand`.",
			4: "Expand version is ahead of contract. Your next step is to run `keystone-manage db_sync --contract`."}
		t.log("%s", msgs[code])
		return code
	case "--migrate":
		if major >= 22 {
			t.p.outf("Data migrations are no longer supported with alembic. This is now a no-op.\n")
		}
		return 0
	case "--expand":
		if err := t.migrate(d, name, "expand", -1); err != nil {
			return t.traceback(err)
		}
		return 0
	case "--contract":
		if !def.atHead(st, t.rel, "expand") {
			return t.traceback(fmt.Errorf("keystone.common.sql.upgrades.DBMigrationError: You are attempting to upgrade contract ahead of expand. Please refer to https://docs.openstack.org/keystone/latest/admin/identity-upgrading.html to see the proper steps for rolling upgrades."))
		}
		if err := t.migrate(d, name, "contract", -1); err != nil {
			return t.traceback(err)
		}
		return 0
	case "":
		for _, b := range []string{"expand", "contract"} {
			if err := t.migrate(d, name, b, -1); err != nil {
				return t.traceback(err)
			}
		}
		return 0
	}
	t.p.errf("keystone-manage: error: unrecognized arguments: %s\n", m)
	return 2
}

// glanceIndex returns the chain index of the last rev of branch b the
// tool knows.
func glanceIndex(def *schemaDef, rel int, b string) int {
	idx := -1
	for i, r := range def.revs {
		if r.release <= rel && (b == "" || r.branch == b) {
			idx = i
		}
	}
	return idx
}

func glanceManage(t *tctx) int {
	args := t.args
	if len(args) == 1 && strings.HasPrefix(args[0], "db_") {
		args = []string{"db", strings.TrimPrefix(args[0], "db_")}
	}
	if len(args) < 2 || args[0] != "db" {
		t.p.errf("usage: glance-manage [-h] ...\n")
		return 2
	}
	d, name, err := t.db("glance")
	if err != nil {
		t.p.errf("%s\n", err)
		return 1
	}
	def := t.def(name)
	st, err := def.state(d)
	if err != nil {
		t.p.errf("%s\n", err)
		return 1
	}
	pos := -1
	if st.exists {
		pos = st.pos[""]
	}
	expIdx, conIdx := glanceIndex(def, t.rel, "expand"), glanceIndex(def, t.rel, "")
	pending := t.p.c.glanceDM
	cur := func() string {
		s, _ := def.state(d)
		if !s.exists || s.pos[""] < 0 {
			return def.base
		}
		return def.revs[s.pos[""]].id
	}
	switch args[1] {
	case "version":
		if !st.exists {
			t.p.outf("Database is either not under migration control or under legacy migration control, please run \"glance-manage db sync\" to place the database under alembic migration control.\n")
			return 0
		}
		t.p.outf("%s\n", cur())
		return 0
	case "check":
		switch {
		case pos < expIdx:
			t.p.outf("Your database is not up to date. Your first step is to run `glance-manage db expand`.\n")
			return 3
		case pending > 0 && pos >= expIdx:
			t.p.outf("Your database is not up to date. Your next step is to run `glance-manage db migrate`.\n")
			return 4
		case pos < conIdx:
			t.p.outf("Your database is not up to date. Your next step is to run `glance-manage db contract`.\n")
			return 5
		}
		t.p.outf("Database is up to date. No upgrades needed.\n")
		return 0
	case "expand":
		if pos >= expIdx {
			t.p.outf("Database expansion is up to date. No expansion needed.\n")
			return 0
		}
		if err := t.migrate(d, name, "", expIdx); err != nil {
			t.p.errf("%s\n", err)
			return 1
		}
		t.p.outf("Upgraded database to: %s, current revision(s): %s\n", cur(), cur())
		return 0
	case "migrate":
		if pos < expIdx {
			t.p.errf("Data migration did not run. Data migration cannot be run before database expansion. Run database expansion first using \"glance-manage db expand\"\n")
			return 1
		}
		t.p.c.glanceDM = 0
		t.p.outf("Migrated %d rows\n", pending)
		return 0
	case "contract":
		if pos < expIdx {
			t.p.errf("Database contraction did not run. Database contraction cannot be run before database expansion. Run database expansion first using \"glance-manage db expand\"\n")
			return 1
		}
		if pending > 0 {
			t.p.errf("Database contraction did not run. Database contraction cannot be run before data migration is complete. Run data migration using \"glance-manage db migrate\".\n")
			return 1
		}
		if pos >= conIdx {
			t.p.outf("Database is up to date. No migrations needed.\n")
			return 0
		}
		if err := t.migrate(d, name, "", conIdx); err != nil {
			t.p.errf("%s\n", err)
			return 1
		}
		t.p.outf("Upgraded database to: %s, current revision(s): %s\n", cur(), cur())
		return 0
	case "sync":
		if pos >= conIdx {
			t.p.outf("Database is up to date. No migrations needed.\n")
			return 0
		}
		if err := t.migrate(d, name, "", conIdx); err != nil {
			t.p.errf("%s\n", err)
			return 1
		}
		t.p.c.glanceDM = 0
		t.p.outf("Database is synced successfully.\n")
		return 0
	}
	t.p.errf("glance-manage: error: invalid choice: '%s'\n", args[1])
	return 2
}

func neutronManage(t *tctx) int {
	if len(t.args) == 0 {
		t.p.errf("usage: neutron-db-manage [-h] ...\n")
		return 2
	}
	d, name, err := t.db("neutron")
	if err != nil {
		return t.traceback(err)
	}
	def := t.def(name)
	st, err := def.state(d)
	if err != nil {
		return t.traceback(err)
	}
	switch t.args[0] {
	case "has_offline_migrations":
		if st.exists && !def.atHead(st, t.rel, "contract") {
			t.p.outf("Need to apply migrations from neutron contract branch. This will require all Neutron server instances to be shutdown before proceeding with the upgrade.\n")
			return 1
		}
		t.p.outf("No offline migrations pending.\n")
		return 0
	case "current", "heads":
		for _, b := range def.branches() {
			id := def.base
			if t.args[0] == "heads" {
				id = def.head(t.rel, b)
			} else if p := st.pos[b]; p >= 0 {
				id = def.branch(b)[p].id
			}
			t.p.outf("%s (%s) (head)\n", id, b)
		}
		t.p.outf("  OK\n")
		return 0
	case "upgrade":
		if len(t.args) < 2 {
			t.p.errf("neutron-db-manage upgrade: error: the following arguments are required: revision\n")
			return 2
		}
		switch t.args[1] {
		case "--expand":
			err = t.migrate(d, name, "expand", -1)
		case "--contract":
			if !def.atHead(st, t.rel, "expand") {
				return t.traceback(fmt.Errorf("alembic.util.exc.CommandError: contract ahead of expand"))
			}
			for _, n := range t.p.c.nodes {
				for un, u := range n.units {
					if u.service == "neutron" && u.active && slices.Contains(apiUnits(t.p.c.family, "neutron"), un) || u.service == "neutron" && u.active && un == "neutron-rpc-server" {
						t.p.c.event(Event{Kind: EventViolation, Node: n.name, Unit: un, Service: "neutron", Detail: "neutron contract migrations ran while " + un + " was running"})
					}
				}
			}
			err = t.migrate(d, name, "contract", -1)
		case "heads", "head":
			for _, b := range def.branches() {
				if err = t.migrate(d, name, b, -1); err != nil {
					break
				}
			}
		default:
			t.p.errf("neutron-db-manage: simulated: unsupported revision %s\n", t.args[1])
			return 2
		}
		if err != nil {
			return t.traceback(err)
		}
		t.p.outf("  OK\n")
		return 0
	}
	t.p.errf("neutron-db-manage: error: invalid choice: '%s'\n", t.args[0])
	return 2
}

// odm runs a service's online data migrations with the tool's flag.
func (t *tctx) odm(args []string, flag string) int {
	max := -1
	for i := 0; i < len(args); i++ {
		a := args[i]
		v, hasEq := "", false
		if k, val, ok := strings.Cut(a, "="); ok {
			a, v, hasEq = k, val, true
		}
		if strings.HasPrefix(a, "--max") {
			if a != flag {
				t.p.errf("%s: error: unrecognized arguments: %s\n", t.tool, args[i])
				return 2
			}
			if !hasEq && i+1 < len(args) {
				i++
				v = args[i]
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				t.p.errf("Must supply a positive value for max_number.\n")
				return 127
			}
			max = n
		}
	}
	d, _, err := t.db(odmDB(t.svc.Name))
	if err != nil {
		t.p.errf("Error attempting to run online data migrations: %s\n", err)
		return 2
	}
	names, _ := odmNames(t.svc.Name)
	needed := map[string]int{}
	done := map[string]int{}
	pt := d.Tables["sim_odm_pending"]
	if pt != nil {
		for _, r := range pt.Rows {
			needed[r[0]]++
		}
		limit := len(pt.Rows)
		if max > 0 {
			limit = min(limit, max)
		}
		for _, r := range pt.Rows[:limit] {
			done[r[0]]++
		}
		pt.Rows = pt.Rows[limit:]
		t.p.c.clock.Advance(time.Duration(limit/10+1) * time.Second)
	}
	if st := d.Tables["sim_odm_stuck"]; st != nil {
		// Found on every run, never migrated (WithUnmigratableRows).
		n := len(st.Rows)
		if max > 0 {
			n = min(n, max)
		}
		for _, r := range st.Rows[:n] {
			needed[r[0]]++
		}
	}
	total := 0
	w := 0
	for _, n := range names {
		w = max2(w, len(n))
	}
	line := "+" + strings.Repeat("-", w+2) + "+--------------+-----------+"
	t.p.outf("%s\n| %-*s | Total Needed | Completed |\n%s\n", line, w, "Migration", line)
	for _, n := range names {
		t.p.outf("| %-*s | %12d | %9d |\n", w, n, needed[n], done[n])
		total += done[n]
	}
	t.p.outf("%s\n", line)
	t.p.c.event(Event{Kind: EventMigration, Node: t.p.n.name, Service: t.svc.Name, Detail: fmt.Sprintf("online data migrations: %d rows", total)})
	if max > 0 && total > 0 {
		return 1
	}
	return 0
}

func max2(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// dbsync runs a linear/migrate sync of db.
func (t *tctx) dbsync(db string, fail func(error) int) int {
	d, name, err := t.db(db)
	if err != nil {
		return fail(err)
	}
	if err := t.migrate(d, name, "", -1); err != nil {
		return fail(err)
	}
	return 0
}

func novaManage(t *tctx) int {
	fail := func(err error) int {
		t.p.errf("An error has occurred:\nTraceback (most recent call last):\n%s\n", err)
		return 255
	}
	a := t.args
	switch {
	case len(a) >= 2 && a[0] == "api_db" && a[1] == "sync":
		return t.dbsync("nova_api", fail)
	case len(a) >= 2 && a[0] == "db" && a[1] == "sync":
		if _, _, err := t.db("nova_api"); err != nil {
			t.p.errf("ERROR: Could not access cell0.\n")
			return 1
		}
		if code := t.dbsync("nova_cell0", fail); code != 0 {
			return code
		}
		return t.dbsync("nova", fail)
	case len(a) >= 2 && a[0] == "db" && a[1] == "online_data_migrations":
		return t.odm(a[2:], "--max-count")
	case len(a) >= 2 && (a[0] == "db" || a[0] == "api_db") && a[1] == "version":
		db := "nova"
		if a[0] == "api_db" {
			db = "nova_api"
		}
		d, name, err := t.db(db)
		if err != nil {
			return fail(err)
		}
		st, _ := t.def(name).state(d)
		if st.exists && st.pos[""] >= 0 {
			t.p.outf("%s\n", t.def(name).revs[st.pos[""]].id)
		} else {
			t.p.outf("None\n")
		}
		return 0
	case len(a) >= 2 && a[0] == "cell_v2" && a[1] == "list_cells":
		t.p.outf("+-------+--------------------------------------+\n|  Name |                 UUID                 |\n+-------+--------------------------------------+\n| cell0 | 00000000-0000-0000-0000-000000000000 |\n| cell1 |                  c1                  |\n+-------+--------------------------------------+\n")
		return 0
	}
	t.p.errf("nova-manage: error: invalid choice\n")
	return 2
}

func placementManage(t *tctx) int {
	fail := func(err error) int { return t.traceback(err) }
	a := t.args
	switch {
	case len(a) >= 2 && a[0] == "db" && a[1] == "sync":
		return t.dbsync("placement", fail)
	case len(a) >= 2 && a[0] == "db" && a[1] == "online_data_migrations":
		return t.odm(a[2:], "--max-count")
	case len(a) >= 2 && a[0] == "db" && a[1] == "version":
		d, name, err := t.db("placement")
		if err != nil {
			return fail(err)
		}
		st, _ := t.def(name).state(d)
		if st.exists && st.pos[""] >= 0 {
			t.p.outf("%s\n", t.def(name).revs[st.pos[""]].id)
		} else {
			t.p.outf("None\n")
		}
		return 0
	}
	t.p.errf("placement-manage: error: invalid choice\n")
	return 2
}

func cinderManage(t *tctx) int {
	a := t.args
	switch {
	case len(a) >= 2 && a[0] == "db" && a[1] == "sync":
		return t.dbsync("cinder", func(err error) int {
			t.p.errf("Error during database migration: %s\n", err)
			return 1
		})
	case len(a) >= 2 && a[0] == "db" && a[1] == "online_data_migrations":
		return t.odm(a[2:], "--max_count")
	case len(a) >= 2 && a[0] == "db" && a[1] == "version":
		d, name, err := t.db("cinder")
		if err != nil {
			return t.traceback(err)
		}
		st, _ := t.def(name).state(d)
		if st.exists && st.pos[""] >= 0 {
			t.p.outf("%s\n", t.def(name).revs[st.pos[""]].id)
		}
		return 0
	}
	t.p.errf("cinder-manage: error: invalid choice\n")
	return 2
}

func heatManage(t *tctx) int {
	a := t.args
	if len(a) == 0 {
		t.p.errf("usage: heat-manage [-h] ...\n")
		return 2
	}
	fail := func(err error) int {
		t.p.errf("ERROR: %s\n", err)
		return 1
	}
	switch a[0] {
	case "db_sync":
		return t.dbsync("heat", fail)
	case "db_version":
		d, name, err := t.db("heat")
		if err != nil {
			return fail(err)
		}
		def := t.def(name)
		st, _ := def.state(d)
		base, _ := strconv.Atoi(def.base)
		t.p.outf("%d\n", base+1+st.pos[""])
		return 0
	}
	t.p.errf("heat-manage: error: invalid choice: '%s'\n", a[0])
	return 2
}

// check is one oslo.upgradecheck result.
type check struct {
	name    string
	result  int // 0 success, 1 warning, 2 failure
	details string
}

func statusTool2(t *tctx) int {
	a := t.args
	if len(a) < 2 || a[0] != "upgrade" || a[1] != "check" {
		t.p.errf("usage: %s-status [-h] {upgrade} ...\n", t.svc.Name)
		return 2
	}
	jsonOut := slices.Contains(a[2:], "--json")
	if jsonOut && t.svc.Name == "nova" {
		t.p.errf("usage: nova-status [-h] [--config-dir DIR] [--config-file PATH] [--debug] [--version]\nnova-status: error: unrecognized arguments: --json\n")
		return 2
	}
	if t.svc.Name == "placement" {
		jsonOut = false // accepted and ignored (placement/cmd/status.py)
	}
	var checks []check
	ok := func(names ...string) {
		for _, n := range names {
			checks = append(checks, check{name: n})
		}
	}
	crash := func(err error) int {
		t.p.outf("Error:\n")
		t.p.outf("Traceback (most recent call last):\n%s\n", err)
		return 255
	}
	c := t.p.c
	switch t.svc.Name {
	case "keystone":
		if !t.p.n.fs.Exists("/etc/keystone/fernet-keys") {
			t.p.errf("/etc/keystone/fernet-keys/ does not exist\n")
			return 1
		}
		ok("Check trust policies are not empty", "Check default roles are immutable", "Policy File JSON to YAML Migration")
	case "glance":
		ok("Sheepdog Driver Removal", "Policy File JSON to YAML Migration", "Config option owner_is_tenant removal")
	case "placement":
		d, _, err := t.db("placement")
		if err != nil {
			return crash(err)
		}
		roots, consumers := 0, 0
		if pt := d.Tables["sim_odm_pending"]; pt != nil {
			for _, r := range pt.Rows {
				switch r[0] {
				case "set_root_provider_ids":
					roots++
				case "create_incomplete_consumers", "alloc_create_consumer":
					consumers++
				}
			}
		}
		mr := check{name: "Missing Root Provider IDs"}
		if roots > 0 {
			mr = check{name: mr.name, result: 2, details: fmt.Sprintf("There is at least one resource provider table record which misses its root provider id. Run the \"placement-manage db online_data_migrations\" command.")}
		}
		ic := check{name: "Incomplete Consumers"}
		if consumers > 0 {
			ic = check{name: ic.name, result: 1, details: fmt.Sprintf("There are %d incomplete consumers table records for existing allocations. Run the \"placement-manage db online_data_migrations\" command.", consumers)}
		}
		checks = append(checks, mr, ic, check{name: "Policy File JSON to YAML Migration"})
	case "nova":
		if _, _, err := t.db("nova_api"); err != nil {
			return crash(err)
		}
		ok("Cells v2")
		if c.available("placement") {
			ok("Placement API")
		} else {
			checks = append(checks, check{name: "Placement API", result: 2, details: "Placement API endpoint not found."})
		}
		ok("Cinder API", "Policy File JSON to YAML Migration")
		old := check{name: "Older than N-1 computes"}
		for _, n := range c.nodes {
			for un, u := range n.units {
				if strings.Contains(un, "nova-compute") && u.active && t.rel-u.release > 1 {
					old = check{name: old.name, result: 1, details: "Current Nova version does not support computes older than the previous release but the minimum compute service level in your cell is older."}
				}
			}
		}
		checks = append(checks, old)
		ok("hw_machine_type unset", "Service User Token Configuration")
	case "neutron":
		ok("Gateway external network", "Hostname consistency", "Worker counts configured", "Policy File JSON to YAML Migration")
	case "cinder":
		if _, _, err := t.db("cinder"); err != nil {
			return crash(err)
		}
		ok("Backup Driver Path", "Use of Policy File", "Windows Driver Path", "Removed Drivers", "Service UUIDs", "Attachment specs")
	case "heat":
		ok("Policy File JSON to YAML Migration")
	}
	c.clock.Advance(2 * time.Second)
	code := 0
	for _, ch := range checks {
		code = max(code, ch.result)
	}
	if jsonOut {
		type jc struct {
			Check   string  `json:"check"`
			Result  int     `json:"result"`
			Details *string `json:"details"`
		}
		out := struct {
			Name   string `json:"name"`
			Checks []jc   `json:"checks"`
		}{Name: "Upgrade Check Results"}
		for _, ch := range checks {
			x := jc{Check: ch.name, Result: ch.result}
			if ch.details != "" {
				d := ch.details
				x.Details = &d
			}
			out.Checks = append(out.Checks, x)
		}
		b, _ := json.Marshal(out)
		t.p.outf("%s\n", strings.ReplaceAll(strings.ReplaceAll(string(b), `":`, `": `), `,"`, `, "`))
		return code
	}
	t.p.outf("%s", checkTable(checks))
	return code
}

// checkTable renders oslo.upgradecheck's table (70 columns inside).
func checkTable(checks []check) string {
	const w = 68
	line := "+" + strings.Repeat("-", w+2) + "+\n"
	row := func(s string) string { return fmt.Sprintf("| %-*s |\n", w, s) }
	var b strings.Builder
	b.WriteString(line + row("Upgrade Check Results") + line)
	names := []string{"Success", "Warning", "Failure"}
	for _, ch := range checks {
		b.WriteString(row("Check: " + ch.name))
		b.WriteString(row("Result: " + names[ch.result]))
		details := ch.details
		if details == "" {
			details = "None"
		}
		first := true
		for _, l := range wrap("Details: "+details, w, "  ") {
			if !first {
				l = "  " + l
			}
			first = false
			b.WriteString(row(l))
		}
		b.WriteString(line)
	}
	return b.String()
}

func wrap(s string, w int, indent string) []string {
	var out []string
	cur := ""
	for _, word := range strings.Fields(s) {
		lim := w
		if len(out) > 0 {
			lim = w - len(indent)
		}
		if cur != "" && len(cur)+1+len(word) > lim {
			out = append(out, cur)
			cur = word
			continue
		}
		if cur == "" {
			cur = word
		} else {
			cur += " " + word
		}
	}
	return append(out, cur)
}
