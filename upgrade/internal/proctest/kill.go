package proctest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/sim"
	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/upgrade"
)

// Environment of the helper process.
const (
	envProc    = "PROCTEST_PROCEDURE"
	envState   = "PROCTEST_STATE"
	envJournal = "PROCTEST_JOURNAL"
	envKillAt  = "PROCTEST_KILL_AT"
	envMode    = "PROCTEST_KILL_MODE"

	boundaryLine = "PROCTEST-BOUNDARY "
	noKillLine   = "PROCTEST-NO-KILL-POINT"
)

// ResumeDelay is the virtual time between a kill and the resume.
const ResumeDelay = time.Minute

// EffectCommands are the commands whose count per node must not change
// when a run is killed and resumed: each one's effect must happen once.
var EffectCommands = []string{"onedb upgrade", "onedb restore", "onecfg upgrade",
	"onezone server-add", "onezone server-del", "onezone server-reset"}

// HelperProcess is the whole body of a test function named
// TestHelperProcess in the package whose KillMatrix runs: in the normal
// test run it returns at once; in the child process KillMatrix starts it
// runs the procedure and exits the process.
func HelperProcess(t *testing.T) {
	name := os.Getenv(envProc)
	if name == "" {
		return
	}
	code := 0
	if err := child(name); err != nil {
		fmt.Fprintln(os.Stderr, "proctest child:", err)
		code = 1
	}
	os.Exit(code)
}

// KillMode says where in step k the child is killed.
type KillMode int

// Kill modes.
const (
	// AtBoundary kills the child when step k starts: its in_progress
	// record is durable, its Run has not begun.
	AtBoundary KillMode = iota
	// MidStep kills the child right after the first mutating command (or
	// upload) of step k took effect, before the step sees its result; a
	// step without one is killed at the next step boundary instead.
	MidStep
	// DuringRollback fails the run at Procedure.RollbackFault and kills
	// the child when its rollback starts undoing its k-th step (see
	// RollbackKillMatrix).
	DuringRollback
	// AfterRollback fails the run at Procedure.RollbackFault, lets it
	// roll back, resumes it in the same process with the fault removed
	// and kills the child at step boundary k of that resume.
	AfterRollback
	// MidRollback is DuringRollback killing right after the first
	// mutating command of the k-th undo took effect, before the undo
	// sees its result (at the next undo's start when it has none).
	MidRollback
)

var killModes = [...]string{"boundary", "mid-step", "during-rollback", "after-rollback", "mid-rollback"}

func (m KillMode) String() string { return killModes[m] }

func parseKillMode(s string) KillMode {
	for i, name := range killModes {
		if name == s {
			return KillMode(i)
		}
	}
	return AtBoundary
}

