package nebula

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/upgradekit/upgradekit/onedb"
	"github.com/upgradekit/upgradekit/system"
	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/upgrade"
	"github.com/upgradekit/upgradekit/vm"
)

// RaftLogFunc reads the Raft log state of front-end node's database,
// reached through t. The default (with Inventory.DB set) opens the
// database through t's transport.Dialer and calls onedb.DB.RaftLog.
type RaftLogFunc func(ctx context.Context, node string, t transport.Transport) (onedb.RaftLog, error)

// WithRaftLog sets how a front-end's Raft log is read before its
// database is upgraded (default: Inventory.DB through the transports'
// Dialer; the check skips itself without either).
func WithRaftLog(fn RaftLogFunc) Option {
	return optionFunc(func(o *options) error { o.raftLog = fn; return nil })
}

// StopZone stops zone z's front-ends back to back in one step: every
// follower, then the leader, each with every OpenNebula service
// (StopServicesMarking: ServiceWrites down at the stop that leaves too few
// servers for a majority, Service down at the leader's). Nothing else runs
// in between, because a leader without a majority still takes API calls:
// oned writes each into logdb before it tries to replicate it, keeps the
// ones that time out, and the next leader applies them
// (LogDB::_exec_wr in src/sql/LogDB.cc, RaftManager::leader in
// src/raft/RaftManager.cc). Just before the leader stops, the VMs are
// listed once more through it: a migration started by hand after
// VMsSettled would be cut in the middle, so a VM in a transient or
// failure state stops the step (and rolls it back). Rollback starts the
// recorded units again, the leader first, and waits until the zone has a
// leader: the rollbacks before it (hosts-disable) go through the API.
func (k *Kit) StopZone(name string, z Zone, leader string) upgrade.Step {
	order := append(z.Followers(leader), leader)
	var stops []*upgrade.FuncStep
	running, writesDown := len(order), false
	for _, f := range order {
		running--
		var down []string
		if running < z.Majority() && !writesDown {
			down, writesDown = append(down, ServiceWrites), true
		}
		if f == leader {
			down = append(down, Service)
		}
		stops = append(stops, k.StopServicesMarking(f, f, down...).(*upgrade.FuncStep))
	}
	desc := fmt.Sprintf("stop every OpenNebula service on %s, back to back, the leader last after a last check of the VMs", strings.Join(order, ", "))
	return Step(name, desc, func(ctx context.Context, s *upgrade.State) error {
		for i, st := range stops {
			if i == len(stops)-1 {
				if err := k.vmsStill(ctx, s, leader); err != nil {
					return err
				}
			}
			if err := st.Run(ctx, s); err != nil {
				return fmt.Errorf("%s: %w", order[i], err)
			}
		}
		return nil
	}).CheckWith(Idempotent).RollbackWith(func(ctx context.Context, s *upgrade.State) error {
		var errs []error
		for i := len(stops) - 1; i >= 0; i-- {
			if err := stops[i].Rollback(ctx, s); err != nil {
				errs = append(errs, &transport.HostError{Host: order[i], Err: err})
			}
		}
		if len(errs) > 0 {
			return errors.Join(errs...)
		}
		if units, _ := ActiveUnits(leader).Get(s); len(units) == 0 {
			return nil // the leader was not stopped: nothing to wait for
		}
		return k.waitLeader(ctx, s, z, leader)
	})
}

