// Command rolling-upgrade upgrades an OpenNebula HA cluster without
// stopping it as a whole, with package upgrade/rolling:
//
//   - --mode rolling (default): the rolling patch upgrade, one front-end at
//     a time, the leader last after a leadership handoff (3 or more
//     front-ends; patch releases only);
//   - --mode rejoin: the break-and-rejoin minor upgrade: the followers
//     leave the zone, the leader is upgraded alone, the followers are
//     re-seeded from it and added back.
//
// It prints the plan, runs it with a live progress display (or JSON
// events), and prints the report with per-step timings and the downtime
// windows.
//
//	go run ./examples/rolling-upgrade                      # simulated 3-node cluster, 7.4.0 → 7.4.1
//	go run ./examples/rolling-upgrade --mode rejoin        # simulated, 7.2.0 → 7.4.1
//	go run ./examples/rolling-upgrade --dry-run
//	go run ./examples/rolling-upgrade --inventory cloud.yaml --mode rejoin
//	go run ./examples/rolling-upgrade --inventory cloud.yaml --mode rejoin --resume
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
	"github.com/upgradekit/upgradekit/upgrade/rolling"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

type options struct {
	cli.Flags
	mode    string
	fsck    string
	noStage bool
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rolling-upgrade", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	o.Register(fs, "rolling-upgrade.journal")
	fs.StringVar(&o.mode, "mode", "rolling", "`procedure`: rolling (patch releases, 3+ front-ends) or rejoin (break-and-rejoin, minor releases)")
	fs.StringVar(&o.fsck, "fsck", "deferred", "rejoin: when the upgraded database is checked: deferred (onedb fsck --dry before and after the outage) or in-window")
	fs.BoolVar(&o.noStage, "no-stage", false, "rejoin: stop the leader before installing its packages (the guides' order; a longer outage)")
	if err := fs.Parse(args); err != nil {
		return cli.ExitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "rolling-upgrade: unexpected arguments %q\n", fs.Args())
		return cli.ExitUsage
	}
	if err := o.check(); err != nil {
		fmt.Fprintln(stderr, "rolling-upgrade:", err)
		return cli.ExitUsage
	}
	code, err := upgradeZone(ctx, &o, stdout, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "rolling-upgrade:", err)
	}
	return code
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
		simul, inv, hosts = s, s.Inventory, s.Hosts
		planOpts = append(planOpts, rolling.WithShared(s.PlanOptions...))
		runOpts = append(runOpts, s.RunnerOptions...)
		info := stdout
		if o.JSON {
			info = stderr
		}
		fmt.Fprintf(info, "simulated cloud: front-ends %v at %s, hypervisors %v; target %s (%s)\n\n",
			s.Cloud.Frontends(), from, s.Cloud.Hypervisors(), inv.Target, o.mode)
	} else {
		file, err := cli.LoadFile(o.Inventory)
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
		planOpts = append(planOpts, rolling.WithSudo(file.Sudo()))
		runOpts = append(runOpts, upgrade.WithHosts(hosts), upgrade.WithJournal(upgrade.NewFileStore(o.Journal)))
		if o.Leader == "" && len(file.Zones) == 1 {
			o.Leader = file.Zones[0].Leader
		}
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
	if !o.JSON {
		cli.PrintPlan(stdout, plan, noReturn)
	}
	var rec *upgrade.Recorder
	if o.DryRun {
		rec = upgrade.NewRecorder()
		runOpts = append(runOpts, upgrade.WithDryRun(rec))
	} else if !o.Simulate {
		lock, err := o.HostLock(ctx, hosts[leader], "/var/lock/upgradekit-ha")
		if err != nil {
			return cli.ExitFailed, err
		}
		runOpts = append(runOpts, upgrade.WithLocker(lock))
	}
	runOpts = append(runOpts, upgrade.WithObserver(o.Observer(stdout)))
	r, err := upgrade.NewRunner(plan, runOpts...)
	if err != nil {
		return cli.ExitCode(err), err
	}
	rep, runErr := r.Run(ctx)
	if o.JSON {
		if err := rep.WriteJSON(stdout); err != nil {
			return cli.ExitFailed, err
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
		if o.mode == "rejoin" && runErr == nil && !o.DryRun {
			fmt.Fprintln(stdout, "note: the re-added followers have new server IDs (see `onezone show`): update the inventory's server_id")
		}
	}
	code := cli.ExitCode(runErr)
	switch {
	case runErr == nil:
	case errors.Is(runErr, rolling.ErrTooFewNodes), errors.Is(runErr, rolling.ErrNotRolling):
		fmt.Fprintln(stderr, "rolling-upgrade: use --mode rejoin or examples/ha-upgrade")
	case code == cli.ExitResume:
		fmt.Fprintf(stderr, "rolling-upgrade: fix the cause, then run again with --resume --journal %s\n", o.Journal)
	}
	return code, runErr
}
