package proctest_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/sim"
	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/upgrade"
	"github.com/upgradekit/upgradekit/upgrade/internal/proctest"
)

// counting answers exit 0 and counts the commands that reached it.
type counting struct {
	mu   sync.Mutex
	cmds []string
}

func (c *counting) Run(_ context.Context, cmd transport.Command) (transport.Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cmds = append(c.cmds, cmd.String())
	return transport.Result{Cmd: cmd.String()}, nil
}

func (c *counting) Close() error { return nil }

func TestStepOfOutsideAStep(t *testing.T) {
	t.Parallel()
	assert.Empty(t, proctest.StepOf(context.Background()))
}

func TestInjector(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		kind     proctest.FaultKind
		attempts int // the step retries its command
		check    func(t *testing.T, err error)
	}{
		{name: "exit", kind: proctest.FaultExit, attempts: 1, check: func(t *testing.T, err error) {
			ee, ok := errors.AsType[*transport.ExitError](err)
			require.True(t, ok, "%v", err)
			assert.Contains(t, string(ee.Stderr), proctest.InjectedStderr)
		}},
		{name: "connection lost", kind: proctest.FaultConnectionLost, attempts: 1, check: func(t *testing.T, err error) {
			cl, ok := errors.AsType[*transport.ConnectionLostError](err)
			require.True(t, ok, "%v", err)
			assert.False(t, cl.Started)
			assert.ErrorIs(t, err, proctest.ErrInjected)
		}},
		{name: "a retry fails again", kind: proctest.FaultExit, attempts: 3, check: func(t *testing.T, err error) {
			assert.ErrorContains(t, err, proctest.InjectedStderr)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			base := &counting{}
			in := proctest.NewInjector("b", tt.kind)
			step := func(name string) upgrade.Step {
				return upgrade.Func(name, func(ctx context.Context, s *upgrade.State) error {
					tr, err := s.HostTransport("h")
					if err != nil {
						return err
					}
					for i := 0; ; i++ {
						err = transport.Check(ctx, tr, transport.Cmd("touch", name))
						if err == nil || i+1 >= tt.attempts {
							return err
						}
					}
				}).RollbackWith(func(ctx context.Context, s *upgrade.State) error {
					tr, err := s.HostTransport("h")
					if err != nil {
						return err
					}
					return transport.Check(ctx, tr, transport.Cmd("rm", name))
				})
			}
			r, err := upgrade.NewRunner(upgrade.NewPlan("p", step("a"), step("b"), step("c")),
				upgrade.WithHosts(in.Wrap(map[string]transport.Transport{"h": base})), upgrade.WithObserver(in.Observe))
			require.NoError(t, err)
			_, err = r.Run(context.Background())
			pe, ok := errors.AsType[*upgrade.PartialError](err)
			require.True(t, ok, "%v", err)
			assert.Equal(t, []string{"b"}, pe.Failed)
			require.NoError(t, pe.RollbackErr, "the injector is disarmed during rollback")
			tt.check(t, err)
			fired, host, cmd := in.Fired()
			assert.True(t, fired)
			assert.Equal(t, "h", host)
			assert.Equal(t, "touch b", cmd)
			assert.Equal(t, []string{"touch a", "rm b", "rm a"}, base.cmds, "the faulted commands never reached the host")
		})
	}
}

