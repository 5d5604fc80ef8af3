package proctest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/sim"
	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/upgrade"
)

// EnvFullMatrix, set to 1, makes the rollback kill matrices kill at
// every boundary instead of a deterministic sample (see
// RollbackKillMatrix).
const EnvFullMatrix = "PROCTEST_FULL"

// FailAndRollBack runs p on c with a fault (FaultExit) injected into
// p.RollbackFault and the journal store, and checks that the run failed
// there and rolled back completely.
func FailAndRollBack(ctx context.Context, t *testing.T, p Procedure, c *sim.Cloud, store upgrade.Store, more ...upgrade.Option) {
	t.Helper()
	require.NotEmpty(t, p.RollbackFault, "procedure %s has no RollbackFault", p.Name)
	in := NewInjector(p.RollbackFault, FaultExit)
	_, err := p.Run(ctx, c, in.Wrap(Hosts(c)), store, append(more, upgrade.WithObserver(in.Observe))...)
	fired, _, _ := in.Fired()
	require.True(t, fired, "step %s issued no mutating command", p.RollbackFault)
	pe, ok := errors.AsType[*upgrade.PartialError](err)
	require.True(t, ok, "want a *upgrade.PartialError, got %T: %v", err, err)
	require.NoError(t, pe.RollbackErr, "rollback after the fault in %s", p.RollbackFault)
	require.Equal(t, []string{p.RollbackFault}, pe.Failed)
}

// RollbackThenResume fails p at p.RollbackFault, lets the rollback run,
// checks that the cloud is back where it was, then resumes with the same
// journal and the fault removed and checks that the upgrade completed,
// with every front-end's configuration at the target (onecfg status).
func RollbackThenResume(t *testing.T, p Procedure) {
	t.Helper()
	ctx := context.Background()
	c, err := p.NewCloud()
	require.NoError(t, err)
	before, err := Take(c)
	require.NoError(t, err)
	store := &upgrade.MemoryStore{}
	FailAndRollBack(ctx, t, p, c, store)
	CheckRolledBack(t, c, before)
	rep, err := p.Run(ctx, c, Hosts(c), store)
	require.NoError(t, err, "resume after a rollback")
	assert.Equal(t, upgrade.DirForward, rep.Direction)
	for _, s := range rep.Steps {
		assert.NotEqual(t, "done in an earlier run", s.Reason, "step %s, undone by the rollback, skipped by the resume", s.Name)
	}
	CheckUpgraded(t, c, p, before)
}

// CheckRolledBack checks that c is back where before was: every zone in
// sync with one leader, releases, configuration, units, tables, host
// states and rows unchanged.
func CheckRolledBack(t *testing.T, c *sim.Cloud, before Snapshot) {
	t.Helper()
	_, err := InSync(context.Background(), c)
	require.NoError(t, err, "after rollback")
	after, err := Take(c)
	require.NoError(t, err)
	assert.Empty(t, RollbackProblems(before, after), "the cloud after rollback differs from before the run")
	for n, st := range after.Nodes {
		assert.Equal(t, before.Nodes[n].ConfigVersion, st.ConfigVersion, "%s: configuration version", n)
	}
}

// RollbackKillMatrix kills a run of p during its rollback or during the
// resume that follows a rollback, at every boundary in turn (a
// deterministic sample unless $PROCTEST_FULL=1, see below), in a child
// process as KillMatrix does:
//
//   - DuringRollback: the run fails at p.RollbackFault and is SIGKILLed
//     when its rollback is about to undo its k-th step (its rolling_back
//     record durable). The resume goes backward by itself and must
//     finish the rollback: the cloud back where it was (CheckRolledBack);
//     the run after it goes forward and must complete the upgrade.
//   - MidRollback: the same, killed right after the first change of the
//     k-th undo (before the undo sees it): the resumed rollback runs
//     that undo again.
//   - AfterRollback: the run fails at p.RollbackFault and rolls back; the
//     same process resumes with the fault removed and is SIGKILLed at
//     step boundary k of that resume. The next resume must complete the
//     upgrade (CheckUpgraded), no step done before the kill run again
//     (JournalProblems on the last two runs).
//
// By default every stride-th boundary is killed, starting at a boundary
// that depends on the procedure's name (so the procedures together cover
// different ones); with $PROCTEST_FULL=1 every boundary is.
func RollbackKillMatrix(t *testing.T, p Procedure, mode KillMode, stride int) *KillStats {
	t.Helper()
	require.Contains(t, []KillMode{DuringRollback, MidRollback, AfterRollback}, mode)
	ctx := context.Background()
	ref, err := p.NewCloud()
	require.NoError(t, err)
	n := 0
	count := upgrade.WithObserver(func(e upgrade.Event) {
		switch {
		case mode != AfterRollback && e.Kind == upgrade.EventRollbackStarted && e.Step != "":
			n++
		case mode == AfterRollback && e.Kind == upgrade.EventStepStarted && e.Hosts == 0:
			n++
		}
	})
	store := &upgrade.MemoryStore{}
	if mode != AfterRollback {
		FailAndRollBack(ctx, t, p, ref, store, count)
	} else {
		FailAndRollBack(ctx, t, p, ref, store)
		_, err = p.Run(ctx, ref, Hosts(ref), store, count)
		require.NoError(t, err, "resume after rollback")
	}
	require.Positive(t, n)
	stats := &KillStats{Boundaries: n}
	t.Cleanup(func() { t.Logf("%s kill matrix (%s): %s", p.Name, mode, stats) })
	if full, _ := strconv.ParseBool(os.Getenv(EnvFullMatrix)); full || stride < 1 {
		stride = 1
	}
	if testing.Short() {
		stride = max(stride, 5)
	}
	first := 1 + len(p.Name)%stride
	for k := first; k <= n; k += stride {
		t.Run(fmt.Sprintf("%s-%02d", mode, k), func(t *testing.T) {
			t.Parallel()
			rollbackKillCase(t, p, k, mode, stats)
		})
	}
	return stats
}

