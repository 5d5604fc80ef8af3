package rolling

import (
	"context"
	"fmt"

	"github.com/upgradekit/upgradekit/upgrade"
	"github.com/upgradekit/upgradekit/upgrade/internal/nebula"
	vpath "github.com/upgradekit/upgradekit/upgrade/path"
	"github.com/upgradekit/upgradekit/zone"
)

// Step and group names of Plan (full names: "nodes/fe2/packages",
// "nodes/fe1/handoff").
const (
	StepNodes        = "nodes"
	StepReady        = "ready"
	StepStop         = "stop"
	StepHandoff      = "handoff"
	StepConfigBackup = "config-backup"
	StepRepository   = "repository"
	StepPackages     = "packages"
	StepOnecfg       = "onecfg"
	StepDBCurrent    = "db-current"
	StepReload       = "daemon-reload"
	StepStart        = "start"
	StepWaitInSync   = "wait-in-sync"
	StepDisable      = "hosts-disable"
	StepHypervisors  = "hypervisors"
	StepHostsRestore = "hosts-restore"
)

// Preflight check names (skip one with upgrade.WithPreflightSkip).
const (
	CheckReachable = nebula.CheckReachable
	CheckVersions  = nebula.CheckVersions
	CheckLeader    = nebula.CheckLeader
	CheckInSync    = nebula.CheckInSync
	CheckDisk      = nebula.CheckDisk
	// CheckOnecfg records the front-ends whose onecfg has no status or
	// upgrade command (Community Edition before 7.0): their onecfg step
	// skips with the reason.
	CheckOnecfg = nebula.CheckOnecfg
	// CheckPath asks upgrade/path whether the upgrade is a rolling one
	// (Plan) or any allowed one (RejoinPlan).
	CheckPath = "path"
	// CheckMajority checks that the live zone has MinRollingNodes or more
	// servers, all reachable and in sync, so that it keeps a majority
	// while one is down (Plan).
	CheckMajority = "majority"
)

// MinRollingNodes is the smallest cluster Plan upgrades: with one node
// down the others must still be a majority.
const MinRollingNodes = 3

// Plan returns the rolling patch upgrade of the inventory's zone (exactly
// one HA zone of 3 or more front-ends) to inv.Target: the database
// version does not change, so the front-ends are upgraded one at a time
// while the others keep a majority and the API keeps serving; followers
// first, the leader last (see the package documentation for why not the
// leader first as the 6.2-era minor-upgrade guide does).
//
//	nodes/<f>/ready          zone in sync before touching f (a majority stands)
//	nodes/<f>/stop           every OpenNebula service of f stopped, verified
//	nodes/<f>/config-backup  /etc/one, remotes/etc, .one, /etc/onecfg.conf
//	nodes/<f>/repository     repository switched to the target series
//	nodes/<f>/packages       packages upgraded, config files kept
//	nodes/<f>/onecfg         onecfg upgrade (needed by patch releases too)
//	nodes/<f>/db-current     onedb version: no database upgrade needed
//	nodes/<f>/daemon-reload  systemctl daemon-reload
//	nodes/<f>/start          the services that ran, started again
//	nodes/<f>/wait-in-sync   f is a follower in sync again
//	nodes/<leader>/...       the same for the leader, last, with
//	nodes/<leader>/handoff   after its stop: a new leader elected by the
//	                         others (the API is down only in between)
//	hosts-disable, hypervisors/<h>/..., hosts-restore
//	                         the hypervisors, as upgrade/hypervisors
//
// Followers go in inventory order; the leader (WithLeader, default the
// first front-end; checked by preflight) goes last. Preflight: hosts
// reachable, releases consistent, the path is a patch upgrade
// (upgrade/path, else *PathError), the live zone has 3 or more servers,
// all in sync (majority), one leader (the plan's), zone in sync, disk
// space, onecfg's commands (CheckOnecfg). A cluster of fewer than 3 front-ends is refused with a
// *MajorityError: use upgrade/ha (or RejoinPlan for 2).
//
// There is no point of no return: the database is never changed, so a
// failure rolls back every node touched (packages pinned back, configuration
// restored, services restarted, the zone in sync again), newest first.
func Plan(inv Inventory, opts ...Option) (*upgrade.Plan, error) {
	o, err := build(opts)
	if err != nil {
		return nil, err
	}
	if len(inv.Zones) != 1 {
		return nil, fmt.Errorf("%w: the rolling procedure upgrades one zone, the inventory has %d", nebula.ErrInvalidInventory, len(inv.Zones))
	}
	k, err := nebula.New(inv, o.kit...)
	if err != nil {
		return nil, err
	}
	z := inv.Zones[0]
	if n := len(z.Frontends); n < MinRollingNodes {
		return nil, &MajorityError{ZoneID: z.ID, Nodes: n, Need: MinRollingNodes,
			Why: "while one front-end is down the others must keep a Raft majority; use upgrade/ha (full stop) instead"}
	}
	leader, err := k.Leader(z)
	if err != nil {
		return nil, err
	}
	followers := z.Followers(leader)
	var nodes []upgrade.Node
	for _, f := range followers {
		nodes = append(nodes, upgrade.Phase(f, rollingNode(k, z, f, "")...))
	}
	nodes = append(nodes, upgrade.Phase(leader, rollingNode(k, z, leader, followers[0])...))
	plan := []upgrade.Node{upgrade.Phase(StepNodes, nodes...)}
	if o.hypervisors && len(z.Hypervisors) > 0 {
		plan = append(plan,
			k.DisableHosts(StepDisable, z, leader),
			upgrade.PerHost(StepHypervisors, z.HypervisorNames(), k.HypervisorNodes(z, leader)).WithParallel(k.Parallel()),
			k.RestoreHosts(StepHostsRestore, z, leader),
		)
	}
	p := upgrade.NewPlan(fmt.Sprintf("rolling-upgrade zone %d → %s", z.ID, k.Target()), plan...).
		WithSecrets(k.Secrets()...).
		WithPreflight(
			k.CheckReachableHosts(inv.Hosts()),
			k.CheckVersionsConsistent(z, leader),
			checkPath(k, leader, CheckPath, vpath.Rolling),
			checkMajority(k, z, leader),
			k.CheckOneLeader(z, leader),
			k.CheckZoneInSync(z, leader),
			k.CheckDiskSpace(z, k.MinFree()),
			k.CheckOnecfg(z),
		)
	return p, p.Validate()
}

