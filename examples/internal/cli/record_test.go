package cli_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/examples/internal/cli"
	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/transport/local"
	"github.com/upgradekit/upgradekit/upgrade"
	"github.com/upgradekit/upgradekit/upgrade/ha"
)

// A preflight that finds the cloud at the target but also fails for
// another reason (a front-end unreachable) is a failure: exit non-zero,
// never "nothing to do".
func TestPreflightFailureIsNeverNothingToDo(t *testing.T) {
	t.Parallel()
	check := func(name string, err error) upgrade.PreflightCheck {
		return upgrade.Preflight(name, func(context.Context, *upgrade.State) error { return err })
	}
	atTarget := fmt.Errorf("%w: 7.4.1 is installed", ha.ErrNothingToDo)
	for _, tc := range []struct {
		name   string
		checks []upgrade.PreflightCheck
		code   int
	}{
		{"only nothing to do", []upgrade.PreflightCheck{check("versions", atTarget), check("in-sync", nil)}, cli.ExitOK},
		{"and fe3 unreachable", []upgrade.PreflightCheck{check("versions", atTarget), check("in-sync", errors.New("fe3 unreachable"))}, cli.ExitFailed},
	} {
		p := upgrade.NewPlan("p", upgrade.Func("a", nil)).WithPreflight(tc.checks...)
		var f cli.Flags
		f.Journal = filepath.Join(t.TempDir(), "j")
		var out, errs bytes.Buffer
		code, err := cli.Execute(context.Background(), &f, cli.Run{Name: "x", Plan: p, NothingToDo: ha.ErrNothingToDo}, &out, &errs)
		assert.Equal(t, tc.code, code, "%s: %v", tc.name, err)
		assert.Equal(t, tc.code, cli.ExitCode(errors.Join(err, atTarget)), tc.name)
		if tc.code != cli.ExitOK {
			assert.NotContains(t, errs.String(), "nothing to do", tc.name)
			assert.ErrorIs(t, err, upgrade.ErrPreflight, tc.name)
		}
	}
}

// The journal of a run past its point of no return is lost: the next run
// (the lock free) is refused with exit 3 and told how to recover;
// --rebuild-journal writes the journal from the cluster's record, and
// --resume finishes the run.
func TestLostJournalRebuiltFromCluster(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	lt, err := local.New()
	require.NoError(t, err)
	t.Cleanup(func() { _ = lt.Close() })
	dir := t.TempDir()
	lockHosts := []transport.Transport{lt}
	lockDir := filepath.Join(dir, "lock")
	journal := filepath.Join(dir, "journal")
	var failC atomic.Bool
	failC.Store(true)
	ran := map[string]int{}
	step := func(name string) *upgrade.FuncStep {
		return upgrade.Func(name, func(context.Context, *upgrade.State) error {
			ran[name]++
			if name == "c" && failC.Load() {
				return errors.New("c failed")
			}
			return nil
		})
	}
	execute := func(f cli.Flags) (int, string, string) {
		f.Journal = journal
		p := upgrade.NewPlan("p", step("a"), step("b"), step("c")).PointOfNoReturn("b")
		var out, errs bytes.Buffer
		code, err := cli.Execute(ctx, &f, cli.Run{Name: "x", Plan: p, NoReturn: "b", ResumeHint: true,
			Options:   []upgrade.Option{upgrade.WithJournal(upgrade.NewFileStore(journal))},
			LockHosts: lockHosts, LockDir: lockDir}, &out, &errs)
		if err != nil {
			fmt.Fprintf(&errs, "x: %v\n", err)
		}
		return code, out.String(), errs.String()
	}

	code, _, stderr := execute(cli.Flags{})
	require.Equal(t, cli.ExitResume, code, stderr)
	require.NoError(t, os.Remove(journal), "the journal is lost")
	failC.Store(false)

	code, _, stderr = execute(cli.Flags{})
	assert.Equal(t, cli.ExitResume, code, stderr)
	assert.Contains(t, stderr, "the cluster records a run in flight")
	assert.Contains(t, stderr, "--rebuild-journal")
	assert.Equal(t, 1, ran["a"], "nothing ran again")
	_, err = os.Stat(journal)
	require.ErrorIs(t, err, os.ErrNotExist, "the refused run wrote no journal")

	code, stdout, stderr := execute(cli.Flags{Rebuild: true})
	require.Equal(t, cli.ExitOK, code, stderr)
	assert.Contains(t, stdout, "rebuilt from the record at")

	code, _, stderr = execute(cli.Flags{Resume: true})
	require.Equal(t, cli.ExitOK, code, stderr)
	assert.Equal(t, map[string]int{"a": 1, "b": 1, "c": 2}, ran)
}

// Without a journal and with no leader to ask (the cluster stopped), the
// cluster's record of the run in flight says which front-end its plan
// called the leader.
func TestLeaderFromCluster(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	lt, err := local.New()
	require.NoError(t, err)
	t.Cleanup(func() { _ = lt.Close() })
	hosts := []transport.Transport{lt}
	dir := filepath.Join(t.TempDir(), "lock")
	z := ha.Zone{Frontends: []ha.Frontend{{Name: "fe1"}, {Name: "fe2"}}}
	build := func(leader string) (*upgrade.Plan, error) {
		return upgrade.NewPlan("p-"+leader, upgrade.Func("a", nil)), nil
	}
	var f cli.Flags
	_, ok, err := f.LeaderFromCluster(ctx, hosts, dir, z, build)
	require.NoError(t, err)
	assert.False(t, ok, "no run recorded")

	lock, err := f.Lock(ctx, nil, hosts, dir)
	require.NoError(t, err)
	p, _ := build("fe2")
	require.NoError(t, lock.WriteRecord(ctx, upgrade.RunRecord{Run: "r", Fingerprint: p.Fingerprint()}))
	l, ok, err := f.LeaderFromCluster(ctx, hosts, dir, z, build)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "fe2", l)
}
