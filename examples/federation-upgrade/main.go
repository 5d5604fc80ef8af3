package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/upgradekit/upgradekit/examples/internal/cli"
	"github.com/upgradekit/upgradekit/host"
	"github.com/upgradekit/upgradekit/onedconf"
	"github.com/upgradekit/upgradekit/sim"
	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/upgrade"
	"github.com/upgradekit/upgradekit/upgrade/federation"
	"github.com/upgradekit/upgradekit/zone"
)

func main() { cli.Main(run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := cli.NewFlagSet("federation-upgrade", stderr)
	var f cli.Flags
	f.Register(fs, "federation-upgrade.journal")
	check := func() error {
		if err := f.Check(); err != nil {
			return err
		}
		if f.Leader != "" {
			return errors.New("--leader: give each zone's leader in the inventory (zones[].leader)")
		}
		return nil
	}
	if !cli.Parse(fs, args, check) {
		return cli.ExitUsage
	}
	code, err := upgradeFederation(ctx, &f, stdout, stderr)
	return cli.Exit(fs, code, err)
}

func upgradeFederation(ctx context.Context, f *cli.Flags, stdout, stderr io.Writer) (int, error) {
	var (
		inv      federation.Inventory
		hosts    map[string]transport.Transport
		planOpts = []federation.Option{federation.WithShared(f.PlanOptions()...)}
		runOpts  []upgrade.Option
		cloud    *sim.Cloud
		leaders  = map[int]string{}
	)
	if f.Simulate {
		c, i, h, err := simulate(ctx, "7.2.0", "7.4.1")
		if err != nil {
			return cli.ExitFailed, err
		}
		cloud, inv, hosts = c, i, h
		planOpts = append(planOpts, federation.WithClock(c.Now), federation.WithTimer(c.Clock().NewTimer))
		runOpts = append(runOpts, upgrade.WithHosts(hosts), upgrade.WithClock(c.Now))
	} else {
		c, err := f.Open(nil)
		if err != nil {
			return cli.ExitUsage, err
		}
		defer c.Close()
		inv, hosts, runOpts = c.Inventory, c.Hosts, c.RunnerOptions
		planOpts = append(planOpts, federation.WithSudo(c.File.Sudo()))
		for _, z := range c.File.Zones {
			if z.Leader != "" {
				leaders[z.ID] = z.Leader
			}
		}
	}
	// Each zone's leader goes first: the plan upgrades it first and asks
	// it about its zone.
	for i, z := range inv.Zones {
		l, ok := leaders[z.ID]
		if !ok {
			found, err := cli.FindLeader(ctx, z, hosts)
			if err != nil && !f.Resume {
				return cli.ExitFailed, fmt.Errorf("zone %d: %w", z.ID, err)
			}
			l = found
		}
		inv.Zones[i] = leaderFirst(z, l)
	}
	if cloud != nil {
		info := f.Info(stdout, stderr)
		for _, z := range inv.Zones {
			fmt.Fprintf(info, "simulated zone %d %s: front-ends %v at 7.2.0, hypervisors %v\n", z.ID, z.Name, z.FrontendNames(), z.HypervisorNames())
		}
		fmt.Fprintf(info, "target %s\n\n", inv.Target)
	}
	plan, err := federation.Plan(inv, planOpts...)
	if err != nil {
		return cli.ExitCode(err), err
	}
	master := inv.Zones[0]
	r := cli.Run{
		Name: "federation-upgrade", Plan: plan, NoReturn: federation.PointOfNoReturn(master.ID), Options: runOpts,
		NothingToDo: federation.ErrNothingToDo, ResumeHint: true,
		Summary: func(w io.Writer, _ error) {
			if cloud == nil || f.JSON {
				return
			}
			for _, z := range inv.Zones {
				fmt.Fprintf(w, "simulator: zone %d API downtime %s, write downtime %s (virtual time)\n",
					z.ID, cloud.APIDowntime(z.ID), cloud.WriteDowntime(z.ID))
			}
		},
	}
	if !f.Simulate {
		r.LockHosts, r.LockDir = cli.FrontendHosts(inv, hosts), "/var/lock/upgradekit-federation"
	}
	return cli.Execute(ctx, f, r, stdout, stderr)
}

// leaderFirst moves front-end leader to the head of z's list.
func leaderFirst(z federation.Zone, leader string) federation.Zone {
	i := slices.IndexFunc(z.Frontends, func(fe federation.Frontend) bool { return fe.Name == leader })
	if i <= 0 {
		return z
	}
	fes := append([]federation.Frontend{z.Frontends[i]}, slices.Delete(slices.Clone(z.Frontends), i, i+1)...)
	z.Frontends = fes
	return z
}

// simulate builds the embedded federation (sim.Federation) and describes
// it as an inventory: zones and SERVER_IDs from each front-end's
// oned.conf, endpoints from `onezone list`, hypervisors from each zone's
// host pool.
func simulate(ctx context.Context, version, target string) (*sim.Cloud, federation.Inventory, map[string]transport.Transport, error) {
	c, err := sim.Federation(version)
	if err != nil {
		return nil, federation.Inventory{}, nil, err
	}
	hosts := c.Transports()
	byZone := map[int]*federation.Zone{}
	var masterFE string
	for _, n := range c.Frontends() {
		data, err := c.ReadFile(n, "/etc/one/oned.conf")
		if err != nil {
			return nil, federation.Inventory{}, nil, err
		}
		conf, err := onedconf.Parse(data)
		if err != nil {
			return nil, federation.Inventory{}, nil, err
		}
		fed, err := conf.Federation()
		if err != nil {
			return nil, federation.Inventory{}, nil, err
		}
		if fed.Mode == "MASTER" && masterFE == "" {
			masterFE = n
		}
		z := byZone[fed.ZoneID]
		if z == nil {
			z = &federation.Zone{ID: fed.ZoneID}
			byZone[fed.ZoneID] = z
		}
		z.Frontends = append(z.Frontends, federation.Frontend{Name: n, Address: n, ServerID: fed.ServerID})
	}
	if masterFE == "" {
		return nil, federation.Inventory{}, nil, errors.New("simulated federation has no master front-end")
	}
	zs, err := zone.List(ctx, hosts[masterFE], zone.WithEndpoint("http://localhost:2633/RPC2"))
	if err != nil {
		return nil, federation.Inventory{}, nil, err
	}
	inv := federation.Inventory{Target: target, Repository: federation.Repository{URL: cli.SimRepoURL}}
	for _, s := range zs {
		z := byZone[s.ID]
		if z == nil {
			continue
		}
		z.Name, z.Endpoint = s.Name, s.Endpoint
		hs, err := host.List(ctx, hosts[z.Frontends[0].Name])
		if err != nil {
			return nil, federation.Inventory{}, nil, err
		}
		for _, h := range hs {
			z.Hypervisors = append(z.Hypervisors, federation.Hypervisor{Name: h.Name, Address: h.Name})
		}
		inv.Zones = append(inv.Zones, *z) // onezone list: ascending IDs, the master (0) first
	}
	return c, inv, hosts, nil
}
