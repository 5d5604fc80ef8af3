package openstack

import (
	"fmt"
	"maps"
	"slices"
)

// Family is a Linux distribution family: it decides package names, unit
// names and the package manager.
type Family string

// Distribution families.
const (
	Debian Family = "debian" // Debian, Ubuntu: apt, dpkg
	RHEL   Family = "rhel"   // RHEL, CentOS Stream, Rocky, Alma (RDO): dnf/yum, rpm
)

// Role is what a node does in the cloud.
type Role string

// Node roles.
const (
	Controller Role = "controller"
	Compute    Role = "compute"
	Network    Role = "network"
)

// DBUpgradeStyle says how a service's database schema is upgraded.
type DBUpgradeStyle int

// Database upgrade styles.
const (
	// NoDatabase: the service has no database of its own (horizon).
	NoDatabase DBUpgradeStyle = iota
	// DBSyncOnly: one offline "db sync" brings the schema to head.
	DBSyncOnly
	// ExpandContract: the schema is upgraded in expand (online, additive),
	// migrate (data) and contract (destructive) phases, which allows
	// rolling upgrades; the offline "db sync" also exists.
	ExpandContract
)

func (s DBUpgradeStyle) String() string {
	switch s {
	case NoDatabase:
		return "none"
	case DBSyncOnly:
		return "db-sync"
	case ExpandContract:
		return "expand-migrate-contract"
	}
	return fmt.Sprintf("DBUpgradeStyle(%d)", int(s))
}

// VersionTable says how a database records its schema version.
type VersionTable string

// Schema version tables.
const (
	Alembic VersionTable = "alembic_version" // one row per branch head
	Migrate VersionTable = "migrate_version" // sqlalchemy-migrate: an integer
)

// Database is one database a service owns.
type Database struct {
	// Name is the database's usual name ("nova_api"); the actual name is
	// whatever the connection URL says.
	Name string
	// Section is the config section whose "connection" option reaches
	// the database ("database", "api_database", "placement_database").
	Section string
	// Derived, when true, means the database has no option of its own:
	// it is reached with Section's credentials and host under the name
	// Name (nova_cell0, whose URL lives in the nova_api cell mappings).
	Derived bool
	// Migrations is the directory of migration scripts relative to the
	// service's Python package ("common/sql/migrations/versions"). Empty
	// means the schema version cannot be checked against the tool.
	Migrations string
	// VersionTable is the table recording the schema version.
	VersionTable VersionTable
	// Legacy lists the older migration systems of earlier releases, newest
	// first. Which one applies is found from the installed package: the
	// first of Migrations, then each Legacy directory, that it ships.
	Legacy []MigrationLayout
}

// MigrationLayout is a migration system some releases of a service ship.
type MigrationLayout struct {
	// Releases names the releases shipping it ("2022.2-2023.1"), for
	// messages.
	Releases string
	// Migrations and VersionTable are as in Database.
	Migrations   string
	VersionTable VersionTable
	// Final is the last revision of this system: a database still under
	// it must be there before a newer system takes over (heat 21+ stamps
	// its initial alembic revision over any migrate_version without
	// checking it; heat/db/migration.py, openstack/heat tag 21.0.0).
	Final string
}

// Layouts returns d's migration systems, the current one first.
func (d Database) Layouts() []MigrationLayout {
	out := []MigrationLayout{{Migrations: d.Migrations, VersionTable: d.VersionTable}}
	return append(out, d.Legacy...)
}

// withLayout returns d as the installed package sees it: l's directory
// and version table.
func (d Database) withLayout(l MigrationLayout) Database {
	d.Migrations, d.VersionTable = l.Migrations, l.VersionTable
	return d
}

// UpgradeCheckSpec describes a service's `<svc>-status upgrade check`.
type UpgradeCheckSpec struct {
	// Command is the tool ("nova-status"); "upgrade check" is added.
	Command string
	// JSON reports whether the tool honours --json (oslo.upgradecheck
	// main()); placement-status ignores it and nova-status rejects it.
	JSON bool
}

