package ha

import (
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.uber.org/zap"

	"github.com/upgradekit/upgradekit/upgrade"
	"github.com/upgradekit/upgradekit/upgrade/hypervisors"
	"github.com/upgradekit/upgradekit/upgrade/internal/nebula"
)

// Inventory types, shared by every OpenNebula procedure.
type (
	// Inventory is the cloud to upgrade (see the fields' documentation).
	Inventory = nebula.Inventory
	// Zone is one zone: front-ends and hypervisors.
	Zone = nebula.Zone
	// Frontend is one front-end: name, SSH address, SERVER_ID.
	Frontend = nebula.Frontend
	// Hypervisor is one hypervisor host: name, SSH address, kind.
	Hypervisor = nebula.Hypervisor
	// Repository is the target release's package repository.
	Repository = nebula.Repository
	// ChecksumFunc takes a front-end database's table checksums.
	ChecksumFunc = nebula.ChecksumFunc
)

// Option configures Plan; the same options serve upgrade/hypervisors.
type Option = nebula.Option

// WithLeader names the front-end upgraded first, whose database the
// followers receive: the zone's current leader (checked by preflight).
// Default: the zone's first front-end.
func WithLeader(name string) Option { return nebula.WithLeader(name) }

// WithCLIUser runs onezone, onehost and onevm as user through sudo (e.g.
// "oneadmin" when the SSH user cannot read oneadmin's credentials).
func WithCLIUser(user string) Option { return nebula.WithCLIUser(user) }

// WithLogger sets the logger (default zap.NewNop()).
func WithLogger(l *zap.Logger) Option { return nebula.WithLogger(l) }

// WithClock sets the clock for backup names and waits (default time.Now).
func WithClock(now func() time.Time) Option { return nebula.WithClock(now) }

// WithTimer sets the timers waits sleep on (the simulator's virtual ones).
func WithTimer(newTimer func() backoff.Timer) Option { return nebula.WithTimer(newTimer) }

// WithSudo sets whether root commands go through sudo (default true).
func WithSudo(sudo bool) Option { return nebula.WithSudo(sudo) }

// WithChecksums sets how follower database checksums are taken (default:
// Inventory.DB through the transports' Dialer; skipped without either).
func WithChecksums(fn ChecksumFunc) Option { return nebula.WithChecksums(fn) }

// WithWaitTimeout bounds each wait (VMs settled, services stopped, zone
// in sync; default 10 minutes).
func WithWaitTimeout(d time.Duration) Option { return nebula.WithWaitTimeout(d) }

// WithPollInterval sets the first and largest interval between polls
// (the waits for a leader that end an outage keep the first).
func WithPollInterval(first, largest time.Duration) Option {
	return nebula.WithPollInterval(first, largest)
}

// WithDryFsck(true) checks the upgraded database with `onedb fsck --dry`
// once the zone is back (StepFsckDry) instead of repairing it with `onedb
// fsck` inside the outage: shorter downtime; problems found then fail that
// step and wait for an `onedb fsck` in a later window.
func WithDryFsck(on bool) Option { return nebula.WithDryFsck(on) }

// WithBackupDir sets where database backups go on the front-ends.
func WithBackupDir(dir string) Option { return nebula.WithBackupDir(dir) }

// WithSyncExclude leaves paths of /etc/one (relative) out of the sync to
// the followers.
func WithSyncExclude(paths ...string) Option { return nebula.WithSyncExclude(paths...) }

// WithMaxLag lets followers trail the leader by n log entries when
// checking the zone is in sync (default 0).
func WithMaxLag(n int64) Option { return nebula.WithMaxLag(n) }

// WithConcurrency sets how many hypervisors are upgraded at once.
func WithConcurrency(n int) Option { return nebula.WithConcurrency(n) }

// WithCanary sets whether the first hypervisor goes alone (default true).
func WithCanary(on bool) Option { return nebula.WithCanary(on) }

// WithFailureBudget sets after how many hypervisor failures no new one
// starts (default 1).
func WithFailureBudget(n int) Option { return nebula.WithFailureBudget(n) }