// vmsStill lists the VMs once through front-end via, while it still
// runs, and fails on any VM in a transient or failure state. Where via's
// services are already stopped (a resumed run) there is nothing to ask.
func (k *Kit) vmsStill(ctx context.Context, s *upgrade.State, via string) error {
	t, n, err := Node(s, via)
	if err != nil {
		return err
	}
	active, err := k.ListActive(ctx, t)
	if err != nil {
		return err
	}
	if len(active) == 0 {
		s.Output("stdout", n+": already stopped, VMs not checked again")
		return nil
	}
	vms, err := vm.List(ctx, t, k.vmOpts()...)
	if err != nil {
		return err
	}
	var failed, transient []vm.VM
	for _, v := range vms {
		switch vm.Classify(v) {
		case vm.Failed, vm.Unknown:
			failed = append(failed, v)
		case vm.Transient:
			transient = append(transient, v)
		}
	}
	if len(failed) > 0 {
		return &vm.FailedError{VMs: failed}
	}
	if len(transient) > 0 {
		return &vm.NotSettledError{Transient: transient, Cause: errors.New("a VM became transient after vms-settled (a migration by hand?)")}
	}
	s.Output("stdout", fmt.Sprintf("%d VM(s), none transient, before %s stops", len(vms), n))
	return nil
}

// CheckRaftLog fails, before node's database is upgraded, when its Raft
// log holds records never applied (onedb.DB.RaftLog,
// *onedb.UnappliedLogError): the next leader would apply their SQL,
// written for the old schema, to the upgraded database, including calls
// whose clients were told they failed. It needs Inventory.DB or
// WithRaftLog; without either it skips itself with the reason.
func (k *Kit) CheckRaftLog(name, node string) upgrade.Step {
	fn := k.o.raftLog
	if fn == nil {
		fn = readDB(k, (*onedb.DB).RaftLog)
	}
	const noDB = "no database connection configured (Inventory.DB), the Raft log is not checked for unapplied records"
	desc := "check that the Raft log (logdb) holds no record with applied = 0"
	if fn == nil {
		desc = "skipped: " + noDB
	}
	return Step(name, desc, onNode(node, func(ctx context.Context, s *upgrade.State, t transport.Transport, n string) error {
		if fn == nil {
			return upgrade.Skip(noDB)
		}
		l, err := fn(ctx, n, t)
		if err != nil {
			return fmt.Errorf("%s: %w", n, err)
		}
		if err := l.Err(); err != nil {
			return fmt.Errorf("%s: %w", n, err)
		}
		s.Output("stdout", fmt.Sprintf("%s: logdb applied up to %d, nothing pending", n, l.LastApplied))
		return nil
	})).CheckWith(Idempotent)
}

// DownloadPackages downloads, on node, the packages UpgradePackages will
// install (those of pkgs installed there; FrontendPackages by default)
// without installing them (system.Download), so that the upgrade inside
// the outage only installs. Run it before the outage; its rollback has
// nothing to undo (the cache only holds files).
func (k *Kit) DownloadPackages(name, node string, pkgs ...string) upgrade.Step {
	if len(pkgs) == 0 {
		pkgs = FrontendPackages
	}
	return Step(name, "download the packages of "+k.target.String()+" into the package manager's cache, without installing them",
		onNode(node, func(ctx context.Context, s *upgrade.State, t transport.Transport, n string) error {
			var todo []string
			for _, p := range pkgs {
				_, err := k.sys.InstalledVersion(ctx, t, p)
				if errors.Is(err, system.ErrNotInstalled) {
					continue
				}
				if err != nil {
					return err
				}
				todo = append(todo, p)
			}
			if len(todo) == 0 {
				return upgrade.Skip(n + ": none of " + strings.Join(pkgs, " ") + " is installed")
			}
			return k.sys.Download(ctx, t, todo...)
		})).CheckWith(k.checkAtTarget(node, pkgs[0]))
}

// WithDryFsck moves the consistency check of the upgraded database out of
// the outage (default false): instead of `onedb fsck` on the stopped
// leader, `onedb fsck --dry` runs once the zone is back. onedb allows a
// dry run while oned runs (src/onedb/onedb.rb, fsck: one_not_running only
// without --dry); it writes nothing, so problems it finds are reported
// for a later `onedb fsck` with oned stopped.
func WithDryFsck(on bool) Option {
	return optionFunc(func(o *options) error { o.dryFsck = on; return nil })
}

