package federation

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/cenkalti/backoff/v4"

	"github.com/upgradekit/upgradekit/onedb"
	"github.com/upgradekit/upgradekit/system"
	"github.com/upgradekit/upgradekit/upgrade"
	"github.com/upgradekit/upgradekit/upgrade/internal/nebula"
	vpath "github.com/upgradekit/upgradekit/upgrade/path"
	"github.com/upgradekit/upgradekit/zone"
)

// Step and group names (full names: "zones-disable/zone-100",
// "stop/zone-0/fr-fe2", "zone-0/leader/onedb-upgrade",
// "zone-100/leader/fed-restore", "start/zone-0/majority").
const (
	StepFedInSync    = "federation-in-sync"
	StepPrepare      = "prepare"
	StepVMs          = "vms-settled"
	StepDisableHosts = "hosts-disable"
	StepZonesDisable = "zones-disable"
	StepStop         = "stop"
	StepBackup       = "backup"
	StepLeader       = "leader"
	StepFollowers    = "followers"
	StepFedBackup    = "fed-backup"
	StepFedCopy      = "fed-copy"
	StepFedRestore   = "fed-restore"
	StepReload       = "daemon-reload"
	StepStart        = "start"
	StepWaitInSync   = "wait-in-sync"
	StepZonesEnable  = "zones-enable"
	StepFedSynced    = "federation-synced"
	StepFinish       = "finish"
	StepChecksums    = "db-checksums"
	StepHypervisors  = "hypervisors"
	StepHostsRestore = "hosts-restore"
)

// Preflight check names. Per-zone checks are named "<check>/zone-<id>".
const (
	CheckReachable  = nebula.CheckReachable
	CheckVersions   = nebula.CheckVersions
	CheckLeader     = nebula.CheckLeader
	CheckInSync     = nebula.CheckInSync
	CheckVMs        = nebula.CheckVMs
	CheckDisk       = nebula.CheckDisk
	CheckOnecfg     = nebula.CheckOnecfg
	CheckFederation = "federation"
	CheckPath       = "path"
)

// Conditions callers branch on; test with errors.Is.
var (
	// ErrNotFederation: the inventory is not a federation (fewer than two
	// zones) or its zones run different minor series.
	ErrNotFederation = errors.New("not a federation")
	// ErrFederationOutOfSync: the zones' FED_INDEX differ (federation guide,
	// step 1): wait until the slaves caught up.
	ErrFederationOutOfSync = errors.New("federation out of sync")
	// ErrInvalidInventory: the inventory is incomplete or inconsistent.
	ErrInvalidInventory = nebula.ErrInvalidInventory
	// ErrNothingToDo: every zone is at the target already (a result).
	ErrNothingToDo = nebula.ErrNothingToDo
)

// KeyFederatedRestore records whether the upgrade changes the shared
// (federated) database version, decided by the path preflight check: a
// minor upgrade does (the federated backup of the master is restored in
// every slave), a patch release does not (federation upgrade guide).
var KeyFederatedRestore = upgrade.NewPersistentKey[bool]("federation/federated-restore")

// KeyPerZone records, from the path preflight check, that each zone is
// upgraded on its own: the shared (federated) database version does not
// change (a patch release), so no zone is disabled and each zone is
// stopped, upgraded and started before the next one is touched, as
// OpenNebula's 6.2-era minor-upgrade guide does for federations
// (upgrading_minor.rst, "Federation": "There is no special step to
// perform"). False (or unset): the coordinated procedure.
var KeyPerZone = upgrade.NewPersistentKey[bool]("federation/per-zone")

// ZonePath is the key of zone id's procedure as upgrade/path chose it from
// that zone's leader ("none", "rolling" or "full"): a zone already at the
// target ("none") is left alone when the zones are upgraded one by one.
func ZonePath(id int) upgrade.Key[string] {
	return upgrade.NewPersistentKey[string](fmt.Sprintf("federation/zone-%d/path", id))
}

// zoneDone records that zone id was upgraded and took writes again on its
// own (zones upgraded one by one): a later failure keeps it upgraded.
func zoneDone(id int) upgrade.Key[bool] {
	return upgrade.NewPersistentKey[bool](fmt.Sprintf("federation/zone-%d/done", id))
}

// keepZone leaves zone id's steps as they are on a rollback once the zone
// was upgraded on its own and is running again: a zone upgraded one by one
// stands on its own, only the zone that failed goes back.
func keepZone(id int) func(*upgrade.State) string {
	return func(s *upgrade.State) string {
		if v, _ := zoneDone(id).Get(s); v {
			return fmt.Sprintf("zone %d was upgraded on its own and runs the new release", id)
		}
		return ""
	}
}

