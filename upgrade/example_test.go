package upgrade_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/transport/fake"
	"github.com/upgradekit/upgradekit/upgrade"
)

// A two-step plan run dry: the read-only probe runs on the (fake) host,
// the mutating command is only recorded, and events show the progress.
func Example() {
	fe1 := fake.New("fe1")
	fe1.Expect(fake.Exact("onedb", "version", "-v")).Reply("6.8.0\n")

	version := upgrade.NewKey[string]("version")
	plan := upgrade.NewPlan("upgrade-frontend",
		upgrade.Func("read-version", func(ctx context.Context, s *upgrade.State) error {
			t, err := s.HostTransport("fe1")
			if err != nil {
				return err
			}
			out, err := transport.Output(ctx, t, transport.Query("onedb", "version", "-v"))
			if err != nil {
				return err
			}
			return version.Set(s, string(out[:len(out)-1]))
		}),
		upgrade.Func("stop-oned", func(ctx context.Context, s *upgrade.State) error {
			v, _ := version.Get(s)
			s.Output("note", "stopping oned "+v)
			t, err := s.HostTransport("fe1")
			if err != nil {
				return err
			}
			if err := transport.Check(ctx, t, transport.Cmd("systemctl", "stop", "opennebula").AsRoot()); err != nil {
				return err
			}
			return s.ServiceDown("oned")
		}).Describing("stop the OpenNebula daemon"),
	)

	rec := upgrade.NewRecorder()
	// A fixed clock keeps the output stable.
	clock := func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }
	runner, err := upgrade.NewRunner(plan,
		upgrade.WithHosts(map[string]transport.Transport{"fe1": fe1}),
		upgrade.WithDryRun(rec),
		upgrade.WithClock(clock),
		upgrade.WithObserver(func(e upgrade.Event) {
			switch e.Kind {
			case upgrade.EventStepStarted:
				fmt.Printf("step %d/%d %s\n", e.Index, e.Total, e.Step)
			case upgrade.EventOutput:
				fmt.Printf("  %s\n", e.Line)
			case upgrade.EventDryRunCommand:
				fmt.Printf("  would run on %s: %s\n", e.Host, e.Cmd)
			case upgrade.EventServiceDown:
				fmt.Printf("  %s down\n", e.Service)
			}
		}))
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := runner.Run(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("--- dry run:")
	_ = rec.WriteText(os.Stdout)
	// Output:
	// step 1/2 read-version
	// step 2/2 stop-oned
	//   stopping oned 6.8.0
	//   would run on fe1: sudo -n -- systemctl stop opennebula
	//   oned down
	// --- dry run:
	// intent:
	//   stop-oned: stop the OpenNebula daemon
	// host fe1:
	//     1 run       onedb version -v  [read-version]
	//     2 would run sudo -n -- systemctl stop opennebula  [stop-oned]
}

// The console renderer prints plain-text progress.
func ExampleConsole() {
	clock := func() func() time.Time {
		t := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		return func() time.Time { t = t.Add(100 * time.Millisecond); return t }
	}()
	hosts := map[string]transport.Transport{"n1": fake.New("n1"), "n2": fake.New("n2")}
	plan := upgrade.NewPlan("rolling",
		upgrade.Func("backup", nil),
		upgrade.PerHost("nodes", []string{"n1", "n2"}, func(h string) upgrade.Node {
			return upgrade.Func("upgrade", nil)
		}).WithParallel(upgrade.ParallelPolicy{Concurrency: 1}),
	)
	r, _ := upgrade.NewRunner(plan, upgrade.WithHosts(hosts), upgrade.WithClock(clock),
		upgrade.WithObserver(upgrade.NewConsole(os.Stdout).Observe))
	_, _ = r.Run(context.Background())
	// Output:
	// [      0s] plan rolling: 2 steps
	// [   500ms] (1/2) backup: started
	// [   800ms] (1/2) backup: done in 200ms
	// [      1s] (2/2) nodes: started on 2 hosts
	// [    1.2s] nodes: n1 started (0/2 done, 1 running)
	// [    1.5s] nodes/n1/upgrade on n1: started
	// [    1.8s] nodes/n1/upgrade on n1: done in 200ms
	// [      2s] nodes: n1 done in 800ms (1/2 done)
	// [    2.2s] nodes: n2 started (1/2 done, 1 running)
	// [    2.5s] nodes/n2/upgrade on n2: started
	// [    2.8s] nodes/n2/upgrade on n2: done in 200ms
	// [      3s] nodes: n2 done in 800ms (2/2 done)
	// [    3.2s] (2/2) nodes: done in 2.2s (2/2 done)
	// [    3.5s] plan done in 3.5s
}