func TestJournalProblems(t *testing.T) {
	t.Parallel()
	step := func(run, name, state, reason string) upgrade.Record {
		return upgrade.Record{Type: upgrade.RecordStep, Run: run, Step: name, State: state, Reason: reason}
	}
	end := func(run, state string) upgrade.Record {
		return upgrade.Record{Type: upgrade.RecordRun, Run: run, State: state}
	}
	killed := []upgrade.Record{
		step("r1", "a", upgrade.StateInProgress, ""), step("r1", "a", upgrade.StateDone, ""),
		step("r1", "s", upgrade.StateInProgress, ""), step("r1", "s", upgrade.StateSkipped, "not needed"),
		step("r1", "b", upgrade.StateInProgress, ""),
	}
	tests := []struct {
		name    string
		resumed []upgrade.Record
		want    string // a problem containing this; "" for none
		rerun   int
		conf    int
	}{
		{name: "re-run", resumed: []upgrade.Record{step("r2", "b", upgrade.StateInProgress, ""), step("r2", "b", upgrade.StateDone, ""), end("r2", upgrade.StateFinished)}, rerun: 1},
		{name: "confirmed", resumed: []upgrade.Record{step("r2", "b", upgrade.StateDone, "confirmed done by check"), end("r2", upgrade.StateFinished)}, conf: 1},
		{name: "done step ran again", resumed: []upgrade.Record{step("r2", "a", upgrade.StateInProgress, ""), step("r2", "a", upgrade.StateDone, ""),
			step("r2", "b", upgrade.StateDone, "confirmed done by check"), end("r2", upgrade.StateFinished)}, want: "a was done before the kill", conf: 1},
		{name: "resume unfinished", resumed: []upgrade.Record{step("r2", "b", upgrade.StateInProgress, "")}, want: "did not finish", rerun: 1},
		{name: "self-skipped step skips again", resumed: []upgrade.Record{step("r2", "s", upgrade.StateInProgress, ""), step("r2", "s", upgrade.StateSkipped, "not needed"),
			step("r2", "b", upgrade.StateInProgress, ""), step("r2", "b", upgrade.StateDone, ""), end("r2", upgrade.StateFinished)}, rerun: 1},
		{name: "skipped step confirmed by its check", resumed: []upgrade.Record{step("r2", "s", upgrade.StateSkipped, "already done (check)"),
			step("r2", "b", upgrade.StateInProgress, ""), step("r2", "b", upgrade.StateDone, ""), end("r2", upgrade.StateFinished)}, rerun: 1},
		{name: "self-skipped step ran on resume", resumed: []upgrade.Record{step("r2", "s", upgrade.StateInProgress, ""), step("r2", "s", upgrade.StateDone, ""),
			step("r2", "b", upgrade.StateInProgress, ""), step("r2", "b", upgrade.StateDone, ""), end("r2", upgrade.StateFinished)}, want: "s was skipped before the kill", rerun: 1},
		{name: "marked done without check", resumed: []upgrade.Record{step("r2", "b", upgrade.StateDone, "marked done by the operator"), end("r2", upgrade.StateFinished)}, want: "b was in progress at the kill"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rerun, conf, problems := proctest.JournalProblems(append(append([]upgrade.Record(nil), killed...), tt.resumed...), "b")
			assert.Equal(t, tt.rerun, rerun)
			assert.Equal(t, tt.conf, conf)
			if tt.want == "" {
				assert.Empty(t, problems)
				return
			}
			assert.Contains(t, strings.Join(problems, "\n"), tt.want)
		})
	}
	_, _, problems := proctest.JournalProblems(killed, "b")
	assert.Contains(t, strings.Join(problems, "\n"), "1 runs in the journal")
}

// A frozen Persister saves the cloud, and a reloaded copy has the same
// snapshot; InSync finds the leader.
func TestPersisterRoundTrip(t *testing.T) {
	t.Parallel()
	c, err := sim.HA(3, "7.2.0")
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "cloud.json")
	require.NoError(t, proctest.NewPersister(c, path).Freeze())
	c2, err := proctest.LoadCloud(path)
	require.NoError(t, err)
	a, err := proctest.Take(c)
	require.NoError(t, err)
	b, err := proctest.Take(c2)
	require.NoError(t, err)
	assert.Equal(t, a, b)
	assert.Empty(t, proctest.RollbackProblems(a, b))
	leaders, err := proctest.InSync(context.Background(), c2)
	require.NoError(t, err)
	assert.Equal(t, map[int]string{0: "fe1"}, leaders)
	assert.Len(t, a.Rows["fe1"]["vm_pool"], 3)
}
