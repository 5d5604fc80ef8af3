package ossim

import (
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/upgradekit/upgradekit/openstack"
	"github.com/upgradekit/upgradekit/openstack/osloconf"
	"github.com/upgradekit/upgradekit/sim/internal/vfs"
)

const sitePackages = "/usr/lib/python3/dist-packages"

// apiUnits names the units whose being active means the service answers.
func apiUnits(f openstack.Family, svc string) []string {
	deb := map[string][]string{
		"keystone": {"keystone"}, "glance": {"glance-api"}, "placement": {"placement-api"},
		"nova": {"nova-api"}, "neutron": {"neutron-api"}, "cinder": {"cinder-api"},
		"heat": {"heat-api"}, "horizon": {"apache2"},
	}
	rhel := map[string][]string{
		"keystone": {"httpd"}, "glance": {"openstack-glance-api"}, "placement": {"httpd"},
		"nova": {"openstack-nova-api"}, "neutron": {"neutron-server"}, "cinder": {"openstack-cinder-api"},
		"heat": {"openstack-heat-api"}, "horizon": {"httpd"},
	}
	if f == openstack.RHEL {
		return rhel[svc]
	}
	return deb[svc]
}

func (c *Cloud) newNode(name string, roles []openstack.Role) (*node, error) {
	n := &node{name: name, roles: roles, fs: vfs.New(), installed: map[string]int{}, units: map[string]*unit{}}
	now := c.clock.Now()
	w := func(p, data string, mode int) {
		_ = n.fs.MkdirAll(path.Dir(p), "root", "root", now)
		_ = n.fs.WriteFile(p, []byte(data), fs.FileMode(mode), "root", "root", now)
	}
	for _, d := range []string{"/root", "/tmp", "/var/backups", "/var/lock", "/usr/bin", sitePackages} {
		_ = n.fs.MkdirAll(d, "root", "root", now)
	}
	_ = n.fs.Chmod("/tmp", 0o777)
	w("/usr/bin/python3", "\x7fELF simulated python3.11\n", 0o755)
	if c.family == openstack.RHEL {
		w("/etc/os-release", "NAME=\"Rocky Linux\"\nVERSION=\"9.4 (Blue Onyx)\"\nID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.4\"\n", 0o644)
		w("/etc/yum.repos.d/openstack.repo", "[centos-openstack-zed]\nname=CentOS-9 - OpenStack zed\nbaseurl=http://mirror.stream.centos.org/SIGs/9-stream/cloud/x86_64/openstack-zed/\nenabled=1\ngpgcheck=1\n", 0o644)
	} else {
		w("/etc/os-release", "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n", 0o644)
		w("/etc/apt/sources.list", "deb http://deb.debian.org/debian bookworm main\ndeb http://deb.debian.org/debian-security bookworm-security main\n", 0o644)
		_ = n.fs.MkdirAll("/etc/apt/sources.list.d", "root", "root", now)
	}
	for _, svc := range c.catalog.Services() {
		var pkgs, units []string
		for _, r := range roles {
			pkgs = append(pkgs, svc.PackagesFor(c.family, r)...)
			units = append(units, svc.UnitsFor(c.family, r)...)
		}
		if len(pkgs) == 0 {
			continue
		}
		for _, p := range pkgs {
			n.installed[p] = 0
		}
		for _, u := range units {
			if _, ok := n.units[u]; !ok {
				n.units[u] = &unit{service: svc.Name}
			}
		}
		c.installFiles(n, svc, 0)
		conf, err := c.serviceConfig(svc, roles)
		if err != nil {
			return nil, err
		}
		for p, data := range conf {
			w(p, data, 0o640)
			_ = n.fs.Chown(p, "root", svc.User)
		}
		_ = n.fs.Chown(svc.ConfigDir, "root", svc.User)
		if svc.Name == "keystone" {
			w("/etc/keystone/fernet-keys/0", "c2ltdWxhdGVkLWZlcm5ldC1rZXktMA==\n", 0o600)
			w("/etc/keystone/credential-keys/0", "c2ltdWxhdGVkLWNyZWRlbnRpYWwta2V5\n", 0o600)
			_ = n.fs.Chown("/etc/keystone/fernet-keys/0", svc.User, svc.User)
		}
	}
	n.available = 0
	return n, nil
}

