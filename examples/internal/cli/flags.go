package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/upgrade"
	"github.com/upgradekit/upgradekit/upgrade/ha"
)

// Exit codes of the example binaries.
const (
	ExitOK     = 0 // done (or nothing to do)
	ExitFailed = 1 // failed; nothing changed or everything rolled back
	ExitUsage  = 2 // bad flags or inventory
	ExitResume = 3 // failed past the point of no return, or rollback failed: fix and --resume
)

// ErrUsage marks command-line and inventory mistakes (exit 2).
var ErrUsage = errors.New("usage")

// Flags are the common flags of the example binaries.
type Flags struct {
	Inventory   string
	Simulate    bool
	DryRun      bool
	Resume      bool
	BreakLock   bool
	ForceBreak  bool
	Rebuild     bool
	Journal     string
	JSON        bool
	Output      bool
	Leader      string
	Concurrency int
	NoCanary    bool
	Budget      int
	// Direction, with --resume, overrides the journal's direction
	// (upgrade.WithDirection): "forward" or "backward".
	Direction string
}

// Register defines the flags on fs; journal is the default journal path.
func (f *Flags) Register(fs *flag.FlagSet, journal string) {
	fs.StringVar(&f.Inventory, "inventory", "", "inventory `file` (YAML); without it the embedded simulated cloud is upgraded")
	fs.BoolVar(&f.Simulate, "simulate", false, "upgrade the embedded simulated cloud (3 front-ends at 7.2.0 to 7.4.1); the default without --inventory")
	fs.BoolVar(&f.DryRun, "dry-run", false, "run read-only probes, print every command a real run would execute, change nothing")
	fs.BoolVar(&f.Resume, "resume", false, "resume the run recorded in the journal")
	fs.BoolVar(&f.BreakLock, "break-lock", false, "with --resume: remove the lock a killed run left behind (refused while its holder shows signs of life)")
	fs.BoolVar(&f.ForceBreak, "force-break-lock", false, "with --resume: remove the lock even if its holder seems alive (two runs at once if it is)")
	fs.BoolVar(&f.Rebuild, "rebuild-journal", false, "write the journal of the run in flight that the cluster records (when its journal is lost), then stop: resume it with --resume")
	fs.StringVar(&f.Journal, "journal", journal, "journal `path` (write-ahead log used by --resume)")
	fs.BoolVar(&f.JSON, "json", false, "write events and the report as JSON lines instead of text")
	fs.BoolVar(&f.Output, "output", false, "show the commands' output lines in the progress display")
	fs.StringVar(&f.Leader, "leader", "", "front-end to treat as leader (default: asked from the zone)")
	fs.IntVar(&f.Concurrency, "concurrency", 5, "hypervisors upgraded at once")
	fs.BoolVar(&f.NoCanary, "no-canary", false, "do not upgrade the first hypervisor alone first")
	fs.IntVar(&f.Budget, "failure-budget", 1, "hypervisor failures after which no new one starts")
	fs.StringVar(&f.Direction, "direction", "", "with --resume: `forward` or backward; default: the journal's (backward while a rollback is unfinished, else forward)")
}

// Check validates flag combinations; errors match ErrUsage.
func (f *Flags) Check() error {
	if f.Inventory != "" && f.Simulate {
		return fmt.Errorf("%w: --inventory and --simulate exclude each other", ErrUsage)
	}
	if f.Inventory == "" {
		f.Simulate = true
	}
	if f.Concurrency < 1 || f.Budget < 0 {
		return fmt.Errorf("%w: --concurrency must be >= 1 and --failure-budget >= 0", ErrUsage)
	}
	if f.Journal == "" {
		return fmt.Errorf("%w: --journal is empty", ErrUsage)
	}
	if (f.BreakLock || f.ForceBreak) && !f.Resume {
		return fmt.Errorf("%w: --break-lock and --force-break-lock go with --resume", ErrUsage)
	}
	if f.Direction != "" && (!f.Resume || f.Direction != upgrade.DirForward && f.Direction != upgrade.DirBackward) {
		return fmt.Errorf("%w: --direction is forward or backward, with --resume", ErrUsage)
	}
	if f.Simulate && f.Resume {
		return fmt.Errorf("%w: --resume: the simulated cloud lives in memory, there is nothing to resume", ErrUsage)
	}
	_, err := os.Stat(f.Journal)
	exists := err == nil
	if f.Rebuild {
		switch {
		case f.Resume || f.DryRun || f.Simulate:
			return fmt.Errorf("%w: --rebuild-journal goes with --inventory alone", ErrUsage)
		case exists:
			return fmt.Errorf("%w: --rebuild-journal: a journal exists at %s", ErrUsage, f.Journal)
		}
		return nil
	}
	switch {
	case f.Resume && !exists:
		return fmt.Errorf("%w: --resume: no journal at %s", ErrUsage, f.Journal)
	case !f.Resume && exists && !f.DryRun && !f.Simulate:
		return fmt.Errorf("%w: a journal exists at %s: pass --resume to continue that run, or move it away to start over", ErrUsage, f.Journal)
	}
	return nil
}

