package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/transport/ssh"
	"github.com/upgradekit/upgradekit/upgrade"
	"github.com/upgradekit/upgradekit/upgrade/ha"
)

// Main runs a command's run function with the process's arguments and
// standard streams, under a context cancelled by SIGINT or SIGTERM, and
// exits with the code it returns.
func Main(run func(ctx context.Context, args []string, stdout, stderr io.Writer) int) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// NewFlagSet returns the flag set of the command name; it reports its
// errors on stderr.
func NewFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// Parse parses args with fs, refuses positional arguments and runs check
// (if not nil). It says what is wrong on fs's output, prefixed with the
// command's name, and whether the command may go on: on false, exit with
// ExitUsage.
func Parse(fs *flag.FlagSet, args []string, check func() error) bool {
	if err := fs.Parse(args); err != nil {
		return false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected arguments %q\n", fs.Name(), fs.Args())
		return false
	}
	if check == nil {
		return true
	}
	if err := check(); err != nil {
		fmt.Fprintf(fs.Output(), "%s: %v\n", fs.Name(), err)
		return false
	}
	return true
}

// Exit reports err, if any, on fs's output, prefixed with the command's
// name, and returns code.
func Exit(fs *flag.FlagSet, code int, err error) int {
	if err != nil {
		fmt.Fprintf(fs.Output(), "%s: %v\n", fs.Name(), err)
	}
	return code
}

// Info returns where notes for the operator go: stdout, or stderr with
// --json (stdout then carries only JSON).
func (f *Flags) Info(stdout, stderr io.Writer) io.Writer {
	if f.JSON {
		return stderr
	}
	return stdout
}

// OneZone refuses an inventory that has not exactly one zone.
func OneZone(inv ha.Inventory) error {
	if len(inv.Zones) != 1 {
		return fmt.Errorf("the inventory must have exactly one zone, it has %d", len(inv.Zones))
	}
	return nil
}

// RemoteMarks is where the commands of a real run are marked on their
// hosts while they run (upgrade.WithRemoteMarks): a resume waits for the
// commands a killed run left running.
const RemoteMarks = "/var/tmp/upgradekit-cmds"

// Opened is a real cloud described by the inventory file of --inventory.
type Opened struct {
	File      File
	Inventory ha.Inventory
	// Hosts has an SSH transport per host of the inventory.
	Hosts map[string]transport.Transport
	// RunnerOptions: the hosts and the journal at --journal.
	RunnerOptions []upgrade.Option
	pool          *ssh.Pool
}

// Close closes the SSH transports.
func (o *Opened) Close() error { return o.pool.Close() }

// Open loads the inventory file of --inventory, checks its inventory with
// check (if not nil), and opens (lazily) an SSH transport per host.
// Without --leader, it sets f.Leader to the leader the file gives its only
// zone, if any. Its errors are usage errors (ExitUsage). Close the result
// when done.
func (f *Flags) Open(check func(ha.Inventory) error) (*Opened, error) {
	file, err := LoadFile(f.Inventory)
	if err != nil {
		return nil, err
	}
	inv, err := file.Inventory()
	if err != nil {
		return nil, err
	}
	if check != nil {
		if err := check(inv); err != nil {
			return nil, err
		}
	}
	hosts, pool, err := SSHHosts(file, inv)
	if err != nil {
		return nil, err
	}
	if f.Leader == "" && len(file.Zones) == 1 {
		f.Leader = file.Zones[0].Leader
	}
	return &Opened{
		File: file, Inventory: inv, Hosts: hosts, pool: pool,
		RunnerOptions: []upgrade.Option{upgrade.WithHosts(hosts), upgrade.WithJournal(upgrade.NewFileStore(f.Journal)),
			upgrade.WithRemoteMarks(RemoteMarks, 5*time.Second)},
	}, nil
}

// PrintDowntime writes the simulated cloud's API and write downtime
// (zone 0) after a blank line.
func (s *Simulation) PrintDowntime(w io.Writer) {
	fmt.Fprintf(w, "\nsimulator: API downtime %s, write downtime %s (virtual time)\n",
		s.Cloud.APIDowntime(0), s.Cloud.WriteDowntime(0))
}

// Run is a plan to run and what differs between the commands in running
// it; Execute does the rest.
type Run struct {
	// Name is the command's name; it prefixes the advice on stderr.
	Name string
	Plan *upgrade.Plan
	// NoReturn is the step marked as the point of no return in the
	// printed plan.
	NoReturn string
	// Options are the runner's options: hosts, journal, clock.
	Options []upgrade.Option
	// LockDir is the directory of the run's lock on every host of
	// LockHosts (every front-end: FrontendHosts), of which the run must
	// hold a majority; a dry run takes no lock, nor does any run when
	// LockDir is "".
	LockHosts []transport.Transport
	LockDir   string
	// RecordJSON: with --json --dry-run, also write the commands a real
	// run would execute, as JSON.
	RecordJSON bool
	// ExitCode maps an error to the exit code; nil means ExitCode.
	ExitCode func(error) int
	// Summary, if set, writes what follows the report (the simulator's
	// figures, notes) to w: stdout, or stderr with --json. runErr is the
	// run's error.
	Summary func(w io.Writer, runErr error)
	// NothingToDo, if set, is the error of a run that found nothing to
	// do: it is said so on stderr and Execute returns no error.
	NothingToDo error
	// Advice, if set, returns what to tell the operator on stderr about
	// the run's error ("" for nothing); it replaces the resume hint.
	Advice func(runErr error) string
	// ResumeHint: when the run must be resumed (ExitResume), say how on
	// stderr.
	ResumeHint bool
}

