package main

import (
	"context"
	"fmt"
	"io"

	"github.com/upgradekit/upgradekit/examples/internal/cli"
	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/upgrade"
	"github.com/upgradekit/upgradekit/upgrade/ha"
	"github.com/upgradekit/upgradekit/upgrade/hypervisors"
)

func main() { cli.Main(run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := cli.NewFlagSet("ha-upgrade", stderr)
	var f cli.Flags
	f.Register(fs, "ha-upgrade.journal")
	hvOnly := fs.Bool("hypervisors-only", false, "upgrade only the hypervisors (the front-ends are already at the target)")
	if !cli.Parse(fs, args, f.Check) {
		return cli.ExitUsage
	}
	code, err := upgradeHA(ctx, &f, *hvOnly, stdout, stderr)
	return cli.Exit(fs, code, err)
}

func upgradeHA(ctx context.Context, f *cli.Flags, hvOnly bool, stdout, stderr io.Writer) (int, error) {
	var (
		inv      ha.Inventory
		hosts    map[string]transport.Transport
		planOpts = f.PlanOptions()
		runOpts  []upgrade.Option
		summary  func(io.Writer, error)
	)
	if f.Simulate {
		s, err := cli.Simulate(3, "7.2.0", "7.4.1")
		if err != nil {
			return cli.ExitFailed, err
		}
		inv, hosts = s.Inventory, s.Hosts
		planOpts = append(planOpts, s.PlanOptions...)
		runOpts = s.RunnerOptions
		fmt.Fprintf(f.Info(stdout, stderr), "simulated cloud: front-ends %v at 7.2.0, hypervisors %v; target %s\n\n",
			s.Cloud.Frontends(), s.Cloud.Hypervisors(), inv.Target)
		summary = func(w io.Writer, _ error) {
			if !f.JSON {
				s.PrintDowntime(w)
			}
		}
	} else {
		c, err := f.Open(cli.OneZone)
		if err != nil {
			return cli.ExitUsage, err
		}
		defer c.Close()
		inv, hosts, runOpts = c.Inventory, c.Hosts, c.RunnerOptions
		planOpts = append(planOpts, ha.WithSudo(c.File.Sudo()))
		if c.File.SSH.CLIUser != "" {
			planOpts = append(planOpts, ha.WithCLIUser(c.File.SSH.CLIUser))
		}
	}
	z := inv.Zones[0]
	leader := f.Leader
	const lockDir = "/var/lock/upgradekit-ha"
	if leader == "" {
		l, err := cli.FindLeader(ctx, z, hosts)
		build := func(name string) (*upgrade.Plan, error) {
			if hvOnly {
				return hypervisors.Plan(inv, append(planOpts, ha.WithLeader(name))...)
			}
			return ha.Plan(inv, append(planOpts, ha.WithLeader(name))...)
		}
		switch {
		case err != nil && f.Resume:
			// A resumed cluster may be stopped: no leader to ask. The
			// journal's plan fingerprint says which leader the run used.
			l, err = cli.LeaderFromJournal(f.Journal, z, build)
		case err != nil && !f.Simulate:
			// Without a journal, the cluster's record of a run in
			// flight says it (the run is then refused, or its journal
			// rebuilt with --rebuild-journal).
			if rl, ok, rerr := f.LeaderFromCluster(ctx, cli.FrontendHosts(inv, hosts), lockDir, z, build); rerr == nil && ok {
				l, err = rl, nil
			}
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
	return cli.Execute(ctx, f, cli.Run{
		Name: "ha-upgrade", Plan: plan, NoReturn: noReturn, Options: runOpts,
		LockHosts: cli.FrontendHosts(inv, hosts), LockDir: lockDir, RecordJSON: true,
		Summary: summary, NothingToDo: ha.ErrNothingToDo, ResumeHint: true,
	}, stdout, stderr)
}