// child runs procedure name against the cloud saved in $PROCTEST_STATE
// with the journal $PROCTEST_JOURNAL, and at the kill point of
// $PROCTEST_KILL_AT and $PROCTEST_KILL_MODE freezes and saves the cloud
// (Persister), announces the step on stdout and waits to be killed.
func child(name string) error {
	p, ok := ByName(name)
	if !ok {
		return fmt.Errorf("unknown procedure %q", name)
	}
	state, journal := os.Getenv(envState), os.Getenv(envJournal)
	at, err := strconv.Atoi(os.Getenv(envKillAt))
	if err != nil {
		return fmt.Errorf("%s: %w", envKillAt, err)
	}
	mode := parseKillMode(os.Getenv(envMode))
	c, err := LoadCloud(state)
	if err != nil {
		return err
	}
	per := NewPersister(c, state)
	var once sync.Once
	kill := func(step string, n int) {
		once.Do(func() {
			if err := per.Freeze(); err != nil {
				fmt.Fprintln(os.Stderr, "proctest child:", err)
				os.Exit(2)
			}
			fmt.Fprintf(os.Stdout, "%s%d %s\n", boundaryLine, n, step)
			_ = os.Stdout.Sync()
		})
		time.Sleep(time.Hour) // until SIGKILL
	}
	var mu sync.Mutex
	target := ""
	n := 0
	if mode == MidStep {
		per.afterChange = func(ctx context.Context) {
			mu.Lock()
			hit := target != "" && StepOf(ctx) == target
			mu.Unlock()
			if hit {
				kill(target, at)
			}
		}
	}
	obs := func(e upgrade.Event) {
		if e.Kind != upgrade.EventStepStarted || e.Hosts != 0 {
			return
		}
		n++
		switch {
		case n == at && mode == MidStep:
			mu.Lock()
			target = e.Step
			mu.Unlock()
		case n >= at:
			kill(e.Step, n)
		}
	}
	store := upgrade.NewFileStore(journal)
	defer func() { _ = store.Close() }()
	ctx := context.Background()
	switch mode {
	case DuringRollback, MidRollback:
		in := NewInjector(p.RollbackFault, FaultExit)
		if mode == MidRollback {
			per.afterChange = func(ctx context.Context) {
				mu.Lock()
				hit := target != "" && StepOf(ctx) == target
				mu.Unlock()
				if hit {
					kill(target, at)
				}
			}
		}
		_, err = p.Run(ctx, c, in.Wrap(per.Wrap(Hosts(c))), store, upgrade.WithObserver(func(e upgrade.Event) {
			in.Observe(e)
			if e.Kind == upgrade.EventRollbackStarted && e.Step != "" {
				n++
				switch {
				case n == at && mode == MidRollback:
					mu.Lock()
					target = e.Step
					mu.Unlock()
				case n >= at:
					kill(e.Step, n)
				}
			}
		}))
		if _, ok := errors.AsType[*upgrade.PartialError](err); ok {
			fmt.Fprintln(os.Stdout, noKillLine)
			return nil
		}
		return fmt.Errorf("the run with a fault in %s: %v", p.RollbackFault, err)
	case AfterRollback:
		in := NewInjector(p.RollbackFault, FaultExit)
		_, err = p.Run(ctx, c, in.Wrap(per.Wrap(Hosts(c))), store, upgrade.WithObserver(in.Observe))
		pe, ok := errors.AsType[*upgrade.PartialError](err)
		if !ok || pe.RollbackErr != nil {
			return fmt.Errorf("the run with a fault in %s did not roll back: %v", p.RollbackFault, err)
		}
		if err := store.Close(); err != nil {
			return err
		}
		store = upgrade.NewFileStore(journal)
	}
	_, err = p.Run(ctx, c, per.Wrap(Hosts(c)), store, upgrade.WithObserver(obs))
	if err == nil {
		fmt.Fprintln(os.Stdout, noKillLine)
	}
	return err
}

// KillStats counts a kill matrix's cases.
type KillStats struct {
	mu sync.Mutex
	// Boundaries is the number of step starts of an uninterrupted run.
	Boundaries int
	// Killed counts the children killed and resumed to completion.
	Killed int
	// Moved counts the MidStep kills done at a later boundary: step k
	// changed nothing.
	Moved int
	// ReRun and Confirmed count the steps left in progress by a kill that
	// the resumed run ran again, or found done with their Checker.
	ReRun, Confirmed int
}

func (s *KillStats) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("%d step boundaries: %d kills resumed to completion (%d moved to the next boundary: the step changed nothing); steps left in progress: %d run again, %d confirmed done by their check",
		s.Boundaries, s.Killed, s.Moved, s.ReRun, s.Confirmed)
}