// gateZone is gate for a step of zone id's group: also kept on a rollback
// once the zone finished on its own (keepZone).
func gateZone(st upgrade.Step, id int, reason func(*upgrade.State) string) upgrade.Step {
	g := gate(st, reason)
	if fs, ok := g.(*upgrade.FuncStep); ok {
		return fs.KeepWhen(keepZone(id))
	}
	return g
}

// gate makes st skip itself, with the reason, while reason says so (see
// upgrade.FuncStep.SkipWhen).
func gate(st upgrade.Step, reason func(*upgrade.State) string) upgrade.Step {
	if fs, ok := st.(*upgrade.FuncStep); ok {
		return fs.SkipWhen(reason)
	}
	return upgrade.Func(st.Name(), func(ctx context.Context, s *upgrade.State) error {
		if r := reason(s); r != "" {
			return upgrade.Skip(r)
		}
		return st.Run(ctx, s)
	})
}

// coordinatedOnly closes the steps of the coordinated procedure when the
// zones are upgraded one by one.
func coordinatedOnly(s *upgrade.State) string {
	if v, _ := KeyPerZone.Get(s); v {
		return "the shared database version does not change: each zone is upgraded on its own, the federation is neither disabled nor stopped as a whole"
	}
	return ""
}

// perZoneOnly closes zone id's own stop, backup and start steps in the
// coordinated procedure, and all of them when the zone is at the target.
func perZoneOnly(id int) func(*upgrade.State) string {
	return func(s *upgrade.State) string {
		if v, _ := KeyPerZone.Get(s); !v {
			return "coordinated upgrade: every zone is stopped, backed up and started together"
		}
		return zoneNeeded(id)(s)
	}
}

// zoneNeeded closes zone id's steps when upgrade/path found it at the
// target already.
func zoneNeeded(id int) func(*upgrade.State) string {
	return func(s *upgrade.State) string {
		if p, _ := ZonePath(id).Get(s); p == vpath.None.String() {
			return fmt.Sprintf("zone %d already runs the target release", id)
		}
		return ""
	}
}

// Service returns the downtime service name of zone id: the zone refuses
// writes from its `onezone disable` to its `onezone enable`.
func Service(id int) string { return fmt.Sprintf("zone-%d", id) }

// ZoneName is the group name of zone id's steps.
func ZoneName(id int) string { return fmt.Sprintf("zone-%d", id) }

// PointOfNoReturn returns the step after whose start a failure of a plan
// for master zone masterID is not rolled back: the master runs the new
// release.
func PointOfNoReturn(masterID int) string {
	return StepStart + "/" + ZoneName(masterID) + "/majority"
}

