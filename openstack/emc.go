package openstack

import (
	"context"
	"fmt"
	"slices"

	"github.com/upgradekit/upgradekit/transport"
)

// Phase is one phase of an expand/migrate/contract schema upgrade.
type Phase int

// Schema upgrade phases.
const (
	// PhaseExpand adds schema (online: old servers keep working).
	PhaseExpand Phase = iota + 1
	// PhaseMigrate moves data (a no-op for keystone from Zed on).
	PhaseMigrate
	// PhaseContract removes old schema (after every server runs the new
	// release; neutron needs its servers stopped when
	// has_offline_migrations says so).
	PhaseContract
)

func (p Phase) String() string {
	switch p {
	case PhaseExpand:
		return "expand"
	case PhaseMigrate:
		return "migrate"
	case PhaseContract:
		return "contract"
	}
	return fmt.Sprintf("Phase(%d)", int(p))
}

// EMCState is a service's schema state as ExpandMigrateContract judges it.
type EMCState struct {
	// Schema is the recorded version table.
	Schema SchemaState
	// ExpandPending, MigratePending and ContractPending say which phases
	// still have work.
	ExpandPending, MigratePending, ContractPending bool
	// ToolCheck is the exit code of the tool's own probe when it was
	// consulted (glance `db check`, neutron `has_offline_migrations`), or
	// -1.
	ToolCheck int
}

// AtHead reports whether no phase has work left.
func (s EMCState) AtHead() bool {
	return !s.ExpandPending && !s.MigratePending && !s.ContractPending
}

// EMCReport says what ExpandMigrateContract found and did.
type EMCReport struct {
	Service string
	// Package and Version identify the installed tool.
	Package, Version string
	// ExpandHead and ContractHead are the heads the tool ships (keystone,
	// neutron), when known.
	ExpandHead, ContractHead string
	// Before and After are the states around the run.
	Before, After EMCState
	// Steps lists what ran or was skipped, in order.
	Steps []StepRun
	// StoppedServers reports whether StopServers was called.
	StoppedServers bool
	// AlreadyAtHead is true when nothing needed to run.
	AlreadyAtHead bool
}

// ExpandMigrateContract upgrades the schema of keystone, glance or neutron
// in phases, deciding from the real state of the database rather than
// from exit codes that lie:
//   - keystone: the alembic_version rows against the EXPAND_HEAD and
//     CONTRACT_HEAD files of the installed package (keystone 22–27's
//     `db_sync --check` answers 0 with migrations pending); --migrate runs
//     only before Zed (22), where it still does something.
//   - glance: `glance-manage db check` (3 expand, 4 migrate, 5 contract,
//     0 done), re-read after each phase.
//   - neutron: alembic_version against the shipped heads, and
//     `has_offline_migrations` (1 = contract pending, which needs every
//     neutron-server stopped: StopServers is called then, and only then).
//
// Before anything runs the installed tool is compared with the database:
// a revision the tool does not know fails with *NewerDatabaseError. A
// database already at head is a result (AlreadyAtHead), not an error.
func ExpandMigrateContract(ctx context.Context, t transport.Transport, svc Service, opts ...Option) (*EMCReport, error) {
	return expandMigrateContract(ctx, t, svc, false, opts)
}

// AssessExpandMigrateContract finds what ExpandMigrateContract would
// find, read-only (the version guard, the recorded revisions, glance `db
// check`, neutron `has_offline_migrations`), and runs no phase: the
// report's Before says which phases have work.
func AssessExpandMigrateContract(ctx context.Context, t transport.Transport, svc Service, opts ...Option) (*EMCReport, error) {
	return expandMigrateContract(ctx, t, svc, true, opts)
}