func checkMajority(k *nebula.Kit, z nebula.Zone, via string) upgrade.PreflightCheck {
	return upgrade.Preflight(CheckMajority, func(ctx context.Context, s *upgrade.State) error {
		if v, ok := nebula.KeyStarted.Get(s); ok && v {
			s.Output("stdout", CheckMajority+": not checked, the upgrade already started (resumed run)")
			return nil
		}
		t, err := s.HostTransport(via)
		if err != nil {
			return err
		}
		zz, err := zone.Show(ctx, t, z.ID, zone.WithEndpoint(nebula.LocalEndpoint))
		if err != nil {
			return err
		}
		if n := len(zz.Servers); n < MinRollingNodes {
			return &MajorityError{ZoneID: z.ID, Nodes: n, Need: MinRollingNodes,
				Why: "the live zone is too small to keep a Raft majority while one server is down"}
		}
		// Every server must count: one already down would leave no
		// majority while the next one is upgraded.
		return zz.CheckSync(k.MaxLag())
	})
}

// rollingNode returns the steps upgrading front-end n in place. handoffVia
// is set for the leader: the follower asked for the new leader.
func rollingNode(k *nebula.Kit, z nebula.Zone, n, handoffVia string) []upgrade.Node {
	steps := []upgrade.Node{
		readyStep(k, StepReady, z, n),
		stopStep(k, n, handoffVia != ""),
	}
	if handoffVia != "" {
		steps = append(steps, handoffStep(k, StepHandoff, z, n, handoffVia))
	}
	return append(steps,
		k.BackupConfig(StepConfigBackup, n),
		k.SwitchRepository(StepRepository, n, ""),
		k.UpgradePackages(StepPackages, n),
		k.UpgradeConfig(StepOnecfg, n),
		dbCurrentStep(k, StepDBCurrent, n),
		k.DaemonReload(StepReload, n),
		startStep(k, StepStart, n),
		k.WaitInSync(StepWaitInSync, z, n, false),
	)
}

func stopStep(k *nebula.Kit, n string, leader bool) upgrade.Node {
	if leader {
		return leaderStopStep(k, StepStop, n, true)
	}
	return k.StopServices(StepStop, n, false)
}
