package openstack

import (
	"context"
	"fmt"
	"strconv"

	"github.com/upgradekit/upgradekit/transport"
)

// ODMReport says what OnlineDataMigrations did.
type ODMReport struct {
	Service string
	// BatchSize is the --max-count used, 0 for the tool's own loop.
	BatchSize int
	// Batches is how many times the tool ran.
	Batches int
	// Migrations sums what each migration did over all batches, in the
	// order the tool listed them.
	Migrations []MigrationCount
	// Steps lists every run.
	Steps []StepRun
}

// Migrated is the number of rows migrated over all batches.
func (r *ODMReport) Migrated() int {
	n := 0
	for _, m := range r.Migrations {
		n += m.Completed
	}
	return n
}

// OnlineDataMigrations runs svc's online data migrations to completion:
// with WithBatchSize(n) it passes the tool's batch flag (--max-count, or
// cinder's --max_count) and repeats while the tool exits 1 ("some rows
// migrated, run again"); without it the tool loops by itself. Exit 0 is
// done; 2 ("errors and no progress") fails with an error matching
// ErrMigrationsFailed; 127 with ErrBadInput; 255 with ErrToolCrashed. The
// installed tool is first compared with the databases
// (*NewerDatabaseError). They must complete before the next upgrade.
func OnlineDataMigrations(ctx context.Context, t transport.Transport, svc Service, opts ...Option) (*ODMReport, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	if svc.ODM == nil {
		return nil, fmt.Errorf("openstack: %s has no online data migrations", svc.Name)
	}
	if len(svc.Databases) > 0 {
		if _, err := checkVersions(ctx, t, svc, o); err != nil {
			return nil, err
		}
	}
	rep := &ODMReport{Service: svc.Name, BatchSize: o.batchSize}
	index := map[string]int{}
	args := append([]string(nil), svc.ODM.Args...)
	if o.batchSize > 0 {
		args = append(args, svc.ODM.MaxCountFlag, strconv.Itoa(o.batchSize))
	}
	for rep.Batches < o.maxBatches {
		c := o.tool(svc, svc.Manage, false, args...)
		res, st, err := o.runTool(ctx, t, svc, "online_data_migrations", c)
		rep.Steps = append(rep.Steps, st)
		if err != nil {
			return rep, err
		}
		rep.Batches++
		switch res.ExitCode {
		case 0, 1, 2:
		case 127:
			return rep, &ToolError{Service: svc.Name, Step: "online_data_migrations", Code: 127, Kind: ErrBadInput, Err: transport.ResultError(c, res)}
		default:
			return rep, toolErr(svc, "online_data_migrations", c, res)
		}
		ms, perr := parseODMTable(res.Stdout)
		for _, m := range ms {
			i, ok := index[m.Name]
			if !ok {
				index[m.Name] = len(rep.Migrations)
				rep.Migrations = append(rep.Migrations, m)
				continue
			}
			rep.Migrations[i].Completed += m.Completed
		}
		switch res.ExitCode {
		case 0:
			return rep, perr
		case 2:
			return rep, &ToolError{Service: svc.Name, Step: "online_data_migrations", Code: 2, Kind: ErrMigrationsFailed, Err: transport.ResultError(c, res)}
		}
		if perr != nil {
			return rep, perr
		}
	}
	return rep, fmt.Errorf("%s: online data migrations still reporting progress after %d batches", svc.Name, rep.Batches)
}
