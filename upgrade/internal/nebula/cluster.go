package nebula

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cenkalti/backoff/v4"

	"github.com/upgradekit/upgradekit/host"
	"github.com/upgradekit/upgradekit/onedb"
	"github.com/upgradekit/upgradekit/system"
	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/upgrade"
	"github.com/upgradekit/upgradekit/vm"
	"github.com/upgradekit/upgradekit/zone"
)

// Service names of the downtime marks.
const (
	// Service is the zone's API: down from the leader's stop until a new
	// leader is elected.
	Service = "opennebula"
	// ServiceWrites is the zone's write path: down from the moment too
	// few servers run for a Raft majority (writes cannot commit) until a
	// new leader is elected.
	ServiceWrites = "opennebula-writes"
)

// VMsSettled waits, through front-end via, until no VM is in a transient
// state (include/VirtualMachine.h, guide step 1). A VM in a failure state stops it at once
// with a *vm.FailedError naming the VMs: they need `onevm recover`.
func (k *Kit) VMsSettled(name, via string) upgrade.Step {
	return Step(name, "wait until no VM is in a transient state (fail at once on VMs in a failure state)",
		func(ctx context.Context, s *upgrade.State) error {
			t, _, err := Node(s, via)
			if err != nil {
				return err
			}
			var transient []vm.VM
			err = k.poll(ctx, s, "VMs settled", func() (bool, error) {
				vms, err := vm.List(ctx, t, k.vmOpts()...)
				if err != nil {
					if _, ok := errors.AsType[*vm.ParseError](err); ok {
						return false, backoff.Permanent(err)
					}
					return false, err
				}
				var failed []vm.VM
				transient = transient[:0]
				for _, v := range vms {
					switch vm.Classify(v) {
					case vm.Failed, vm.Unknown:
						failed = append(failed, v)
					case vm.Transient:
						transient = append(transient, v)
					}
				}
				if len(failed) > 0 {
					return false, backoff.Permanent(&vm.FailedError{VMs: failed})
				}
				if len(transient) > 0 {
					s.Output("stdout", fmt.Sprintf("%d VM(s) still transient, first: %d %s", len(transient), transient[0].ID, transient[0].StateName()))
				}
				return len(transient) == 0, nil
			})
			if errors.Is(err, ErrTimeout) {
				return errors.Join(err, &vm.NotSettledError{Transient: transient, Cause: vm.ErrTimeout})
			}
			return err
		}).CheckWith(Idempotent)
}

// DisableHosts records every host's state of zone z (HostsSnapshot, once:
// a re-run keeps the first snapshot) and disables the enabled ones,
// through front-end via (guide step 2). Rollback restores the snapshot.
// Hosts are disabled, not set offline: `onehost sync` skips offline hosts
// (include/Host.h). The zone itself is not disabled: `onezone disable` in HA can
// leave the zone without a leader (OpenNebula issue #8120, src/raft/RaftManager.cc).
func (k *Kit) DisableHosts(name string, z Zone, via string) upgrade.Step {
	key := HostsSnapshot(z.ID)
	return Step(name, fmt.Sprintf("record the state of every host of zone %d and disable the enabled ones", z.ID),
		func(ctx context.Context, s *upgrade.State) error {
			t, _, err := Node(s, via)
			if err != nil {
				return err
			}
			if _, ok := key.Get(s); !ok {
				snap, err := host.TakeSnapshot(ctx, t, k.hostOpts(host.WithClock(k.o.now))...)
				if err != nil {
					return err
				}
				if err := key.Set(s, snap); err != nil {
					return err
				}
			}
			if err := KeyStarted.Set(s, true); err != nil {
				return err
			}
			hosts, err := host.List(ctx, t, k.hostOpts()...)
			if err != nil {
				return err
			}
			var ids []int
			for _, h := range hosts {
				if h.State.Mode() == host.ModeEnabled {
					ids = append(ids, h.ID)
				}
			}
			if len(ids) == 0 {
				s.Output("stdout", "no enabled host")
				return nil
			}
			s.Output("stdout", fmt.Sprintf("disabling hosts %v", ids))
			return host.Disable(ctx, t, ids, k.hostOpts()...)
		}).CheckWith(Idempotent).RollbackWith(func(ctx context.Context, s *upgrade.State) error {
		// The undos before this one started oned again on the front-ends:
		// its API answers once the zone has elected a leader, which takes
		// an election timeout (seconds) after the restart.
		if _, ok := key.Get(s); ok {
			if err := k.waitHostAPI(ctx, s, via); err != nil {
				return err
			}
		}
		return k.restoreHosts(ctx, s, z, via)
	})
}