// installFiles writes svc's management tools and migration scripts of
// release rel on n (those of the packages n has).
func (c *Cloud) installFiles(n *node, svc openstack.Service, rel int) {
	now := c.clock.Now()
	tool := svc.ToolPackage[c.family]
	if tool == "" {
		return
	}
	if _, ok := n.installed[tool]; !ok {
		return
	}
	for _, t := range []string{svc.Manage, statusTool(svc)} {
		if t != "" {
			_ = n.fs.WriteFile("/usr/bin/"+t, []byte("#!/usr/bin/python3\n# simulated "+t+"\nimport sys\n"), 0o755, "root", "root", now)
		}
	}
	if svc.PythonPackage == "" {
		return
	}
	pkgDir := path.Join(sitePackages, svc.PythonPackage)
	_ = n.fs.MkdirAll(pkgDir, "root", "root", now)
	_ = n.fs.WriteFile(pkgDir+"/__init__.py", nil, 0o644, "root", "root", now)
	for _, d := range svc.Databases {
		def := c.schemas[schemaOf(d.Name)]
		if def == nil || d.Migrations == "" {
			continue
		}
		// The release's own layout: heat 19-20 ship sqlalchemy-migrate
		// scripts where the catalog's current (alembic) directory is
		// absent (openstack/heat tags 19.0.0-25.0.0, heat/db).
		sub := d.Migrations
		if def.dir != "" {
			sub = def.dir
		}
		dir := path.Join(pkgDir, sub)
		_ = n.fs.Remove(dir, true)
		_ = n.fs.MkdirAll(dir, "root", "root", now)
		wf := func(name, data string) { _ = n.fs.WriteFile(dir+"/"+name, []byte(data), 0o644, "root", "root", now) }
		wf("__init__.py", "")
		if def.kind == migrateRepo {
			base, _ := strconv.Atoi(def.base)
			wf(fmt.Sprintf("%03d_initial.py", base), "def upgrade(migrate_engine):\n    pass\n")
			for _, r := range def.revs {
				if r.release <= rel {
					wf(fmt.Sprintf("%03s_sim_%s.py", r.id, r.id), "def upgrade(migrate_engine):\n    pass\n")
				}
			}
			continue
		}
		py := func(id, down, branch string) string {
			d := "None"
			if down != "" {
				d = "'" + down + "'"
			}
			s := fmt.Sprintf("\"\"\"simulated migration %s\"\"\"\n\nrevision = '%s'\ndown_revision = %s\n", id, id, d)
			if branch != "" && down == def.base {
				s += fmt.Sprintf("branch_labels = ('%s',)\n", branch)
			}
			return s + "depends_on = None\n\n\ndef upgrade():\n    pass\n"
		}
		wf(def.base+"_initial.py", py(def.base, "", ""))
		for _, r := range def.revs {
			if r.release <= rel {
				wf(r.id+"_"+nonEmpty(r.branch, "migration")+".py", py(r.id, r.down, r.branch))
			}
		}
		if def.heads {
			wf("EXPAND_HEAD", def.head(rel, "expand")+"\n")
			wf("CONTRACT_HEAD", def.head(rel, "contract")+"\n")
		}
	}
}

