package openstack

import (
	"context"
	"fmt"
	"strconv"
	"strings"

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
	// Pending lists the migrations whose last run found rows it did not
	// migrate although the tool exited 0 (nova's populate_user_id on
	// instances it cannot fill in): Total is what it found, Completed
	// what it did in that run.
	Pending []MigrationCount
}

// PendingRowsError reports online data migrations that exited 0 but left
// rows behind. It matches ErrRowsPending; the report says the same.
type PendingRowsError struct {
	Service    string
	Migrations []MigrationCount
}

func (e *PendingRowsError) Error() string {
	parts := make([]string, len(e.Migrations))
	for i, m := range e.Migrations {
		parts[i] = fmt.Sprintf("%s: %d rows found, %d migrated in the last run", m.Name, m.Total, m.Completed)
	}
	return fmt.Sprintf("%s: online data migrations exited 0 with rows pending: %s", e.Service, strings.Join(parts, "; "))
}

// Is makes errors.Is(err, ErrRowsPending) true.
func (e *PendingRowsError) Is(target error) bool { return target == ErrRowsPending }

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
// ErrMigrationsFailed; 127 with ErrBadInput; 255 with ErrToolCrashed.
// Exit 0 with rows found and not migrated in the last run fails with a
// *PendingRowsError (ErrRowsPending), the report listing them in
// Pending: the caller decides whether that stops an upgrade. The
// installed tool is first compared with the databases
// (*NewerDatabaseError). They must complete before the next upgrade.
func OnlineDataMigrations(ctx context.Context, t transport.Transport, svc Service, opts ...Option) (*ODMReport, error) {
	o, err := newServiceOptions(opts, svc)
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
			if perr != nil {
				return rep, perr
			}
			for _, m := range ms {
				if m.Total > m.Completed {
					rep.Pending = append(rep.Pending, m)
				}
			}
			if len(rep.Pending) > 0 {
				return rep, &PendingRowsError{Service: svc.Name, Migrations: rep.Pending}
			}
			return rep, nil
		case 2:
			return rep, &ToolError{Service: svc.Name, Step: "online_data_migrations", Code: 2, Kind: ErrMigrationsFailed, Err: transport.ResultError(c, res)}
		}
		if perr != nil {
			return rep, perr
		}
	}
	return rep, fmt.Errorf("%s: online data migrations still reporting progress after %d batches", svc.Name, rep.Batches)
}