// waitHostAPI waits until `onehost list` answers on front-end via: a
// non-zero exit (no leader yet, oned starting) is waited out, a transport
// failure is not.
func (k *Kit) waitHostAPI(ctx context.Context, s *upgrade.State, via string) error {
	t, n, err := Node(s, via)
	if err != nil {
		return err
	}
	return k.poll(ctx, s, "OpenNebula API on "+n, func() (bool, error) {
		_, err := host.List(ctx, t, k.hostOpts()...)
		if _, ok := errors.AsType[*transport.ExitError](err); ok {
			return false, nil
		}
		if err != nil {
			return false, backoff.Permanent(err)
		}
		return true, nil
	})
}

// RestoreHosts brings every host of zone z back to the state recorded by
// DisableHosts (enabled, disabled or offline as it was), through front-end
// via (guide step 13, done exactly).
func (k *Kit) RestoreHosts(name string, z Zone, via string) upgrade.Step {
	return Step(name, fmt.Sprintf("bring every host of zone %d back to its state before the upgrade", z.ID),
		func(ctx context.Context, s *upgrade.State) error { return k.restoreHosts(ctx, s, z, via) }).
		CheckWith(Idempotent)
}

func (k *Kit) restoreHosts(ctx context.Context, s *upgrade.State, z Zone, via string) error {
	snap, ok := HostsSnapshot(z.ID).Get(s)
	if !ok {
		s.Output("stdout", "no host snapshot recorded: hosts were not disabled")
		return nil
	}
	t, _, err := Node(s, via)
	if err != nil {
		return err
	}
	rep, err := host.Restore(ctx, t, snap, k.hostOpts()...)
	for _, a := range rep.Changed() {
		s.Output("stdout", fmt.Sprintf("host %d %s: %s (was %s)", a.HostID, a.Name, a.Action, a.Was))
	}
	return err
}

// ListActive returns the active OpenNebula services and timers of the host
// behind t (`systemctl list-units 'opennebula*'`).
func (k *Kit) ListActive(ctx context.Context, t transport.Transport) ([]string, error) {
	// One type per call: the simulator does not take systemd's
	// comma-separated --type lists.
	var names []string
	for _, typ := range []string{"service", "timer"} {
		units, err := k.sys.ListUnits(ctx, t, system.UnitFilter{
			Types: []string{typ}, States: []string{"active"}, Patterns: []string{"opennebula*"},
		})
		if err != nil {
			return nil, err
		}
		for _, u := range units {
			names = append(names, u.Name)
		}
	}
	return names, nil
}

// StopServices stops every active OpenNebula service on node (share/pkgs/services/systemd/:
// stopping opennebula leaves flow, gate, hem, fireedge, guacd, form, ks...
// running, so each is named) and waits until none is active. The units
// that were active are recorded (ActiveUnits) and are the ones started
// again. With markDown, the zone's API (Service) is marked down just
// before (use it on the last node stopped: the leader). Rollback starts
// the recorded units again.
func (k *Kit) StopServices(name, node string, markDown bool) upgrade.Step {
	if markDown {
		return k.StopServicesMarking(name, node, Service)
	}
	return k.StopServicesMarking(name, node)
}

// StopServicesMarking is StopServices marking the named services down
// just before the stop (and up again when its rollback has started the
// units): Service on the leader, ServiceWrites on the node whose stop
// leaves too few servers for a majority.
func (k *Kit) StopServicesMarking(name, node string, down ...string) upgrade.Step {
	desc := "stop every active OpenNebula service (opennebula, -hem, -flow, -gate, -fireedge, -guacd, -form, -ks, ...) and verify none is active"
	return Step(name, desc, func(ctx context.Context, s *upgrade.State) error {
		t, n, err := Node(s, node)
		if err != nil {
			return err
		}
		key := ActiveUnits(n)
		active, err := k.ListActive(ctx, t)
		if err != nil {
			return err
		}
		if _, ok := key.Get(s); !ok {
			if err := key.Set(s, active); err != nil {
				return err
			}
		}
		if err := KeyStarted.Set(s, true); err != nil {
			return err
		}
		for _, svc := range down {
			if err := s.ServiceDown(svc); err != nil {
				return err
			}
		}
		if len(active) > 0 {
			s.Output("stdout", "stopping "+strings.Join(active, " "))
			if err := k.sys.Stop(ctx, t, active...); err != nil {
				return err
			}
		}
		var still []string
		err = k.poll(ctx, s, "services stopped on "+n, func() (bool, error) {
			still, err = k.ListActive(ctx, t)
			return len(still) == 0, err
		})
		if errors.Is(err, ErrTimeout) {
			units := map[string]system.State{}
			for _, u := range still {
				units[u] = system.StateActive
			}
			return errors.Join(err, &system.StillActiveError{Host: n, Units: units})
		}
		return err
	}).CheckWith(Idempotent).RollbackWith(func(ctx context.Context, s *upgrade.State) error {
		t, n, err := Node(s, node)
		if err != nil {
			return err
		}
		units, ok := ActiveUnits(n).Get(s)
		if !ok || len(units) == 0 {
			return nil
		}
		if err := k.sys.DaemonReload(ctx, t); err != nil {
			return err
		}
		if err := k.sys.Start(ctx, t, units...); err != nil {
			return err
		}
		for _, svc := range down {
			if err := s.ServiceUp(svc); err != nil {
				return err
			}
		}
		return nil
	})
}