func nonEmpty(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func statusTool(svc openstack.Service) string {
	if svc.UpgradeCheck != nil {
		return svc.UpgradeCheck.Command
	}
	return ""
}

// serviceConfig returns the config files of svc for a node with roles.
func (c *Cloud) serviceConfig(svc openstack.Service, roles []openstack.Role) (map[string]string, error) {
	out := map[string]string{}
	conn := func(db string) string {
		user := c.users[db]
		return fmt.Sprintf("mysql+pymysql://%s:%s@%s/%s", user, password(user), DBHost, db)
	}
	header := "# simulated by upgradekit/sim/openstack\n"
	switch svc.Name {
	case "keystone":
		out["/etc/keystone/keystone.conf"] = header + "[DEFAULT]\n# log_dir = /var/log/keystone\n\n[cache]\nenabled = true\nbackend = dogpile.cache.memory\n\n[database]\nconnection = " + conn("keystone") + "\n\n[fernet_tokens]\nkey_repository = /etc/keystone/fernet-keys/\n"
	case "glance":
		out["/etc/glance/glance-api.conf"] = header + "[DEFAULT]\nbind_port = 9292\n\n[database]\nconnection = " + conn("glance") + "\n"
	case "placement":
		out["/etc/placement/placement.conf"] = header + "[api]\nauth_strategy = keystone\n\n[placement_database]\nconnection = " + conn("placement") + "\n"
	case "nova":
		s := header + "[DEFAULT]\ntransport_url = rabbit://openstack:rabbit@ctl/\n"
		if slices.Contains(roles, openstack.Controller) {
			s += "\n[api_database]\nconnection = " + conn("nova_api") + "\n\n[database]\nconnection = " + conn("nova") + "\n"
		}
		s += "\n[placement]\nregion_name = RegionOne\n\n[service_user]\nsend_service_user_token = true\n"
		out["/etc/nova/nova.conf"] = s
	case "neutron":
		s := header + "[DEFAULT]\ncore_plugin = ml2\n"
		if slices.Contains(roles, openstack.Controller) {
			s += "\n[database]\nconnection = " + conn("neutron") + "\n"
		}
		out["/etc/neutron/neutron.conf"] = s
		out["/etc/neutron/plugins/ml2/ml2_conf.ini"] = header + "[ml2]\ntype_drivers = flat,vlan,vxlan\nmechanism_drivers = openvswitch\n"
	case "cinder":
		out["/etc/cinder/cinder.conf"] = header + "[DEFAULT]\nenabled_backends = lvm\n\n[database]\nconnection = " + conn("cinder") + "\n"
	case "heat":
		out["/etc/heat/heat.conf"] = header + "[DEFAULT]\nnum_engine_workers = 2\n\n[database]\nconnection = " + conn("heat") + "\n"
	case "horizon":
		out["/etc/openstack-dashboard/local_settings.py"] = "# simulated\nOPENSTACK_HOST = \"ctl\"\nTIME_ZONE = \"UTC\"\n"
	default:
		return nil, fmt.Errorf("ossim: no config for service %q", svc.Name)
	}
	for p := range out {
		if !strings.HasPrefix(p, svc.ConfigDir+"/") {
			return nil, fmt.Errorf("ossim: %s outside %s", p, svc.ConfigDir)
		}
	}
	return out, nil
}

// odmNames returns the online data migrations a service's ODM reports.
func odmNames(svc string) ([]string, bool) {
	switch svc {
	case "nova":
		return []string{"fill_virtual_interface_list", "migrate_empty_ratio", "populate_queued_for_delete", "populate_user_id", "populate_uuids"}, true
	case "placement":
		return []string{"alloc_create_consumer", "create_incomplete_consumers", "set_root_provider_ids"}, true
	case "cinder":
		return []string{"snapshot_use_quota_online_data_migration", "volume_use_quota_online_data_migration"}, true
	}
	return nil, false
}

// odmDB is the database holding a service's pending data migrations.
func odmDB(svc string) string {
	if svc == "nova" {
		return "nova"
	}
	return svc
}

// initDatabases creates every database at release 0's heads with some
// data and pending data-migration rows as configured.
func (c *Cloud) initDatabases(pending, stuck map[string]int) error {
	data := map[string]map[string][][]string{
		"keystone":   {"project": {{"default", "Default"}, {"admin", "admin"}, {"demo", "demo"}}, "user": {{"u1", "admin"}, {"u2", "demo"}}},
		"glance":     {"images": {{"img1", "debian-12", "active"}, {"img2", "cirros", "active"}}},
		"placement":  {"resource_providers": {{"rp1", "cmp1"}, {"rp2", "cmp2"}}},
		"nova_api":   {"cell_mappings": {{"00000000-0000-0000-0000-000000000000", "cell0"}, {"c1", "cell1"}}, "flavors": {{"1", "m1.tiny"}}},
		"nova":       {"instances": {{"i1", "vm-1", "active"}, {"i2", "vm-2", "active"}, {"i3", "vm-3", "stopped"}}},
		"nova_cell0": {"instances": {}},
		"neutron":    {"networks": {{"n1", "public"}, {"n2", "private"}}, "ports": {{"p1", "n2"}}},
		"cinder":     {"volumes": {{"v1", "10", "available"}}},
		"heat":       {"stack": {{"s1", "demo-stack"}}},
	}
	for db, tables := range data {
		d := &database{Tables: map[string]*table{}}
		for name, rows := range tables {
			t := &table{}
			w := 2
			if len(rows) > 0 {
				w = len(rows[0])
			}
			for i := range w {
				t.Cols = append(t.Cols, "c"+strconv.Itoa(i))
			}
			t.Rows = rows
			d.Tables[name] = t
		}
		def := c.schemas[schemaOf(db)]
		for _, b := range def.branches() {
			if _, err := def.upgrade(d, 0, b); err != nil {
				return err
			}
		}
		c.dbs[db] = d
	}
	for svc, rows := range pending {
		c.addPendingODM(svc, rows)
	}
	for svc, rows := range stuck {
		d := c.dbs[odmDB(svc)]
		t := &table{Cols: []string{"migration", "id"}}
		for i := range rows {
			t.Rows = append(t.Rows, []string{"populate_user_id", strconv.Itoa(i + 1)})
		}
		d.Tables["sim_odm_stuck"] = t
	}
	return nil
}

// addPendingODM adds rows a service's online data migrations must move.
func (c *Cloud) addPendingODM(svc string, rows int, only ...string) {
	names, _ := odmNames(svc)
	if len(only) > 0 {
		names = only
	}
	d := c.dbs[odmDB(svc)]
	t, ok := d.Tables["sim_odm_pending"]
	if !ok {
		t = &table{Cols: []string{"migration", "id"}}
		d.Tables["sim_odm_pending"] = t
	}
	for i := range rows {
		t.Rows = append(t.Rows, []string{names[i%len(names)], strconv.Itoa(len(t.Rows) + 1)})
	}
}

// releaseOf returns the release the package of svc installed on n is at
// (-1 when n has none of svc's packages).
func (c *Cloud) releaseOf(n *node, svc string) int {
	s, ok := c.catalog.Service(svc)
	if !ok {
		return -1
	}
	rel := -1
	for _, r := range n.roles {
		for _, p := range s.PackagesFor(c.family, r) {
			if v, ok := n.installed[p]; ok {
				rel = max(rel, v)
			}
		}
	}
	return rel
}

// toolRelease is the release of svc's management tool on n.
func (c *Cloud) toolRelease(n *node, svc openstack.Service) (int, bool) {
	v, ok := n.installed[svc.ToolPackage[c.family]]
	return v, ok
}

// readPin reads [upgrade_levels] compute from n's nova.conf.
func (c *Cloud) readPin(n *node) string {
	data, err := n.fs.ReadFile("/etc/nova/nova.conf")
	if err != nil {
		return ""
	}
	f, err := osloconf.Parse(data)
	if err != nil {
		return ""
	}
	v, _ := f.Get("upgrade_levels", "compute")
	return v
}

// startCost is how long a unit takes to come up.
func startCost(u string) time.Duration {
	switch {
	case strings.Contains(u, "apache2"), strings.Contains(u, "httpd"):
		return 3 * time.Second
	case strings.Contains(u, "agent"):
		return 4 * time.Second
	case strings.Contains(u, "compute"):
		return 8 * time.Second
	}
	return 6 * time.Second
}

// available reports whether svc's API answers somewhere.
func (c *Cloud) available(svc string) bool {
	for _, n := range c.nodes {
		for _, u := range apiUnits(c.family, svc) {
			if x, ok := n.units[u]; ok && x.active {
				return true
			}
		}
	}
	return false
}

// setActive changes a unit's state and records unit and service events.
func (c *Cloud) setActive(n *node, name string, active, failed bool) {
	u := n.units[name]
	// a unit may serve several services (httpd on RHEL)
	var svcs []string
	for _, s := range c.catalog.Names() {
		if slices.Contains(apiUnits(c.family, s), name) && slices.Contains(c.serviceNodes(s), n.name) {
			svcs = append(svcs, s)
		}
	}
	was := map[string]bool{}
	for _, s := range svcs {
		was[s] = c.available(s)
	}
	if u.active != active {
		kind := EventUnitDown
		if active {
			kind = EventUnitUp
		}
		c.event(Event{Kind: kind, Node: n.name, Unit: name, Service: u.service})
	}
	u.active, u.failed = active, failed
	for _, s := range svcs {
		now := c.available(s)
		if was[s] && !now {
			c.event(Event{Kind: EventServiceDown, Node: n.name, Unit: name, Service: s})
		}
		if !was[s] && now {
			c.event(Event{Kind: EventServiceUp, Node: n.name, Unit: name, Service: s})
		}
	}
}

// serviceNodes returns the nodes where svc has packages.
func (c *Cloud) serviceNodes(svc string) []string {
	s, _ := c.catalog.Service(svc)
	var out []string
	for _, name := range c.order {
		for _, r := range c.nodes[name].roles {
			if len(s.PackagesFor(c.family, r)) > 0 && !slices.Contains(out, name) {
				out = append(out, name)
			}
		}
	}
	return out
}

// startUnit starts a unit on the code installed now; it fails (and
// stays down) when that code needs a newer schema than the database has.
func (c *Cloud) startUnit(n *node, name string) error {
	u := n.units[name]
	if u.active {
		return nil
	}
	rel := c.releaseOf(n, u.service)
	if reason := c.cannotRun(n, u.service, rel); reason != "" {
		c.event(Event{Kind: EventViolation, Node: n.name, Unit: name, Service: u.service, Detail: name + " failed to start: " + reason})
		c.setActive(n, name, false, true)
		return fmt.Errorf("%s", reason)
	}
	c.clock.Advance(startCost(name))
	c.pid++
	u.pid = 1000 + c.pid
	u.release = rel
	if u.service == "nova" {
		u.pin = c.readPin(n)
		c.checkPin(n, name)
	}
	c.checkOrder(n, name)
	c.setActive(n, name, true, false)
	return nil
}

// checkOrder records a violation when a unit starts on newer code than a
// unit upstream wants upgraded before it: nova conductors before the API
// and the computes, neutron servers before the agents.
func (c *Cloud) checkOrder(n *node, name string) {
	u := n.units[name]
	var before func(string) bool
	switch {
	case u.service == "nova" && (slices.Contains(apiUnits(c.family, "nova"), name) || strings.Contains(name, "compute")):
		before = func(x string) bool { return strings.Contains(x, "nova-conductor") }
	case u.service == "neutron" && strings.Contains(name, "agent"):
		before = func(x string) bool { return x == "neutron-api" || x == "neutron-rpc-server" || x == "neutron-server" }
	default:
		return
	}
	for _, mn := range c.order {
		m := c.nodes[mn]
		for _, on := range sortedKeys(m.units) {
			ou := m.units[on]
			if before(on) && ou.active && ou.release < u.release {
				c.event(Event{Kind: EventViolation, Node: n.name, Unit: name, Service: u.service,
					Detail: fmt.Sprintf("%s started on %s while %s on %s still runs %s", name, c.releases[u.release].Series, on, m.name, c.releases[ou.release].Series)})
				return
			}
		}
	}
}

// cannotRun says why svc's code of release rel cannot run on n now.
func (c *Cloud) cannotRun(n *node, svc string, rel int) string {
	if svc == "horizon" || rel < 0 {
		return ""
	}
	if c.dbDown && slices.Contains(n.roles, openstack.Controller) {
		return "database server unreachable"
	}
	s, _ := c.catalog.Service(svc)
	if !slices.Contains(n.roles, openstack.Controller) {
		return ""
	}
	for _, d := range s.Databases {
		if d.Derived {
			continue
		}
		def := c.schemas[schemaOf(d.Name)]
		db := c.dbs[d.Name]
		st, err := def.state(db)
		if err != nil {
			return "unreadable schema: " + err.Error()
		}
		b := ""
		if def.kind == expandContract {
			b = "expand"
		}
		if !def.atHead(st, rel, b) && def.kind != linear || def.kind == linear && st.pos[""] < c.requiredPos(def, rel) {
			return fmt.Sprintf("database %s is older than %s %s's code", d.Name, svc, c.releases[rel].Series)
		}
	}
	return ""
}

// requiredPos is the schema position code of release rel needs: the
// release's head, or for glance its expand script.
func (c *Cloud) requiredPos(def *schemaDef, rel int) int {
	p := -1
	for i, r := range def.revs {
		if r.release <= rel && r.branch != "contract" {
			p = i
		}
	}
	return p
}

// checkPin records a violation when a nova service newer than some
// nova-compute runs without the compute RPC pin.
func (c *Cloud) checkPin(n *node, name string) {
	u := n.units[name]
	if strings.Contains(name, "compute") || u.pin != "" {
		return
	}
	for _, mn := range c.order {
		m := c.nodes[mn]
		for _, cn := range sortedKeys(m.units) {
			cu := m.units[cn]
			if strings.Contains(cn, "nova-compute") && cu.active && cu.release < u.release {
				c.event(Event{Kind: EventViolation, Node: n.name, Unit: name, Service: "nova",
					Detail: fmt.Sprintf("%s runs %s unpinned while %s on %s runs %s", name, c.releases[u.release].Series, cn, m.name, c.releases[cu.release].Series)})
				return
			}
		}
	}
}

func (c *Cloud) stopUnit(n *node, name string) {
	if n.units[name].active {
		c.clock.Advance(2 * time.Second)
	}
	c.setActive(n, name, false, false)
}