func rollbackKillCase(t *testing.T, p Procedure, k int, mode KillMode, stats *KillStats) {
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
	if noKill && mode == MidRollback {
		t.Skipf("undo %d and the undos after it change nothing: no mid-undo kill point", k)
	}
	require.NotEmpty(t, step, "the child never reached boundary %d; stderr:\n%s", k, stderr.String())
	c, err = LoadCloud(state)
	require.NoError(t, err)
	c.Clock().Advance(ResumeDelay)

	resume := func() (upgrade.Report, error) {
		store := upgrade.NewFileStore(journal)
		rep, err := p.Run(ctx, c, Hosts(c), store)
		require.NoError(t, store.Close())
		return rep, err
	}
	if mode != AfterRollback {
		// The resume sees a rollback in flight and finishes it.
		rep, err := resume()
		require.ErrorIs(t, err, upgrade.ErrRollbackResumed, "resume after a kill during the rollback of %s", step)
		pe, ok := errors.AsType[*upgrade.PartialError](err)
		require.True(t, ok)
		require.NoError(t, pe.RollbackErr, "the resumed rollback")
		assert.Equal(t, upgrade.DirBackward, rep.Direction)
		CheckRolledBack(t, c, before)
		recs, err := upgrade.ReadJournal(journal)
		require.NoError(t, err)
		assert.Equal(t, upgrade.StateFinished, lastRollback(recs), "the journal's last rollback")
	}
	_, err = resume()
	require.NoError(t, err, "resume forward after a kill at %s boundary %d (%s)", mode, k, step)
	CheckUpgraded(t, c, p, before)
	if mode == AfterRollback {
		recs, err := upgrade.ReadJournal(journal)
		require.NoError(t, err)
		rerun, confirmed, problems := JournalProblems(lastRuns(recs, 2), step)
		assert.Empty(t, problems, "journal after a kill at boundary %d (%s) of the resume after a rollback", k, step)
		stats.mu.Lock()
		stats.ReRun += rerun
		stats.Confirmed += confirmed
		stats.mu.Unlock()
	}
	stats.mu.Lock()
	stats.Killed++
	if killedAt != k {
		stats.Moved++
	}
	stats.mu.Unlock()
}

// lastRollback returns the state of the last rollback record.
func lastRollback(recs []upgrade.Record) string {
	st := ""
	for _, r := range recs {
		if r.Type == upgrade.RecordRollback {
			st = r.State
		}
	}
	return st
}

// lastRuns returns the records of the last n runs.
func lastRuns(recs []upgrade.Record, n int) []upgrade.Record {
	var runs []string
	for _, r := range recs {
		if !slices.Contains(runs, r.Run) {
			runs = append(runs, r.Run)
		}
	}
	keep := runs[max(0, len(runs)-n):]
	var out []upgrade.Record
	for _, r := range recs {
		if slices.Contains(keep, r.Run) {
			out = append(out, r)
		}
	}
	return out
}

// Outage makes one host unreachable (every command and transfer fails
// with a *transport.ConnectionLostError, the command not started) while
// it is on, as a front-end with a frozen sshd.
type Outage struct {
	Host string
	on   atomic.Bool
}

// Start and Stop switch the outage.
func (o *Outage) Start() { o.on.Store(true) }

// Stop ends the outage.
func (o *Outage) Stop() { o.on.Store(false) }

// Wrap returns hosts with o's host wrapped.
func (o *Outage) Wrap(hosts map[string]transport.Transport) map[string]transport.Transport {
	out := maps.Clone(hosts)
	out[o.Host] = &outageTransport{Transport: hosts[o.Host], o: o}
	return out
}

type outageTransport struct {
	transport.Transport
	o *Outage
}

