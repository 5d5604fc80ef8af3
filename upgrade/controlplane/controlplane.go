package controlplane

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"go.uber.org/zap"

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
	// Target is the release series the upgrade goes to ("2024.1",
	// "caracal"). When set, preflight reads the installed series from the
	// service packages and refuses a jump the SLURP rules do not allow
	// (openstack.CheckUpgrade), naming the releases to go through.
	Target string
}

// ErrInvalidInventory marks an inventory Plan refuses.
var ErrInvalidInventory = errors.New("controlplane: invalid inventory")

// Option configures Plan.
type Option interface{ apply(*options) error }

type optionFunc func(*options) error

func (f optionFunc) apply(o *options) error { return f(o) }

type options struct {
	catalog    openstack.Catalog
	tool       []openstack.Option
	sys        *system.System
	batch      int
	canary     bool
	budget     int
	computePin string
	odmBatch   int
	log        *zap.Logger
	svcOpts    []string // services named by WithServiceToolOptions
}

// WithLogger logs what the primitives do (tool runs, package and unit
// changes; default: nothing). It is passed to the openstack primitives
// and to the default system configuration.
func WithLogger(l *zap.Logger) Option {
	return optionFunc(func(o *options) error {
		if l == nil {
			return fmt.Errorf("controlplane: WithLogger(nil)")
		}
		o.log = l
		return nil
	})
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

// WithServiceToolOptions passes options to the openstack primitives
// only when they work on the named service (openstack.ForService): a
// container wrapper or config files for one service.
func WithServiceToolOptions(service string, opts ...openstack.Option) Option {
	return optionFunc(func(o *options) error {
		if service == "" {
			return fmt.Errorf("controlplane: WithServiceToolOptions needs a service name")
		}
		o.svcOpts = append(o.svcOpts, service)
		o.tool = append(o.tool, openstack.ForService(service, opts...))
		return nil
	})
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

// WithComputeBatch sets how many computes are upgraded at once (default
// 5).
func WithComputeBatch(n int) Option {
	return optionFunc(func(o *options) error {
		if n <= 0 {
			return fmt.Errorf("controlplane: WithComputeBatch(%d): must be positive", n)
		}
		o.batch = n
		return nil
	})
}

// WithCanary upgrades the first compute alone before the others (default
// true).
func WithCanary(on bool) Option {
	return optionFunc(func(o *options) error { o.canary = on; return nil })
}

// WithFailureBudget sets how many computes may fail before no new one is
// started (computes in flight finish; default 1).
func WithFailureBudget(n int) Option {
	return optionFunc(func(o *options) error {
		if n < 1 {
			return fmt.Errorf("controlplane: WithFailureBudget(%d): must be at least 1", n)
		}
		o.budget = n
		return nil
	})
}

// WithODMBatch sets the online data migrations' batch size (the tools'
// --max-count/--max_count; default 1000).
func WithODMBatch(n int) Option {
	return optionFunc(func(o *options) error {
		if n <= 0 {
			return fmt.Errorf("controlplane: WithODMBatch(%d): must be positive", n)
		}
		o.odmBatch = n
		return nil
	})
}

// Persistent keys: a resumed run finds the backups taken before a crash.
var dbBackups = upgrade.NewPersistentKey[[]*openstack.DatabaseBackup]("controlplane/db-backups")

// configBackups is per host: the hosts' copy steps run in parallel.
func configBackups(host string) upgrade.Key[[]*openstack.ConfigBackup] {
	return upgrade.NewPersistentKey[[]*openstack.ConfigBackup]("controlplane/config-backups/" + host)
}

// pinState is [upgrade_levels] compute in nova.conf before the upgrade
// pinned it.
type pinState struct {
	Set   bool   `json:"set"`
	Value string `json:"value,omitempty"`
}

// priorPin is per host: the pin steps run per host.
func priorPin(host string) upgrade.Key[pinState] {
	return upgrade.NewPersistentKey[pinState]("controlplane/prior-compute-pin/" + host)
}

// oldVersions records the versions a package step replaced, for the
// rollback's downgrade.
func oldVersions(step string) upgrade.Key[map[string]string] {
	return upgrade.NewPersistentKey[map[string]string]("controlplane/old-versions/" + step)
}

// ContractStep is the full name of the point of no return.
const ContractStep = "finish/contract"

// Plan returns the control-plane upgrade plan for inv.
func Plan(inv Inventory, opts ...Option) (*upgrade.Plan, error) {
	o := &options{catalog: openstack.DefaultCatalog(), batch: 5, canary: true, budget: 1, computePin: "auto", odmBatch: 1000, log: zap.NewNop()}
	for _, opt := range opts {
		if err := opt.apply(o); err != nil {
			return nil, err
		}
	}
	for _, name := range o.svcOpts {
		if _, ok := o.catalog.Service(name); !ok {
			return nil, fmt.Errorf("controlplane: WithServiceToolOptions: no service %q in the catalog", name)
		}
	}
	if len(inv.Controllers) == 0 {
		return nil, fmt.Errorf("%w: no controllers", ErrInvalidInventory)
	}
	if inv.Family != openstack.Debian && inv.Family != openstack.RHEL {
		return nil, fmt.Errorf("%w: unknown family %q", ErrInvalidInventory, inv.Family)
	}
	for _, h := range slices.Concat(inv.Controllers, inv.Networks, inv.Computes) {
		if h == "" || strings.ContainsAny(h, "/ \t\n") {
			return nil, fmt.Errorf("%w: bad host name %q", ErrInvalidInventory, h)
		}
	}
	if inv.Target != "" {
		if _, err := openstack.ParseSeries(inv.Target); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidInventory, err)
		}
	}
	if inv.BackupDir == "" {
		inv.BackupDir = "/var/backups/upgradekit"
	}
	if o.sys == nil {
		s, err := system.New(system.WithLogger(o.log))
		if err != nil {
			return nil, err
		}
		o.sys = s
	}
	o.tool = append([]openstack.Option{openstack.WithFamily(inv.Family), openstack.WithLogger(o.log)}, o.tool...)
	b := &builder{inv: inv, o: o, primary: inv.Controllers[0]}
	nodes := []upgrade.Node{b.backup()}
	if prep := b.prepare(); prep != nil {
		nodes = append(nodes, prep)
	}
	if inv.Repository.Name != "" {
		nodes = append(nodes, upgrade.PerHost("repositories", b.allHosts(), func(string) upgrade.Node {
			return upgrade.Func("switch", func(ctx context.Context, s *upgrade.State) error {
				return o.sys.SwitchRepository(ctx, s.Transport(), inv.Repository)
			}).Describing("point the package manager at the target release (" + inv.Repository.Name + ")")
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
		WithPreflight(
			upgrade.Preflight("upgrade-path", b.preflightPath),
			upgrade.Preflight("databases-not-newer", b.preflightVersions),
			upgrade.Preflight("upgrade-checks", b.preflightChecks),
		)
	if !inv.Repository.Token.IsZero() {
		p = p.WithSecrets(inv.Repository.Token)
	}
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
	return uniq(slices.Concat(b.inv.Controllers, b.inv.Networks, b.inv.Computes))
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

// hostError names the operation and the host as the inventory names it
// (the transport's own host name may be an address or an inner hop); the
// cause keeps its service prefix and stays in the chain.
type hostError struct {
	op, host string
	err      error
}

func (e *hostError) Error() string { return e.op + " on " + e.host + ": " + e.err.Error() }

func (e *hostError) Unwrap() error { return e.err }

func (b *builder) onPrimary(op string, err error) error {
	if err == nil {
		return nil
	}
	return &hostError{op: op, host: b.primary, err: err}
}

// preflightPath refuses a jump to inv.Target that skips a release the
// SLURP rules do not let it skip, reading the installed series from each
// service's tool package.
func (b *builder) preflightPath(ctx context.Context, s *upgrade.State) error {
	if b.inv.Target == "" {
		return nil
	}
	t, err := b.primaryT(s)
	if err != nil {
		return err
	}
	var errs []error
	seen := map[string]bool{}
	for _, svc := range b.dbServices() {
		pkg := svc.ToolPackage[b.inv.Family]
		if pkg == "" || svc.ZedMajor == 0 {
			continue
		}
		v, err := openstack.InstalledVersion(ctx, t, b.inv.Family, pkg)
		if err != nil {
			errs = append(errs, fmt.Errorf("upgrade path: %s on %s: %w", svc.Name, b.primary, err))
			continue
		}
		ser, err := openstack.SeriesOf(svc, v)
		if err != nil {
			errs = append(errs, fmt.Errorf("upgrade path: %s on %s: %w", svc.Name, b.primary, err))
			continue
		}
		if seen[ser.Name] {
			continue
		}
		seen[ser.Name] = true
		if err := openstack.CheckUpgrade(ser.Name, b.inv.Target); err != nil {
			errs = append(errs, fmt.Errorf("%s (%s %s on %s): %w", svc.Name, pkg, v, b.primary, err))
		}
	}
	return errors.Join(errs...)
}

// preflightVersions refuses a database a newer release migrated (the
// installed tools would misread it).
func (b *builder) preflightVersions(ctx context.Context, s *upgrade.State) error {
	t, err := b.primaryT(s)
	if err != nil {
		return err
	}
	var errs []error
	for _, svc := range b.dbServices() {
		if _, err := openstack.CheckVersions(ctx, t, svc, b.o.tool...); err != nil {
			errs = append(errs, b.onPrimary("check database versions", err))
		}
	}
	return errors.Join(errs...)
}

// preflightChecks runs every service's upgrade check with the installed
// release: failures (and crashed tools) stop the run before any change;
// warnings pass. placement-status's checks are the previous release's
// online data migrations.
func (b *builder) preflightChecks(ctx context.Context, s *upgrade.State) error {
	t, err := b.primaryT(s)
	if err != nil {
		return err
	}
	var errs []error
	for _, svc := range b.o.catalog.Services() {
		if svc.UpgradeCheck == nil {
			continue
		}
		rep, err := openstack.UpgradeCheck(ctx, t, svc, b.o.tool...)
		if err != nil {
			errs = append(errs, b.onPrimary("upgrade check", err))
			continue
		}
		for _, c := range rep.Failed() {
			s.Output("preflight", fmt.Sprintf("%s: %s: %s: %s", svc.Name, c.Name, c.Result, c.Details))
		}
		if err := rep.Err(); err != nil {
			// CheckFailedError already names the service.
			errs = append(errs, b.onPrimary("upgrade check", err))
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
				return b.onPrimary("back up the databases", err)
			}
			for _, x := range bs {
				s.Output("backup", fmt.Sprintf("%s: %s (%d bytes, %d tables)", x.Database, x.File, x.Bytes, len(x.Tables)))
			}
			all = append(all, bs...)
		}
		return dbBackups.Set(s, all)
	}).RollbackWith(b.restoreAll).Describing("dump every service database with mysqldump and verify it (completion line, SHA-256, per-table CHECKSUM TABLE and row counts)")

	configs := upgrade.PerHost("configs", b.allHosts(), func(host string) upgrade.Node {
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
					continue // service not on this node
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

// restoreAll is the databases step's rollback, the last one to run: the
// dumps loaded back (checksums verified), then every unit restarted in
// upstream order so the old code (packages downgraded by the package
// steps' rollbacks) runs on the old schema and configs.
func (b *builder) restoreAll(ctx context.Context, s *upgrade.State) error {
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
					} else {
						s.Output("rollback", "restored "+a.Database+" (checksums verified)")
					}
				}
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for _, svc := range b.o.catalog.Services() {
		for _, h := range b.allHosts() {
			units := b.hostUnits(svc, h)
			if len(units) == 0 {
				continue
			}
			ht, err := s.HostTransport(h)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if err := b.o.sys.Restart(ctx, ht, units...); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", h, err))
			}
		}
	}
	return errors.Join(errs...)
}

// prepare finishes the installed release's online data migrations: the
// next release's schema migrations assume them done.
func (b *builder) prepare() upgrade.Node {
	var odm []upgrade.Node
	for _, svc := range b.o.catalog.Services() {
		if svc.ODM == nil {
			continue
		}
		odm = append(odm, b.odmStep(svc, "with the installed release, before anything changes", true))
	}
	if len(odm) == 0 {
		return nil
	}
	return upgrade.Phase("prepare", upgrade.Phase("online-data-migrations", odm...))
}

// odmStep runs svc's online data migrations to completion. With strict,
// rows the tool leaves behind while exiting 0 fail the step (before the
// upgrade: the next release's migrations assume them done); without,
// they are reported.
func (b *builder) odmStep(svc openstack.Service, when string, strict bool) upgrade.Node {
	return upgrade.Func(svc.Name, func(ctx context.Context, s *upgrade.State) error {
		if s.DryRun() {
			s.Output("dry-run", "would run "+svc.Name+" online data migrations until exit 0 ("+when+")")
			return nil
		}
		t, err := b.primaryT(s)
		if err != nil {
			return err
		}
		rep, err := openstack.OnlineDataMigrations(ctx, t, svc, append(slices.Clone(b.o.tool), openstack.WithBatchSize(b.o.odmBatch))...)
		if rep != nil {
			s.Output("odm", fmt.Sprintf("%s: %d rows in %d batches", svc.Name, rep.Migrated(), rep.Batches))
			for _, m := range rep.Pending {
				s.Output("odm", fmt.Sprintf("%s: %s: %d rows found, %d migrated in the last run (tool exit 0): rows pending", svc.Name, m.Name, m.Total, m.Completed))
			}
		}
		if errors.Is(err, openstack.ErrRowsPending) && !strict {
			// After the upgrade the rows are reported, not fatal: the
			// next upgrade's preflight refuses them.
			return nil
		}
		return b.onPrimary("online data migrations", err)
	}).Describing(fmt.Sprintf("%s: online data migrations until exit 0 (%s)", svc.Name, when))
}

// packagesStep upgrades pkgs on the step's host, remembering the
// versions it replaces; its rollback installs those again.
func (b *builder) packagesStep(name, what string, pkgs func(host string) []string) func(host string) *upgrade.FuncStep {
	return func(host string) *upgrade.FuncStep {
		key := oldVersions(name + "/" + host)
		return upgrade.Func(path.Base(name), func(ctx context.Context, s *upgrade.State) error {
			ps := pkgs(host)
			if len(ps) == 0 {
				return nil
			}
			if !s.DryRun() {
				old := map[string]string{}
				for _, p := range ps {
					v, err := openstack.InstalledVersion(ctx, s.Transport(), b.inv.Family, p)
					if err != nil {
						return err
					}
					old[p] = v
				}
				if err := key.Set(s, old); err != nil {
					return err
				}
			}
			return b.o.sys.Upgrade(ctx, s.Transport(), ps...)
		}).RollbackWith(func(ctx context.Context, s *upgrade.State) error {
			old, ok := key.Get(s)
			if !ok || len(old) == 0 {
				return nil
			}
			return downgrade(ctx, s.Transport(), b.inv.Family, old)
		}).Describing("upgrade the " + what + " packages (rollback: reinstall the replaced versions)")
	}
}

// downgrade installs the given package versions.
func downgrade(ctx context.Context, t transport.Transport, f openstack.Family, versions map[string]string) error {
	var specs []string
	for _, p := range slices.Sorted(maps.Keys(versions)) {
		if f == openstack.Debian {
			specs = append(specs, p+"="+versions[p])
		} else {
			specs = append(specs, p+"-"+versions[p])
		}
	}
	var c transport.Command
	if f == openstack.Debian {
		c = transport.Cmd("apt-get", append([]string{"install", "-y", "--allow-downgrades",
			"-o", "Dpkg::Options::=--force-confold", "-o", "Dpkg::Options::=--force-confdef"}, specs...)...)
		c.Env = map[string]string{"DEBIAN_FRONTEND": "noninteractive"}
	} else {
		c = transport.Cmd("dnf", append([]string{"downgrade", "-y"}, specs...)...)
	}
	c.Sudo = true
	if err := transport.Check(ctx, t, c); err != nil {
		return fmt.Errorf("downgrade: %w", err)
	}
	return nil
}

// service is one service's phase: packages, schema, check, restart.
func (b *builder) service(svc openstack.Service) upgrade.Node {
	fam := b.inv.Family
	var children []upgrade.Node
	pkgHosts := b.inv.Controllers
	if len(svc.PackagesFor(fam, openstack.Network)) > 0 {
		pkgHosts = uniq(slices.Concat(b.inv.Controllers, b.inv.Networks))
	}
	step := b.packagesStep("services/"+svc.Name+"/packages/upgrade", svc.Name, func(host string) []string { return b.hostPackages(svc, host) })
	children = append(children, upgrade.PerHost("packages", pkgHosts, func(host string) upgrade.Node { return step(host) }))
	// The new release's upgrade check runs before its schema step, as
	// upstream orders it (nova admin/upgrades.rst: nova-status upgrade
	// check, then the db syncs): a Failure stops the upgrade before any
	// migration.
	if svc.UpgradeCheck != nil {
		children = append(children, b.check("check", svc))
	}
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
			return b.onPrimary("expand and migrate the schema", err)
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
				if rep.AlreadyAtHead {
					s.Output("schema", svc.Name+": already at head")
				}
				for _, st := range rep.Steps {
					s.Output("schema", fmt.Sprintf("%s: %s: exit %d in %s", svc.Name, st.Name, st.ExitCode, st.Duration))
				}
			}
			return b.onPrimary("sync the schema", err)
		}).Describing(fmt.Sprintf("%s: sync the schema (%s)", svc.Name, syncText(svc))))
	}
	if svc.Name == "nova" {
		children = append(children, upgrade.PerHost("pin", uniq(slices.Concat(b.inv.Controllers, b.inv.Computes)), func(host string) upgrade.Node {
			return upgrade.Func("set", func(ctx context.Context, s *upgrade.State) error {
				conf := novaConf(svc)
				// Remember the operator's own setting once (a resumed
				// run must not record the pin it set itself).
				if _, ok := priorPin(host).Get(s); !ok {
					v, had, err := openstack.GetOption(ctx, s.Transport(), conf, "upgrade_levels", "compute", b.o.tool...)
					if err != nil {
						return &hostError{op: "read the compute pin", host: host, err: err}
					}
					if err := priorPin(host).Set(s, pinState{Set: had, Value: v}); err != nil {
						return err
					}
				}
				_, err := openstack.SetOption(ctx, s.Transport(), conf, "upgrade_levels", "compute", b.o.computePin, b.o.tool...)
				if err != nil {
					return &hostError{op: "pin the compute RPC API", host: host, err: err}
				}
				return nil
			}).Describing("pin the compute RPC API: [upgrade_levels] compute = " + b.o.computePin + " (the prior setting is recorded)")
		}))
	}
	children = append(children, b.restart(svc, pkgHosts))
	return upgrade.Phase(svc.Name, children...)
}