// PlanOptions returns the hypervisor options chosen by the flags.
func (f *Flags) PlanOptions() []ha.Option {
	return []ha.Option{ha.WithConcurrency(f.Concurrency), ha.WithCanary(!f.NoCanary), ha.WithFailureBudget(f.Budget)}
}

// Observer returns the progress observer: a console renderer, or JSON
// lines with --json.
func (f *Flags) Observer(w io.Writer) func(upgrade.Event) {
	if f.JSON {
		return upgrade.JSONLines(w)
	}
	c := upgrade.NewConsole(w)
	c.ShowOutput = f.Output
	return c.Observe
}

// ExitCode maps a run's error to the exit code: 0 success or nothing to
// do, 3 when the run must be resumed (failed past the point of no return,
// a rollback that failed, a step left in progress), 2 for usage, 1
// otherwise (preflight refused, or rolled back).
func ExitCode(err error) int {
	switch {
	case err == nil, OnlyNothingToDo(err, ha.ErrNothingToDo):
		return ExitOK
	case errors.Is(err, upgrade.ErrRunInFlight):
		return ExitResume
	case errors.Is(err, ErrUsage), errors.Is(err, upgrade.ErrInvalidPlan), errors.Is(err, ha.ErrInvalidInventory),
		errors.Is(err, upgrade.ErrPlanMismatch):
		return ExitUsage
	case errors.Is(err, upgrade.ErrPointOfNoReturn), errors.Is(err, upgrade.ErrDirtyStep):
		return ExitResume
	}
	if pe, ok := errors.AsType[*upgrade.PartialError](err); ok && pe.RollbackErr != nil {
		return ExitResume
	}
	return ExitFailed
}

// OnlyNothingToDo reports whether every failure err reports is
// nothingToDo: a preflight that also failed for another reason (a
// front-end unreachable) is a failure, never "nothing to do".
func OnlyNothingToDo(err, nothingToDo error) bool {
	if err == nil {
		return false
	}
	if err == nothingToDo {
		return true
	}
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		found := false
		for _, e := range u.Unwrap() {
			if e == upgrade.ErrPreflight {
				continue
			}
			if !OnlyNothingToDo(e, nothingToDo) {
				return false
			}
			found = true
		}
		return found
	case interface{ Unwrap() error }:
		return OnlyNothingToDo(u.Unwrap(), nothingToDo)
	}
	return false
}

// PrintPlan writes the plan's steps, numbered, with its point of no
// return.
func PrintPlan(w io.Writer, p *upgrade.Plan, noReturn string) {
	fmt.Fprintf(w, "plan %s\n", p.Name())
	for i, s := range p.Steps() {
		mark := ""
		if s == noReturn {
			mark = "   <- point of no return"
		}
		fmt.Fprintf(w, "  %2d. %s%s\n", i+1, s, mark)
	}
	fmt.Fprintln(w)
}