// Execute runs r.Plan the way the flags say: it prints the plan (not
// with --json), records the commands (--dry-run) or takes the lock,
// shows the progress (text or JSON lines), writes the report (and with
// --dry-run the commands a real run would execute) and maps the outcome
// to the exit code, with advice on stderr. It returns the code and the
// error to report.
func Execute(ctx context.Context, f *Flags, r Run, stdout, stderr io.Writer) (int, error) {
	exitCode := r.ExitCode
	if exitCode == nil {
		exitCode = ExitCode
	}
	if !f.JSON {
		PrintPlan(stdout, r.Plan, r.NoReturn)
	}
	if f.Rebuild {
		return rebuildJournal(ctx, f, r, stdout)
	}
	opts := slices.Clone(r.Options)
	var rec *upgrade.Recorder
	switch {
	case f.DryRun:
		rec = upgrade.NewRecorder()
		opts = append(opts, upgrade.WithDryRun(rec))
	case r.LockDir != "":
		lock, err := f.Lock(ctx, stderr, r.LockHosts, r.LockDir)
		if err != nil {
			return ExitFailed, err
		}
		opts = append(opts, upgrade.WithLocker(lock))
	}
	if f.Direction != "" {
		opts = append(opts, upgrade.WithDirection(f.Direction))
	}
	opts = append(opts, upgrade.WithObserver(f.Observer(stdout)))
	runner, err := upgrade.NewRunner(r.Plan, opts...)
	if err != nil {
		return exitCode(err), err
	}
	rep, runErr := runner.Run(ctx)
	if !r.RecordJSON && f.JSON {
		rec = nil
	}
	if err := f.writeReport(stdout, rep, rec); err != nil {
		return ExitFailed, err
	}
	if r.Summary != nil {
		r.Summary(f.Info(stdout, stderr), runErr)
	}
	code := exitCode(runErr)
	switch {
	case runErr == nil:
	case r.NothingToDo != nil && OnlyNothingToDo(runErr, r.NothingToDo):
		fmt.Fprintf(stderr, "%s: nothing to do: %v\n", r.Name, runErr)
		return code, nil
	case errors.Is(runErr, upgrade.ErrRunInFlight):
		fmt.Fprintf(stderr, "%s: the journal at %s does not know that run: it is lost, or that run is another one. "+
			"Fetch the journal that run wrote (on the machine it ran on) and run again with --resume --journal <that file>, "+
			"or rebuild it from the cluster's record: --rebuild-journal --journal %s with the same inventory and flags, then --resume\n",
			r.Name, f.Journal, f.Journal)
	case r.Advice != nil && r.Advice(runErr) != "":
		fmt.Fprintf(stderr, "%s: %s\n", r.Name, r.Advice(runErr))
	case code == ExitResume && r.ResumeHint:
		fmt.Fprintf(stderr, "%s: fix the cause, then run again with --resume --journal %s\n", r.Name, f.Journal)
	case errors.Is(runErr, upgrade.ErrRollbackResumed):
		fmt.Fprintf(stderr, "%s: the rollback is finished; run again with --resume --journal %s to upgrade from the start\n", r.Name, f.Journal)
	}
	return code, runErr
}

// writeReport writes the report and, if rec is not nil, the commands a
// real run would execute: as JSON with --json, else as text after a blank
// line.
func (f *Flags) writeReport(w io.Writer, rep upgrade.Report, rec *upgrade.Recorder) error {
	if f.JSON {
		if err := rep.WriteJSON(w); err != nil {
			return err
		}
		if rec != nil {
			return rec.WriteJSON(w)
		}
		return nil
	}
	fmt.Fprintln(w)
	if err := rep.WriteText(w); err != nil {
		return err
	}
	if rec != nil {
		fmt.Fprintln(w, "\ncommands a real run would execute:")
		return rec.WriteText(w)
	}
	return nil
}

// rebuildJournal writes the journal of the run in flight the cluster
// records (--rebuild-journal) at --journal.
func rebuildJournal(ctx context.Context, f *Flags, r Run, stdout io.Writer) (int, error) {
	if r.LockDir == "" {
		return ExitUsage, fmt.Errorf("%w: --rebuild-journal: this command keeps no record on the cluster", ErrUsage)
	}
	lock, err := f.Lock(ctx, nil, r.LockHosts, r.LockDir)
	if err != nil {
		return ExitFailed, err
	}
	rec, err := lock.ReadRecord(ctx)
	if err != nil {
		return ExitFailed, err
	}
	if rec == nil {
		return ExitFailed, fmt.Errorf("--rebuild-journal: the cluster records no run in flight (%s)", r.LockDir+".run")
	}
	if fp := r.Plan.Fingerprint(); rec.Fingerprint != fp {
		return ExitUsage, fmt.Errorf("%w: --rebuild-journal: the recorded run has plan %q (fingerprint %.12s), these flags give %q (%.12s): use the flags of that run (--leader)",
			ErrUsage, rec.Plan, rec.Fingerprint, r.Plan.Name(), fp)
	}
	store := upgrade.NewFileStore(f.Journal)
	err = errors.Join(upgrade.RebuildJournal(ctx, store, *rec), store.Close())
	if err != nil {
		return ExitFailed, err
	}
	names, _ := rec.Steps()
	fmt.Fprintf(stdout, "journal %s rebuilt from the record at %s: run %s, %d steps started, last %s; run again with --resume --journal %s\n",
		f.Journal, rec.Where, rec.Run, len(names), rec.Point, f.Journal)
	return ExitOK, nil
}