// restart restarts svc's units unit by unit in the catalog's order, each
// on every host that has it, one host at a time: every nova conductor
// before any nova API, every neutron server before any agent and every
// L2 agent before the other agents, cinder's scheduler, volume, backup
// and API in turn. With a single controller the service is down while
// its controller units restart (State.ServiceDown/Up); with more, the
// others answer.
func (b *builder) restart(svc openstack.Service, hosts []string) upgrade.Node {
	var perUnit []upgrade.Node
	for _, u := range unitOrder(svc, b.inv.Family) {
		var with []string
		for _, h := range hosts {
			if slices.Contains(b.hostUnits(svc, h), u) {
				with = append(with, h)
			}
		}
		if len(with) == 0 {
			continue
		}
		controllers := 0
		for _, h := range with {
			if slices.Contains(b.inv.Controllers, h) && slices.Contains(svc.UnitsFor(b.inv.Family, openstack.Controller), u) {
				controllers++
			}
		}
		perUnit = append(perUnit, upgrade.PerHost(u, with, func(host string) upgrade.Node {
			whole := controllers == 1 && slices.Contains(b.inv.Controllers, host) && slices.Contains(svc.UnitsFor(b.inv.Family, openstack.Controller), u)
			return upgrade.Func("systemctl", func(ctx context.Context, s *upgrade.State) error {
				if whole {
					if err := s.ServiceDown(svc.Name); err != nil {
						return err
					}
				}
				if err := b.o.sys.Restart(ctx, s.Transport(), u); err != nil {
					return err
				}
				if whole {
					return s.ServiceUp(svc.Name)
				}
				return nil
			}).Describing("restart " + u)
		}).WithParallel(upgrade.ParallelPolicy{Concurrency: 1}))
	}
	return upgrade.Phase("restart", perUnit...)
}

