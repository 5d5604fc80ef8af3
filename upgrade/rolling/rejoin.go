package rolling

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/cenkalti/backoff/v4"

	"github.com/upgradekit/upgradekit/onedb"
	"github.com/upgradekit/upgradekit/onedconf"
	"github.com/upgradekit/upgradekit/system"
	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/upgrade"
	"github.com/upgradekit/upgradekit/upgrade/internal/nebula"
	vpath "github.com/upgradekit/upgradekit/upgrade/path"
	"github.com/upgradekit/upgradekit/zone"
)

// Step and group names of RejoinPlan (full names: "remove/fe2",
// "followers/fe2/packages", "leader/onedb-upgrade", "rejoin/fe2/join").
const (
	StepVMs          = "vms-settled"
	StepRemove       = "remove"
	StepFollowers    = "followers"
	StepLeader       = "leader"
	StepFsckBefore   = "fsck-check"
	StepGuard        = "restart-on-rollback"
	StepDBUpgrade    = "onedb-upgrade"
	StepFsck         = "onedb-fsck"
	StepWaitLeader   = "wait-leader"
	StepFsckAfter    = "fsck-after"
	StepRejoin       = "rejoin"
	StepSyncConfig   = "sync-config"
	StepSeed         = "seed"
	StepJoin         = "join"
	StepChecksums    = "db-checksums"
	CheckVMs         = nebula.CheckVMs
	RejoinNoReturn   = StepLeader + "/" + StepStart
	rejoinPlanPrefix = "rejoin-upgrade"
)

// Server is a zone server as recorded before it was removed, re-added
// with the same name and endpoints.
type Server struct {
	ID           int    `json:"id"`
	Name         string `json:"name"`
	Endpoint     string `json:"endpoint"`
	EndpointGRPC string `json:"endpoint_grpc,omitempty"`
}

// RemovedServer is the key of front-end node's zone server as it was
// before RejoinPlan removed it.
func RemovedServer(node string) upgrade.Key[Server] {
	return upgrade.NewPersistentKey[Server]("rolling/" + node + "/removed-server")
}

// NewServerID is the key of the server ID front-end node got when
// RejoinPlan added it back: `onezone server-add` assigns the zone's
// highest server ID + 1, recomputed from the stored server list each
// time (OpenNebula/one include/ZoneServer.h), so it may differ from the
// inventory's SERVER_ID.
func NewServerID(node string) upgrade.Key[int] {
	return upgrade.NewPersistentKey[int]("rolling/" + node + "/new-server-id")
}

