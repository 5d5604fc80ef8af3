package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/upgradekit/upgradekit/examples/internal/cli"
	"github.com/upgradekit/upgradekit/openstack"
	"github.com/upgradekit/upgradekit/system"
	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/upgrade"
	"github.com/upgradekit/upgradekit/upgrade/controlplane"
)

func main() { cli.Main(run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := cli.NewFlagSet("openstack-upgrade", stderr)
	var f cli.Flags
	fs.StringVar(&f.Inventory, "inventory", "", "inventory `file` (YAML); without it the embedded simulated control plane is upgraded")
	fs.BoolVar(&f.Simulate, "simulate", false, "upgrade the embedded simulated control plane (Zed to 2023.1 Antelope); the default without --inventory")
	fs.BoolVar(&f.DryRun, "dry-run", false, "run read-only probes, print every command a real run would execute, change nothing")
	fs.BoolVar(&f.Resume, "resume", false, "resume the run recorded in the journal")
	fs.StringVar(&f.Journal, "journal", "openstack-upgrade.journal", "journal `path` (write-ahead log used by --resume)")
	fs.BoolVar(&f.JSON, "json", false, "write events and the report as JSON lines instead of text")
	fs.BoolVar(&f.Output, "output", false, "show the steps' output lines in the progress display")
	fs.IntVar(&f.Concurrency, "concurrency", 5, "computes upgraded at once")
	fs.BoolVar(&f.NoCanary, "no-canary", false, "do not upgrade the first compute alone first")
	fs.IntVar(&f.Budget, "failure-budget", 1, "compute failures after which no new one starts")
	check := func() error {
		if err := f.Check(); err != nil {
			return err
		}
		if f.Budget < 1 {
			return fmt.Errorf("%w: --failure-budget must be at least 1", cli.ErrUsage)
		}
		return nil
	}
	if !cli.Parse(fs, args, check) {
		return cli.ExitUsage
	}
	code, err := upgradeControlPlane(ctx, &f, stdout, stderr)
	return cli.Exit(fs, code, err)
}

func exitCode(err error) int {
	if errors.Is(err, controlplane.ErrInvalidInventory) {
		return cli.ExitUsage
	}
	return cli.ExitCode(err)
}

func upgradeControlPlane(ctx context.Context, f *cli.Flags, stdout, stderr io.Writer) (int, error) {
	var (
		inv      controlplane.Inventory
		hosts    map[string]transport.Transport
		runOpts  []upgrade.Option
		simul    *cli.OpenStackSimulation
		planOpts = []controlplane.Option{
			controlplane.WithComputeBatch(f.Concurrency), controlplane.WithCanary(!f.NoCanary), controlplane.WithFailureBudget(f.Budget),
		}
	)
	info := f.Info(stdout, stderr)
	if f.Simulate {
		s, err := cli.SimulateOpenStack()
		if err != nil {
			return cli.ExitFailed, err
		}
		simul, inv, hosts = s, s.Inventory, s.Hosts
		runOpts = append(runOpts, s.RunnerOptions...)
		rels := s.Cloud.Releases()
		fmt.Fprintf(info, "simulated control plane: controllers %v, network %v, computes %v at %s; target %s\n\n",
			inv.Controllers, inv.Networks, inv.Computes, rels[0].Series, rels[len(rels)-1].Series)
	} else {
		file, err := cli.LoadOpenStackFile(f.Inventory)
		if err != nil {
			return cli.ExitUsage, err
		}
		if inv, err = file.Inventory(); err != nil {
			return cli.ExitUsage, err
		}
		h, pool, err := cli.OpenStackSSHHosts(file)
		if err != nil {
			return cli.ExitUsage, err
		}
		defer pool.Close()
		hosts = h
		sys, err := system.New(system.WithSudo(file.Sudo()))
		if err != nil {
			return cli.ExitFailed, err
		}
		planOpts = append(planOpts, controlplane.WithSystem(sys))
		if file.Sudo() {
			planOpts = append(planOpts, controlplane.WithToolOptions(openstack.WithSudo()))
		}
		planOpts = append(planOpts, controlplane.WithToolOptions(file.ToolOptions()...))
		runOpts = append(runOpts, upgrade.WithHosts(hosts), upgrade.WithJournal(upgrade.NewFileStore(f.Journal)),
			upgrade.WithRemoteMarks(cli.RemoteMarks, 5*time.Second))
	}
	plan, err := controlplane.Plan(inv, planOpts...)
	if err != nil {
		return exitCode(err), err
	}
	r := cli.Run{
		Name: "openstack-upgrade", Plan: plan, NoReturn: controlplane.ContractStep, Options: runOpts,
		RecordJSON: true, ExitCode: exitCode, ResumeHint: simul == nil,
		Summary: func(info io.Writer, _ error) {
			if simul != nil && !f.DryRun {
				simul.PrintDowntime(info)
			}
		},
	}
	if simul == nil {
		for _, c := range inv.Controllers {
			r.LockHosts = append(r.LockHosts, hosts[c])
		}
		r.LockDir = "/var/lock/upgradekit-controlplane"
	}
	return cli.Execute(ctx, f, r, stdout, stderr)
}