// LeaderFromJournal finds the front-end of z that, as the plan's leader,
// gives the plan recorded in the journal at path (its fingerprint).
func LeaderFromJournal(path string, z ha.Zone, build func(leader string) (*upgrade.Plan, error)) (string, error) {
	recs, err := upgrade.ReadJournal(path)
	if err != nil {
		return "", err
	}
	fp := ""
	for _, r := range recs {
		if r.Type == upgrade.RecordPlan {
			fp = r.Fingerprint
		}
	}
	if fp == "" {
		return "", fmt.Errorf("journal %s records no plan", path)
	}
	l, err := LeaderFromFingerprint(fp, z, build)
	if err != nil {
		return "", fmt.Errorf("journal %s: %w", path, err)
	}
	return l, nil
}

// LeaderFromCluster finds the front-end of z that, as the plan's leader,
// gives the plan of the run in flight the cluster records next to the
// lock at dir on hosts; ok is false when no run is recorded.
func (f *Flags) LeaderFromCluster(ctx context.Context, hosts []transport.Transport, dir string, z ha.Zone, build func(leader string) (*upgrade.Plan, error)) (leader string, ok bool, err error) {
	lock, err := f.Lock(ctx, nil, hosts, dir)
	if err != nil {
		return "", false, err
	}
	rec, err := lock.ReadRecord(ctx)
	if err != nil || rec == nil {
		return "", false, err
	}
	l, err := LeaderFromFingerprint(rec.Fingerprint, z, build)
	if err != nil {
		return "", false, fmt.Errorf("the run in flight recorded at %s: %w", rec.Where, err)
	}
	return l, true, nil
}

// LeaderFromFingerprint finds the front-end of z that, as the plan's
// leader, gives a plan with fingerprint fp.
func LeaderFromFingerprint(fp string, z ha.Zone, build func(leader string) (*upgrade.Plan, error)) (string, error) {
	for _, fe := range z.Frontends {
		p, err := build(fe.Name)
		if err != nil {
			return "", err
		}
		if p.Fingerprint() == fp {
			return fe.Name, nil
		}
	}
	return "", fmt.Errorf("no front-end of zone %d as leader gives its plan; pass --leader", z.ID)
}

// FrontendHosts returns the transports of every front-end of inv, zone
// by zone in inventory order: the hosts of the run's lock, whatever
// --leader says.
func FrontendHosts(inv ha.Inventory, hosts map[string]transport.Transport) []transport.Transport {
	var out []transport.Transport
	for _, z := range inv.Zones {
		for _, fe := range z.Frontends {
			if t, ok := hosts[fe.Name]; ok {
				out = append(out, t)
			}
		}
	}
	return out
}

// Lock returns the run's lock: directory dir on every host of hosts (the
// run must hold a majority; see upgrade.QuorumLock). With --break-lock it
// first breaks the lock a killed run left behind, refusing while its
// holder shows signs of life; with --force-break-lock it breaks it
// anyway, after a warning on warn.
func (f *Flags) Lock(ctx context.Context, warn io.Writer, hosts []transport.Transport, dir string) (*upgrade.QuorumLock, error) {
	var locks []upgrade.Locker
	for _, t := range hosts {
		l, err := upgrade.NewHostLock(t, dir)
		if err != nil {
			return nil, err
		}
		locks = append(locks, l)
	}
	q, err := upgrade.NewQuorumLock(locks...)
	if err != nil {
		return nil, err
	}
	switch {
	case f.ForceBreak:
		for _, l := range locks {
			hl := l.(*upgrade.HostLock)
			h, age, held, err := hl.Inspect(ctx)
			if err == nil && held {
				fmt.Fprintf(warn, "WARNING: breaking the lock %s on %s held by %s, last heartbeat %s ago: if that run is alive, two runs now change the cluster until it notices before its next step\n",
					dir, transport.HostName(hl.Transport()), h, age.Round(time.Second))
			}
		}
		if err := q.ForceBreak(ctx); err != nil {
			return nil, fmt.Errorf("break lock %s: %w", dir, err)
		}
	case f.BreakLock:
		if err := q.Break(ctx); err != nil {
			if errors.Is(err, upgrade.ErrLockAlive) {
				return nil, fmt.Errorf("break lock %s: %w (wait and try again; if you are sure that run is dead, --force-break-lock)", dir, err)
			}
			return nil, fmt.Errorf("break lock %s: %w", dir, err)
		}
	}
	return q, nil
}
