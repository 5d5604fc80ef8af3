package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/upgrade"
)

// The steps at whose start the operator's process is killed: first while
// the followers are seeded from the leader's upgraded database (real
// mysqldump output restored by the real mariadb client; nothing runs the
// new release yet), then, after a resume, past the point of no return
// while the new release elects its leader.
const (
	killSeeding  = "followers/fe3/seed/restore"
	killElection = "start/leader"
)

// haLockDir is the lock examples/ha-upgrade takes on every front-end.
const haLockDir = "/var/lock/upgradekit-ha"

// TestHAKillAndResumeOverSSH runs the operator's command
// (examples/ha-upgrade) against three sshd front-ends and SIGKILLs it
// twice, before and after the point of no return, each time resuming
// with --resume: the run completes over SSH from its journal, without
// redoing the steps the journal records as done, and the cloud ends
// upgraded with equal databases.
func TestHAKillAndResumeOverSSH(t *testing.T) {
	t.Parallel()
	start := time.Now()
	cb := newCloudBed(t, "127.40.2.1", 3, 0, fromVersion)
	bin, err := haUpgradeBinary()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 160*time.Second)
	defer cancel()
	dir := t.TempDir()
	inv := filepath.Join(dir, "cloud.yaml")
	require.NoError(t, os.WriteFile(inv, []byte(cb.inventoryFile(t, ctx)), 0o600))
	journal := filepath.Join(dir, "ha.journal")
	args := []string{"--inventory", inv, "--journal", journal, "--json"}
	resume := append(append([]string(nil), args...), "--resume")

	leaves := map[string]bool{}
	for _, name := range cb.plan(t, ctx, new(atomic.Int64)).Steps() {
		leaves[name] = true
	}

	// First run: killed as soon as the seeding of fe3 has started.
	first, done1 := cb.killAt(t, ctx, bin, args, journal, killSeeding)

	// The killed run still holds its lock on the leader: a resume is
	// refused until the lock goes stale (2 minutes) or the operator,
	// knowing the holder is dead, breaks it.
	refused := runHAUpgrade(t, ctx, bin, resume, "")
	require.False(t, refused.state.Success(), "resume while the dead run's lock is held:\n%s", refused.out)
	assert.Contains(t, refused.stderr, "lock held by run")
	assert.Empty(t, refused.started, "nothing ran while the lock was held")
	cb.breakLock(t, ctx)

	// Second run: resumed, stopped past the point of no return. While it
	// is alive, a second runner is refused: --resume --break-lock (its
	// process runs), and a fresh run that calls fe2 its leader (the lock
	// is on every front-end). Then it is killed.
	second, done2 := cb.killAtWith(t, ctx, bin, resume, journal, killElection, func() {
		breaker := runHAUpgrade(t, ctx, bin, append(slices.Clone(resume), "--break-lock"), "")
		require.False(t, breaker.state.Success(), "--break-lock while the holder is alive:\n%s", breaker.out)
		assert.Contains(t, breaker.stderr, "shows signs of life")
		assert.Contains(t, breaker.stderr, "--force-break-lock")
		assert.Empty(t, breaker.started, "nothing ran beside the live run")
		other := runHAUpgrade(t, ctx, bin, append(slices.Clone(args[:2]), "--journal", journal+".other", "--json", "--leader", "fe2"), "")
		require.False(t, other.state.Success(), "a second run with another leader:\n%s", other.out)
		assert.Contains(t, other.stderr, "lock held by run")
		assert.Empty(t, other.started, "nothing ran beside the live run")
	})
	cb.breakLock(t, ctx)
	assertResumed(t, leaves, done1, second, killSeeding)

	// The journal is lost past the point of no return: a fresh run is
	// refused by the cluster's record of the run in flight (before, it
	// said "nothing to do" and exited 0); the journal rebuilt from that
	// record resumes the run.
	require.NoError(t, os.Rename(journal, journal+".lost"))
	fresh := runHAUpgrade(t, ctx, bin, append(slices.Clone(args), "--leader", "fe1"), "")
	require.False(t, fresh.state.Success(), "a run without the journal:\n%s", fresh.out)
	assert.Equal(t, 3, fresh.state.ExitCode(), fresh.stderr)
	assert.Contains(t, fresh.stderr, "the cluster records a run in flight")
	assert.Contains(t, fresh.stderr, "--rebuild-journal")
	assert.Empty(t, fresh.started, "nothing ran without the journal")
	rebuild := runHAUpgrade(t, ctx, bin, []string{"--inventory", inv, "--journal", journal, "--leader", "fe1", "--rebuild-journal"}, "")
	require.True(t, rebuild.state.Success(), "--rebuild-journal:\n%s\n%s", rebuild.out, rebuild.stderr)

	// Third run: resumed to completion.
	third := runHAUpgrade(t, ctx, bin, resume, "")
	require.True(t, third.state.Success(), "resume ended with %v:\n%s\nstderr:\n%s", third.state, third.out, third.stderr)
	require.NotNil(t, third.report, "no report in the output:\n%s", third.out)
	t.Logf("runs: killed after %s, killed after %s, completed in %s",
		first.dur.Round(time.Millisecond), second.dur.Round(time.Millisecond), third.dur.Round(time.Millisecond))
	assertResumed(t, leaves, done2, third, killElection)
	st := stepStatus(*third.report)
	for _, s := range []string{killSeeding, killElection, "start/rest", "wait-in-sync", "hosts-restore"} {
		assert.Equal(t, upgrade.StateDone, st[s], s)
	}

	cb.assertUpgraded(t, ctx)
	t.Logf("total test wall time %s", time.Since(start).Round(time.Millisecond))
}