// ODMSpec describes a service's online data migrations command.
type ODMSpec struct {
	// Args follow the management tool and its --config-file flags
	// ("db", "online_data_migrations").
	Args []string
	// MaxCountFlag is the batch-size flag: "--max-count" (nova,
	// placement) or "--max_count" (cinder).
	MaxCountFlag string
}

// Service describes one OpenStack service as an upgrade sees it. A
// Service is a plain value: Clone before changing maps or slices of a
// Service you did not build.
type Service struct {
	// Name is the service's short name ("nova").
	Name string
	// Order is the service's place in the upstream upgrade order
	// (keystone first, horizon last); lower goes first.
	Order int
	// Packages lists the packages to upgrade per family and role.
	Packages map[Family]map[Role][]string
	// ToolPackage names, per family, the package shipping the management
	// tool, whose version is the tool's ("python3-keystone").
	ToolPackage map[Family]string
	// Units lists systemd units per family and role, in the order they
	// are upgraded (nova: conductor first, API last).
	Units map[Family]map[Role][]string
	// ConfigDir is the service's configuration directory.
	ConfigDir string
	// ConfigFiles are passed to the management tools as --config-file,
	// in order; later files override earlier ones.
	ConfigFiles []string
	// User is the system user the service runs as.
	User string
	// PythonPackage is the importable package holding the migrations.
	PythonPackage string
	// Manage is the management tool ("nova-manage"); empty when none.
	Manage string
	// DBUpgrade is how the schema is upgraded.
	DBUpgrade DBUpgradeStyle
	// Sync lists the offline schema-upgrade invocations in order, each
	// following Manage and its --config-file flags.
	Sync [][]string
	// Databases are the service's databases.
	Databases []Database
	// UpgradeCheck is the upgrade-check tool, or nil.
	UpgradeCheck *UpgradeCheckSpec
	// ODM is the online data migrations command, or nil.
	ODM *ODMSpec
	// ZedMajor is the upstream major version of the service's 2022.2
	// (Zed) release; every later series adds one (SeriesOf). 0 when the
	// service does not number its releases that way (horizon).
	ZedMajor int
}

// Clone returns a deep copy of s.
func (s Service) Clone() Service {
	c := s
	c.Packages = cloneFamilyRole(s.Packages)
	c.Units = cloneFamilyRole(s.Units)
	c.ToolPackage = maps.Clone(s.ToolPackage)
	c.ConfigFiles = slices.Clone(s.ConfigFiles)
	c.Sync = make([][]string, len(s.Sync))
	for i, a := range s.Sync {
		c.Sync[i] = slices.Clone(a)
	}
	if s.Sync == nil {
		c.Sync = nil
	}
	c.Databases = slices.Clone(s.Databases)
	for i := range c.Databases {
		c.Databases[i].Legacy = slices.Clone(c.Databases[i].Legacy)
	}
	if s.UpgradeCheck != nil {
		u := *s.UpgradeCheck
		c.UpgradeCheck = &u
	}
	if s.ODM != nil {
		o := *s.ODM
		o.Args = slices.Clone(o.Args)
		c.ODM = &o
	}
	return c
}

func cloneFamilyRole(m map[Family]map[Role][]string) map[Family]map[Role][]string {
	if m == nil {
		return nil
	}
	out := make(map[Family]map[Role][]string, len(m))
	for f, roles := range m {
		r := make(map[Role][]string, len(roles))
		for role, v := range roles {
			r[role] = slices.Clone(v)
		}
		out[f] = r
	}
	return out
}

// PackagesFor returns the packages of s for family and role.
func (s Service) PackagesFor(f Family, r Role) []string {
	return slices.Clone(s.Packages[f][r])
}

// UnitsFor returns the systemd units of s for family and role in upgrade
// order.
func (s Service) UnitsFor(f Family, r Role) []string {
	return slices.Clone(s.Units[f][r])
}