// KillMatrix counts the step boundaries N of an uninterrupted run of p,
// then for every k in 1..N (see every below) runs p in a child
// process (the test binary, through TestHelperProcess), kills it with
// SIGKILL in step k (at its start or, with MidStep, right after its first
// change) with the cloud saved to a file at that instant (Persister),
// resumes in process with the same journal and state file, and checks:
// the upgrade completed (CheckUpgraded); the journal shows two runs, the
// killed one unfinished with step k in progress, no step done before the
// kill run again, every step left in progress run once more or confirmed
// done by its check (JournalProblems); and each EffectCommands command
// ran on each node as often as in the uninterrupted run, plus at most the
// re-runs of steps the kill left in progress.
//
// every > 1 kills only at k = 1, 1+every, 1+2*every, ... (a cheaper
// sample); with -short the stride is at least 5.
func KillMatrix(t *testing.T, p Procedure, mode KillMode, every int) *KillStats {
	t.Helper()
	ctx := context.Background()
	ref, err := p.NewCloud()
	require.NoError(t, err)
	n := 0
	// Boundaries of steps that skip themselves (upgrade.Skip) in the
	// uninterrupted run change nothing: a kill there is the kill at the
	// next boundary, so they are left out.
	started := map[string]int{}
	selfSkip := map[int]bool{}
	var mu sync.Mutex
	_, err = p.Run(ctx, ref, Hosts(ref), &upgrade.MemoryStore{}, upgrade.WithObserver(func(e upgrade.Event) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case e.Kind == upgrade.EventStepStarted && e.Hosts == 0:
			n++
			started[e.Step] = n
		case e.Kind == upgrade.EventStepSkipped:
			if k, ok := started[e.Step]; ok {
				selfSkip[k] = true
			}
		}
	}))
	require.NoError(t, err, "uninterrupted run")
	want := effects(ref)
	stats := &KillStats{Boundaries: n}
	t.Cleanup(func() { t.Logf("%s kill matrix (%s): %s", p.Name, mode, stats) })
	if every < 1 {
		every = 1
	}
	if testing.Short() {
		every = max(every, 5)
	}
	for k := 1; k <= n; k += every {
		if selfSkip[k] {
			continue
		}
		t.Run(fmt.Sprintf("%s-%02d", mode, k), func(t *testing.T) {
			t.Parallel()
			killCase(t, p, k, mode, want, stats)
		})
	}
	return stats
}

func killCase(t *testing.T, p Procedure, k int, mode KillMode, want map[string]map[string]int, stats *KillStats) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	state, journal := filepath.Join(dir, "cloud.json"), filepath.Join(dir, "journal.jsonl")
	c, err := p.NewCloud()
	require.NoError(t, err)
	before, err := Take(c)
	require.NoError(t, err)
	require.NoError(t, SaveCloud(c, state))

	step, killedAt, noKill, stderr := killChild(ctx, t, p, k, mode, state, journal)
	if noKill && mode == MidStep {
		t.Skipf("step %d and the steps after it change nothing: no mid-step kill point", k)
	}
	require.NotEmpty(t, step, "the child never reached boundary %d; stderr:\n%s", k, stderr.String())

	killed, err := upgrade.ReadJournal(journal)
	require.NoError(t, err)
	c, err = LoadCloud(state)
	require.NoError(t, err)
	// The operator resumes a while after the crash: the virtual clock
	// saved at the kill moves on (timestamped backup names differ, as
	// they would on a real restart).
	c.Clock().Advance(ResumeDelay)
	store := upgrade.NewFileStore(journal)
	er := &effectRecorder{}
	_, err = p.Run(ctx, c, er.Wrap(Hosts(c)), store)
	require.NoError(t, store.Close())
	require.NoError(t, err, "resume after a kill at boundary %d (%s)", k, step)
	CheckUpgraded(t, c, p, before)

	recs, err := upgrade.ReadJournal(journal)
	require.NoError(t, err)
	require.Greater(t, len(recs), len(killed))
	rerun, confirmed, problems := JournalProblems(recs, step)
	assert.Empty(t, problems, "journal after a kill at boundary %d (%s)", k, step)
	// Each effect happened as often as in an uninterrupted run, plus at
	// most once more per re-run of a step the kill left in progress
	// (those steps are idempotent by their Checker's contract).
	inFlight := InProgressAtKill(recs)
	allowed := er.counts(func(step string) bool { return slices.Contains(inFlight, step) })
	got := effects(c)
	for _, node := range slices.Sorted(maps.Keys(union(want, got))) {
		for _, eff := range EffectCommands {
			extra := got[node][eff] - want[node][eff]
			assert.True(t, extra >= 0 && extra <= allowed[node][eff],
				"kill at boundary %d (%s): %s on %s ran %d time(s), %d in an uninterrupted run, %d re-run by steps left in progress (%v)",
				k, step, eff, node, got[node][eff], want[node][eff], allowed[node][eff], inFlight)
		}
	}
	stats.mu.Lock()
	stats.Killed++
	if killedAt != k {
		stats.Moved++
	}
	stats.ReRun += rerun
	stats.Confirmed += confirmed
	stats.mu.Unlock()
}