// WithMinFree sets the free space the disk-space check wants.
func WithMinFree(n int64) Option { return nebula.WithMinFree(n) }

// Step and group names of the plan (full names: "stop",
// "upgrade/fe1/node/packages", "leader/onedb-upgrade",
// "followers/fe2/seed/restore",
// "hypervisors/kvm1/upgrade/packages").
const (
	StepVMs          = "vms-settled"
	StepDisable      = "hosts-disable"
	StepStop         = "stop"
	StepUpgrade      = "upgrade"
	StepPrepare      = "prepare"
	StepLeader       = "leader"
	StepStartAlone   = "start-alone"
	StepFollowers    = "followers"
	StepReload       = "daemon-reload"
	StepStart        = "start"
	StepStartQuorum  = "start/majority"
	StepWaitLeader   = "start/leader"
	StepStartRest    = "start/rest"
	StepWaitInSync   = "wait-in-sync"
	StepChecksums    = "db-checksums"
	StepFsckDry      = "onedb-fsck-dry"
	StepHypervisors  = hypervisors.StepHypervisors
	StepHostsRestore = "hosts-restore"

	// ServiceAPI and ServiceWrites name the report's downtime windows:
	// the zone's API (down from the leader's stop), and its write path
	// (down from the stop that leaves too few servers for a majority).
	// Both end when a leader is elected again.
	ServiceAPI    = nebula.Service
	ServiceWrites = nebula.ServiceWrites

	// PointOfNoReturn is the step after whose start a failure is not
	// rolled back: the new release runs and takes writes that the old
	// backups do not have. Fix the cause and resume.
	PointOfNoReturn = StepStartQuorum
)

// Preflight check names (skip one with upgrade.WithPreflightSkip).
const (
	CheckReachable = nebula.CheckReachable
	CheckVersions  = nebula.CheckVersions
	CheckLeader    = nebula.CheckLeader
	CheckInSync    = nebula.CheckInSync
	CheckVMs       = nebula.CheckVMs
	CheckDisk      = nebula.CheckDisk
	CheckMonitor   = nebula.CheckMonitor
	// CheckOnecfg records the front-ends whose onecfg has no status or
	// upgrade command (Community Edition before 7.0): their onecfg step
	// skips with the reason.
	CheckOnecfg = nebula.CheckOnecfg
)

// Conditions callers branch on (from preflight); test with errors.Is.
var (
	ErrInvalidInventory = nebula.ErrInvalidInventory
	ErrNothingToDo      = nebula.ErrNothingToDo
	ErrInconsistent     = nebula.ErrInconsistent
	ErrWrongLeader      = nebula.ErrWrongLeader
	ErrLowDisk          = nebula.ErrLowDisk
	ErrMonitorAddress   = nebula.ErrMonitorAddress
)