// Validate reports a Service that the primitives could not use.
func (s Service) Validate() error {
	if s.Name == "" {
		return fmt.Errorf("openstack: service has no name")
	}
	if s.DBUpgrade != NoDatabase {
		if s.Manage == "" {
			return fmt.Errorf("openstack: service %s has a database but no management tool", s.Name)
		}
		if len(s.Sync) == 0 {
			return fmt.Errorf("openstack: service %s has a database but no sync command", s.Name)
		}
	}
	if s.ODM != nil && (s.Manage == "" || len(s.ODM.Args) == 0 || s.ODM.MaxCountFlag == "") {
		return fmt.Errorf("openstack: service %s: incomplete online data migrations spec", s.Name)
	}
	for _, d := range s.Databases {
		if d.Name == "" || d.Section == "" {
			return fmt.Errorf("openstack: service %s: database needs a name and a config section", s.Name)
		}
		if d.Migrations != "" && s.PythonPackage == "" {
			return fmt.Errorf("openstack: service %s: database %s has migrations but the service has no Python package", s.Name, d.Name)
		}
	}
	return nil
}

// Catalog is a set of services in upgrade order. It is a value: With and
// Override return a new Catalog and never change the receiver.
type Catalog struct {
	services []Service
}

// NewCatalog returns a catalog of services, validated.
func NewCatalog(services ...Service) (Catalog, error) {
	var c Catalog
	for _, s := range services {
		var err error
		if c, err = c.With(s); err != nil {
			return Catalog{}, err
		}
	}
	return c, nil
}

// Services returns copies of the services in upgrade order (Order, then
// name).
func (c Catalog) Services() []Service {
	out := make([]Service, len(c.services))
	for i, s := range c.services {
		out[i] = s.Clone()
	}
	return out
}

// Names returns the service names in upgrade order.
func (c Catalog) Names() []string {
	out := make([]string, len(c.services))
	for i, s := range c.services {
		out[i] = s.Name
	}
	return out
}

// Service returns a copy of the service called name.
func (c Catalog) Service(name string) (Service, bool) {
	for _, s := range c.services {
		if s.Name == name {
			return s.Clone(), true
		}
	}
	return Service{}, false
}

// With returns a catalog with s added. Adding a name that exists is an
// error: use Override to replace a service.
func (c Catalog) With(s Service) (Catalog, error) {
	if err := s.Validate(); err != nil {
		return Catalog{}, err
	}
	if _, ok := c.Service(s.Name); ok {
		return Catalog{}, fmt.Errorf("openstack: catalog already has service %q (use Override)", s.Name)
	}
	out := Catalog{services: append(slices.Clip(c.services), s.Clone())}
	out.sort()
	return out, nil
}

// Override returns a catalog where the service named s.Name is replaced
// by s. Overriding a name that does not exist is an error.
func (c Catalog) Override(s Service) (Catalog, error) {
	if err := s.Validate(); err != nil {
		return Catalog{}, err
	}
	i := slices.IndexFunc(c.services, func(x Service) bool { return x.Name == s.Name })
	if i < 0 {
		return Catalog{}, fmt.Errorf("openstack: catalog has no service %q to override", s.Name)
	}
	out := Catalog{services: slices.Clone(c.services)}
	out.services[i] = s.Clone()
	out.sort()
	return out, nil
}

// Without returns a catalog without the named services.
func (c Catalog) Without(names ...string) Catalog {
	return Catalog{services: slices.DeleteFunc(slices.Clone(c.services), func(s Service) bool {
		return slices.Contains(names, s.Name)
	})}
}