func expandMigrateContract(ctx context.Context, t transport.Transport, svc Service, assess bool, opts []Option) (*EMCReport, error) {
	o, err := newServiceOptions(opts, svc)
	if err != nil {
		return nil, err
	}
	if svc.DBUpgrade != ExpandContract {
		return nil, fmt.Errorf("openstack: %s does not upgrade its schema in phases (use DBSync)", svc.Name)
	}
	if len(svc.Databases) != 1 {
		return nil, fmt.Errorf("openstack: %s: expand/contract needs exactly one database", svc.Name)
	}
	phases := o.phases
	if len(phases) == 0 {
		phases = []Phase{PhaseExpand, PhaseMigrate, PhaseContract}
	}
	vr, err := checkVersions(ctx, t, svc, o)
	if err != nil {
		return nil, err
	}
	dv := vr.Databases[0]
	rep := &EMCReport{
		Service: svc.Name, Package: vr.Package, Version: vr.Version,
		ExpandHead: dv.Migrations.ExpandHead, ContractHead: dv.Migrations.ContractHead,
	}
	var e emcDriver
	switch svc.Name {
	case "glance":
		e = &glanceEMC{}
	case "neutron":
		e = &headsEMC{neutron: true}
	default:
		// keystone and any service shipping EXPAND_HEAD/CONTRACT_HEAD.
		if dv.Migrations.ExpandHead == "" || dv.Migrations.ContractHead == "" {
			return nil, fmt.Errorf("openstack: %s: no EXPAND_HEAD/CONTRACT_HEAD in %s: cannot tell the phases apart", svc.Name, dv.Migrations.Dir)
		}
		e = &headsEMC{}
	}
	r := &emcRun{o: o, t: t, svc: svc, rep: rep, dv: dv, version: vr.Version}
	if rep.Before, err = e.state(ctx, r); err != nil {
		return rep, err
	}
	if rep.Before.AtHead() || assess {
		rep.AlreadyAtHead = rep.Before.AtHead()
		rep.After = rep.Before
		return rep, nil
	}
	if err := e.run(ctx, r, phases); err != nil {
		return rep, err
	}
	if rep.After, err = e.state(ctx, r); err != nil {
		return rep, err
	}
	// The tool said 0; the database must agree for the phases that ran.
	if slices.Contains(phases, PhaseExpand) && rep.After.ExpandPending {
		return rep, fmt.Errorf("%s: %w: expand ran but the database is not at the expand head", svc.Name, ErrIncomplete)
	}
	if slices.Contains(phases, PhaseContract) && rep.After.ContractPending {
		return rep, fmt.Errorf("%s: %w: contract ran but the database is not at the contract head", svc.Name, ErrIncomplete)
	}
	return rep, nil
}

type emcRun struct {
	o       *options
	t       transport.Transport
	svc     Service
	rep     *EMCReport
	dv      DatabaseVersion
	version string
}

func (r *emcRun) step(ctx context.Context, name string, args ...string) error {
	c := r.o.tool(r.svc, r.svc.Manage, false, args...)
	st, err := r.o.mustSucceed(ctx, r.t, r.svc, name, c)
	r.rep.Steps = append(r.rep.Steps, st)
	return err
}

func (r *emcRun) skip(name, reason string) {
	r.rep.Steps = append(r.rep.Steps, StepRun{Name: name, Skipped: true, Reason: reason})
}

func (r *emcRun) schema(ctx context.Context) (SchemaState, error) {
	return readSchemaState(ctx, r.t, r.o, r.dv.Access, r.dv.Database.VersionTable)
}

type emcDriver interface {
	state(ctx context.Context, r *emcRun) (EMCState, error)
	run(ctx context.Context, r *emcRun, phases []Phase) error
}

// headsEMC drives keystone and neutron from the shipped head files.
type headsEMC struct {
	neutron bool
	offline int // has_offline_migrations code from the last state, -1 unknown
}

func (h *headsEMC) state(ctx context.Context, r *emcRun) (EMCState, error) {
	s := EMCState{ToolCheck: -1}
	var err error
	if s.Schema, err = r.schema(ctx); err != nil {
		return s, err
	}
	m := r.dv.Migrations
	exp, con := m.ExpandHead, m.ContractHead
	if exp == "" || con == "" {
		// neutron without head files: every branch head must be recorded.
		s.ExpandPending = !m.AtHeads(s.Schema)
		s.ContractPending = s.ExpandPending
	} else {
		s.ExpandPending = !m.Reached(s.Schema, exp)
		s.ContractPending = !m.Reached(s.Schema, con)
	}
	if h.neutron {
		code, err := neutronOffline(ctx, r)
		if err != nil {
			return s, err
		}
		s.ToolCheck = code
		h.offline = code
		if code == 1 {
			s.ContractPending = true
		}
	}
	return s, nil
}

func neutronOffline(ctx context.Context, r *emcRun) (int, error) {
	c := r.o.tool(r.svc, r.svc.Manage, true, "has_offline_migrations")
	res, st, err := r.o.runTool(ctx, r.t, r.svc, "has_offline_migrations", c)
	r.rep.Steps = append(r.rep.Steps, st)
	if err != nil {
		return -1, err
	}
	if res.ExitCode != 0 && res.ExitCode != 1 {
		return -1, toolErr(r.svc, "has_offline_migrations", c, res)
	}
	return res.ExitCode, nil
}