// Plan returns the coordinated upgrade of a federation (OpenNebula's
// federation upgrade guide with the corrections in the package doc) to inv.Target. inv.Zones[0] is
// the master zone, the others the slaves; each zone lists its current
// leader first (checked by preflight), one front-end for a zone without
// HA. Each zone's Endpoint is its XML-RPC endpoint (the VIP in HA); empty,
// commands to that zone go to its leader's local oned.
//
//	federation-in-sync               every zone at the same FED_INDEX
//	prepare/zone-<id>/vms-settled    no VM transient, hosts recorded and
//	prepare/zone-<id>/hosts-disable  disabled (needs the zones enabled)
//	zones-disable/zone-<slave>...    `onezone disable` with --endpoint of each
//	zones-disable/zone-<master>      zone: slaves first (their state goes
//	                                 through the master), the master last
//	stop/zone-<id>/<fe>...           every zone stopped, followers first
//	backup/<fe>/save/{config,db}     every front-end's configuration and DB
//	zone-<master>/leader/...         repository, packages, onecfg, onedb
//	                                 upgrade, fsck, backup of the upgraded DB
//	zone-<master>/followers/<f>/...  as upgrade/ha (HA master)
//	zone-<master>/fed-backup         `onedb backup --federated` on the master
//	                                 leader (minor upgrades only)
//	zone-<slave>/leader/...          repository, packages, onecfg, the
//	                                 federated backup copied (checksummed) and
//	                                 `onedb restore --federated`, onedb upgrade
//	                                 (local migrators only), fsck, backup
//	zone-<slave>/followers/<f>/...   as upgrade/ha (HA slaves)
//	daemon-reload/<fe>/systemd
//	start/zone-<id>/{majority,rest}  master first, then each slave, each
//	start/zone-<id>/wait-in-sync     until its zone is in sync
//	zones-enable/zone-<master>...    master first, then the slaves
//	federation-synced                every zone at the same FED_INDEX again
//	finish/zone-<id>/...             db-checksums, hypervisors, hosts-restore
//
// The federated backup and restore are needed for every minor upgrade,
// whose shared database version changes, and never for a patch release:
// the path preflight check decides (KeyFederatedRestore) and the fed-*
// steps do nothing for a patch release.
//
// The path preflight check asks upgrade/path for each zone, from that
// zone's leader (ZonePath). When no zone's shared database version changes
// (a patch release) and WithCoordinated is off, each zone is upgraded on
// its own (KeyPerZone): the zones-disable, stop, backup, daemon-reload,
// start and zones-enable steps above skip, and each zone's group runs
// instead, one zone after the other, master first:
//
//	zone-<id>/stop/<fe>...           the zone's front-ends, followers first
//	zone-<id>/backup/<fe>/save/...   configuration and database
//	zone-<id>/leader/..., followers  as above (no federated restore)
//	zone-<id>/daemon-reload/<fe>
//	zone-<id>/start/...              majority, rest, wait-in-sync, up
//
// so that only the zone being upgraded refuses writes (its window runs
// from its leader's stop to its start). A zone already at the target is
// left alone, and a failure rolls back the zone that failed, keeping the
// zones already upgraded (they stand on their own).
//
// Preflight: hosts reachable; per zone releases consistent, one leader
// (the inventory's first front-end), in sync, no VM in a failure state,
// disk space; every zone in the same minor series and at the same
// FED_INDEX (federation); the upgrade allowed by upgrade/path for every
// zone (path).
//
// Before PointOfNoReturn a failure rolls back: packages pinned back,
// databases and configuration restored, services started again, the
// zones enabled (master first, each once its zone has a leader), hosts
// back to their states. Note OpenNebula issue #8120 (zone disable in HA,
// src/raft/RaftManager.cc): the zones are disabled because the federation guide asks it
// (upgrading_federation) and because a slave's writes would otherwise go to a
// stopped master.
func Plan(inv Inventory, opts ...Option) (*upgrade.Plan, error) {
	o, err := build(opts)
	if err != nil {
		return nil, err
	}
	if len(inv.Zones) < 2 {
		return nil, fmt.Errorf("%w: %w: a federation has a master and at least one slave zone, the inventory has %d zone(s)",
			nebula.ErrInvalidInventory, ErrNotFederation, len(inv.Zones))
	}
	k, err := nebula.New(inv, o.kit...)
	if err != nil {
		return nil, err
	}
	master := inv.Zones[0]
	slaves := inv.Zones[1:]
	mLeader := leaderOf(master)

	var nodes []upgrade.Node
	nodes = append(nodes, fedInSyncStep(k, StepFedInSync, mLeader))

	var prep []upgrade.Node
	for _, z := range inv.Zones {
		prep = append(prep, upgrade.Phase(ZoneName(z.ID),
			k.VMsSettled(StepVMs, leaderOf(z)),
			k.DisableHosts(StepDisableHosts, z, leaderOf(z)),
		))
	}
	nodes = append(nodes, upgrade.Phase(StepPrepare, prep...))

	var disables []upgrade.Node
	for _, z := range slaves {
		disables = append(disables, gate(zoneStateStep(k, ZoneName(z.ID), z, mLeader, false), coordinatedOnly))
	}
	disables = append(disables, gate(zoneStateStep(k, ZoneName(master.ID), master, mLeader, false), coordinatedOnly))
	nodes = append(nodes, upgrade.Phase(StepZonesDisable, disables...))

	var stops []upgrade.Node
	for _, z := range append(append([]nebula.Zone(nil), slaves...), master) {
		var st []upgrade.Node
		l := leaderOf(z)
		for _, f := range z.Followers(l) {
			st = append(st, gate(k.StopServices(f, f, false), coordinatedOnly))
		}
		st = append(st, gate(k.StopServices(l, l, false), coordinatedOnly))
		stops = append(stops, upgrade.Phase(ZoneName(z.ID), st...))
	}
	nodes = append(nodes, upgrade.Phase(StepStop, stops...))

	var fronts []string
	for _, z := range inv.Zones {
		fronts = append(fronts, z.FrontendNames()...)
	}
	nodes = append(nodes, upgrade.PerHost(StepBackup, fronts, func(string) upgrade.Node {
		return upgrade.Phase("save", gate(k.BackupConfig("config", ""), coordinatedOnly), gate(k.BackupDB("db", ""), coordinatedOnly))
	}).WithParallel(upgrade.ParallelPolicy{Concurrency: len(fronts)}))

	nodes = append(nodes, zoneUpgrade(k, master, "", []upgrade.Node{fedBackupStep(k, StepFedBackup, master, mLeader)}))
	for _, z := range slaves {
		nodes = append(nodes, zoneUpgrade(k, z, mLeader, nil))
	}

	nodes = append(nodes, upgrade.PerHost(StepReload, fronts, func(string) upgrade.Node {
		return gate(k.DaemonReload("systemd", ""), coordinatedOnly)
	}).WithParallel(upgrade.ParallelPolicy{Concurrency: len(fronts)}))

	// Each zone is started and in sync before the next: the master first,
	// so that each slave finds it when it joins the federation again.
	var starts []upgrade.Node
	for _, z := range inv.Zones {
		l := leaderOf(z)
		followers := z.Followers(l)
		quorum := append([]string{l}, followers[:z.Majority()-1]...)
		st := []upgrade.Node{gate(k.StartServices("majority", quorum), coordinatedOnly)}
		if rest := followers[z.Majority()-1:]; len(rest) > 0 {
			st = append(st, gate(k.StartServices("rest", rest), coordinatedOnly))
		}
		st = append(st, gate(k.WaitInSync(StepWaitInSync, z, l, false), coordinatedOnly))
		starts = append(starts, upgrade.Phase(ZoneName(z.ID), st...))
	}
	nodes = append(nodes, upgrade.Phase(StepStart, starts...))

	var enables []upgrade.Node
	for _, z := range inv.Zones {
		enables = append(enables, gate(zoneStateStep(k, ZoneName(z.ID), z, mLeader, true), coordinatedOnly))
	}
	nodes = append(nodes,
		upgrade.Phase(StepZonesEnable, enables...),
		fedSyncedStep(k, StepFedSynced, mLeader),
	)

	var fin []upgrade.Node
	for _, z := range inv.Zones {
		l := leaderOf(z)
		zn := []upgrade.Node{k.CompareChecksums(StepChecksums, z, l)}
		if o.hypervisors && len(z.Hypervisors) > 0 {
			zn = append(zn, upgrade.PerHost(StepHypervisors, z.HypervisorNames(), k.HypervisorNodes(z, l)).WithParallel(k.Parallel()))
		}
		zn = append(zn, k.RestoreHosts(StepHostsRestore, z, l))
		fin = append(fin, upgrade.Phase(ZoneName(z.ID), zn...))
	}
	nodes = append(nodes, upgrade.Phase(StepFinish, fin...))

	checks := []upgrade.PreflightCheck{k.CheckReachableHosts(inv.Hosts())}
	for _, z := range inv.Zones {
		l := leaderOf(z)
		for _, c := range []upgrade.PreflightCheck{
			zoneMayBeDone(k.CheckVersionsConsistent(z, l)),
			k.CheckOneLeader(z, l),
			k.CheckZoneInSync(z, l),
			k.CheckNoFailedVMs(l),
			k.CheckDiskSpace(z, k.MinFree()),
			k.CheckOnecfg(z),
		} {
			checks = append(checks, upgrade.Preflight(c.Name+"/"+ZoneName(z.ID), c.Run))
		}
	}
	checks = append(checks, checkFederation(k, inv), checkPath(k, inv, o.coordinated))

	p := upgrade.NewPlan(fmt.Sprintf("federation-upgrade zones %s → %s", zoneIDs(inv), k.Target()), nodes...).
		WithSecrets(k.Secrets()...).
		PointOfNoReturn(PointOfNoReturn(master.ID)).
		WithPreflight(checks...)
	return p, p.Validate()
}