// Plan returns the full HA upgrade of the inventory's zone (exactly one
// zone; a single front-end is an HA cluster of one) to inv.Target, as
// OpenNebula's HA upgrade guide (upgrading_ha) describes it, corrected
// where OpenNebula's source behaves otherwise:
//
//	prepare/<fe>/upgrade/    on every front-end, before any outage:
//	  backup-config          /etc/one, remotes/etc, .one, /etc/onecfg.conf
//	  repository             repository switched to the target series (a
//	                         bad URL or token fails here, nothing stopped)
//	  download               the new packages downloaded, not installed
//	                         (apt-get --download-only, dnf --downloadonly,
//	                         zypper --download-only), out of the outage
//	vms-settled              no VM transient; stop at once on failed VMs
//	hosts-disable            hosts' states recorded, enabled ones disabled
//	stop                     every OpenNebula service stopped and verified
//	                         on every front-end, back to back, followers
//	                         first; the VMs checked again just before the
//	                         leader stops (StopZone)
//	upgrade/<fe>/node/       on every front-end, in parallel:
//	  backup-db              onedb backup (what a rollback restores)
//	  packages               packages upgraded, config files kept
//	  onecfg                 onecfg upgrade
//	daemon-reload/<fe>/systemd  systemctl daemon-reload, all at once
//	leader/raft-log          no logdb record left unapplied (a write the
//	                         old leader could not commit)
//	leader/onedb-upgrade     onedb upgrade
//	leader/onedb-fsck        onedb fsck (WithDryFsck: onedb-fsck-dry,
//	                         `onedb fsck --dry` after db-checksums)
//	leader/onedb-backup      backup of the upgraded database
//	leader/start-alone       with followers: the leader's services started
//	                         alone (never elected without a majority, so
//	                         no writes), its oned ready while they are seeded
//	followers/<f>/seed/      on every follower, in parallel: copy-backup
//	                         (checksummed), restore (onedb restore -f),
//	                         sync-config (keeping the follower's SERVER_ID)
//	start/majority           enough followers for a majority (and the
//	                         leader, in a zone of one)
//	start/leader             a leader elected: API and writes up
//	start/rest               the other front-ends
//	wait-in-sync             one leader, followers caught up
//	db-checksums             followers' tables equal the leader's
//	hypervisors/<h>/upgrade/.. node package, libvirtd, onehost sync, state
//	hosts-restore            every host back to its recorded state
//
// Preflight: SSH reachable, versions consistent and the upgrade allowed
// (upgrade/path: no downgrade, no skipped minor), one leader (the plan's),
// zone in sync, no VM in a failure state, disk space for the backups,
// MONITOR_ADDRESS set to the VIP on every HA front-end, and which
// front-ends' onecfg lacks status/upgrade (CheckOnecfg: their onecfg step
// skips, or initialises onecfg once 7.0 brings it). On a resumed run the
// checks of a live zone are not applied.
//
// Before PointOfNoReturn a failure rolls back: packages pinned back to
// their old versions from the old repository, databases restored from
// their backups, configuration restored, the old services started, hosts
// back to their states. The zone is never disabled (`onezone disable` in
// HA can leave it without a leader, OpenNebula #8120).
//
// Run the plan with upgrade.WithHosts mapping every name of inv.Hosts()
// to its transport.
func Plan(inv Inventory, opts ...Option) (*upgrade.Plan, error) {
	if len(inv.Zones) != 1 {
		return nil, fmt.Errorf("%w: the HA procedure upgrades one zone, the inventory has %d", ErrInvalidInventory, len(inv.Zones))
	}
	k, err := nebula.New(inv, opts...)
	if err != nil {
		return nil, err
	}
	z := inv.Zones[0]
	leader, err := k.Leader(z)
	if err != nil {
		return nil, err
	}
	followers := z.Followers(leader)
	fronts := append(append([]string(nil), followers...), leader)

	// Every front-end is stopped back to back (StopZone) before any
	// backup or package work: a leader left without a majority still
	// takes API calls, writes each into logdb and keeps the ones it cannot
	// commit for the next leader to apply (LogDB::_exec_wr in OpenNebula's
	// src/sql/LogDB.cc), which would then run the old release's SQL on the
	// upgraded database. Once stopped, the front-ends are upgraded in
	// parallel, and the leader's Raft log is checked before its database
	// is upgraded.
	all := upgrade.ParallelPolicy{Concurrency: len(fronts), FailureBudget: len(fronts)}
	nodes := []upgrade.Node{
		upgrade.PerHost(StepPrepare, fronts, func(string) upgrade.Node {
			return upgrade.Phase("upgrade",
				k.BackupConfig("backup-config", ""),
				k.SwitchRepository("repository", "", ""),
				k.DownloadPackages("download", ""),
			)
		}).WithParallel(all),
		k.VMsSettled(StepVMs, leader),
		k.DisableHosts(StepDisable, z, leader),
		k.StopZone(StepStop, z, leader),
		upgrade.PerHost(StepUpgrade, fronts, func(string) upgrade.Node {
			return upgrade.Phase("node",
				k.BackupDB("backup-db", ""),
				k.UpgradePackages("packages", ""),
				k.UpgradeConfig("onecfg", ""),
			)
		}).WithParallel(all),
	}
	// The packages changed unit files on every front-end: reload systemd
	// on all of them before anything starts.
	nodes = append(nodes, upgrade.PerHost(StepReload, fronts, func(string) upgrade.Node { return k.DaemonReload("systemd", "") }).
		WithParallel(upgrade.ParallelPolicy{Concurrency: len(fronts)}))
	dbSteps := []upgrade.Node{k.CheckRaftLog("raft-log", leader), k.UpgradeDB("onedb-upgrade", leader)}
	if !k.DryFsck() {
		dbSteps = append(dbSteps, k.FsckDB("onedb-fsck", leader))
	}
	dbSteps = append(dbSteps, k.BackupUpgradedDB("onedb-backup", z, leader))
	// With followers, the leader starts alone as soon as its database is
	// ready: a lone server of a zone whose majority is two or more is
	// never elected, so it takes no write, and its oned's start and
	// election warm-up run while the followers are seeded.
	early := z.Majority() > 1
	if early {
		dbSteps = append(dbSteps, k.StartAlone(StepStartAlone, z, leader))
	}
	nodes = append(nodes, upgrade.Phase(StepLeader, dbSteps...))
	// Every follower is seeded, all at once, before any follower starts:
	// the leader runs alone by then but is never elected alone, and a
	// follower whose database is replaced while a leader runs needs
	// `onezone server-reset` and a backup fresher than the leader's last
	// writes (one-docs frontend_ha.md, "Recovering Servers"), which the
	// procedure avoids.
	if len(followers) > 0 {
		nodes = append(nodes, upgrade.PerHost(StepFollowers, followers, func(string) upgrade.Node {
			return upgrade.Phase("seed",
				k.CopyUpgradedDB("copy-backup", "", z, leader),
				k.RestoreUpgradedDB("restore", "", z),
				k.SyncConfig("sync-config", "", z, leader),
			)
		}).WithParallel(upgrade.ParallelPolicy{Concurrency: len(followers)}))
	}
	// Enough nodes for a majority start first; the API is up as soon as
	// they elect a leader, and the others start after that.
	quorum := followers[:z.Majority()-1]
	if !early {
		quorum = append([]string{leader}, quorum...)
	}
	rest := followers[z.Majority()-1:]
	starts := []upgrade.Node{
		k.StartServices("majority", quorum),
		k.WaitLeader("leader", z, leader, ServiceAPI, ServiceWrites),
	}
	if len(rest) > 0 {
		starts = append(starts, k.StartServices("rest", rest))
	}
	nodes = append(nodes, upgrade.Phase(StepStart, starts...))
	nodes = append(nodes,
		k.WaitInSync(StepWaitInSync, z, leader, false),
		k.CompareChecksums(StepChecksums, z, leader),
	)
	if k.DryFsck() {
		nodes = append(nodes, k.FsckDryDB(StepFsckDry, leader))
	}
	if len(z.Hypervisors) > 0 {
		nodes = append(nodes, upgrade.PerHost(StepHypervisors, z.HypervisorNames(), k.HypervisorNodes(z, leader)).WithParallel(k.Parallel()))
	}
	nodes = append(nodes, k.RestoreHosts(StepHostsRestore, z, leader))

	p := upgrade.NewPlan(fmt.Sprintf("ha-upgrade zone %d → %s", z.ID, k.Target()), nodes...).
		WithSecrets(k.Secrets()...).
		PointOfNoReturn(PointOfNoReturn).
		WithPreflight(
			k.CheckReachableHosts(inv.Hosts()),
			k.CheckVersionsConsistent(z, leader),
			k.CheckOneLeader(z, leader),
			k.CheckZoneInSync(z, leader),
			k.CheckNoFailedVMs(leader),
			k.CheckDiskSpace(z, k.MinFree()),
			k.CheckMonitorAddress(z),
			k.CheckOnecfg(z),
		)
	return p, p.Validate()
}