// RejoinPlan returns the break-and-rejoin upgrade of the inventory's zone
// (one HA zone of 2 or more front-ends), for minor upgrades: the
// followers leave the zone, the leader alone (a majority of one) is
// upgraded as a solo node, then each follower is re-seeded from a fresh
// backup of the upgraded leader and added back. Writes stop only while
// the leader's database is upgraded:
//
//	vms-settled, hosts-disable    as upgrade/ha
//	remove/<f>                    zone server recorded, `onezone server-del`
//	                              on the leader, f's services stopped
//	followers/<f>/...             config backed up, repository, packages,
//	                              onecfg: all before the outage, in parallel
//	leader/restart-on-rollback    nothing; its rollback restarts the leader
//	                              once everything below is undone
//	leader/config-backup          configuration backed up
//	leader/repository, packages, onecfg, daemon-reload
//	                              staged before the outage (WithStagedLeader)
//	leader/stop                   the others, then oned (writes down)
//	leader/onedb-upgrade          onedb upgrade; its own backup is the
//	                              rollback point (no separate backup)
//	leader/onedb-fsck             onedb fsck (WithFsck(FsckInWindow))
//	                              (not staged: repository, packages, onecfg
//	                              after the stop, daemon-reload here)
//	leader/start                  the new release starts (point of no return)
//	leader/wait-leader            the solo zone elects it (writes up)
//	rejoin/<f>/sync-config        /etc/one, remotes/etc, .one from the leader
//	rejoin/<f>/seed               fresh leader `onedb backup`, copied
//	                              (checksummed), `onedb restore -f` on f
//	                              with ONE_XMLRPC=localhost
//	rejoin/<f>/join               `onezone server-add` (ID read back),
//	                              SERVER_ID set in f's oned.conf, f started,
//	                              `onezone server-reset` on the leader, a
//	                              harmless replicated write (the zone's
//	                              state set again)
//	rejoin/<f>/wait-in-sync       f a follower in sync
//	db-checksums                  followers' tables equal the leader's
//	hypervisors/<h>/..., hosts-restore
//
// Writes the leader takes after a follower's seed backup reach it by
// Raft log matching once it runs: the leader steps its next index back
// until both logs agree and sends the rest (OpenNebula/one
// src/raft/RaftManager.cc replicate_failure, src/rm/api/ZoneAPI.cc
// replicate_log), but only when it has a new record to send. server-add's
// own record is the follower's last missing one and nothing sends it on
// a quiet zone, so the join makes a harmless write (the zone's state set
// again). The seed runs right before the join, and db-checksums
// (Inventory.DB or WithChecksums) compares each follower's replicated
// tables with the leader's at the end; a follower that differs must be
// re-seeded by hand (one-docs "Recovering servers").
//
// Followers are re-added one at a time. Adding the first one raises the
// majority to two at once (src/raft/RaftManager.cc), so its join step does the
// server-add, SERVER_ID, start and server-reset in one go: that short gap
// is marked as downtime too. Each re-added server gets the zone's highest
// ID + 1 at its server-add (NewServerID): followers holding the highest
// IDs and re-added in order get their old IDs back, others do not; check
// the inventory against NewServerID afterwards.
//
// Before RejoinNoReturn a failure rolls back: the leader's database
// restored from onedb upgrade's backup, packages pinned back, configuration
// restored, the leader started again, and every removed follower
// re-seeded from it and added back. After it, fix the cause and resume.
func RejoinPlan(inv Inventory, opts ...Option) (*upgrade.Plan, error) {
	o, err := build(opts)
	if err != nil {
		return nil, err
	}
	if len(inv.Zones) != 1 {
		return nil, fmt.Errorf("%w: the break-and-rejoin procedure upgrades one zone, the inventory has %d", nebula.ErrInvalidInventory, len(inv.Zones))
	}
	k, err := nebula.New(inv, o.kit...)
	if err != nil {
		return nil, err
	}
	z := inv.Zones[0]
	if n := len(z.Frontends); n < 2 {
		return nil, &MajorityError{ZoneID: z.ID, Nodes: n, Need: 2,
			Why: "there is no follower to remove and re-add; use upgrade/ha"}
	}
	leader, err := k.Leader(z)
	if err != nil {
		return nil, err
	}
	followers := z.Followers(leader)

	var removes []upgrade.Node
	for _, f := range followers {
		removes = append(removes, leaveStep(k, f, z, leader, f))
	}
	var ldr []upgrade.Node
	if o.fsck == FsckDeferred {
		ldr = append(ldr, fsckDryStep(k, StepFsckBefore, leader, false))
	}
	if o.staged {
		ldr = append(ldr, guardStep(k, StepGuard, leader))
	}
	ldr = append(ldr, k.BackupConfig(StepConfigBackup, leader))
	pkgs := []upgrade.Node{
		k.SwitchRepository(StepRepository, leader, ""),
		k.UpgradePackages(StepPackages, leader),
		k.UpgradeConfig(StepOnecfg, leader),
	}
	// Staged, the new unit files are on disk before the outage, so
	// systemd reloads them before it too; otherwise after the packages.
	if o.staged {
		ldr = append(ldr, pkgs...)
		ldr = append(ldr, k.DaemonReload(StepReload, leader))
	}
	ldr = append(ldr, leaderStopStep(k, StepStop, leader, !o.staged))
	if !o.staged {
		ldr = append(ldr, pkgs...)
	}
	ldr = append(ldr, upgradeDBStep(k, StepDBUpgrade, leader))
	if o.fsck == FsckInWindow {
		ldr = append(ldr, k.FsckDB(StepFsck, leader))
	}
	if !o.staged {
		ldr = append(ldr, k.DaemonReload(StepReload, leader))
	}
	ldr = append(ldr,
		startStep(k, StepStart, leader),
		k.WaitInSync(StepWaitLeader, z, leader, true),
	)
	if o.fsck == FsckDeferred {
		ldr = append(ldr, fsckDryStep(k, StepFsckAfter, leader, true))
	}
	var rejoins []upgrade.Node
	for _, f := range followers {
		rejoins = append(rejoins, upgrade.Phase(f,
			k.SyncConfig(StepSyncConfig, f, z, leader),
			k.DaemonReload(StepReload, f),
			seedStep(k, StepSeed, leader, f),
			joinStep(k, StepJoin, z, leader, f),
			k.WaitInSync(StepWaitInSync, z, leader, false),
		))
	}
	nodes := []upgrade.Node{
		k.VMsSettled(StepVMs, leader),
		k.DisableHosts(StepDisable, z, leader),
		upgrade.Phase(StepRemove, removes...),
		upgrade.PerHost(StepFollowers, followers, func(string) upgrade.Node {
			return upgrade.Phase("prepare",
				k.BackupConfig(StepConfigBackup, ""),
				k.SwitchRepository(StepRepository, "", ""),
				k.UpgradePackages(StepPackages, ""),
				k.UpgradeConfig(StepOnecfg, ""),
			)
		}).WithParallel(upgrade.ParallelPolicy{Concurrency: len(followers)}),
		upgrade.Phase(StepLeader, ldr...),
		upgrade.Phase(StepRejoin, rejoins...),
		k.CompareChecksums(StepChecksums, z, leader),
	}
	if o.hypervisors && len(z.Hypervisors) > 0 {
		nodes = append(nodes, upgrade.PerHost(StepHypervisors, z.HypervisorNames(), k.HypervisorNodes(z, leader)).WithParallel(k.Parallel()))
	}
	nodes = append(nodes, k.RestoreHosts(StepHostsRestore, z, leader))
	p := upgrade.NewPlan(fmt.Sprintf("%s zone %d → %s", rejoinPlanPrefix, z.ID, k.Target()), nodes...).
		WithSecrets(k.Secrets()...).
		PointOfNoReturn(RejoinNoReturn).
		WithPreflight(
			k.CheckReachableHosts(inv.Hosts()),
			k.CheckVersionsConsistent(z, leader),
			checkPath(k, leader, CheckPath, vpath.Full, vpath.Rolling),
			k.CheckOneLeader(z, leader),
			k.CheckZoneInSync(z, leader),
			k.CheckNoFailedVMs(leader),
			k.CheckDiskSpace(z, k.MinFree()),
			k.CheckOnecfg(z),
		)
	return p, p.Validate()
}

