// Command ha-upgrade upgrades an OpenNebula HA cluster (or a single
// front-end) with the procedure of package upgrade/ha: it prints the plan,
// runs it with a live progress display (or JSON events), and prints the
// report with per-step timings and the downtime window.
//
//	go run ./examples/ha-upgrade                       # simulated 3-node cluster, 7.2.0 → 7.4.1
//	go run ./examples/ha-upgrade --dry-run             # what would run, nothing changed
//	go run ./examples/ha-upgrade --inventory cloud.yaml
//	go run ./examples/ha-upgrade --inventory cloud.yaml --resume
//	go run ./examples/ha-upgrade --hypervisors-only     # hosts only, in batches with a canary
//
// Exit codes: 0 done, 1 failed (nothing changed or rolled back), 2 usage,
// 3 failed past the point of no return: fix the cause and run again with
// --resume.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/upgradekit/upgradekit/examples/internal/cli"
	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/upgrade"
	"github.com/upgradekit/upgradekit/upgrade/ha"
	"github.com/upgradekit/upgradekit/upgrade/hypervisors"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ha-upgrade", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f cli.Flags
	f.Register(fs, "ha-upgrade.journal")
	hvOnly := fs.Bool("hypervisors-only", false, "upgrade only the hypervisors (the front-ends are already at the target)")
	if err := fs.Parse(args); err != nil {
		return cli.ExitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "ha-upgrade: unexpected arguments %q\n", fs.Args())
		return cli.ExitUsage
	}
	if err := f.Check(); err != nil {
		fmt.Fprintln(stderr, "ha-upgrade:", err)
		return cli.ExitUsage
	}
	code, err := upgradeHA(ctx, &f, *hvOnly, stdout, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "ha-upgrade:", err)
	}
	return code
}

func upgradeHA(ctx context.Context, f *cli.Flags, hvOnly bool, stdout, stderr io.Writer) (int, error) {
	var (
		inv      ha.Inventory
		hosts    map[string]transport.Transport
		planOpts = f.PlanOptions()
		runOpts  []upgrade.Option
		simul    *cli.Simulation
	)
	if f.Simulate {
		s, err := cli.Simulate(3, "7.2.0", "7.4.1")
		if err != nil {
			return cli.ExitFailed, err
		}
		simul, inv, hosts = s, s.Inventory, s.Hosts
		planOpts = append(planOpts, s.PlanOptions...)
		runOpts = append(runOpts, s.RunnerOptions...)
		info := stdout
		if f.JSON {
			info = stderr
		}
		fmt.Fprintf(info, "simulated cloud: front-ends %v at 7.2.0, hypervisors %v; target %s\n\n",
			s.Cloud.Frontends(), s.Cloud.Hypervisors(), inv.Target)
	} else {
		file, err := cli.LoadFile(f.Inventory)
		if err != nil {
			return cli.ExitUsage, err
		}
		if inv, err = file.Inventory(); err != nil {
			return cli.ExitUsage, err
		}
		if len(inv.Zones) != 1 {
			return cli.ExitUsage, fmt.Errorf("the inventory must have exactly one zone, it has %d", len(inv.Zones))
		}
		h, pool, err := cli.SSHHosts(file, inv)
		if err != nil {
			return cli.ExitUsage, err
		}
		defer pool.Close()
		hosts = h
		planOpts = append(planOpts, ha.WithSudo(file.Sudo()))
		if file.SSH.CLIUser != "" {
			planOpts = append(planOpts, ha.WithCLIUser(file.SSH.CLIUser))
		}
		runOpts = append(runOpts, upgrade.WithHosts(hosts), upgrade.WithJournal(upgrade.NewFileStore(f.Journal)))
		if f.Leader == "" && len(file.Zones) == 1 {
			f.Leader = file.Zones[0].Leader
		}
	}
	z := inv.Zones[0]
	leader := f.Leader
	if leader == "" {
		l, err := cli.FindLeader(ctx, z, hosts)
		if err != nil && f.Resume {
			// A resumed cluster may be stopped: no leader to ask. The
			// journal's plan fingerprint says which leader the run used.
			l, err = cli.LeaderFromJournal(f.Journal, z, func(name string) (*upgrade.Plan, error) {
				if hvOnly {
					return hypervisors.Plan(inv, append(planOpts, ha.WithLeader(name))...)
				}
				return ha.Plan(inv, append(planOpts, ha.WithLeader(name))...)
			})
		}
		if err != nil {
			return cli.ExitFailed, err
		}
		leader = l
	}
	planOpts = append(planOpts, ha.WithLeader(leader))
	build, noReturn := ha.Plan, ha.PointOfNoReturn
	if hvOnly {
		build, noReturn = hypervisors.Plan, ""
	}
	plan, err := build(inv, planOpts...)
	if err != nil {
		return cli.ExitCode(err), err
	}
	if !f.JSON {
		cli.PrintPlan(stdout, plan, noReturn)
	}

	var rec *upgrade.Recorder
	if f.DryRun {
		rec = upgrade.NewRecorder()
		runOpts = append(runOpts, upgrade.WithDryRun(rec))
	} else {
		lt := hosts[leader]
		lock, err := f.HostLock(ctx, lt, "/var/lock/upgradekit-ha")
		if err != nil {
			return cli.ExitFailed, err
		}
		runOpts = append(runOpts, upgrade.WithLocker(lock))
	}
	runOpts = append(runOpts, upgrade.WithObserver(f.Observer(stdout)))
	r, err := upgrade.NewRunner(plan, runOpts...)
	if err != nil {
		return cli.ExitCode(err), err
	}
	rep, runErr := r.Run(ctx)

	if f.JSON {
		if err := rep.WriteJSON(stdout); err != nil {
			return cli.ExitFailed, err
		}
		if rec != nil {
			if err := rec.WriteJSON(stdout); err != nil {
				return cli.ExitFailed, err
			}
		}
	} else {
		fmt.Fprintln(stdout)
		if err := rep.WriteText(stdout); err != nil {
			return cli.ExitFailed, err
		}
		if rec != nil {
			fmt.Fprintln(stdout, "\ncommands a real run would execute:")
			if err := rec.WriteText(stdout); err != nil {
				return cli.ExitFailed, err
			}
		}
		if simul != nil {
			fmt.Fprintf(stdout, "\nsimulator: API downtime %s, write downtime %s (virtual time)\n",
				simul.Cloud.APIDowntime(0), simul.Cloud.WriteDowntime(0))
		}
	}
	code := cli.ExitCode(runErr)
	switch {
	case runErr == nil:
	case errors.Is(runErr, ha.ErrNothingToDo):
		fmt.Fprintln(stderr, "ha-upgrade: nothing to do:", runErr)
		return code, nil
	case code == cli.ExitResume:
		fmt.Fprintf(stderr, "ha-upgrade: fix the cause, then run again with --resume --journal %s\n", f.Journal)
	}
	return code, runErr
}