func (h *headsEMC) run(ctx context.Context, r *emcRun, phases []Phase) error {
	before := r.rep.Before
	pre := "db_sync"
	exp, mig, con := []string{pre, "--expand"}, []string{pre, "--migrate"}, []string{pre, "--contract"}
	if h.neutron {
		exp, con = []string{"upgrade", "--expand"}, []string{"upgrade", "--contract"}
	}
	if slices.Contains(phases, PhaseExpand) {
		if before.ExpandPending {
			if err := r.step(ctx, "expand", exp...); err != nil {
				return err
			}
		} else {
			r.skip("expand", "expand head already recorded")
		}
	}
	if slices.Contains(phases, PhaseMigrate) && !h.neutron {
		major, err := UpstreamMajor(r.version)
		switch {
		case err == nil && major >= 22:
			r.skip("migrate", fmt.Sprintf("keystone %d: --migrate is a no-op since Zed (22)", major))
		default:
			if err := r.step(ctx, "migrate", mig...); err != nil {
				return err
			}
		}
	}
	if !slices.Contains(phases, PhaseContract) {
		return nil
	}
	if !before.ContractPending {
		r.skip("contract", "contract head already recorded")
		return nil
	}
	if h.neutron {
		// Re-ask after an expand: only pending contract migrations need
		// the servers down.
		code := h.offline
		if before.ExpandPending && slices.Contains(phases, PhaseExpand) {
			var err error
			if code, err = neutronOffline(ctx, r); err != nil {
				return err
			}
		}
		st, err := r.schema(ctx)
		if err != nil {
			return err
		}
		contractDone := r.dv.Migrations.ContractHead != "" && r.dv.Migrations.Reached(st, r.dv.Migrations.ContractHead)
		if code == 0 && contractDone {
			r.skip("contract", "has_offline_migrations: no offline migrations pending")
			return nil
		}
		if code == 1 {
			if r.o.stopServers == nil {
				return fmt.Errorf("%s: contract: %w", r.svc.Name, ErrStopRequired)
			}
			if err := r.o.stopServers(ctx); err != nil {
				return fmt.Errorf("%s: stop servers before contract: %w", r.svc.Name, err)
			}
			r.rep.StoppedServers = true
		}
	}
	return r.step(ctx, "contract", con...)
}

// glanceEMC drives glance from `glance-manage db check`.
type glanceEMC struct{}

func (glanceEMC) state(ctx context.Context, r *emcRun) (EMCState, error) {
	s := EMCState{ToolCheck: -1}
	var err error
	if s.Schema, err = r.schema(ctx); err != nil {
		return s, err
	}
	code, err := glanceCheck(ctx, r)
	if err != nil {
		return s, err
	}
	s.ToolCheck = code
	switch code {
	case 3:
		s.ExpandPending, s.MigratePending, s.ContractPending = true, true, true
	case 4:
		s.MigratePending, s.ContractPending = true, true
	case 5:
		s.ContractPending = true
	}
	return s, nil
}

func glanceCheck(ctx context.Context, r *emcRun) (int, error) {
	c := r.o.tool(r.svc, r.svc.Manage, true, "db", "check")
	res, st, err := r.o.runTool(ctx, r.t, r.svc, "db check", c)
	st.Name = "check"
	r.rep.Steps = append(r.rep.Steps, st)
	if err != nil {
		return -1, err
	}
	switch res.ExitCode {
	case 0, 3, 4, 5:
		return res.ExitCode, nil
	}
	return -1, toolErr(r.svc, "db check", c, res)
}

func (glanceEMC) run(ctx context.Context, r *emcRun, phases []Phase) error {
	code := r.rep.Before.ToolCheck
	if slices.Contains(phases, PhaseExpand) {
		if code == 3 {
			if err := r.step(ctx, "expand", "db", "expand"); err != nil {
				return err
			}
			var err error
			if code, err = glanceCheck(ctx, r); err != nil {
				return err
			}
		} else {
			r.skip("expand", "db check: expand not needed")
		}
	}
	if slices.Contains(phases, PhaseMigrate) {
		if code == 4 {
			if err := r.step(ctx, "migrate", "db", "migrate"); err != nil {
				return err
			}
			var err error
			if code, err = glanceCheck(ctx, r); err != nil {
				return err
			}
		} else {
			r.skip("migrate", fmt.Sprintf("db check %d: no data migrations pending", code))
		}
	}
	if slices.Contains(phases, PhaseContract) {
		switch code {
		case 5:
			return r.step(ctx, "contract", "db", "contract")
		case 0:
			r.skip("contract", "db check: up to date")
		default:
			return fmt.Errorf("%s: contract: db check says %d: earlier phases are pending", r.svc.Name, code)
		}
	}
	return nil
}