func zoneIDs(inv Inventory) string {
	var ids []string
	for _, z := range inv.Zones {
		ids = append(ids, fmt.Sprint(z.ID))
	}
	return strings.Join(ids, ",")
}

// leaderOf returns the zone's leader as the inventory lists it: its first
// front-end.
func leaderOf(z nebula.Zone) string { return z.Frontends[0].Name }

// zoneUpgrade returns the group upgrading zone z's stopped front-ends:
// the leader's packages, configuration and database (a slave, with
// fedFrom set to the master's leader, first receives the master's
// federated backup), then each follower's packages and configuration with
// the leader's upgraded database restored. extra runs after the followers.
// When the zones are upgraded one by one (KeyPerZone) the group also
// stops, backs up and starts the zone itself; a zone already at the
// target skips everything.
func zoneUpgrade(k *nebula.Kit, z nebula.Zone, fedFrom string, extra []upgrade.Node) upgrade.Node {
	l := leaderOf(z)
	g := func(st upgrade.Step) upgrade.Node { return gateZone(st, z.ID, zoneNeeded(z.ID)) }
	pz := func(st upgrade.Step) upgrade.Node { return gateZone(st, z.ID, perZoneOnly(z.ID)) }
	followers := z.Followers(l)
	fes := z.FrontendNames()
	all := upgrade.ParallelPolicy{Concurrency: len(fes)}

	var stops []upgrade.Node
	for _, f := range followers {
		stops = append(stops, pz(k.StopServices(f, f, false)))
	}
	stops = append(stops, pz(k.StopServicesMarking(l, l, Service(z.ID))))
	group := []upgrade.Node{
		upgrade.Phase(StepStop, stops...),
		upgrade.PerHost(StepBackup, fes, func(string) upgrade.Node {
			return upgrade.Phase("save", pz(k.BackupConfig("config", "")), pz(k.BackupDB("db", "")))
		}).WithParallel(all),
	}

	ldr := []upgrade.Node{
		g(k.SwitchRepository("repository", l, "")),
		g(k.UpgradePackages("packages", l)),
		g(k.UpgradeConfig("onecfg", l)),
	}
	if fedFrom != "" {
		ldr = append(ldr,
			g(fedCopyStep(k, StepFedCopy, fedFrom, l)),
			g(fedRestoreStep(k, StepFedRestore, l)),
		)
	}
	ldr = append(ldr,
		g(k.UpgradeDB("onedb-upgrade", l)),
		g(k.FsckDB("onedb-fsck", l)),
	)
	if len(followers) > 0 {
		ldr = append(ldr, g(k.BackupUpgradedDB("onedb-backup", z, l)))
	}
	group = append(group, upgrade.Phase(StepLeader, ldr...))
	if len(followers) > 0 {
		group = append(group, upgrade.PerHost(StepFollowers, followers, func(string) upgrade.Node {
			return upgrade.Phase("upgrade",
				g(k.SwitchRepository("repository", "", "")),
				g(k.UpgradePackages("packages", "")),
				g(k.UpgradeConfig("onecfg", "")),
				g(k.CopyUpgradedDB("copy-backup", "", z, l)),
				g(k.RestoreUpgradedDB("restore", "", z)),
				g(k.SyncConfig("sync-config", "", z, l)),
			)
		}).WithParallel(upgrade.ParallelPolicy{Concurrency: len(followers)}))
	}
	group = append(group, extra...)

	quorum := append([]string{l}, followers[:z.Majority()-1]...)
	start := []upgrade.Node{pz(k.StartServices("majority", quorum))}
	if rest := followers[z.Majority()-1:]; len(rest) > 0 {
		start = append(start, pz(k.StartServices("rest", rest)))
	}
	start = append(start, pz(k.WaitInSync(StepWaitInSync, z, l, false)), pz(zoneUpStep(z)))
	group = append(group,
		upgrade.PerHost(StepReload, fes, func(string) upgrade.Node { return pz(k.DaemonReload("systemd", "")) }).WithParallel(all),
		upgrade.Phase(StepStart, start...),
	)
	return upgrade.Phase(ZoneName(z.ID), group...)
}