// DryFsck reports WithDryFsck.
func (k *Kit) DryFsck() bool { return k.o.dryFsck }

// FsckDryDB runs `onedb fsck --dry` on node ("" = the PerHost host) while
// oned runs. Problems found fail the step (nothing was repaired); repair
// them with `onedb fsck` in a later maintenance window.
func (k *Kit) FsckDryDB(name, node string) upgrade.Step {
	return Step(name, "onedb fsck --dry (check the upgraded database while the zone runs; nothing written)",
		onNode(node, func(ctx context.Context, s *upgrade.State, t transport.Transport, n string) error {
			res, err := onedb.Fsck(ctx, t, k.dbOpts(onedb.Release(k.target.String()), onedb.DryRun())...)
			if err != nil {
				return err
			}
			s.Output("stdout", fmt.Sprintf("fsck --dry: %d found, %d repairable, %d unrepairable", res.Found, res.Repaired, res.Unrepaired))
			if res.Found > 0 {
				return fmt.Errorf("onedb fsck --dry found %d problem(s) in the upgraded database, nothing repaired; run onedb fsck with oned stopped: %w",
					res.Found, &FsckError{Host: n, Unrepaired: res.Problems})
			}
			return nil
		})).CheckWith(Idempotent)
}

// StartAlone starts, on front-end node of zone z alone, the OpenNebula
// units that were running (as StartServices), so that oned's start and
// the 15 s it waits before its first election (RaftManager's constructor
// sets the last heartbeat ahead, src/raft/RaftManager.cc) overlap work
// still to do on the other front-ends. One server of a zone whose
// majority is two or more cannot be elected (RaftManager::request_vote
// needs a majority of votes), so it takes no write until enough
// followers start. It refuses a zone whose majority is one. Rollback
// stops the units again and waits until none is active.
func (k *Kit) StartAlone(name string, z Zone, node string) upgrade.Step {
	return Step(name, fmt.Sprintf("start the OpenNebula services of %s alone (no majority: no leader, no writes) so its oned is ready when the others start", node),
		func(ctx context.Context, s *upgrade.State) error {
			if z.Majority() < 2 {
				return fmt.Errorf("%w: %s alone would lead zone %d (majority %d) and take writes", ErrInvalidInventory, node, z.ID, z.Majority())
			}
			t, n, err := Node(s, node)
			if err != nil {
				return err
			}
			units := k.unitsToStart(s, n)
			s.Output("stdout", n+": starting "+strings.Join(units, " "))
			if err := k.sys.Start(ctx, t, units...); err != nil {
				return fmt.Errorf("%s: %w", n, err)
			}
			return nil
		}).CheckWith(Idempotent).RollbackWith(func(ctx context.Context, s *upgrade.State) error {
		t, n, err := Node(s, node)
		if err != nil {
			return err
		}
		active, err := k.ListActive(ctx, t)
		if err != nil || len(active) == 0 {
			return err
		}
		if err := k.sys.Stop(ctx, t, active...); err != nil {
			return fmt.Errorf("%s: %w", n, err)
		}
		return k.poll(ctx, s, "services stopped on "+n, func() (bool, error) {
			still, err := k.ListActive(ctx, t)
			return len(still) == 0, err
		})
	})
}

// readDB returns a reader of a front-end's database through its
// transport's Dialer with Inventory.DB (read on the open database), or
// nil when the inventory has no database connection.
func readDB[T any](k *Kit, read func(*onedb.DB, context.Context) (T, error)) func(context.Context, string, transport.Transport) (T, error) {
	if k.inv.DB == nil {
		return nil
	}
	conn := *k.inv.DB
	return func(ctx context.Context, _ string, t transport.Transport) (T, error) {
		db, err := onedb.Open(ctx, t, conn, onedb.WithLogger(k.o.log))
		if err != nil {
			var zero T
			return zero, err
		}
		defer db.Close()
		return read(db, ctx)
	}
}
