package proctest_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/upgrade"
	"github.com/upgradekit/upgradekit/upgrade/internal/proctest"
)

// ok answers every command with exit 0.
type ok struct{}

func (ok) Run(_ context.Context, c transport.Command) (transport.Result, error) {
	return transport.Result{Cmd: c.String()}, nil
}

func (ok) Close() error { return nil }

// An Injector fails the first mutating command of one step; read-only
// probes and the other steps are left alone.
func ExampleInjector() {
	in := proctest.NewInjector("install", proctest.FaultExit)
	hosts := in.Wrap(map[string]transport.Transport{"fe1": ok{}})
	step := func(name string) upgrade.Step {
		return upgrade.Func(name, func(ctx context.Context, s *upgrade.State) error {
			t, err := s.HostTransport("fe1")
			if err != nil {
				return err
			}
			if err := transport.Check(ctx, t, transport.Query("cat", "/etc/os-release")); err != nil {
				return err
			}
			return transport.Check(ctx, t, transport.Cmd("touch", "/tmp/"+name))
		})
	}
	plan := upgrade.NewPlan("demo", step("backup"), step("install"), step("start"))
	r, err := upgrade.NewRunner(plan, upgrade.WithHosts(hosts), upgrade.WithObserver(in.Observe))
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = r.Run(context.Background())
	pe, _ := errors.AsType[*upgrade.PartialError](err)
	ee, _ := errors.AsType[*transport.ExitError](err)
	fmt.Println("failed:", pe.Failed, "pending:", pe.Pending)
	fmt.Println("exit:", ee.Code)
	fired, host, cmd := in.Fired()
	fmt.Println(fired, host, cmd)
	// Output:
	// failed: [install] pending: [start]
	// exit: 1
	// true fe1 touch /tmp/install
}

// JournalProblems reads the journal of a run killed in a step and
// resumed: here the killed step ran again once, as its check allowed.
func ExampleJournalProblems() {
	rec := func(run, state, step, reason string) upgrade.Record {
		if step == "" {
			return upgrade.Record{Type: upgrade.RecordRun, Run: run, State: state}
		}
		return upgrade.Record{Type: upgrade.RecordStep, Run: run, Step: step, State: state, Reason: reason}
	}
	recs := []upgrade.Record{
		rec("r1", upgrade.StateStarted, "", ""),
		rec("r1", upgrade.StateInProgress, "stop", ""),
		rec("r1", upgrade.StateDone, "stop", ""),
		rec("r1", upgrade.StateInProgress, "packages", ""),
		// SIGKILL
		rec("r2", upgrade.StateStarted, "", ""),
		rec("r2", upgrade.StateInProgress, "packages", ""),
		rec("r2", upgrade.StateDone, "packages", ""),
		rec("r2", upgrade.StateFinished, "", ""),
	}
	rerun, confirmed, problems := proctest.JournalProblems(recs, "packages")
	fmt.Println(rerun, confirmed, problems)
	// Output: 1 0 []
}