func (c *Catalog) sort() {
	slices.SortStableFunc(c.services, func(a, b Service) int {
		if a.Order != b.Order {
			return a.Order - b.Order
		}
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
}

// DefaultCatalog returns the core services with the package, unit and
// file names of Debian/Ubuntu and RDO packages, in the upstream upgrade
// order: keystone, glance, placement (before nova), nova, neutron, cinder,
// heat, horizon. Each call returns a fresh catalog. The migrations
// directories are those the services ship in every release from 2022.2
// (Zed) to 2025.2 (checked at the upstream tags, e.g. openstack/nova
// 26.0.0-32.0.0); heat alone changed system in between (Database.Legacy).
func DefaultCatalog() Catalog {
	c, err := NewCatalog(defaultServices()...)
	if err != nil {
		panic(err) // the built-in catalog is valid; a test pins it
	}
	return c
}

func defaultServices() []Service {
	return []Service{
		{
			Name:     "keystone",
			ZedMajor: 22,
			Order:    10,
			Packages: map[Family]map[Role][]string{
				Debian: {Controller: {"keystone", "python3-keystone"}},
				RHEL:   {Controller: {"openstack-keystone", "python3-keystone"}},
			},
			ToolPackage: map[Family]string{Debian: "python3-keystone", RHEL: "openstack-keystone"},
			Units: map[Family]map[Role][]string{
				Debian: {Controller: {"keystone"}},
				RHEL:   {Controller: {"httpd"}},
			},
			ConfigDir:     "/etc/keystone",
			ConfigFiles:   []string{"/etc/keystone/keystone.conf"},
			User:          "keystone",
			PythonPackage: "keystone",
			Manage:        "keystone-manage",
			DBUpgrade:     ExpandContract,
			Sync:          [][]string{{"db_sync"}},
			Databases: []Database{{
				Name: "keystone", Section: "database",
				Migrations: "common/sql/migrations/versions", VersionTable: Alembic,
			}},
			UpgradeCheck: &UpgradeCheckSpec{Command: "keystone-status", JSON: true},
		},
		{
			Name:     "glance",
			ZedMajor: 25,
			Order:    20,
			Packages: map[Family]map[Role][]string{
				Debian: {Controller: {"glance-api", "glance-common", "python3-glance"}},
				RHEL:   {Controller: {"openstack-glance", "python3-glance"}},
			},
			ToolPackage: map[Family]string{Debian: "glance-common", RHEL: "openstack-glance"},
			Units: map[Family]map[Role][]string{
				Debian: {Controller: {"glance-api"}},
				RHEL:   {Controller: {"openstack-glance-api"}},
			},
			ConfigDir:     "/etc/glance",
			ConfigFiles:   []string{"/etc/glance/glance-api.conf"},
			User:          "glance",
			PythonPackage: "glance",
			Manage:        "glance-manage",
			DBUpgrade:     ExpandContract,
			Sync:          [][]string{{"db", "sync"}},
			Databases: []Database{{
				Name: "glance", Section: "database",
				Migrations: "db/sqlalchemy/alembic_migrations/versions", VersionTable: Alembic,
			}},
			UpgradeCheck: &UpgradeCheckSpec{Command: "glance-status", JSON: true},
		},
		{
			Name:     "placement",
			ZedMajor: 8,
			Order:    30,
			Packages: map[Family]map[Role][]string{
				Debian: {Controller: {"placement-api", "placement-common", "python3-placement"}},
				RHEL:   {Controller: {"openstack-placement-api", "openstack-placement-common", "python3-placement"}},
			},
			ToolPackage: map[Family]string{Debian: "python3-placement", RHEL: "openstack-placement-common"},
			Units: map[Family]map[Role][]string{
				Debian: {Controller: {"placement-api"}},
				RHEL:   {Controller: {"httpd"}},
			},
			ConfigDir:     "/etc/placement",
			ConfigFiles:   []string{"/etc/placement/placement.conf"},
			User:          "placement",
			PythonPackage: "placement",
			Manage:        "placement-manage",
			DBUpgrade:     DBSyncOnly,
			Sync:          [][]string{{"db", "sync"}},
			Databases: []Database{{
				Name: "placement", Section: "placement_database",
				Migrations: "db/sqlalchemy/alembic/versions", VersionTable: Alembic,
			}},
			UpgradeCheck: &UpgradeCheckSpec{Command: "placement-status", JSON: false},
			ODM:          &ODMSpec{Args: []string{"db", "online_data_migrations"}, MaxCountFlag: "--max-count"},
		},
		{
			Name:     "nova",
			ZedMajor: 26,
			Order:    40,
			Packages: map[Family]map[Role][]string{
				Debian: {
					Controller: {"nova-api", "nova-conductor", "nova-scheduler", "nova-novncproxy", "nova-common", "python3-nova"},
					Compute:    {"nova-compute", "nova-common", "python3-nova"},
				},
				RHEL: {
					Controller: {"openstack-nova-api", "openstack-nova-conductor", "openstack-nova-scheduler", "openstack-nova-novncproxy", "openstack-nova-common", "python3-nova"},
					Compute:    {"openstack-nova-compute", "openstack-nova-common", "python3-nova"},
				},
			},
			ToolPackage: map[Family]string{Debian: "nova-common", RHEL: "openstack-nova-common"},
			Units: map[Family]map[Role][]string{
				// Conductor first, API last (nova admin/upgrades.rst).
				Debian: {
					Controller: {"nova-conductor", "nova-scheduler", "nova-novncproxy", "nova-api"},
					Compute:    {"nova-compute"},
				},
				RHEL: {
					Controller: {"openstack-nova-conductor", "openstack-nova-scheduler", "openstack-nova-novncproxy", "openstack-nova-api"},
					Compute:    {"openstack-nova-compute"},
				},
			},
			ConfigDir:     "/etc/nova",
			ConfigFiles:   []string{"/etc/nova/nova.conf"},
			User:          "nova",
			PythonPackage: "nova",
			Manage:        "nova-manage",
			DBUpgrade:     DBSyncOnly,
			// api_db sync first: the API DB holds the cell mappings.
			Sync: [][]string{{"api_db", "sync"}, {"db", "sync"}},
			Databases: []Database{
				{Name: "nova_api", Section: "api_database", Migrations: "db/api/migrations/versions", VersionTable: Alembic},
				{Name: "nova", Section: "database", Migrations: "db/main/migrations/versions", VersionTable: Alembic},
				{Name: "nova_cell0", Section: "database", Derived: true, Migrations: "db/main/migrations/versions", VersionTable: Alembic},
			},
			UpgradeCheck: &UpgradeCheckSpec{Command: "nova-status", JSON: false},
			ODM:          &ODMSpec{Args: []string{"db", "online_data_migrations"}, MaxCountFlag: "--max-count"},
		},
		{
			Name:     "neutron",
			ZedMajor: 21,
			Order:    50,
			Packages: map[Family]map[Role][]string{
				Debian: {
					Controller: {"neutron-api", "neutron-rpc-server", "neutron-common", "python3-neutron"},
					Network:    {"neutron-openvswitch-agent", "neutron-l3-agent", "neutron-dhcp-agent", "neutron-metadata-agent", "neutron-common", "python3-neutron"},
					Compute:    {"neutron-openvswitch-agent", "neutron-common", "python3-neutron"},
				},
				RHEL: {
					Controller: {"openstack-neutron", "openstack-neutron-ml2", "openstack-neutron-common", "python3-neutron"},
					Network:    {"openstack-neutron-openvswitch", "openstack-neutron", "openstack-neutron-common", "python3-neutron"},
					Compute:    {"openstack-neutron-openvswitch", "openstack-neutron-common", "python3-neutron"},
				},
			},
			ToolPackage: map[Family]string{Debian: "neutron-common", RHEL: "openstack-neutron-common"},
			Units: map[Family]map[Role][]string{
				// Servers before agents; L2 agents before the others.
				Debian: {
					Controller: {"neutron-api", "neutron-rpc-server"},
					Network:    {"neutron-openvswitch-agent", "neutron-l3-agent", "neutron-dhcp-agent", "neutron-metadata-agent"},
					Compute:    {"neutron-openvswitch-agent"},
				},
				RHEL: {
					Controller: {"neutron-server"},
					Network:    {"neutron-openvswitch-agent", "neutron-l3-agent", "neutron-dhcp-agent", "neutron-metadata-agent"},
					Compute:    {"neutron-openvswitch-agent"},
				},
			},
			ConfigDir:     "/etc/neutron",
			ConfigFiles:   []string{"/etc/neutron/neutron.conf", "/etc/neutron/plugins/ml2/ml2_conf.ini"},
			User:          "neutron",
			PythonPackage: "neutron",
			Manage:        "neutron-db-manage",
			DBUpgrade:     ExpandContract,
			Sync:          [][]string{{"upgrade", "heads"}},
			Databases: []Database{{
				Name: "neutron", Section: "database",
				Migrations: "db/migration/alembic_migrations/versions", VersionTable: Alembic,
			}},
			UpgradeCheck: &UpgradeCheckSpec{Command: "neutron-status", JSON: true},
		},
		{
			Name:     "cinder",
			ZedMajor: 21,
			Order:    60,
			Packages: map[Family]map[Role][]string{
				Debian: {Controller: {"cinder-scheduler", "cinder-volume", "cinder-backup", "cinder-api", "cinder-common", "python3-cinder"}},
				RHEL:   {Controller: {"openstack-cinder", "python3-cinder"}},
			},
			ToolPackage: map[Family]string{Debian: "cinder-common", RHEL: "openstack-cinder"},
			Units: map[Family]map[Role][]string{
				// scheduler, volume, backup, then API (cinder admin/upgrades.rst).
				Debian: {Controller: {"cinder-scheduler", "cinder-volume", "cinder-backup", "cinder-api"}},
				RHEL:   {Controller: {"openstack-cinder-scheduler", "openstack-cinder-volume", "openstack-cinder-backup", "openstack-cinder-api"}},
			},
			ConfigDir:     "/etc/cinder",
			ConfigFiles:   []string{"/etc/cinder/cinder.conf"},
			User:          "cinder",
			PythonPackage: "cinder",
			Manage:        "cinder-manage",
			DBUpgrade:     DBSyncOnly,
			Sync:          [][]string{{"db", "sync"}},
			Databases: []Database{{
				Name: "cinder", Section: "database",
				Migrations: "db/migrations/versions", VersionTable: Alembic,
			}},
			UpgradeCheck: &UpgradeCheckSpec{Command: "cinder-status", JSON: true},
			// cinder spells it with an underscore; --max-count is rc 2.
			ODM: &ODMSpec{Args: []string{"db", "online_data_migrations"}, MaxCountFlag: "--max_count"},
		},
		{
			Name:     "heat",
			ZedMajor: 19,
			Order:    70,
			Packages: map[Family]map[Role][]string{
				Debian: {Controller: {"heat-engine", "heat-api", "heat-api-cfn", "heat-common", "python3-heat"}},
				RHEL:   {Controller: {"openstack-heat-engine", "openstack-heat-api", "openstack-heat-api-cfn", "openstack-heat-common", "python3-heat"}},
			},
			ToolPackage: map[Family]string{Debian: "heat-common", RHEL: "openstack-heat-common"},
			Units: map[Family]map[Role][]string{
				// Engines, then the APIs.
				Debian: {Controller: {"heat-engine", "heat-api", "heat-api-cfn"}},
				RHEL:   {Controller: {"openstack-heat-engine", "openstack-heat-api", "openstack-heat-api-cfn"}},
			},
			ConfigDir:     "/etc/heat",
			ConfigFiles:   []string{"/etc/heat/heat.conf"},
			User:          "heat",
			PythonPackage: "heat",
			Manage:        "heat-manage",
			DBUpgrade:     DBSyncOnly,
			Sync:          [][]string{{"db_sync"}},
			Databases: []Database{{
				// heat 21 (2023.2) to 25 (2025.2): alembic, one revision
				// (c6214ca60943) stamped over a migrate-controlled database
				// by db_sync. heat 19 (2022.2) and 20 (2023.1):
				// sqlalchemy-migrate, last script 086 (openstack/heat tags
				// 19.0.0-25.0.0, heat/db).
				Name: "heat", Section: "database",
				Migrations: "db/migrations/versions", VersionTable: Alembic,
				Legacy: []MigrationLayout{{
					Releases:   "2022.2-2023.1 (heat 19-20)",
					Migrations: "db/sqlalchemy/migrate_repo/versions", VersionTable: Migrate, Final: "86",
				}},
			}},
			UpgradeCheck: &UpgradeCheckSpec{Command: "heat-status", JSON: true},
		},
		{
			Name:  "horizon",
			Order: 80,
			Packages: map[Family]map[Role][]string{
				Debian: {Controller: {"openstack-dashboard", "python3-django-horizon"}},
				RHEL:   {Controller: {"openstack-dashboard", "python3-django-horizon"}},
			},
			Units: map[Family]map[Role][]string{
				Debian: {Controller: {"apache2"}},
				RHEL:   {Controller: {"httpd"}},
			},
			ConfigDir:   "/etc/openstack-dashboard",
			ConfigFiles: []string{"/etc/openstack-dashboard/local_settings.py"},
			User:        "horizon",
			DBUpgrade:   NoDatabase,
		},
	}
}