// assertResumed checks a resumed run: it ran the step killed before, and
// no step the journal recorded as done (groups, which are entered again
// to find their remaining steps, aside).
func assertResumed(t *testing.T, leaves, done map[string]bool, run haRun, killed string) {
	t.Helper()
	assert.Contains(t, run.started, killed, "the resume ran the killed step")
	var again []string
	for _, s := range run.started {
		if leaves[s] && done[s] {
			again = append(again, s)
		}
	}
	assert.Empty(t, again, "the resume ran steps the journal had as done")
	assert.NotEmpty(t, done, "steps done before the kill")
}

// killAt runs examples/ha-upgrade with args and SIGKILLs it when step
// starts; it checks the process died of the signal with step left in
// progress in the journal, and returns the steps the journal has as done.
func (cb *cloudBed) killAt(t *testing.T, ctx context.Context, bin string, args []string, journal, step string) (haRun, map[string]bool) {
	t.Helper()
	return cb.killAtWith(t, ctx, bin, args, journal, step, nil)
}

// killAtWith is killAt that, when stopped is not nil, first stops the
// process (SIGSTOP) when step starts and calls stopped while it is
// stopped (alive, silent), then kills it.
func (cb *cloudBed) killAtWith(t *testing.T, ctx context.Context, bin string, args []string, journal, step string, stopped func()) (haRun, map[string]bool) {
	t.Helper()
	run := runHAUpgradeWith(t, ctx, bin, args, step, stopped)
	require.True(t, run.killed, "%s never started; output:\n%s\nstderr:\n%s", step, run.out, run.stderr)
	ws, ok := run.state.Sys().(syscall.WaitStatus)
	require.True(t, ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL, "the run ended with %v", run.state)
	recs, err := upgrade.ReadJournal(journal)
	require.NoError(t, err)
	last := map[string]string{}
	for _, r := range recs {
		if r.Type == upgrade.RecordStep {
			last[r.Step] = r.State
		}
	}
	require.Equal(t, upgrade.StateInProgress, last[step], "the journal shows %s in progress", step)
	done := map[string]bool{}
	for s, state := range last {
		if state == upgrade.StateDone {
			done[s] = true
		}
	}
	return run, done
}

