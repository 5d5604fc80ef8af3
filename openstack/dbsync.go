package openstack

import (
	"context"
	"fmt"
	"strings"

	"github.com/upgradekit/upgradekit/transport"
)

// DBSyncReport says what DBSync found and did.
type DBSyncReport struct {
	Service string
	// Package and Version identify the installed tool.
	Package, Version string
	// Before and After are the recorded states of each database.
	Before, After []SchemaState
	// Steps lists the sync invocations in order.
	Steps []StepRun
	// AlreadyAtHead is true when every database was at the tool's head
	// and nothing ran.
	AlreadyAtHead bool
}

// DBSync brings svc's databases to the installed release's schema with
// its offline sync commands, in catalog order (nova: `api_db sync` before
// `db sync`; placement-manage, cinder-manage `db sync`; heat-manage
// `db_sync`; keystone `db_sync`, glance `db sync` and neutron `upgrade
// heads` for an offline upgrade). The installed tool is first compared
// with each database (*NewerDatabaseError). When every database is
// already at the tool's heads nothing runs (AlreadyAtHead) unless
// WithForce is given (for nova that includes nova_cell0, which `db sync`
// migrates only once cell0 is mapped).
func DBSync(ctx context.Context, t transport.Transport, svc Service, opts ...Option) (*DBSyncReport, error) {
	o, err := newServiceOptions(opts, svc)
	if err != nil {
		return nil, err
	}
	if svc.DBUpgrade == NoDatabase || len(svc.Sync) == 0 {
		return nil, fmt.Errorf("%s: %w", svc.Name, ErrNoDatabase)
	}
	vr, err := checkVersions(ctx, t, svc, o)
	if err != nil {
		return nil, err
	}
	rep := &DBSyncReport{Service: svc.Name, Package: vr.Package, Version: vr.Version}
	atHead := len(vr.Databases) == len(svc.Databases)
	for _, dv := range vr.Databases {
		rep.Before = append(rep.Before, dv.State)
		atHead = atHead && dv.AtHead
	}
	if atHead && !o.force {
		rep.AlreadyAtHead = true
		rep.After = rep.Before
		return rep, nil
	}
	for _, args := range svc.Sync {
		name := strings.Join(args, " ")
		st, err := o.mustSucceed(ctx, t, svc, name, o.tool(svc, svc.Manage, false, args...))
		rep.Steps = append(rep.Steps, st)
		if err != nil {
			return rep, err
		}
	}
	for _, dv := range vr.Databases {
		s, err := readSchemaState(ctx, t, o, dv.Access, dv.Database.VersionTable)
		if err != nil {
			return rep, err
		}
		rep.After = append(rep.After, s)
		// A derived database (nova_cell0) is synced only once it is
		// mapped; its state is reported, not required.
		if !dv.Database.Derived && dv.Migrations.Revisions != nil && !dv.Migrations.AtHeads(s) {
			return rep, fmt.Errorf("%s: %w: database %s at %v after sync, tool heads %v", svc.Name, ErrIncomplete, dv.Access.Database, s.Revisions, dv.Migrations.Heads())
		}
	}
	return rep, nil
}

// ToolCheckResult is the answer of a service's own schema probe.
type ToolCheckResult struct {
	Service string
	// Cmd is the probe as run.
	Cmd string
	// Code is the probe's exit code.
	Code int
	// Meaning explains the code.
	Meaning string
	// UpToDate reports whether the tool considers the schema current.
	// (keystone 22–27 answers 0 with migrations pending: do not trust it
	// alone; ExpandMigrateContract does not.)
	UpToDate bool
}

// SchemaCheck runs the service's own schema probe and interprets its exit
// code: keystone `db_sync --check` (0, 2 expand, 3 migrate, 4 contract,
// 1 out of sync), glance `db check` (0, 3, 4, 5), neutron
// `has_offline_migrations` (0, 1 contract pending). It is read-only. The
// installed tool is first compared with the database: on a database a
// newer release migrated the tools answer wrongly (glance "expand
// needed", neutron "up to date") or crash (keystone), so SchemaCheck
// fails with *NewerDatabaseError instead of running them.
func SchemaCheck(ctx context.Context, t transport.Transport, svc Service, opts ...Option) (ToolCheckResult, error) {
	o, err := newServiceOptions(opts, svc)
	if err != nil {
		return ToolCheckResult{}, err
	}
	switch svc.Name {
	case "keystone", "glance", "neutron":
		if _, err := checkVersions(ctx, t, svc, o); err != nil {
			return ToolCheckResult{}, err
		}
	}
	var args []string
	var meanings map[int]string
	switch svc.Name {
	case "keystone":
		args = []string{"db_sync", "--check"}
		meanings = map[int]string{0: "up to date (keystone 22-27: only relative to the database's own heads)", 1: "out of sync: operator must intervene", 2: "expand needed", 3: "migrate needed", 4: "contract needed"}
	case "glance":
		args = []string{"db", "check"}
		meanings = map[int]string{0: "up to date", 3: "expand needed", 4: "migrate needed", 5: "contract needed"}
	case "neutron":
		args = []string{"has_offline_migrations"}
		meanings = map[int]string{0: "no offline migrations pending", 1: "contract migrations pending: servers must be stopped"}
	default:
		return ToolCheckResult{}, fmt.Errorf("openstack: %s has no schema check command", svc.Name)
	}
	c := o.tool(svc, svc.Manage, true, args...)
	res, st, err := o.runTool(ctx, t, svc, strings.Join(args, " "), c)
	if err != nil {
		return ToolCheckResult{}, err
	}
	m, ok := meanings[res.ExitCode]
	if !ok {
		return ToolCheckResult{}, toolErr(svc, strings.Join(args, " "), c, res)
	}
	return ToolCheckResult{Service: svc.Name, Cmd: st.Cmd, Code: res.ExitCode, Meaning: m, UpToDate: res.ExitCode == 0}, nil
}