// removedUnits are the units 7.0 removed (share/pkgs/services/systemd/); they are not
// started again after an upgrade to 7.0 or later.
var removedUnits = []string{"opennebula-scheduler", "opennebula-sunstone", "opennebula-novnc"}

// unitsToStart returns the units recorded as active on node, without the
// ones the target release removed; "opennebula" when none was recorded.
func (k *Kit) unitsToStart(s *upgrade.State, node string) []string {
	units, ok := ActiveUnits(node).Get(s)
	if !ok || len(units) == 0 {
		return []string{"opennebula.service"}
	}
	var out []string
	for _, u := range units {
		base := strings.TrimSuffix(u, ".service")
		if k.target.Major >= 7 && slices.Contains(removedUnits, base) {
			s.Output("stdout", fmt.Sprintf("%s: %s was removed in 7.0, not started", node, u))
			continue
		}
		out = append(out, u)
	}
	return out
}

// StartServices starts, on each of nodes in turn, the OpenNebula units
// that were active before StopServices (guide step 10). Start enough
// nodes for a Raft majority in one step, the others in a later one: a
// lone node stays follower or candidate (src/raft/RaftManager.cc).
func (k *Kit) StartServices(name string, nodes []string) upgrade.Step {
	return Step(name, fmt.Sprintf("start the OpenNebula services that were running, on %s", strings.Join(nodes, ", ")),
		func(ctx context.Context, s *upgrade.State) error {
			for _, n := range nodes {
				t, _, err := Node(s, n)
				if err != nil {
					return err
				}
				units := k.unitsToStart(s, n)
				s.Output("stdout", n+": starting "+strings.Join(units, " "))
				if err := k.sys.Start(ctx, t, units...); err != nil {
					return fmt.Errorf("%s: %w", n, err)
				}
			}
			return nil
		}).CheckWith(Idempotent)
}

// WaitLeader waits, asking front-end via (its local oned), until zone z
// has a leader (or, without HA, until the front-end answers), then marks
// the services up (Service when none is named): the API answers and
// writes commit again from then on. Start the majority, wait for the
// leader, then start the other front-ends, so that the API does not wait
// for them.
func (k *Kit) WaitLeader(name string, z Zone, via string, up ...string) upgrade.Step {
	if len(up) == 0 {
		up = []string{Service}
	}
	return Step(name, fmt.Sprintf("wait until zone %d has a leader again (API up)", z.ID),
		func(ctx context.Context, s *upgrade.State) error {
			if err := k.waitLeader(ctx, s, z, via); err != nil {
				return err
			}
			for _, svc := range up {
				if err := s.ServiceUp(svc); err != nil {
					return err
				}
			}
			return nil
		}).CheckWith(Idempotent)
}

// waitLeader polls front-end via (its local oned) until zone z has a
// leader, or answers at all without HA.
func (k *Kit) waitLeader(ctx context.Context, s *upgrade.State, z Zone, via string) error {
	t, _, err := Node(s, via)
	if err != nil {
		return err
	}
	var last zone.Zone
	err = k.pollOutage(ctx, s, fmt.Sprintf("zone %d leader", z.ID), func() (bool, error) {
		zz, err := zone.Show(ctx, t, z.ID, k.zoneOpts()...)
		if err != nil {
			if _, ok := errors.AsType[*zone.ParseError](err); ok {
				return false, backoff.Permanent(err)
			}
			return false, err
		}
		last = zz
		l, ok := zz.Leader()
		if ok {
			s.Output("stdout", fmt.Sprintf("leader %s, term %d", l.Name, l.Raft.Term))
		}
		return ok || !zz.HA(), nil
	})
	if errors.Is(err, ErrTimeout) && last.HA() {
		err = errors.Join(err, last.CheckSync(k.o.maxLag))
	}
	return err
}

