package controlplane

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"

	"github.com/upgradekit/upgradekit/openstack"
	"github.com/upgradekit/upgradekit/system"
	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/upgrade"
)

// Inventory is the cloud to upgrade. Host names are the keys of the
// runner's upgrade.WithHosts map.
type Inventory struct {
	// Controllers run the API services; the first is the primary, where
	// schema migrations, checks and database backups run.
	Controllers []string
	// Networks run the neutron agents (may overlap Controllers).
	Networks []string
	// Computes run nova-compute and the L2 agent.
	Computes []string
	// Family is the nodes' distribution family.
	Family openstack.Family
	// Repository is the target release's package repository; the zero
	// value leaves the repositories alone (already switched).
	Repository system.Repo
	// BackupDir is where database dumps go on the primary (default
	// /var/backups/upgradekit).
	BackupDir string
}

// Option configures Plan.
type Option interface{ apply(*options) error }

type optionFunc func(*options) error

func (f optionFunc) apply(o *options) error { return f(o) }

type options struct {
	catalog    openstack.Catalog
	tool       []openstack.Option
	sys        *system.System
	batch      int
	computePin string
}

// WithCatalog sets the services to upgrade (default
// openstack.DefaultCatalog()).
func WithCatalog(c openstack.Catalog) Option {
	return optionFunc(func(o *options) error {
		if len(c.Names()) == 0 {
			return fmt.Errorf("controlplane: empty catalog")
		}
		o.catalog = c
		return nil
	})
}

// WithToolOptions passes options to every openstack primitive (config
// files, timeouts, WithWrap for containers, WithSudo, a logger).
func WithToolOptions(opts ...openstack.Option) Option {
	return optionFunc(func(o *options) error { o.tool = append(o.tool, opts...); return nil })
}

// WithSystem sets the system primitives' configuration (sudo, package
// manager, waits; default system.New()).
func WithSystem(s *system.System) Option {
	return optionFunc(func(o *options) error {
		if s == nil {
			return fmt.Errorf("controlplane: WithSystem(nil)")
		}
		o.sys = s
		return nil
	})
}

// WithComputeBatch sets how many computes are upgraded at once after the
// first (default 5).
func WithComputeBatch(n int) Option {
	return optionFunc(func(o *options) error {
		if n <= 0 {
			return fmt.Errorf("controlplane: WithComputeBatch(%d): must be positive", n)
		}
		o.batch = n
		return nil
	})
}

// Persistent keys: a resumed run finds the backups taken before a crash.
var (
	dbBackups = upgrade.NewPersistentKey[[]*openstack.DatabaseBackup]("controlplane/db-backups")
)

// configBackups is per host: the hosts' copy steps run in parallel.
func configBackups(host string) upgrade.Key[[]*openstack.ConfigBackup] {
	return upgrade.NewPersistentKey[[]*openstack.ConfigBackup]("controlplane/config-backups/" + host)
}

// ContractStep is the full name of the point of no return.
const ContractStep = "finish/contract"