// killChild runs p in a child process (TestHelperProcess) on the cloud
// saved in state with the journal journal, kills it at boundary k of
// mode and returns the step it was killed in and that step's boundary
// number, or noKill when the child ended without reaching boundary k.
func killChild(ctx context.Context, t *testing.T, p Procedure, k int, mode KillMode, state, journal string) (step string, killedAt int, noKill bool, stderr *bytes.Buffer) {
	t.Helper()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), envProc+"="+p.Name, envState+"="+state, envJournal+"="+journal, envKillAt+"="+strconv.Itoa(k), envMode+"="+mode.String())
	stderr = &bytes.Buffer{}
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), boundaryLine); ok {
			var at string
			at, step, _ = strings.Cut(rest, " ")
			killedAt, _ = strconv.Atoi(at)
			break
		}
		noKill = noKill || sc.Text() == noKillLine
	}
	if step != "" {
		require.NoError(t, cmd.Process.Kill()) // SIGKILL
	}
	_ = cmd.Wait()
	return step, killedAt, noKill, stderr
}

// effects counts EffectCommands per node in c's command log.
func effects(c *sim.Cloud) map[string]map[string]int {
	out := map[string]map[string]int{}
	for _, e := range c.Events() {
		if e.Kind != sim.EventCommand {
			continue
		}
		for _, p := range EffectCommands {
			if strings.HasPrefix(e.Detail, p+" ") {
				if out[e.Node] == nil {
					out[e.Node] = map[string]int{}
				}
				out[e.Node][p]++
			}
		}
	}
	return out
}

func union(a, b map[string]map[string]int) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

// effectRecorder records which step sent each EffectCommands command to
// which node.
type effectRecorder struct {
	mu   sync.Mutex
	seen []effectCall
}

type effectCall struct{ step, node, effect string }

func (r *effectRecorder) Wrap(hosts map[string]transport.Transport) map[string]transport.Transport {
	out := make(map[string]transport.Transport, len(hosts))
	for name, t := range hosts {
		out[name] = &effectTransport{Transport: t, node: name, r: r}
	}
	return out
}

// counts returns the effects per node and command sent by the steps
// keep accepts.
func (r *effectRecorder) counts(keep func(step string) bool) map[string]map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]map[string]int{}
	for _, e := range r.seen {
		if !keep(e.step) {
			continue
		}
		if out[e.node] == nil {
			out[e.node] = map[string]int{}
		}
		out[e.node][e.effect]++
	}
	return out
}

type effectTransport struct {
	transport.Transport
	node string
	r    *effectRecorder
}

func (t *effectTransport) Run(ctx context.Context, c transport.Command) (transport.Result, error) {
	line := " " + c.String() + " "
	for _, eff := range EffectCommands {
		if strings.Contains(line, " "+eff+" ") {
			t.r.mu.Lock()
			t.r.seen = append(t.r.seen, effectCall{step: StepOf(ctx), node: t.node, effect: eff})
			t.r.mu.Unlock()
		}
	}
	return t.Transport.Run(ctx, c)
}

func (t *effectTransport) Upload(ctx context.Context, dst string, r io.Reader, opts transport.FileOptions) (transport.Transfer, error) {
	return transport.Upload(ctx, t.Transport, dst, r, opts)
}

func (t *effectTransport) Download(ctx context.Context, src string, w io.Writer, opts transport.FileOptions) (transport.Transfer, error) {
	return transport.Download(ctx, t.Transport, src, w, opts)
}

func (t *effectTransport) Host() string { return t.node }

// InProgressAtKill returns the steps whose last record in the journal's
// first run is in_progress.
func InProgressAtKill(recs []upgrade.Record) []string {
	if len(recs) == 0 {
		return nil
	}
	first := recs[0].Run
	last := map[string]string{}
	for _, r := range recs {
		if r.Run == first && r.Type == upgrade.RecordStep {
			last[r.Step] = r.State
		}
	}
	var out []string
	for _, name := range slices.Sorted(maps.Keys(last)) {
		if last[name] == upgrade.StateInProgress {
			out = append(out, name)
		}
	}
	return out
}