// breakLock removes the lock of a killed run from every front-end, as
// its operator's --break-lock would: its process is gone, so no wait.
func (cb *cloudBed) breakLock(t *testing.T, ctx context.Context) {
	t.Helper()
	for _, fe := range []string{"fe1", "fe2", "fe3"} {
		lock, err := upgrade.NewHostLock(cb.Frontend(fe).Client, haLockDir)
		require.NoError(t, err)
		require.NoError(t, lock.Break(ctx), fe)
	}
}

// inventoryFile writes cb as the inventory file an operator writes for
// examples/ha-upgrade: SSH with the bed's client key and strict
// known_hosts, the front-ends' addresses and SERVER_IDs.
func (cb *cloudBed) inventoryFile(t *testing.T, ctx context.Context) string {
	t.Helper()
	inv := cb.inventory(t, ctx)
	var b strings.Builder
	fmt.Fprintf(&b, "target: %q\nrepository:\n  url: %q\n", inv.Target, inv.Repository.URL)
	fmt.Fprintf(&b, "ssh:\n  user: %q\n  identity_files: [%q]\n  known_hosts: [%q]\n",
		cb.Bed.User, cb.Bed.ClientKeyFile, cb.Bed.KnownHostsFile)
	fmt.Fprintf(&b, "zone:\n  id: 0\n  leader: fe1\n  frontends:\n")
	for _, f := range inv.Zones[0].Frontends {
		fmt.Fprintf(&b, "    - {name: %q, address: %q, server_id: %d}\n", f.Name, f.Address, f.ServerID)
	}
	return b.String()
}

// haRun is the outcome of one run of examples/ha-upgrade --json.
type haRun struct {
	state   *os.ProcessState
	out     string
	stderr  string
	dur     time.Duration
	killed  bool
	started []string // steps in step_started events
	report  *upgrade.Report
}

// runHAUpgrade runs the binary with args and reads its JSON events; when
// killAt is not empty, it SIGKILLs the process as soon as step killAt has
// started. The process is killed by PID in t.Cleanup whatever happens.
func runHAUpgrade(t *testing.T, ctx context.Context, bin string, args []string, killAt string) haRun {
	t.Helper()
	return runHAUpgradeWith(t, ctx, bin, args, killAt, nil)
}

// runHAUpgradeWith is runHAUpgrade that, when stopped is not nil, stops
// the process at killAt and calls stopped before it kills it.
func runHAUpgradeWith(t *testing.T, ctx context.Context, bin string, args []string, killAt string, stopped func()) haRun {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	start := time.Now()
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	})
	run := haRun{}
	var out strings.Builder
	var rest bytes.Buffer
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		out.Write(line)
		out.WriteByte('\n')
		var ev struct {
			Kind string `json:"kind"`
			Step string `json:"step"`
		}
		if json.Unmarshal(line, &ev) != nil || ev.Kind == "" {
			rest.Write(line) // the report, indented, after the events
			rest.WriteByte('\n')
			continue
		}
		if ev.Kind == string(upgrade.EventStepStarted) {
			run.started = append(run.started, ev.Step)
			if killAt != "" && ev.Step == killAt && !run.killed {
				if stopped != nil {
					require.NoError(t, cmd.Process.Signal(syscall.SIGSTOP))
					stopped()
				}
				require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
				run.killed = true
			}
		}
	}
	if rest.Len() > 0 {
		var rep upgrade.Report
		if json.NewDecoder(&rest).Decode(&rep) == nil && rep.Plan != "" {
			run.report = &rep
		}
	}
	_ = cmd.Wait()
	run.dur = time.Since(start)
	run.state, run.out, run.stderr = cmd.ProcessState, out.String(), stderr.String()
	return run
}