// Plan returns the control-plane upgrade plan for inv.
func Plan(inv Inventory, opts ...Option) (*upgrade.Plan, error) {
	o := &options{catalog: openstack.DefaultCatalog(), batch: 5, computePin: "auto"}
	for _, opt := range opts {
		if err := opt.apply(o); err != nil {
			return nil, err
		}
	}
	if len(inv.Controllers) == 0 {
		return nil, fmt.Errorf("controlplane: no controllers")
	}
	if inv.Family != openstack.Debian && inv.Family != openstack.RHEL {
		return nil, fmt.Errorf("controlplane: unknown family %q", inv.Family)
	}
	if inv.BackupDir == "" {
		inv.BackupDir = "/var/backups/upgradekit"
	}
	if o.sys == nil {
		s, err := system.New()
		if err != nil {
			return nil, err
		}
		o.sys = s
	}
	o.tool = append([]openstack.Option{openstack.WithFamily(inv.Family)}, o.tool...)
	b := &builder{inv: inv, o: o, primary: inv.Controllers[0]}
	nodes := []upgrade.Node{b.backup()}
	if inv.Repository.Name != "" {
		nodes = append(nodes, upgrade.PerHost("repositories", b.allHosts(), func(string) upgrade.Node {
			return upgrade.Func("switch", func(ctx context.Context, s *upgrade.State) error {
				return o.sys.SwitchRepository(ctx, s.Transport(), inv.Repository)
			}).Describing("point the package manager at the target release")
		}))
	}
	var svcs []upgrade.Node
	for _, svc := range o.catalog.Services() {
		svcs = append(svcs, b.service(svc))
	}
	nodes = append(nodes, upgrade.Phase("services", svcs...))
	if len(inv.Computes) > 0 {
		nodes = append(nodes, b.computes())
	}
	if fin := b.finish(); fin != nil {
		nodes = append(nodes, fin)
	}
	p := upgrade.NewPlan("openstack-controlplane", nodes...).
		WithPreflight(upgrade.Preflight("databases-not-newer", b.preflight))
	if b.hasContract() {
		p = p.PointOfNoReturn(ContractStep)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

type builder struct {
	inv     Inventory
	o       *options
	primary string
}

func (b *builder) allHosts() []string {
	var out []string
	for _, h := range slices.Concat(b.inv.Controllers, b.inv.Networks, b.inv.Computes) {
		if !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	return out
}

func (b *builder) dbServices() []openstack.Service {
	var out []openstack.Service
	for _, s := range b.o.catalog.Services() {
		if s.DBUpgrade != openstack.NoDatabase {
			out = append(out, s)
		}
	}
	return out
}

func (b *builder) hasContract() bool {
	for _, s := range b.dbServices() {
		if s.DBUpgrade == openstack.ExpandContract {
			return true
		}
	}
	return false
}

func (b *builder) primaryT(s *upgrade.State) (transport.Transport, error) {
	return s.HostTransport(b.primary)
}

func (b *builder) preflight(ctx context.Context, s *upgrade.State) error {
	t, err := b.primaryT(s)
	if err != nil {
		return err
	}
	var errs []error
	for _, svc := range b.dbServices() {
		if _, err := openstack.CheckVersions(ctx, t, svc, b.o.tool...); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (b *builder) backup() upgrade.Node {
	dbs := upgrade.Func("databases", func(ctx context.Context, s *upgrade.State) error {
		if s.DryRun() {
			s.Output("dry-run", "would dump and verify every service database into "+b.inv.BackupDir+" on "+b.primary)
			return nil
		}
		t, err := b.primaryT(s)
		if err != nil {
			return err
		}
		var all []*openstack.DatabaseBackup
		for _, svc := range b.dbServices() {
			bs, err := openstack.BackupServiceDatabases(ctx, t, svc, b.inv.BackupDir, b.o.tool...)
			if err != nil {
				return err
			}
			for _, x := range bs {
				s.Output("backup", fmt.Sprintf("%s: %s (%d bytes, %d tables)", x.Database, x.File, x.Bytes, len(x.Tables)))
			}
			all = append(all, bs...)
		}
		return dbBackups.Set(s, all)
	}).RollbackWith(func(ctx context.Context, s *upgrade.State) error {
		backups, ok := dbBackups.Get(s)
		if !ok {
			return nil
		}
		t, err := b.primaryT(s)
		if err != nil {
			return err
		}
		var errs []error
		for _, svc := range b.dbServices() {
			access, err := openstack.ServiceDatabases(ctx, t, svc, b.o.tool...)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			for _, a := range access {
				for _, x := range backups {
					if x.Database == a.Database {
						if err := openstack.RestoreDatabase(ctx, t, a, x, b.o.tool...); err != nil {
							errs = append(errs, err)
						}
					}
				}
			}
		}
		return errors.Join(errs...)
	}).Describing("dump every service database with mysqldump and verify it (completion line, SHA-256, per-table CHECKSUM TABLE and row counts)")

	configs := upgrade.PerHost("configs", b.inv.Controllers, func(host string) upgrade.Node {
		return upgrade.Func("copy", func(ctx context.Context, s *upgrade.State) error {
			if s.DryRun() {
				s.Output("dry-run", "would copy the service config directories")
				return nil
			}
			var out []*openstack.ConfigBackup
			for _, svc := range b.o.catalog.Services() {
				if svc.ConfigDir == "" {
					continue
				}
				res, err := s.Transport().Run(ctx, transport.Query("test", "-d", svc.ConfigDir))
				if err != nil {
					return err
				}
				if res.ExitCode != 0 {
					continue // service not on this controller
				}
				cb, err := openstack.BackupConfigDir(ctx, s.Transport(), svc.ConfigDir, b.o.tool...)
				if err != nil {
					return err
				}
				out = append(out, cb)
			}
			return configBackups(host).Set(s, out)
		}).RollbackWith(func(ctx context.Context, s *upgrade.State) error {
			backups, _ := configBackups(host).Get(s)
			var errs []error
			for _, cb := range backups {
				errs = append(errs, openstack.RestoreConfigDir(ctx, s.Transport(), cb, b.o.tool...))
			}
			return errors.Join(errs...)
		}).Describing("copy every service config directory (cp -a) and verify the copy's digest")
	})
	return upgrade.Phase("backup", dbs, configs)
}

// service is one service's phase: packages, schema, check, restart.
func (b *builder) service(svc openstack.Service) upgrade.Node {
	fam := b.inv.Family
	var children []upgrade.Node
	pkgHosts := b.inv.Controllers
	if len(svc.PackagesFor(fam, openstack.Network)) > 0 {
		pkgHosts = uniq(slices.Concat(b.inv.Controllers, b.inv.Networks))
	}
	children = append(children, upgrade.PerHost("packages", pkgHosts, func(host string) upgrade.Node {
		return upgrade.Func("upgrade", func(ctx context.Context, s *upgrade.State) error {
			pkgs := b.hostPackages(svc, host)
			if len(pkgs) == 0 {
				return nil
			}
			return b.o.sys.Upgrade(ctx, s.Transport(), pkgs...)
		}).Describing(fmt.Sprintf("upgrade the %s packages", svc.Name))
	}))
	switch svc.DBUpgrade {
	case openstack.ExpandContract:
		children = append(children, upgrade.Func("schema", func(ctx context.Context, s *upgrade.State) error {
			t, err := b.primaryT(s)
			if err != nil {
				return err
			}
			if s.DryRun() {
				return b.assess(ctx, s, t, svc, "expand and migrate")
			}
			rep, err := openstack.ExpandMigrateContract(ctx, t, svc, append(slices.Clone(b.o.tool), openstack.WithPhases(openstack.PhaseExpand, openstack.PhaseMigrate))...)
			reportSteps(s, rep)
			return err
		}).Describing(fmt.Sprintf("%s: expand and migrate the schema (online; contract comes at the end)", svc.Name)))
	case openstack.DBSyncOnly:
		children = append(children, upgrade.Func("schema", func(ctx context.Context, s *upgrade.State) error {
			t, err := b.primaryT(s)
			if err != nil {
				return err
			}
			if s.DryRun() {
				return b.assess(ctx, s, t, svc, "db sync")
			}
			rep, err := openstack.DBSync(ctx, t, svc, b.o.tool...)
			if rep != nil {
				for _, st := range rep.Steps {
					s.Output("schema", fmt.Sprintf("%s: exit %d in %s", st.Name, st.ExitCode, st.Duration))
				}
			}
			return err
		}).Describing(fmt.Sprintf("%s: sync the schema (%v)", svc.Name, svc.Sync)))
	}
	if svc.UpgradeCheck != nil {
		children = append(children, b.check("check", svc))
	}
	if svc.Name == "nova" {
		children = append(children, upgrade.PerHost("pin", uniq(slices.Concat(b.inv.Controllers, b.inv.Computes)), func(string) upgrade.Node {
			return upgrade.Func("set", func(ctx context.Context, s *upgrade.State) error {
				_, err := openstack.SetOption(ctx, s.Transport(), novaConf(svc), "upgrade_levels", "compute", b.o.computePin, b.o.tool...)
				return err
			}).Describing("pin the compute RPC API: [upgrade_levels] compute = auto")
		}))
	}
	restartHosts := pkgHosts
	children = append(children, upgrade.PerHost("restart", restartHosts, func(host string) upgrade.Node {
		return upgrade.Func("units", func(ctx context.Context, s *upgrade.State) error {
			for _, u := range b.hostUnits(svc, host) {
				if err := b.o.sys.Restart(ctx, s.Transport(), u); err != nil {
					return err
				}
			}
			return nil
		}).Describing(fmt.Sprintf("restart the %s units in upgrade order", svc.Name))
	}).WithParallel(upgrade.ParallelPolicy{Concurrency: 1}))
	return upgrade.Phase(svc.Name, children...)
}

func (b *builder) check(name string, svc openstack.Service) upgrade.Node {
	return upgrade.Func(name, func(ctx context.Context, s *upgrade.State) error {
		t, err := b.primaryT(s)
		if err != nil {
			return err
		}
		rep, err := openstack.UpgradeCheck(ctx, t, svc, b.o.tool...)
		if err != nil {
			return err
		}
		for _, c := range rep.Failed() {
			s.Output("check", fmt.Sprintf("%s: %s: %s", c.Name, c.Result, c.Details))
		}
		return rep.Err()
	}).Describing(fmt.Sprintf("%s: upgrade check (warnings pass, failures stop)", svc.Name))
}

// hostPackages returns svc's packages for the roles host plays.
func (b *builder) hostPackages(svc openstack.Service, host string) []string {
	var out []string
	for _, r := range b.roles(host) {
		out = append(out, svc.PackagesFor(b.inv.Family, r)...)
	}
	return uniq(out)
}

func (b *builder) hostUnits(svc openstack.Service, host string) []string {
	var out []string
	for _, r := range b.roles(host) {
		out = append(out, svc.UnitsFor(b.inv.Family, r)...)
	}
	return uniq(out)
}

func (b *builder) roles(host string) []openstack.Role {
	var rs []openstack.Role
	if slices.Contains(b.inv.Controllers, host) {
		rs = append(rs, openstack.Controller)
	}
	if slices.Contains(b.inv.Networks, host) {
		rs = append(rs, openstack.Network)
	}
	if slices.Contains(b.inv.Computes, host) {
		rs = append(rs, openstack.Compute)
	}
	return rs
}

func (b *builder) computes() upgrade.Node {
	return upgrade.PerHost("computes", b.inv.Computes, func(host string) upgrade.Node {
		var pkgs, units []string
		for _, svc := range b.o.catalog.Services() {
			pkgs = append(pkgs, svc.PackagesFor(b.inv.Family, openstack.Compute)...)
			units = append(units, svc.UnitsFor(b.inv.Family, openstack.Compute)...)
		}
		pkgs, units = uniq(pkgs), uniq(units)
		return upgrade.Phase("node",
			upgrade.Func("packages", func(ctx context.Context, s *upgrade.State) error {
				if len(pkgs) == 0 {
					return nil
				}
				return b.o.sys.Upgrade(ctx, s.Transport(), pkgs...)
			}).Describing("upgrade the compute packages"),
			upgrade.Func("restart", func(ctx context.Context, s *upgrade.State) error {
				for _, u := range units {
					if err := b.o.sys.Restart(ctx, s.Transport(), u); err != nil {
						return err
					}
				}
				return nil
			}).Describing("restart the compute units (L2 agent, nova-compute)"),
		)
	}).WithParallel(upgrade.ParallelPolicy{Concurrency: b.o.batch, Canary: true})
}

func (b *builder) finish() upgrade.Node {
	var children []upgrade.Node
	if nova, ok := b.o.catalog.Service("nova"); ok {
		hosts := uniq(slices.Concat(b.inv.Controllers, b.inv.Computes))
		children = append(children, upgrade.PerHost("unpin", hosts, func(host string) upgrade.Node {
			return upgrade.Func("unset", func(ctx context.Context, s *upgrade.State) error {
				if _, err := openstack.UnsetOption(ctx, s.Transport(), novaConf(nova), "upgrade_levels", "compute", b.o.tool...); err != nil {
					return err
				}
				units := b.hostUnits(nova, host)
				if len(units) == 0 {
					return nil
				}
				// SIGHUP drops the cached service versions and the pin.
				c := transport.Cmd("systemctl", append([]string{"kill", "--signal=HUP", "--"}, units...)...)
				c.Sudo = true
				return transport.Check(ctx, s.Transport(), c)
			}).Describing("remove the compute RPC pin and SIGHUP the nova services")
		}))
	}
	if b.hasContract() {
		children = append(children, upgrade.Func("contract", func(ctx context.Context, s *upgrade.State) error {
			t, err := b.primaryT(s)
			if err != nil {
				return err
			}
			for _, svc := range b.dbServices() {
				if svc.DBUpgrade != openstack.ExpandContract {
					continue
				}
				if s.DryRun() {
					s.Output("dry-run", "would contract the "+svc.Name+" schema")
					continue
				}
				opts := append(slices.Clone(b.o.tool), openstack.WithPhases(openstack.PhaseContract),
					openstack.WithStopServers(b.stopServers(s, svc)))
				rep, err := openstack.ExpandMigrateContract(ctx, t, svc, opts...)
				reportSteps(s, rep)
				if err != nil {
					return err
				}
				if rep.StoppedServers {
					if err := b.startServers(ctx, s, svc); err != nil {
						return err
					}
				}
			}
			return nil
		}).Describing("contract the keystone, glance and neutron schemas (point of no return; neutron servers stopped only if has_offline_migrations says so)"))
	}
	var odm []upgrade.Node
	for _, svc := range b.o.catalog.Services() {
		if svc.ODM == nil {
			continue
		}
		odm = append(odm, upgrade.Func(svc.Name, func(ctx context.Context, s *upgrade.State) error {
			if s.DryRun() {
				s.Output("dry-run", "would run "+svc.Name+" online data migrations until exit 0")
				return nil
			}
			t, err := b.primaryT(s)
			if err != nil {
				return err
			}
			rep, err := openstack.OnlineDataMigrations(ctx, t, svc, append(slices.Clone(b.o.tool), openstack.WithBatchSize(1000))...)
			if rep != nil {
				s.Output("odm", fmt.Sprintf("%s: %d rows in %d batches", svc.Name, rep.Migrated(), rep.Batches))
			}
			return err
		}).Describing(fmt.Sprintf("%s: online data migrations until exit 0", svc.Name)))
	}
	if len(odm) > 0 {
		children = append(children, upgrade.Phase("online-data-migrations", odm...))
	}
	var checks []upgrade.Node
	for _, svc := range b.o.catalog.Services() {
		if svc.UpgradeCheck != nil {
			checks = append(checks, b.check(svc.Name, svc))
		}
	}
	if len(checks) > 0 {
		children = append(children, upgrade.Phase("verify", checks...))
	}
	if len(children) == 0 {
		return nil
	}
	return upgrade.Phase("finish", children...)
}

func (b *builder) serverUnits(svc openstack.Service) []string {
	return svc.UnitsFor(b.inv.Family, openstack.Controller)
}

func (b *builder) stopServers(s *upgrade.State, svc openstack.Service) func(context.Context) error {
	return func(ctx context.Context) error {
		for _, h := range b.inv.Controllers {
			t, err := s.HostTransport(h)
			if err != nil {
				return err
			}
			if err := b.o.sys.Stop(ctx, t, b.serverUnits(svc)...); err != nil {
				return err
			}
			if err := s.ServiceDown(svc.Name + "@" + h); err != nil {
				return err
			}
		}
		return nil
	}
}

func (b *builder) startServers(ctx context.Context, s *upgrade.State, svc openstack.Service) error {
	for _, h := range b.inv.Controllers {
		t, err := s.HostTransport(h)
		if err != nil {
			return err
		}
		if err := b.o.sys.Start(ctx, t, b.serverUnits(svc)...); err != nil {
			return err
		}
		if err := s.ServiceUp(svc.Name + "@" + h); err != nil {
			return err
		}
	}
	return nil
}

// assess is a schema step under dry-run: the read-only comparison of the
// database with the installed tools, and what would run.
func (b *builder) assess(ctx context.Context, s *upgrade.State, t transport.Transport, svc openstack.Service, what string) error {
	vr, err := openstack.CheckVersions(ctx, t, svc, b.o.tool...)
	if err != nil {
		return err
	}
	for _, d := range vr.Databases {
		state := "behind the installed tool"
		if d.AtHead {
			state = "at the installed tool's head"
		}
		s.Output("dry-run", fmt.Sprintf("%s: database %s %v is %s (%s %s); after the package upgrade: %s", svc.Name, d.Access.Database, d.State.Revisions, state, vr.Package, vr.Version, what))
	}
	return nil
}

func reportSteps(s *upgrade.State, rep *openstack.EMCReport) {
	if rep == nil {
		return
	}
	if rep.AlreadyAtHead {
		s.Output("schema", rep.Service+": already at head")
		return
	}
	for _, st := range rep.Steps {
		if st.Skipped {
			s.Output("schema", fmt.Sprintf("%s: %s skipped: %s", rep.Service, st.Name, st.Reason))
			continue
		}
		s.Output("schema", fmt.Sprintf("%s: %s exit %d in %s", rep.Service, st.Name, st.ExitCode, st.Duration))
	}
}

func novaConf(svc openstack.Service) string {
	for _, f := range svc.ConfigFiles {
		if path.Base(f) == "nova.conf" {
			return f
		}
	}
	return "/etc/nova/nova.conf"
}

func uniq(xs []string) []string {
	var out []string
	for _, x := range xs {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}