// zoneUpStep marks zone z's service up again once it is in sync after its
// own upgrade (zones upgraded one by one).
func zoneUpStep(z nebula.Zone) upgrade.Step {
	return nebula.Step("up", fmt.Sprintf("zone %d takes writes again", z.ID), func(ctx context.Context, s *upgrade.State) error {
		if err := s.ServiceUp(Service(z.ID)); err != nil {
			return err
		}
		return zoneDone(z.ID).Set(s, true)
	}).CheckWith(nebula.Idempotent)
}

// zoneMayBeDone lets a zone's versions check pass when the zone is at the
// target already (nebula.ErrNothingToDo): with zones upgraded one by one
// some may be done; the path check decides for the federation.
func zoneMayBeDone(c upgrade.PreflightCheck) upgrade.PreflightCheck {
	return upgrade.Preflight(c.Name, func(ctx context.Context, s *upgrade.State) error {
		err := c.Run(ctx, s)
		if errors.Is(err, nebula.ErrNothingToDo) {
			s.Output("stdout", err.Error())
			return nil
		}
		return err
	})
}

// fedInSyncStep checks, through the master's leader, that every zone is
// at the same FED_INDEX (zone.FederationInSync, waiting for it).
func fedInSyncStep(k *nebula.Kit, name, via string) upgrade.Step {
	return nebula.Step(name, "wait until every zone is at the same FED_INDEX (onezone list --csv)",
		func(ctx context.Context, s *upgrade.State) error { return waitFederation(ctx, k, s, via) }).
		CheckWith(nebula.Idempotent)
}

// fedSyncedStep waits after the upgrade until every zone reports the same
// FED_INDEX again.
func fedSyncedStep(k *nebula.Kit, name, via string) upgrade.Step {
	return nebula.Step(name, "wait until every zone is at the same FED_INDEX again",
		func(ctx context.Context, s *upgrade.State) error { return waitFederation(ctx, k, s, via) }).
		CheckWith(nebula.Idempotent)
}