// leaveStep records follower f's zone server, stops f's OpenNebula
// services and removes it from the zone through the leader (`onezone
// server-del`). It stops before deleting: the leader stops talking to a
// deleted server at once (RaftManager::delete_server), which never gets
// the record deleting it, keeps the old member list, times out and asks
// for votes with a higher term, and every server hearing a higher term
// turns follower (ZoneAPI::vote), the leader included (OpenNebula/one
// src/raft/RaftManager.cc, src/rm/api/ZoneAPI.cc). The last follower
// (a zone of two servers) is the exception: stopped first, the leader
// would have no majority and the delete could not commit, so it is
// deleted, then stopped at once, oned first (alone, so that systemd does
// not wait for the units ordered after it), well within the 5 s
// election timeout.
// Rollback re-seeds f from the leader and adds it back (rejoin), whatever
// release both run by then.
func leaveStep(k *nebula.Kit, name string, z nebula.Zone, leader, f string) upgrade.Step {
	return nebula.Step(name, fmt.Sprintf("record %s's zone server, stop its OpenNebula services, onezone server-del it on %s (the last follower: delete, then stop)", f, leader),
		func(ctx context.Context, s *upgrade.State) error {
			lt, _, err := nebula.Node(s, leader)
			if err != nil {
				return err
			}
			ft, _, err := nebula.Node(s, f)
			if err != nil {
				return err
			}
			zz, err := zone.Show(ctx, lt, z.ID, zone.WithEndpoint(nebula.LocalEndpoint))
			if err != nil {
				return err
			}
			// Record f's running units before anything changes, so a
			// rollback restarts exactly those whatever fails next.
			units := nebula.ActiveUnits(f)
			if _, ok := units.Get(s); !ok {
				active, err := k.ListActive(ctx, ft)
				if err != nil {
					return err
				}
				if err := units.Set(s, active); err != nil {
					return err
				}
			}
			if err := nebula.KeyStarted.Set(s, true); err != nil {
				return err
			}
			stop := func(onedFirst bool) error {
				active, err := k.ListActive(ctx, ft)
				if err != nil {
					return err
				}
				if i := slices.IndexFunc(active, func(u string) bool { return strings.TrimSuffix(u, ".service") == "opennebula" }); onedFirst && i >= 0 {
					// Alone: stopped with the units ordered after it
					// (hem, flow, gate, fireedge... After=opennebula),
					// systemd stops those first (After= reversed on
					// stop) and oned would run on past the timeout.
					if err := k.System().Stop(ctx, ft, active[i]); err != nil {
						return err
					}
					active = slices.Delete(active, i, i+1)
				}
				if len(active) > 0 {
					if err := k.System().Stop(ctx, ft, active...); err != nil {
						return err
					}
				}
				if s.DryRun() {
					return nil
				}
				return k.PollStep(ctx, s, "services stopped on "+f, func() (bool, error) {
					still, err := k.ListActive(ctx, ft)
					return len(still) == 0, err
				})
			}
			srv, member := zz.Server(f)
			// Stopping f first keeps a majority when at least two other
			// servers remain.
			stopFirst := !member || len(zz.Servers) >= 3
			if stopFirst {
				if err := stop(false); err != nil {
					return err
				}
			}
			if member {
				key := RemovedServer(f)
				if _, ok := key.Get(s); !ok {
					if err := key.Set(s, Server{ID: srv.ID, Name: srv.Name, Endpoint: srv.Endpoint, EndpointGRPC: srv.EndpointGRPC}); err != nil {
						return err
					}
				}
				s.Output("stdout", fmt.Sprintf("onezone server-del %d %d (%s)", z.ID, srv.ID, f))
				if err := zone.ServerDel(ctx, lt, z.ID, srv.ID, zone.WithEndpoint(nebula.LocalEndpoint)); err != nil {
					return err
				}
			} else if _, ok := RemovedServer(f).Get(s); !ok && !s.DryRun() {
				return fmt.Errorf("%s is not a server of zone %d and no removal was recorded", f, z.ID)
			}
			if stopFirst {
				return nil
			}
			return stop(true)
		}).CheckWith(nebula.Idempotent).RollbackWith(func(ctx context.Context, s *upgrade.State) error {
		removed, err := wasRemoved(ctx, s, k, z, leader, f)
		if err != nil {
			return err
		}
		if !removed {
			// Never removed: only start what was stopped.
			ft, _, err := nebula.Node(s, f)
			if err != nil {
				return err
			}
			if units, ok := nebula.ActiveUnits(f).Get(s); ok && len(units) > 0 {
				return k.System().Start(ctx, ft, units...)
			}
			return nil
		}
		ft, _, err := nebula.Node(s, f)
		if err != nil {
			return err
		}
		if err := stopAll(ctx, k, ft); err != nil {
			return err
		}
		if err := seed(ctx, s, k, leader, f); err != nil {
			return err
		}
		if err := join(ctx, s, k, z, leader, f); err != nil {
			return err
		}
		return waitSync(ctx, k, s, z, leader)
	})
}