// WaitInSync waits, asking front-end via (its local oned), until zone z
// has one leader and every follower caught up (zone.Zone.CheckSync; HA
// upgrade guide, step 8). With markUp the zone's API is marked up as soon as it
// answers with a leader (or at all, without HA). On timeout the error
// holds the last *zone.NotInSyncError (which server lagged, by how much).
func (k *Kit) WaitInSync(name string, z Zone, via string, markUp bool) upgrade.Step {
	return Step(name, fmt.Sprintf("wait until zone %d has one leader and every follower is in sync", z.ID),
		func(ctx context.Context, s *upgrade.State) error {
			t, _, err := Node(s, via)
			if err != nil {
				return err
			}
			up := !markUp
			poll := k.poll
			if markUp {
				poll = k.pollOutage
			}
			return poll(ctx, s, fmt.Sprintf("zone %d in sync", z.ID), func() (bool, error) {
				zz, err := zone.Show(ctx, t, z.ID, k.zoneOpts()...)
				if err != nil {
					if _, ok := errors.AsType[*zone.ParseError](err); ok {
						return false, backoff.Permanent(err)
					}
					return false, err
				}
				if _, ok := zz.Leader(); !up && (ok || !zz.HA()) {
					up = true
					if err := s.ServiceUp(Service); err != nil {
						return false, backoff.Permanent(err)
					}
				}
				if err := zz.CheckSync(k.o.maxLag); err != nil {
					return false, err
				}
				return true, nil
			})
		}).CheckWith(Idempotent)
}

// replicatedOnly drops onedb.LocalTables from c, whatever the checksum
// function covered: oned writes them outside the Raft log (the leader's
// monitoring), so a running follower never matches them.
func replicatedOnly(c onedb.TableChecksums) onedb.TableChecksums {
	for _, t := range onedb.LocalTables() {
		delete(c.Tables, t)
		delete(c.Definitions, t)
		if !slices.Contains(c.Excluded, t) {
			c.Excluded = append(c.Excluded, t)
		}
	}
	return c
}

// CompareChecksums compares the table checksums of every follower's
// database with the leader's (onedb.Compare), retrying until they match
// or the wait times out. It needs Inventory.DB (databases reached through
// the transports' Dialer) or WithChecksums; without either the step skips
// itself (upgrade.Skip) with the reason, so the report shows it skipped.
func (k *Kit) CompareChecksums(name string, z Zone, leader string) upgrade.Step {
	fn := k.o.checksums
	desc := "compare every follower's database table checksums with the leader's"
	if fn == nil {
		fn = readDB(k, func(db *onedb.DB, ctx context.Context) (onedb.TableChecksums, error) { return db.Checksums(ctx) })
	}
	const noDB = "no database connection configured (Inventory.DB), follower databases are not compared"
	if fn == nil {
		desc = "skipped: " + noDB
	}
	return Step(name, desc, func(ctx context.Context, s *upgrade.State) error {
		if fn == nil {
			return upgrade.Skip(noDB)
		}
		followers := z.Followers(leader)
		if len(followers) == 0 {
			return nil
		}
		sums := func(n string) (onedb.TableChecksums, error) {
			t, _, err := Node(s, n)
			if err != nil {
				return onedb.TableChecksums{}, backoff.Permanent(err)
			}
			c, err := fn(ctx, n, t)
			if err != nil {
				err = fmt.Errorf("%s: checksums: %w", n, err)
				if errors.Is(err, onedb.ErrNoDialer) || errors.Is(err, onedb.ErrAccessDenied) || errors.Is(err, onedb.ErrUnknownDatabase) {
					err = backoff.Permanent(err) // waiting cannot help
				}
				return c, err
			}
			return replicatedOnly(c), nil
		}
		return k.poll(ctx, s, "follower databases equal the leader's", func() (bool, error) {
			l, err := sums(leader)
			if err != nil {
				return false, err
			}
			var errs []error
			for _, f := range followers {
				c, err := sums(f)
				if err == nil {
					if err = onedb.Compare(l, c); err != nil {
						err = fmt.Errorf("%s differs from leader %s: %w", f, leader, err)
					}
				}
				errs = append(errs, err)
			}
			if err := errors.Join(errs...); err != nil {
				return false, err
			}
			s.Output("stdout", fmt.Sprintf("%d tables equal on %s and %s", len(l.Tables), leader, strings.Join(followers, ", ")))
			return true, nil
		})
	}).CheckWith(Idempotent)
}