func waitFederation(ctx context.Context, k *nebula.Kit, s *upgrade.State, via string) error {
	t, _, err := nebula.Node(s, via)
	if err != nil {
		return err
	}
	var last []zone.Summary
	err = k.PollStep(ctx, s, "federation in sync", func() (bool, error) {
		zs, err := zone.List(ctx, t, zone.WithEndpoint(nebula.LocalEndpoint))
		if err != nil {
			if _, ok := errors.AsType[*zone.ParseError](err); ok {
				return false, backoff.Permanent(err)
			}
			return false, err
		}
		last = zs
		if err := zone.CheckFederation(zs); err != nil {
			return false, err
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrFederationOutOfSync, err)
	}
	for _, z := range last {
		s.Output("stdout", fmt.Sprintf("zone %d %s: FED_INDEX %s, %s", z.ID, z.Name, z.FedIndex, z.State))
	}
	return nil
}

// zoneStateStep disables (enable false) or enables zone z with `onezone
// disable|enable <id>`, sent from the master's leader to the zone's own
// endpoint (--endpoint; src/cli/onezone), or to the zone leader's local oned
// when the inventory has no endpoint for it. Disabling marks the zone's
// service down, enabling up. An enable first waits for the zone to have a
// leader and retries the refusals of a zone still electing one. Rollback
// does the opposite.
func zoneStateStep(k *nebula.Kit, name string, z nebula.Zone, via string, enable bool) upgrade.Step {
	verb := "disable"
	if enable {
		verb = "enable"
	}
	desc := fmt.Sprintf("onezone %s %d through %s", verb, z.ID, endpointText(z))
	return nebula.Step(name, desc, func(ctx context.Context, s *upgrade.State) error {
		return setZoneState(ctx, k, s, z, via, enable)
	}).CheckWith(nebula.Idempotent).RollbackWith(func(ctx context.Context, s *upgrade.State) error {
		return setZoneState(ctx, k, s, z, via, !enable)
	})
}

func endpointText(z nebula.Zone) string {
	if z.Endpoint != "" {
		return "--endpoint " + z.Endpoint
	}
	return "its leader's local oned"
}

// ZoneStateSince is the first release with `onezone disable/enable` (zone
// standby mode, OpenNebula issue #5353): src/cli/onezone has neither
// command at release-6.0.3 and both at release-6.2.0. An older CLI prints
// its help and exits 0 (src/cli/command_parser.rb), leaving the zone as
// it was, so the zone-state steps skip below it.
var ZoneStateSince = vpath.Version{Major: 6, Minor: 2}

// zoneDisabled records that this run disabled zone id (an enable follows
// only then).
func zoneDisabled(id int) upgrade.Key[bool] {
	return upgrade.NewPersistentKey[bool](fmt.Sprintf("federation/zone-%d/disabled", id))
}

func setZoneState(ctx context.Context, k *nebula.Kit, s *upgrade.State, z nebula.Zone, via string, enable bool) error {
	host, ep := via, z.Endpoint
	if ep == "" {
		host, ep = leaderOf(z), nebula.LocalEndpoint
	}
	t, _, err := nebula.Node(s, host)
	if err != nil {
		return err
	}
	verb := map[bool]string{false: "disable", true: "enable"}[enable]
	rel, err := k.Release(ctx, t, "opennebula")
	if err != nil {
		return fmt.Errorf("%s: %w", host, err)
	}
	if rel.Compare(ZoneStateSince) < 0 {
		if !enable {
			if err := zoneDisabled(z.ID).Set(s, false); err != nil {
				return err
			}
		}
		return upgrade.Skip(fmt.Sprintf("onezone %s does not exist in OpenNebula %s (from %s on): zone %d is not disabled, only stopped",
			verb, rel, ZoneStateSince, z.ID))
	}
	if enable {
		if done, ok := zoneDisabled(z.ID).Get(s); ok && !done {
			return upgrade.Skip(fmt.Sprintf("zone %d was not disabled (its CLI had no onezone disable)", z.ID))
		}
	}
	if !enable {
		if err := nebula.KeyStarted.Set(s, true); err != nil {
			return err
		}
		if err := s.ServiceDown(Service(z.ID)); err != nil {
			return err
		}
		if err := zone.Disable(ctx, t, z.ID, zone.WithEndpoint(ep)); err != nil {
			return err
		}
		return zoneDisabled(z.ID).Set(s, true)
	}
	// After a restart the zone may still be electing its leader: retry
	// until the enable is accepted (or the wait times out).
	err = k.PollStep(ctx, s, fmt.Sprintf("zone %d enabled", z.ID), func() (bool, error) {
		// Refusals (no leader yet, election, master not enabled) are
		// retried; the last one is in the timeout error.
		err := zone.Enable(ctx, t, z.ID, zone.WithEndpoint(ep))
		return err == nil, err
	})
	if err != nil {
		return err
	}
	return s.ServiceUp(Service(z.ID))
}

// fedFile is where the master's federated backup is written on its
// leader and copied to on each slave leader.
func fedFile(k *nebula.Kit) string {
	return path.Join(k.BackupDir(), fmt.Sprintf("federated-%s.sql", k.Target()))
}

func federatedRestore(s *upgrade.State) (bool, string) {
	v, ok := KeyFederatedRestore.Get(s)
	switch {
	case !ok:
		return true, ""
	case !v:
		return false, "patch release: the shared database version does not change, no federated backup/restore"
	}
	return true, ""
}

// fedBackupStep runs `onedb backup --federated` on the master's leader
// after its upgrade (federation guide, step 4).
func fedBackupStep(k *nebula.Kit, name string, master nebula.Zone, leader string) upgrade.Step {
	return nebula.Step(name, "onedb backup --federated of the upgraded master database on "+leader+" (minor upgrades only)",
		func(ctx context.Context, s *upgrade.State) error {
			if need, why := federatedRestore(s); !need {
				s.Output("stdout", why)
				return nil
			}
			t, _, err := nebula.Node(s, leader)
			if err != nil {
				return err
			}
			if err := k.MakeBackupDir(ctx, t); err != nil {
				return err
			}
			got, err := onedb.Backup(ctx, t, k.DBOptions(onedb.ToFile(fedFile(k)), onedb.Force(), onedb.Federated())...)
			if err != nil {
				return err
			}
			s.Output("stdout", "federated backup: "+got)
			return nil
		}).CheckWith(nebula.Idempotent)
}

// fedCopyStep copies the master's federated backup from its leader to a
// slave zone's leader (SHA-256 checked on both ends).
func fedCopyStep(k *nebula.Kit, name, from, to string) upgrade.Step {
	return nebula.Step(name, fmt.Sprintf("copy the master's federated backup from %s (checksum verified)", from),
		func(ctx context.Context, s *upgrade.State) error {
			if need, why := federatedRestore(s); !need {
				s.Output("stdout", why)
				return nil
			}
			src, _, err := nebula.Node(s, from)
			if err != nil {
				return err
			}
			dst, _, err := nebula.Node(s, to)
			if err != nil {
				return err
			}
			if err := k.MakeBackupDir(ctx, dst); err != nil {
				return err
			}
			res, err := k.System().CopyFile(ctx, src, fedFile(k), dst, fedFile(k), system.CopyOptions{Owner: "oneadmin", Group: "oneadmin", Mode: 0o600})
			if err != nil {
				return err
			}
			s.Output("stdout", fmt.Sprintf("copied %s (%d bytes, sha256 %s)", fedFile(k), res.Bytes, res.SHA256))
			return nil
		}).CheckWith(nebula.Idempotent)
}

// fedRestoreStep restores the master's federated backup on a slave's
// leader with `onedb restore --federated` (federation guide, step 5): the shared
// tables and their version arrive from the master, `onedb upgrade` then
// migrates only the local ones. The restore also replaces the slave's
// whole logdb with the master's: the backup dumps logdb with
// --where="fed_index!=-1", which matches every row of that unsigned
// column (OpenNebula/one src/onedb/onedb_backend.rb, src/sql/OneDB.cc),
// so the zone's followers no longer share the leader's log; they are
// re-seeded from the leader's backup taken after it (onedb-backup, then
// followers/<f>/restore). Rollback is the backup step's (the whole
// pre-upgrade database is restored).
func fedRestoreStep(k *nebula.Kit, name, node string) upgrade.Step {
	return nebula.Step(name, "onedb restore --federated of the master's backup (ONE_XMLRPC=localhost)",
		func(ctx context.Context, s *upgrade.State) error {
			if need, why := federatedRestore(s); !need {
				s.Output("stdout", why)
				return nil
			}
			t, _, err := nebula.Node(s, node)
			if err != nil {
				return err
			}
			r, err := onedb.Restore(ctx, t, fedFile(k), k.DBOptions(onedb.Federated(), onedb.WithEndpoint(nebula.LocalEndpoint))...)
			if err != nil {
				return err
			}
			s.Output("stdout", "federated tables restored into "+r.Database)
			return nil
		}).CheckWith(nebula.Idempotent)
}

// checkFederation checks that every zone's leader runs the same minor
// series and that the zones are at the same FED_INDEX.
func checkFederation(k *nebula.Kit, inv Inventory) upgrade.PreflightCheck {
	return upgrade.Preflight(CheckFederation, func(ctx context.Context, s *upgrade.State) error {
		if v, ok := nebula.KeyStarted.Get(s); ok && v {
			s.Output("stdout", CheckFederation+": not checked, the upgrade already started (resumed run)")
			return nil
		}
		var first vpath.Version
		var diff []string
		for i, z := range inv.Zones {
			t, err := s.HostTransport(leaderOf(z))
			if err != nil {
				return err
			}
			v, err := k.Release(ctx, t, "opennebula")
			if err != nil {
				return fmt.Errorf("%s: %w", leaderOf(z), err)
			}
			// Zones of one minor series may run different patch releases
			// (zones upgraded one by one); across series they cannot
			// share the federated tables.
			if i == 0 {
				first = v
			} else if v.Series() != first.Series() {
				diff = append(diff, fmt.Sprintf("zone %d runs %s", z.ID, v))
			}
		}
		if len(diff) > 0 {
			return fmt.Errorf("%w: master zone %d runs %s, %s", ErrNotFederation, inv.Zones[0].ID, first, strings.Join(diff, ", "))
		}
		t, err := s.HostTransport(leaderOf(inv.Zones[0]))
		if err != nil {
			return err
		}
		zs, err := zone.FederationInSync(ctx, t, zone.WithEndpoint(nebula.LocalEndpoint))
		if err != nil {
			return fmt.Errorf("%w: %w", ErrFederationOutOfSync, err)
		}
		for _, z := range inv.Zones {
			found := false
			for _, x := range zs {
				found = found || x.ID == z.ID
			}
			if !found {
				return fmt.Errorf("%w: zone %d is not in the master's zone list", ErrNotFederation, z.ID)
			}
		}
		return nil
	})
}

// checkPath asks upgrade/path about each zone, from its leader's release
// and database versions (ZonePath): refused upgrades stop here. The
// federation's procedure follows: when some zone's shared database
// version changes (a minor upgrade) the coordinated one, with the
// master's federated backup restored in every slave
// (KeyFederatedRestore); otherwise, unless coordinated is set, each zone
// on its own (KeyPerZone). Every zone at the target is ErrNothingToDo.
func checkPath(k *nebula.Kit, inv Inventory, coordinated bool) upgrade.PreflightCheck {
	return upgrade.Preflight(CheckPath, func(ctx context.Context, s *upgrade.State) error {
		if v, ok := nebula.KeyStarted.Get(s); ok && v {
			s.Output("stdout", CheckPath+": not checked, the upgrade already started (resumed run)")
			return nil
		}
		fed, none := false, 0
		var fedWhy string
		var procs []string
		for _, z := range inv.Zones {
			leader := leaderOf(z)
			t, err := s.HostTransport(leader)
			if err != nil {
				return err
			}
			from, err := k.Release(ctx, t, "opennebula")
			if err != nil {
				return fmt.Errorf("%s: %w", leader, err)
			}
			dbv, err := onedb.Version(ctx, t, k.DBOptions()...)
			if err != nil {
				return fmt.Errorf("%s: onedb version: %w", leader, err)
			}
			d, err := vpath.Choose(from.String(), k.Target().String(), vpath.DBVersions{Shared: dbv.Shared.Version, Local: dbv.Local.Version})
			if err != nil {
				return fmt.Errorf("zone %d: %w", z.ID, err)
			}
			s.Output("stdout", fmt.Sprintf("zone %d: %s: %s", z.ID, d.Procedure, d.Reason))
			procs = append(procs, fmt.Sprintf("zone %d %s", z.ID, d.Procedure))
			if d.Procedure == vpath.None {
				none++
			}
			if d.FromDB != d.ToDB && !fed {
				fed = true
				fedWhy = "the shared database version changes (" + d.FromDB.String() + " → " + d.ToDB.String() + "): every zone stopped, the master's federated backup restored in every slave"
			}
			if err := ZonePath(z.ID).Set(s, d.Procedure.String()); err != nil {
				return err
			}
		}
		if none == len(inv.Zones) {
			return fmt.Errorf("%w: every zone runs %s", nebula.ErrNothingToDo, k.Target())
		}
		if fed && none > 0 {
			return fmt.Errorf("%w: %s: some zones already run the target while the shared database version changes", ErrNotFederation, strings.Join(procs, ", "))
		}
		perZone := !fed && !coordinated
		why := fedWhy
		switch {
		case perZone:
			why = "patch release, the shared database version stays: each zone upgraded on its own, one after the other, none disabled, no federated backup/restore"
		case !fed:
			why = "patch release (coordinated procedure requested): no federated backup/restore"
		}
		s.Output("stdout", "federation: "+why)
		if err := KeyPerZone.Set(s, perZone); err != nil {
			return err
		}
		return KeyFederatedRestore.Set(s, fed)
	})
}