// wasRemoved reports whether f's server-del took effect. The server is
// recorded before the delete (so a crash right after it loses nothing),
// so the record alone does not say the delete happened: the zone's
// stored server list decides.
func wasRemoved(ctx context.Context, s *upgrade.State, k *nebula.Kit, z nebula.Zone, leader, f string) (bool, error) {
	srv, ok := RemovedServer(f).Get(s)
	if !ok {
		return false, nil
	}
	lt, _, err := nebula.Node(s, leader)
	if err != nil {
		return false, err
	}
	servers, err := zoneServers(ctx, k, lt, z.ID)
	if err != nil {
		return false, fmt.Errorf("is %s still a server of zone %d: %w", f, z.ID, err)
	}
	for _, cur := range servers {
		if cur.ID == srv.ID && cur.Name == srv.Name {
			return false, nil
		}
	}
	return true, nil
}

// seedFile is where the leader's backup for follower f is written (and
// copied to on f); a re-run overwrites it with a fresh one.
func seedFile(k *nebula.Kit, leader, f string) string {
	return path.Join(k.BackupDir(), fmt.Sprintf("%s-seed-for-%s.sql", leader, f))
}

// seedStep takes a fresh `onedb backup` of the leader, copies it to
// follower f (SHA-256 checked) and restores it there with `onedb restore
// -f` and ONE_XMLRPC pointing at f's own oned (the HA guide's seeding steps).
func seedStep(k *nebula.Kit, name, leader, f string) upgrade.Step {
	return nebula.Step(name, fmt.Sprintf("fresh onedb backup on %s, copied to %s (checksummed), onedb restore -f there (ONE_XMLRPC=localhost)", leader, f),
		func(ctx context.Context, s *upgrade.State) error { return seed(ctx, s, k, leader, f) }).
		CheckWith(nebula.Idempotent)
}

