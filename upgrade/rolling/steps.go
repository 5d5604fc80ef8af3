package rolling

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/cenkalti/backoff/v4"

	"github.com/upgradekit/upgradekit/onedb"
	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/upgrade"
	"github.com/upgradekit/upgradekit/upgrade/internal/nebula"
	vpath "github.com/upgradekit/upgradekit/upgrade/path"
	"github.com/upgradekit/upgradekit/zone"
)

// KeyDecision is the path decision the preflight check recorded.
var keyDecision = upgrade.NewPersistentKey[string]("rolling/procedure")

// checkPath reads the release installed on leader and its database
// versions and asks upgrade/path which procedure fits; want lists the
// procedures the plan accepts.
func checkPath(k *nebula.Kit, leader, name string, want ...vpath.Procedure) upgrade.PreflightCheck {
	return upgrade.Preflight(name, func(ctx context.Context, s *upgrade.State) error {
		if v, ok := nebula.KeyStarted.Get(s); ok && v {
			s.Output("stdout", name+": not checked, the upgrade already started (resumed run)")
			return nil
		}
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
			return err
		}
		s.Output("stdout", fmt.Sprintf("%s procedure: %s", d.Procedure, d.Reason))
		if d.Procedure == vpath.None {
			return fmt.Errorf("%w: %s", nebula.ErrNothingToDo, d.Reason)
		}
		for _, w := range want {
			if d.Procedure == w {
				return keyDecision.Set(s, d.Procedure.String())
			}
		}
		return &PathError{Decision: d}
	})
}

// readyStep waits until zone z is in sync, asking node's local oned,
// before node is touched (the previous node rejoined, a majority stands);
// its rollback waits the same way after node was started again.
func readyStep(k *nebula.Kit, name string, z nebula.Zone, node string) upgrade.Step {
	st := k.WaitInSync(name, z, node, false)
	return upgrade.Func(name, st.Run).
		Describing(fmt.Sprintf("wait until zone %d is in sync before touching %s (rollback: wait again after it restarted)", z.ID, node)).
		CheckWith(nebula.Idempotent).RollbackWith(st.Run)
}

// handoffStep waits, through front-end via, for the zone to elect a new
// leader after the old one (node) stopped, and marks the API up.
func handoffStep(k *nebula.Kit, name string, z nebula.Zone, node, via string) upgrade.Step {
	return nebula.Step(name, fmt.Sprintf("wait until the remaining servers of zone %d elect a leader other than %s (API up)", z.ID, node),
		func(ctx context.Context, s *upgrade.State) error {
			t, _, err := nebula.Node(s, via)
			if err != nil {
				return err
			}
			var leader string
			err = k.PollStep(ctx, s, fmt.Sprintf("zone %d elects a new leader", z.ID), func() (bool, error) {
				zz, err := zone.Show(ctx, t, z.ID, zone.WithEndpoint(nebula.LocalEndpoint))
				if err != nil {
					if _, ok := errors.AsType[*zone.ParseError](err); ok {
						return false, backoff.Permanent(err)
					}
					return false, err
				}
				l, ok := zz.Leader()
				if !ok || l.Name == node {
					return false, nil
				}
				leader = l.Name
				return true, nil
			})
			if err != nil {
				return err
			}
			s.Output("stdout", "new leader: "+leader)
			return s.ServiceUp(nebula.Service)
		}).CheckWith(nebula.Idempotent)
}

// dbCurrentStep checks with `onedb version` that node's database needs no
// upgrade for the release now installed (a patch release).
func dbCurrentStep(k *nebula.Kit, name, node string) upgrade.Step {
	return nebula.Step(name, "check with onedb version that the database needs no upgrade (patch release)",
		func(ctx context.Context, s *upgrade.State) error {
			t, n, err := nebula.Node(s, node)
			if err != nil {
				return err
			}
			v, err := onedb.Version(ctx, t, k.DBOptions()...)
			if err != nil {
				return err
			}
			if v.Status != onedb.Current {
				return &DBVersionError{Host: n, Shared: v.Shared.Version, Local: v.Local.Version, Required: vpath.DBVersion(k.Target()).String()}
			}
			return nil
		}).CheckWith(nebula.Idempotent)
}

// startStep starts the OpenNebula units recorded as active on node
// (nebula.ActiveUnits). Rollback stops them again, so that the node's
// older steps are undone with its services stopped.
func startStep(k *nebula.Kit, name, node string) upgrade.Step {
	return nebula.Step(name, "start the OpenNebula services that were running",
		func(ctx context.Context, s *upgrade.State) error {
			t, n, err := nebula.Node(s, node)
			if err != nil {
				return err
			}
			return startUnits(ctx, s, k, t, n)
		}).CheckWith(nebula.Idempotent).RollbackWith(func(ctx context.Context, s *upgrade.State) error {
		t, _, err := nebula.Node(s, node)
		if err != nil {
			return err
		}
		return stopAll(ctx, k, t)
	})
}