func syncText(svc openstack.Service) string {
	var parts []string
	for _, a := range svc.Sync {
		parts = append(parts, svc.Manage+" "+strings.Join(a, " "))
	}
	return strings.Join(parts, ", then ")
}

func unitOrder(svc openstack.Service, f openstack.Family) []string {
	return uniq(slices.Concat(svc.UnitsFor(f, openstack.Controller), svc.UnitsFor(f, openstack.Network)))
}

func (b *builder) check(name string, svc openstack.Service) upgrade.Node {
	return upgrade.Func(name, func(ctx context.Context, s *upgrade.State) error {
		t, err := b.primaryT(s)
		if err != nil {
			return err
		}
		rep, err := openstack.UpgradeCheck(ctx, t, svc, b.o.tool...)
		if err != nil {
			return b.onPrimary("upgrade check", err)
		}
		for _, c := range rep.Failed() {
			s.Output("check", fmt.Sprintf("%s: %s: %s: %s", svc.Name, c.Name, c.Result, c.Details))
		}
		return b.onPrimary("upgrade check", rep.Err())
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

// hostUnits returns svc's units on host: the servers (controller) before
// the agents (network), L2 agent first.
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

// computeUnits returns the compute units in restart order: the L2 agent
// (neutron) before nova-compute.
func (b *builder) computeUnits() []string {
	var agents, nova []string
	for _, svc := range b.o.catalog.Services() {
		us := svc.UnitsFor(b.inv.Family, openstack.Compute)
		if svc.Name == "nova" {
			nova = append(nova, us...)
		} else {
			agents = append(agents, us...)
		}
	}
	return uniq(slices.Concat(agents, nova))
}

func (b *builder) computes() upgrade.Node {
	units := b.computeUnits()
	var pkgs []string
	for _, svc := range b.o.catalog.Services() {
		pkgs = append(pkgs, svc.PackagesFor(b.inv.Family, openstack.Compute)...)
	}
	pkgs = uniq(pkgs)
	step := b.packagesStep("computes/node/packages", "compute", func(string) []string { return pkgs })
	return upgrade.PerHost("computes", b.inv.Computes, func(host string) upgrade.Node {
		return upgrade.Phase("node",
			step(host),
			upgrade.Func("restart", func(ctx context.Context, s *upgrade.State) error {
				for _, u := range units {
					if err := b.o.sys.Restart(ctx, s.Transport(), u); err != nil {
						return err
					}
				}
				return nil
			}).Describing("restart the compute units ("+strings.Join(units, ", ")+"), pinned to compute = "+b.o.computePin),
			upgrade.Func("verify", func(ctx context.Context, s *upgrade.State) error {
				for _, u := range units {
					st, err := b.o.sys.IsActive(ctx, s.Transport(), u)
					if err != nil {
						return err
					}
					if st != system.StateActive {
						return fmt.Errorf("%s: %s is %s after the restart", s.Host(), u, st)
					}
				}
				return nil
			}).Describing("check the compute units are active"),
		)
	}).WithParallel(upgrade.ParallelPolicy{Concurrency: b.o.batch, Canary: b.o.canary, FailureBudget: b.o.budget})
}

func (b *builder) finish() upgrade.Node {
	var children []upgrade.Node
	if nova, ok := b.o.catalog.Service("nova"); ok {
		hosts := uniq(slices.Concat(b.inv.Controllers, b.inv.Computes))
		children = append(children, upgrade.PerHost("unpin", hosts, func(host string) upgrade.Node {
			return upgrade.Func("unset", func(ctx context.Context, s *upgrade.State) error {
				conf := novaConf(nova)
				var err error
				if prior, ok := priorPin(host).Get(s); ok && prior.Set {
					_, err = openstack.SetOption(ctx, s.Transport(), conf, "upgrade_levels", "compute", prior.Value, b.o.tool...)
				} else {
					_, err = openstack.UnsetOption(ctx, s.Transport(), conf, "upgrade_levels", "compute", b.o.tool...)
				}
				if err != nil {
					return &hostError{op: "restore the compute RPC pin", host: host, err: err}
				}
				units := b.hostUnits(nova, host)
				if len(units) == 0 {
					return nil
				}
				// SIGHUP drops the cached service versions and the pin.
				c := transport.Cmd("systemctl", append([]string{"kill", "--signal=HUP", "--"}, units...)...)
				c.Sudo = true
				return transport.Check(ctx, s.Transport(), c)
			}).Describing("restore [upgrade_levels] compute as it was before the upgrade (or remove it) and SIGHUP the nova services")
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
					if err := b.assessContract(ctx, s, t, svc); err != nil {
						return err
					}
					continue
				}
				opts := append(slices.Clone(b.o.tool), openstack.WithPhases(openstack.PhaseContract),
					openstack.WithStopServers(b.stopServers(s, svc)))
				rep, err := openstack.ExpandMigrateContract(ctx, t, svc, opts...)
				reportSteps(s, rep)
				if err != nil {
					return b.onPrimary("contract the schema", err)
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
		if svc.ODM != nil {
			odm = append(odm, b.odmStep(svc, "every service runs the new release", false))
		}
	}
	if len(odm) > 0 {
		children = append(children, upgrade.Phase("online-data-migrations", odm...))
	}
	var checks []upgrade.Node
	for _, svc := range b.o.catalog.Services() {
		if svc.UpgradeCheck == nil && svc.DBUpgrade == openstack.NoDatabase {
			continue
		}
		checks = append(checks, b.verify(svc))
	}
	if len(checks) > 0 {
		children = append(children, upgrade.Phase("verify", checks...))
	}
	if len(children) == 0 {
		return nil
	}
	return upgrade.Phase("finish", children...)
}

// verify is the final check of one service: schema at the installed
// tool's heads and the upgrade check.
func (b *builder) verify(svc openstack.Service) upgrade.Node {
	return upgrade.Func(svc.Name, func(ctx context.Context, s *upgrade.State) error {
		t, err := b.primaryT(s)
		if err != nil {
			return err
		}
		if svc.DBUpgrade != openstack.NoDatabase && !s.DryRun() {
			vr, err := openstack.CheckVersions(ctx, t, svc, b.o.tool...)
			if err != nil {
				return b.onPrimary("verify the schema", err)
			}
			for _, d := range vr.Databases {
				if !d.AtHead && !d.Database.Derived {
					return fmt.Errorf("%s: %w: database %s at %v, not at %s %s's heads", svc.Name, openstack.ErrIncomplete, d.Access.Database, d.State.Revisions, vr.Package, vr.Version)
				}
			}
			s.Output("verify", fmt.Sprintf("%s: %s %s, schema at head", svc.Name, vr.Package, vr.Version))
		}
		if svc.UpgradeCheck == nil {
			return nil
		}
		rep, err := openstack.UpgradeCheck(ctx, t, svc, b.o.tool...)
		if err != nil {
			return b.onPrimary("upgrade check", err)
		}
		for _, c := range rep.Failed() {
			s.Output("check", fmt.Sprintf("%s: %s: %s: %s", svc.Name, c.Name, c.Result, c.Details))
		}
		return b.onPrimary("upgrade check", rep.Err())
	}).Describing(fmt.Sprintf("%s: schema at the new release's heads and upgrade check", svc.Name))
}

func (b *builder) serverUnits(svc openstack.Service) []string {
	return svc.UnitsFor(b.inv.Family, openstack.Controller)
}

func (b *builder) stopServers(s *upgrade.State, svc openstack.Service) func(context.Context) error {
	return func(ctx context.Context) error {
		if err := s.ServiceDown(svc.Name); err != nil {
			return err
		}
		for _, h := range b.inv.Controllers {
			t, err := s.HostTransport(h)
			if err != nil {
				return err
			}
			if err := b.o.sys.Stop(ctx, t, b.serverUnits(svc)...); err != nil {
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
	}
	return s.ServiceUp(svc.Name)
}

// assess is a schema step under dry-run: the read-only comparison of the
// database with the installed tools, and what would run.
func (b *builder) assess(ctx context.Context, s *upgrade.State, t transport.Transport, svc openstack.Service, what string) error {
	vr, err := openstack.CheckVersions(ctx, t, svc, b.o.tool...)
	if err != nil {
		return b.onPrimary("check database versions", err)
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

// assessContract says under dry-run what the contract step would do, as
// far as the installed tools can tell: the new release's tools decide
// after its packages are installed, which a dry run does not do.
func (b *builder) assessContract(ctx context.Context, s *upgrade.State, t transport.Transport, svc openstack.Service) error {
	st, err := openstack.AssessExpandMigrateContract(ctx, t, svc, b.o.tool...)
	if err != nil {
		return b.onPrimary("assess the "+svc.Name+" schema", err)
	}
	if st.Before.ContractPending {
		s.Output("dry-run", fmt.Sprintf("would contract the %s schema: contract migrations pending with the installed %s %s", svc.Name, st.Package, st.Version))
		return nil
	}
	s.Output("dry-run", fmt.Sprintf("%s: nothing to contract with the installed %s %s; the contract step runs only if the new release's tools find contract migrations pending", svc.Name, st.Package, st.Version))
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