func seed(ctx context.Context, s *upgrade.State, k *nebula.Kit, leader, f string) error {
	lt, _, err := nebula.Node(s, leader)
	if err != nil {
		return err
	}
	ft, _, err := nebula.Node(s, f)
	if err != nil {
		return err
	}
	file := seedFile(k, leader, f)
	for _, t := range []transport.Transport{lt, ft} {
		if err := k.MakeBackupDir(ctx, t); err != nil {
			return err
		}
	}
	if _, err := onedb.Backup(ctx, lt, k.DBOptions(onedb.ToFile(file), onedb.Force())...); err != nil {
		return fmt.Errorf("%s: %w", leader, err)
	}
	res, err := k.System().CopyFile(ctx, lt, file, ft, file, system.CopyOptions{Owner: "oneadmin", Group: "oneadmin", Mode: 0o600})
	if err != nil {
		return err
	}
	s.Output("stdout", fmt.Sprintf("copied %s to %s (%d bytes, sha256 %s)", file, f, res.Bytes, res.SHA256))
	r, err := onedb.Restore(ctx, ft, file, k.DBOptions(onedb.Force(), onedb.WithEndpoint(nebula.LocalEndpoint))...)
	if err != nil {
		return fmt.Errorf("%s: %w", f, err)
	}
	s.Output("stdout", fmt.Sprintf("%s: restored database %s", f, r.Database))
	return nil
}

// joinStep adds follower f back to the zone and starts it.
func joinStep(k *nebula.Kit, name string, z nebula.Zone, leader, f string) upgrade.Step {
	return nebula.Step(name, fmt.Sprintf("onezone server-add %s on %s (ID read back), SERVER_ID in its oned.conf, start it, onezone server-reset on %s, a harmless replicated write", f, leader, leader),
		func(ctx context.Context, s *upgrade.State) error { return join(ctx, s, k, z, leader, f) }).
		CheckWith(nebula.Idempotent)
}

func join(ctx context.Context, s *upgrade.State, k *nebula.Kit, z nebula.Zone, leader, f string) error {
	lt, _, err := nebula.Node(s, leader)
	if err != nil {
		return err
	}
	ft, _, err := nebula.Node(s, f)
	if err != nil {
		return err
	}
	srv, ok := RemovedServer(f).Get(s)
	if !ok {
		fe, _ := z.Frontend(f)
		addr := fe.Address
		if addr == "" || strings.Contains(addr, ":") {
			addr = f
		}
		srv = Server{Name: f, Endpoint: "http://" + addr + ":2633/RPC2"}
	}
	if err := waitLeader(ctx, k, s, z, leader); err != nil {
		return err
	}
	list, err := zoneServers(ctx, k, lt, z.ID)
	if err != nil {
		return err
	}
	// Adding a server raises the majority at once (src/raft/RaftManager.cc): with n
	// running servers the zone cannot commit until the new one runs when
	// n < (n+1)/2+1, i.e. when the zone has a single server.
	n := len(list)
	present := false
	for _, x := range list {
		present = present || x.Name == f
	}
	gap := !present && n < (n+1)/2+1
	if gap {
		if err := s.ServiceDown(nebula.Service); err != nil {
			return err
		}
	}
	id, err := addServer(ctx, k, lt, z.ID, srv)
	if err != nil && s.DryRun() && ctx.Err() == nil {
		// Nothing was added: go on with the next free ID so that the dry
		// run lists the remaining commands.
		for _, x := range list {
			id = max(id, x.ID+1)
		}
		s.Output("stderr", fmt.Sprintf("dry run: %v; assuming server ID %d", err, id))
		err = nil
	}
	if err != nil {
		return err
	}
	if err := NewServerID(f).Set(s, id); err != nil {
		return err
	}
	s.Output("stdout", fmt.Sprintf("%s is server %d of zone %d (was %d)", f, id, z.ID, srv.ID))
	if _, err := onedconf.SetServerID(ctx, ft, id, onedconf.WithSudo(k.Sudo()), onedconf.WithLogger(k.Logger())); err != nil {
		return fmt.Errorf("%s: set SERVER_ID %d: %w", f, id, err)
	}
	oned, rest := splitUnits(k.UnitsToStart(s, f))
	if len(oned) == 0 {
		oned = []string{"opennebula.service"}
	}
	if err := startGroup(ctx, s, k, ft, f, oned); err != nil {
		return err
	}
	if err := zone.ServerReset(ctx, lt, z.ID, id, zone.WithEndpoint(nebula.LocalEndpoint)); err != nil {
		return err
	}
	if err := flushLog(ctx, s, k, lt, z.ID); err != nil {
		return err
	}
	// Always marked up: a run resumed after a crash inside this step left
	// the window open (an up without an open window is ignored).
	if err := s.ServiceUp(nebula.Service); err != nil {
		return err
	}
	return startGroup(ctx, s, k, ft, f, rest)
}