func (t *outageTransport) lost() error {
	return &transport.ConnectionLostError{Host: t.o.Host, Err: errors.New("proctest: host unreachable")}
}

func (t *outageTransport) Run(ctx context.Context, c transport.Command) (transport.Result, error) {
	if t.o.on.Load() {
		return transport.Result{Host: t.o.Host, Cmd: c.String()}, t.lost()
	}
	return t.Transport.Run(ctx, c)
}

func (t *outageTransport) Upload(ctx context.Context, dst string, r io.Reader, opts transport.FileOptions) (transport.Transfer, error) {
	if t.o.on.Load() {
		return transport.Transfer{}, t.lost()
	}
	return transport.Upload(ctx, t.Transport, dst, r, opts)
}

func (t *outageTransport) Download(ctx context.Context, src string, w io.Writer, opts transport.FileOptions) (transport.Transfer, error) {
	if t.o.on.Load() {
		return transport.Transfer{}, t.lost()
	}
	return transport.Download(ctx, t.Transport, src, w, opts)
}

func (t *outageTransport) Host() string { return t.o.Host }

// RollbackWithUnreachable fails p at p.RollbackFault and makes host
// unreachable as the rollback starts. The rollback must undo every step
// it can: the PartialError lists as RollbackFailed only steps on host,
// the report gives host the state HostRollbackFailed and every other
// front-end it reached HostRolledBack, and every other front-end is back
// at its release, configuration and units. When host is back, a resume
// goes backward and finishes the rollback (CheckRolledBack); the run
// after it upgrades (CheckUpgraded).
func RollbackWithUnreachable(t *testing.T, p Procedure, host string) {
	t.Helper()
	ctx := context.Background()
	c, err := p.NewCloud()
	require.NoError(t, err)
	before, err := Take(c)
	require.NoError(t, err)
	store := &upgrade.MemoryStore{}
	in := NewInjector(p.RollbackFault, FaultExit)
	out := &Outage{Host: host}
	rep, err := p.Run(ctx, c, out.Wrap(in.Wrap(Hosts(c))), store, upgrade.WithObserver(func(e upgrade.Event) {
		in.Observe(e)
		if e.Kind == upgrade.EventRollbackStarted {
			out.Start()
		}
	}))
	pe, ok := errors.AsType[*upgrade.PartialError](err)
	require.True(t, ok, "want a *upgrade.PartialError, got %T: %v", err, err)
	require.NotEmpty(t, pe.RollbackFailed, "nothing on %s failed to roll back", host)
	require.NotEmpty(t, pe.RolledBack)
	// Every step that could not be rolled back reached host: its name
	// says so, or it is a step of several front-ends (the HA procedure's
	// back-to-back stop), which the report counts for host (the
	// ElementsMatch below).
	cl, ok := errors.AsType[*transport.ConnectionLostError](pe.RollbackErr)
	if assert.True(t, ok, "the rollback error does not reach the lost connection: %v", pe.RollbackErr) {
		assert.Equal(t, host, cl.Host)
	}
	states := map[string]upgrade.HostState{}
	for _, hs := range rep.HostStates {
		states[hs.Host] = hs
	}
	assert.Equal(t, upgrade.HostRollbackFailed, states[host].State, "report: state of %s", host)
	assert.ElementsMatch(t, pe.RollbackFailed, states[host].RollbackFailed)
	after, err := Take(c)
	require.NoError(t, err)
	for _, n := range c.Frontends() {
		if n == host {
			continue
		}
		if hs, ok := states[n]; ok {
			// A step that reached n and host (one asking the other for a
			// change) may have failed to roll back: it counts for both.
			want := upgrade.HostRolledBack
			for _, name := range hs.RollbackFailed {
				want = upgrade.HostRollbackFailed
				assert.Contains(t, states[host].RollbackFailed, name, "report: %s could not roll back %s, which did not reach %s", n, name, host)
			}
			assert.Equal(t, want, hs.State, "report: state of %s: %+v", n, hs)
			assert.Empty(t, hs.Failed, "report: state of %s", n)
		}
	}
	for _, change := range ServiceChanges(before, after) {
		assert.True(t, strings.HasPrefix(change, host+":"), "after the rollback: %s", change)
	}
	for _, n := range c.Frontends() {
		if n != host {
			assert.Equal(t, before.HostStates[n], after.HostStates[n], "%s: hosts not restored", n)
		}
	}

	out.Stop()
	_, err = p.Run(ctx, c, Hosts(c), store)
	require.ErrorIs(t, err, upgrade.ErrRollbackResumed, "the resume once %s is back", host)
	pe, ok = errors.AsType[*upgrade.PartialError](err)
	require.True(t, ok)
	require.NoError(t, pe.RollbackErr)
	CheckRolledBack(t, c, before)
	_, err = p.Run(ctx, c, Hosts(c), store)
	require.NoError(t, err, "the upgrade after the rollback")
	CheckUpgraded(t, c, p, before)
}