// JournalProblems checks the journal of a run killed at the start of
// step and resumed once: two runs, the first without an end and with
// step in progress, the second finished; no step done (or skipped) in
// the first run appears in the second; a step left in progress is run
// once more or confirmed done by its check; every step ends done or
// skipped. It returns how many steps were run again and confirmed.
func JournalProblems(recs []upgrade.Record, step string) (rerun, confirmed int, problems []string) {
	var runs []string
	type stepRecs struct{ byRun map[string][]upgrade.Record }
	steps := map[string]*stepRecs{}
	ended := map[string]string{}
	for _, r := range recs {
		if !slices.Contains(runs, r.Run) {
			runs = append(runs, r.Run)
		}
		switch r.Type {
		case upgrade.RecordRun:
			if r.State == upgrade.StateFinished || r.State == upgrade.StateFailed {
				ended[r.Run] = r.State
			}
		case upgrade.RecordStep:
			s := steps[r.Step]
			if s == nil {
				s = &stepRecs{byRun: map[string][]upgrade.Record{}}
				steps[r.Step] = s
			}
			s.byRun[r.Run] = append(s.byRun[r.Run], r)
		}
	}
	if len(runs) != 2 {
		return 0, 0, []string{fmt.Sprintf("%d runs in the journal, want 2 (killed, resumed)", len(runs))}
	}
	first, second := runs[0], runs[1]
	if st, ok := ended[first]; ok {
		problems = append(problems, "the killed run recorded an end: "+st)
	}
	if ended[second] != upgrade.StateFinished {
		problems = append(problems, "the resumed run did not finish: "+ended[second])
	}
	if s := steps[step]; s == nil || len(s.byRun[first]) == 0 || s.byRun[first][len(s.byRun[first])-1].State != upgrade.StateInProgress {
		problems = append(problems, "the killed step "+step+" is not in progress in the killed run")
	}
	for _, name := range slices.Sorted(maps.Keys(steps)) {
		s := steps[name]
		r1, r2 := s.byRun[first], s.byRun[second]
		last := ""
		if len(r1) > 0 {
			last = r1[len(r1)-1].State
		}
		starts := 0
		for _, r := range r2 {
			if r.State == upgrade.StateInProgress {
				starts++
			}
		}
		switch last {
		case upgrade.StateSkipped:
			// A skipped step is evaluated again on resume (upgrade's
			// contract: by its check, or by its Run that skips itself);
			// it must skip again, changing nothing.
			again := len(r2) == 1 && r2[0].State == upgrade.StateSkipped ||
				len(r2) == 2 && r2[0].State == upgrade.StateInProgress && r2[1].State == upgrade.StateSkipped
			if len(r2) > 0 && !again {
				problems = append(problems, fmt.Sprintf("%s was skipped before the kill; after it: %v", name, states(r2)))
			}
		case upgrade.StateDone:
			if len(r2) > 0 {
				problems = append(problems, fmt.Sprintf("%s was %s before the kill and has %d record(s) after", name, last, len(r2)))
			}
		case upgrade.StateInProgress:
			switch {
			case starts == 1:
				rerun++
			case starts == 0 && len(r2) > 0 && r2[0].State == upgrade.StateDone && strings.Contains(r2[0].Reason, "check"):
				confirmed++
			default:
				problems = append(problems, fmt.Sprintf("%s was in progress at the kill; after it: %v", name, states(r2)))
			}
		case "":
			if starts > 1 {
				problems = append(problems, fmt.Sprintf("%s started %d times in the resumed run", name, starts))
			}
		default:
			problems = append(problems, fmt.Sprintf("%s ended %s in the killed run", name, last))
		}
		all := append(slices.Clone(r1), r2...)
		if end := all[len(all)-1].State; end != upgrade.StateDone && end != upgrade.StateSkipped {
			problems = append(problems, fmt.Sprintf("%s ends %s", name, end))
		}
	}
	return rerun, confirmed, problems
}

func states(rs []upgrade.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.State
		if r.Reason != "" {
			out[i] += " (" + r.Reason + ")"
		}
	}
	return out
}