// flushLog makes a harmless replicated write through the leader: the
// zone's state set again (`onezone enable` of an enabled zone, `onezone
// disable` of a disabled one). `onezone server-add` updates the zone (a
// log record written after the new follower's seed backup) before the
// leader sets that server's next index to its last record + 1, and
// heartbeats carry no record (OpenNebula/one src/rm/api/ZoneAPI.cc
// add_server, src/raft/RaftManager.cc add_server, src/raft/
// ReplicaThread.cc HeartBeatThread), so the follower lags by that one
// record until the next write; on a quiet zone that never comes. The
// write makes the leader send it, after log matching steps back to it.
// `onezone enable`/`disable` exist from OpenNebula 6.2: before that the
// write is skipped with a note. It is retried while the new follower
// starts (a write needs it once it counts for the majority).
func flushLog(ctx context.Context, s *upgrade.State, k *nebula.Kit, lt transport.Transport, zoneID int) error {
	if s.DryRun() {
		return nil
	}
	if v, err := k.Release(ctx, lt, "opennebula"); err == nil && v.Compare(vpath.MustParse("6.2.0")) < 0 {
		s.Output("stdout", fmt.Sprintf("OpenNebula %s has no onezone enable: a re-added follower lags by one record until the next write", v))
		return nil
	}
	return k.PollStep(ctx, s, fmt.Sprintf("a replicated write in zone %d", zoneID), func() (bool, error) {
		zz, err := zone.Show(ctx, lt, zoneID, zone.WithEndpoint(nebula.LocalEndpoint))
		if err != nil {
			return false, err
		}
		set, verb := zone.Enable, "enable"
		if zz.State == zone.Disabled {
			set, verb = zone.Disable, "disable"
		}
		if err := set(ctx, lt, zoneID, zone.WithEndpoint(nebula.LocalEndpoint)); err != nil {
			return false, err
		}
		s.Output("stdout", fmt.Sprintf("onezone %s %d (unchanged state): the re-added follower gets server-add's record", verb, zoneID))
		return true, nil
	})
}

// waitLeader waits until leader is the leader of zone z (after its
// restart a lone server needs an election).
func waitLeader(ctx context.Context, k *nebula.Kit, s *upgrade.State, z nebula.Zone, leader string) error {
	if s.DryRun() {
		return nil
	}
	t, _, err := nebula.Node(s, leader)
	if err != nil {
		return err
	}
	return k.PollStep(ctx, s, fmt.Sprintf("%s leads zone %d", leader, z.ID), func() (bool, error) {
		zz, err := zone.Show(ctx, t, z.ID, zone.WithEndpoint(nebula.LocalEndpoint))
		if err != nil {
			if _, ok := errors.AsType[*zone.ParseError](err); ok {
				return false, backoff.Permanent(err)
			}
			return false, err
		}
		l, ok := zz.Leader()
		return ok && l.Name == leader, nil
	})
}

