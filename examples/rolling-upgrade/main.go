package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/upgradekit/upgradekit/examples/internal/cli"
	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/upgrade"
	"github.com/upgradekit/upgradekit/upgrade/rolling"
)

func main() { cli.Main(run) }

type options struct {
	cli.Flags
	mode    string
	fsck    string
	noStage bool
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := cli.NewFlagSet("rolling-upgrade", stderr)
	var o options
	o.Register(fs, "rolling-upgrade.journal")
	fs.StringVar(&o.mode, "mode", "rolling", "`procedure`: rolling (patch releases, 3+ front-ends) or rejoin (break-and-rejoin, minor releases)")
	fs.StringVar(&o.fsck, "fsck", "deferred", "rejoin: when the upgraded database is checked: deferred (onedb fsck --dry before and after the outage) or in-window")
	fs.BoolVar(&o.noStage, "no-stage", false, "rejoin: stop the leader before installing its packages (the guides' order; a longer outage)")
	if !cli.Parse(fs, args, o.check) {
		return cli.ExitUsage
	}
	code, err := upgradeZone(ctx, &o, stdout, stderr)
	return cli.Exit(fs, code, err)
}

func (o *options) check() error {
	if err := o.Check(); err != nil {
		return err
	}
	switch o.mode {
	case "rolling", "rejoin":
	default:
		return fmt.Errorf("%w: --mode %q: want rolling or rejoin", cli.ErrUsage, o.mode)
	}
	switch o.fsck {
	case "deferred", "in-window":
	default:
		return fmt.Errorf("%w: --fsck %q: want deferred or in-window", cli.ErrUsage, o.fsck)
	}
	return nil
}

func (o *options) plan(inv rolling.Inventory, opts []rolling.Option) (*upgrade.Plan, string, error) {
	if o.mode == "rolling" {
		p, err := rolling.Plan(inv, opts...)
		return p, "", err
	}
	fsck := rolling.FsckDeferred
	if o.fsck == "in-window" {
		fsck = rolling.FsckInWindow
	}
	opts = append(opts, rolling.WithFsck(fsck), rolling.WithStagedLeader(!o.noStage))
	p, err := rolling.RejoinPlan(inv, opts...)
	return p, rolling.RejoinNoReturn, err
}

func upgradeZone(ctx context.Context, o *options, stdout, stderr io.Writer) (int, error) {
	var (
		inv      rolling.Inventory
		hosts    map[string]transport.Transport
		planOpts = []rolling.Option{rolling.WithShared(o.PlanOptions()...)}
		runOpts  []upgrade.Option
		simul    *cli.Simulation
	)
	if o.Simulate {
		from := "7.4.0"
		if o.mode == "rejoin" {
			from = "7.2.0"
		}
		s, err := cli.Simulate(3, from, "7.4.1")
		if err != nil {
			return cli.ExitFailed, err
		}
		simul, inv, hosts, runOpts = s, s.Inventory, s.Hosts, s.RunnerOptions
		planOpts = append(planOpts, rolling.WithShared(s.PlanOptions...))
		fmt.Fprintf(o.Info(stdout, stderr), "simulated cloud: front-ends %v at %s, hypervisors %v; target %s (%s)\n\n",
			s.Cloud.Frontends(), from, s.Cloud.Hypervisors(), inv.Target, o.mode)
	} else {
		c, err := o.Open(cli.OneZone)
		if err != nil {
			return cli.ExitUsage, err
		}
		defer c.Close()
		inv, hosts, runOpts = c.Inventory, c.Hosts, c.RunnerOptions
		planOpts = append(planOpts, rolling.WithSudo(c.File.Sudo()))
	}
	leader := o.Leader
	if leader == "" {
		l, err := cli.FindLeader(ctx, inv.Zones[0], hosts)
		if err != nil && !o.Resume {
			return cli.ExitFailed, err
		}
		if err != nil {
			l = inv.Zones[0].Frontends[0].Name
		}
		leader = l
	}
	planOpts = append(planOpts, rolling.WithLeader(leader))
	plan, noReturn, err := o.plan(inv, planOpts)
	if err != nil {
		return cli.ExitCode(err), err
	}
	r := cli.Run{
		Name: "rolling-upgrade", Plan: plan, NoReturn: noReturn, Options: runOpts, ResumeHint: true,
		Summary: func(w io.Writer, runErr error) {
			if o.JSON {
				return
			}
			if simul != nil {
				simul.PrintDowntime(w)
			}
			if o.mode == "rejoin" && runErr == nil && !o.DryRun {
				fmt.Fprintln(w, "note: onezone server-add gave the re-added followers their server IDs again (the zone's highest + 1 at each add; see `onezone show`): check the inventory's server_id")
			}
		},
		Advice: func(runErr error) string {
			if errors.Is(runErr, rolling.ErrTooFewNodes) || errors.Is(runErr, rolling.ErrNotRolling) {
				return "use --mode rejoin or examples/ha-upgrade"
			}
			return ""
		},
	}
	if !o.Simulate {
		r.LockHosts, r.LockDir = cli.FrontendHosts(inv, hosts), "/var/lock/upgradekit-ha"
	}
	return cli.Execute(ctx, &o.Flags, r, stdout, stderr)
}
