package nebula

import (
	"context"
	"errors"
	"fmt"

	"github.com/upgradekit/upgradekit/host"
	"github.com/upgradekit/upgradekit/upgrade"
)

// HypervisorNodes returns the per-host sub-plan of one hypervisor of zone
// z (guide steps 12–13, the single front-end upgrade guide): repository, node package
// (opennebula-node-kvm|lxc), libvirtd restart for KVM, `onehost sync` of
// that host as oneadmin through front-end via (after the node packages, as
// the newest docs say), and the host back to its recorded state. Use it
// as the build function of upgrade.PerHost over z's hypervisors, with
// Kit.Parallel as the policy.
func (k *Kit) HypervisorNodes(z Zone, via string) func(name string) upgrade.Node {
	return func(name string) upgrade.Node {
		h := Hypervisor{Name: name}
		for _, x := range z.Hypervisors {
			if x.Name == name {
				h = x
			}
		}
		nodes := []upgrade.Node{
			k.SwitchRepository("repository", "", h.NodePackage()),
			k.UpgradePackages("packages", "", h.NodePackage()),
		}
		if h.IsKVM() {
			nodes = append(nodes, Step("restart-libvirtd", "systemctl restart libvirtd (new node package)",
				func(ctx context.Context, s *upgrade.State) error {
					t, _, err := Node(s, "")
					if err != nil {
						return err
					}
					return k.sys.Restart(ctx, t, "libvirtd")
				}).CheckWith(Idempotent))
		}
		nodes = append(nodes, k.SyncHost("sync", z, via), k.RestoreHost("restore-state", z, via))
		return upgrade.Phase("upgrade", nodes...)
	}
}

// hostID finds the OpenNebula host ID of the step's host: from the zone's
// snapshot, or from `onehost list` through via.
func (k *Kit) hostID(ctx context.Context, s *upgrade.State, z Zone, via string) (int, error) {
	name := s.Host()
	if snap, ok := HostsSnapshot(z.ID).Get(s); ok {
		for _, h := range snap.Hosts {
			if h.Name == name {
				return h.ID, nil
			}
		}
	}
	t, _, err := Node(s, via)
	if err != nil {
		return 0, err
	}
	hosts, err := host.List(ctx, t, k.hostOpts()...)
	if err != nil {
		return 0, err
	}
	for _, h := range hosts {
		if h.Name == name {
			return h.ID, nil
		}
	}
	return 0, fmt.Errorf("%w: hypervisor %s is not in `onehost list`", ErrInvalidInventory, name)
}

// SyncHost runs `onehost sync <id>` as oneadmin on front-end via for the
// step's host (inside PerHost over hypervisors): the front-end's remotes
// are copied to it. A host failure is a *host.SyncError.
func (k *Kit) SyncHost(name string, z Zone, via string) upgrade.Step {
	return Step(name, "onehost sync of this host as oneadmin (on "+via+")",
		func(ctx context.Context, s *upgrade.State) error {
			id, err := k.hostID(ctx, s, z, via)
			if err != nil {
				return err
			}
			t, _, err := Node(s, via)
			if err != nil {
				return err
			}
			res, err := host.Sync(ctx, t, host.WithSyncHosts(id))
			if err != nil {
				return err
			}
			if res.NothingToDo {
				s.Output("stdout", "remotes already current (or host offline)")
			}
			return nil
		}).CheckWith(Idempotent)
}

// RestoreHost brings the step's host (inside PerHost over hypervisors)
// back to its state in the zone's snapshot: enabled again if it was.
func (k *Kit) RestoreHost(name string, z Zone, via string) upgrade.Step {
	return Step(name, "bring this host back to its state before the upgrade",
		func(ctx context.Context, s *upgrade.State) error {
			snap, ok := HostsSnapshot(z.ID).Get(s)
			if !ok {
				return nil
			}
			one := host.Snapshot{Taken: snap.Taken}
			for _, h := range snap.Hosts {
				if h.Name == s.Host() {
					one.Hosts = append(one.Hosts, h)
				}
			}
			if len(one.Hosts) == 0 {
				return errors.New("host not in the snapshot")
			}
			t, _, err := Node(s, via)
			if err != nil {
				return err
			}
			rep, err := host.Restore(ctx, t, one, k.hostOpts()...)
			for _, a := range rep.Changed() {
				s.Output("stdout", fmt.Sprintf("host %d: %s (was %s)", a.HostID, a.Action, a.Was))
			}
			return err
		}).CheckWith(Idempotent)
}