func waitSync(ctx context.Context, k *nebula.Kit, s *upgrade.State, z nebula.Zone, via string) error {
	t, _, err := nebula.Node(s, via)
	if err != nil {
		return err
	}
	return k.PollStep(ctx, s, fmt.Sprintf("zone %d in sync", z.ID), func() (bool, error) {
		zz, err := zone.Show(ctx, t, z.ID, zone.WithEndpoint(nebula.LocalEndpoint))
		if err != nil {
			if _, ok := errors.AsType[*zone.ParseError](err); ok {
				return false, backoff.Permanent(err)
			}
			return false, err
		}
		return zz.CheckSync(k.MaxLag()) == nil, zz.CheckSync(k.MaxLag())
	})
}

// upgradeDBStep runs `onedb upgrade` on node with its automatic backup
// written to a file recorded as the node's rollback backup
// (nebula.DBBackup) before it runs: the outage holds one backup, not two.
// Rollback restores that file (`onedb restore -f`).
func upgradeDBStep(k *nebula.Kit, name, node string) upgrade.Step {
	return nebula.Step(name, "onedb upgrade (database schema to "+vpath.DBVersion(k.Target()).String()+"); its backup is the rollback point",
		func(ctx context.Context, s *upgrade.State) error {
			t, n, err := nebula.Node(s, node)
			if err != nil {
				return err
			}
			key := nebula.DBBackup(n)
			file, ok := key.Get(s)
			if !ok {
				file = path.Join(k.BackupDir(), fmt.Sprintf("%s-before-%s-%s.sql", n, k.Target(), k.Now().UTC().Format(system.BackupTimeFormat)))
				if err := key.Set(s, file); err != nil {
					return err
				}
			}
			if err := k.MakeBackupDir(ctx, t); err != nil {
				return err
			}
			// A re-run after a crash must not overwrite the first
			// backup with an already migrated database.
			opts := []onedb.Option{onedb.BackupTo(file)}
			if ok && exists(ctx, k, t, file) {
				opts = []onedb.Option{onedb.NoBackup()}
			}
			res, err := onedb.Upgrade(ctx, t, k.DBOptions(opts...)...)
			if err != nil {
				return err
			}
			if res.AlreadyCurrent {
				s.Output("stdout", "database schema is up to date")
			}
			for _, m := range []*onedb.Migration{res.Shared, res.Local} {
				if m != nil {
					s.Output("stdout", fmt.Sprintf("migrated %s → %s (%s)", m.From, m.To, strings.Join(m.Migrators, ", ")))
				}
			}
			return nil
		}).CheckWith(nebula.Idempotent).RollbackWith(func(ctx context.Context, s *upgrade.State) error {
		t, n, err := nebula.Node(s, node)
		if err != nil {
			return err
		}
		file, ok := nebula.DBBackup(n).Get(s)
		if !ok {
			return nil
		}
		_, err = onedb.Restore(ctx, t, file, k.DBOptions(onedb.Force(), onedb.WithEndpoint(nebula.LocalEndpoint))...)
		if errors.Is(err, onedb.ErrBackupNotFound) {
			return nil // onedb upgrade never backed up: nothing changed
		}
		return err
	})
}

func exists(ctx context.Context, k *nebula.Kit, t transport.Transport, p string) bool {
	res, err := t.Run(ctx, k.Root(transport.Query("test", "-e", p)))
	return err == nil && res.ExitCode == 0
}

// fsckDryStep runs `onedb fsck --dry` on node (allowed while oned runs)
// and fails with an *FsckDeferredError when it finds errors.
func fsckDryStep(k *nebula.Kit, name, node string, after bool) upgrade.Step {
	desc := "onedb fsck --dry on the current database: errors stop the run before anything changes"
	if after {
		desc = "onedb fsck --dry on the upgraded, running database"
	}
	return nebula.Step(name, desc, func(ctx context.Context, s *upgrade.State) error {
		t, n, err := nebula.Node(s, node)
		if err != nil {
			return err
		}
		opts := []onedb.Option{onedb.DryRun()}
		if after {
			opts = append(opts, onedb.Release(k.Target().String()))
		}
		res, err := onedb.Fsck(ctx, t, k.DBOptions(opts...)...)
		if err != nil {
			return err
		}
		s.Output("stdout", fmt.Sprintf("fsck --dry: %d error(s) found", res.Found))
		if res.Found > 0 {
			return &FsckDeferredError{Host: n, Found: res.Found, Problems: res.Problems, After: after}
		}
		return nil
	}).CheckWith(nebula.Idempotent)
}