// stopAll stops every active OpenNebula unit on the host behind t.
func stopAll(ctx context.Context, k *nebula.Kit, t transport.Transport) error {
	active, err := k.ListActive(ctx, t)
	if err != nil || len(active) == 0 {
		return err
	}
	return k.System().Stop(ctx, t, active...)
}

// leaderStopStep stops every active OpenNebula service of node (the
// leader): the others first, then, with the API marked down, oned
// itself, and verifies none is active. The units are recorded
// (nebula.ActiveUnits) for the start. With restart, rollback starts them
// again and marks the API up; without, a guardStep placed before the
// steps that changed the node while it ran does that.
func leaderStopStep(k *nebula.Kit, name, node string, restart bool) upgrade.Step {
	return nebula.Step(name, "stop every OpenNebula service, oned last (API down from then), and verify none is active",
		func(ctx context.Context, s *upgrade.State) error {
			t, n, err := nebula.Node(s, node)
			if err != nil {
				return err
			}
			key := nebula.ActiveUnits(n)
			active, err := k.ListActive(ctx, t)
			if err != nil {
				return err
			}
			if _, ok := key.Get(s); !ok {
				if err := key.Set(s, active); err != nil {
					return err
				}
			}
			if err := nebula.KeyStarted.Set(s, true); err != nil {
				return err
			}
			var others []string
			oned := false
			for _, u := range active {
				if u == "opennebula.service" || u == "opennebula" {
					oned = true
					continue
				}
				others = append(others, u)
			}
			if len(others) > 0 {
				s.Output("stdout", "stopping "+strings.Join(others, " "))
				if err := k.System().Stop(ctx, t, others...); err != nil {
					return err
				}
			}
			if err := s.ServiceDown(nebula.Service); err != nil {
				return err
			}
			if oned {
				s.Output("stdout", "stopping opennebula.service")
				if err := k.System().Stop(ctx, t, "opennebula.service"); err != nil {
					return err
				}
			}
			if s.DryRun() {
				return nil // nothing was stopped: do not wait for it
			}
			return k.PollStep(ctx, s, "services stopped on "+n, func() (bool, error) {
				still, err := k.ListActive(ctx, t)
				return len(still) == 0, err
			})
		}).CheckWith(nebula.Idempotent).RollbackWith(func(ctx context.Context, s *upgrade.State) error {
		if !restart {
			return nil
		}
		return restartRecorded(ctx, k, s, node)
	})
}

// restartRecorded starts the units recorded as active on node when it was
// stopped (daemon-reload first) and marks the API up.
func restartRecorded(ctx context.Context, k *nebula.Kit, s *upgrade.State, node string) error {
	t, n, err := nebula.Node(s, node)
	if err != nil {
		return err
	}
	units, ok := nebula.ActiveUnits(n).Get(s)
	if !ok || len(units) == 0 {
		return nil
	}
	if err := k.System().DaemonReload(ctx, t); err != nil {
		return err
	}
	if err := k.System().Start(ctx, t, units...); err != nil {
		return err
	}
	return s.ServiceUp(nebula.Service)
}

// guardStep does nothing; its rollback starts node's recorded services
// again. Place it before the steps that change a running node which is
// stopped later (packages staged before the stop): their rollbacks run
// first, so the node restarts with its old packages, configuration and
// database.
func guardStep(k *nebula.Kit, name, node string) upgrade.Step {
	return nebula.Step(name, "nothing now; on rollback, start "+node+"'s services again once its packages, configuration and database are back",
		func(context.Context, *upgrade.State) error { return nil }).
		CheckWith(nebula.Idempotent).
		RollbackWith(func(ctx context.Context, s *upgrade.State) error { return restartRecorded(ctx, k, s, node) })
}

// startUnits starts the units recorded as active on node n, oned first
// and alone (a restarted server's election clock starts with it), then
// the others.
func startUnits(ctx context.Context, s *upgrade.State, k *nebula.Kit, t transport.Transport, n string) error {
	oned, rest := splitUnits(k.UnitsToStart(s, n))
	for _, group := range [][]string{oned, rest} {
		if err := startGroup(ctx, s, k, t, n, group); err != nil {
			return err
		}
	}
	return nil
}

func startGroup(ctx context.Context, s *upgrade.State, k *nebula.Kit, t transport.Transport, n string, units []string) error {
	if len(units) == 0 {
		return nil
	}
	s.Output("stdout", n+": starting "+strings.Join(units, " "))
	if err := k.System().Start(ctx, t, units...); err != nil {
		return fmt.Errorf("%s: %w", n, err)
	}
	return nil
}

// splitUnits separates oned's unit from the others.
func splitUnits(units []string) (oned, rest []string) {
	for _, u := range units {
		if u == "opennebula.service" || u == "opennebula" {
			oned = append(oned, u)
		} else {
			rest = append(rest, u)
		}
	}
	return oned, rest
}
