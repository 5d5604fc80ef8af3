package nebula

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/upgradekit/upgradekit/onedb"
	"github.com/upgradekit/upgradekit/onedconf"
	"github.com/upgradekit/upgradekit/system"
	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/upgrade"
	vpath "github.com/upgradekit/upgradekit/upgrade/path"
	"github.com/upgradekit/upgradekit/vm"
	"github.com/upgradekit/upgradekit/zone"
)

// Preflight conditions callers branch on; test with errors.Is.
var (
	// ErrNothingToDo: the target release is installed everywhere and the
	// database is current. Not a failure: there is nothing to upgrade.
	ErrNothingToDo = errors.New("already at the target release")
	// ErrInconsistent: the front-ends run different releases.
	ErrInconsistent = errors.New("front-ends run different releases")
	// ErrWrongLeader: the zone's leader is not the front-end the plan was
	// built for.
	ErrWrongLeader = errors.New("leader differs from the plan's")
	// ErrLowDisk: not enough free space for the database backups.
	ErrLowDisk = errors.New("not enough free disk space")
	// ErrMonitorAddress: an HA front-end's monitord.conf does not point
	// the hypervisors' monitoring at the VIP.
	ErrMonitorAddress = errors.New("MONITOR_ADDRESS is not the VIP")
	// ErrFrontendsBehind: a front-end runs an older release than the
	// hypervisors' target; the nodes would run ahead of the front-ends.
	ErrFrontendsBehind = errors.New("front-ends older than the hypervisors' target")
)

// Preflight check names.
const (
	CheckReachable = "ssh-reachable"
	CheckVersions  = "versions"
	CheckLeader    = "one-leader"
	CheckInSync    = "in-sync"
	CheckVMs       = "no-failed-vms"
	CheckDisk      = "disk-space"
	CheckMonitor   = "monitor-address"
	CheckFrontends = "frontends-at-target"
)

// FrontendsBehindError lists the front-ends whose opennebula release is
// older than the target the hypervisors would be upgraded to. It matches
// ErrFrontendsBehind.
type FrontendsBehindError struct {
	Target vpath.Version
	// Behind maps each such front-end to its installed release.
	Behind map[string]vpath.Version
}

func (e *FrontendsBehindError) Error() string {
	var parts []string
	for _, n := range slices.Sorted(maps.Keys(e.Behind)) {
		parts = append(parts, fmt.Sprintf("%s runs %s", n, e.Behind[n]))
	}
	return fmt.Sprintf("%s: %s; upgrade the front-ends to %s first (the node packages must never be newer than the front-ends)",
		ErrFrontendsBehind, strings.Join(parts, ", "), e.Target)
}

// Unwrap returns ErrFrontendsBehind.
func (e *FrontendsBehindError) Unwrap() error { return ErrFrontendsBehind }

// CheckFrontendsAtTarget checks that every front-end of z already runs
// the target release (or a newer one): the hypervisors' node packages and
// the remotes `onehost sync` copies come from the front-end's release, and
// the upgrade guides always upgrade the front-ends before the nodes
// (upgrading_single.md steps 11-13 in OpenNebula's docs). A front-end
// behind is a *FrontendsBehindError; nothing is changed.
func (k *Kit) CheckFrontendsAtTarget(z Zone) upgrade.PreflightCheck {
	return upgrade.Preflight(CheckFrontends, func(ctx context.Context, s *upgrade.State) error {
		behind := map[string]vpath.Version{}
		var errs []error
		for _, f := range z.Frontends {
			t, err := s.HostTransport(f.Name)
			if err != nil {
				return err
			}
			v, err := k.Release(ctx, t, "opennebula")
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", f.Name, err))
				continue
			}
			if v.Compare(k.target) < 0 {
				behind[f.Name] = v
			}
		}
		if err := errors.Join(errs...); err != nil {
			return err
		}
		if len(behind) > 0 {
			return &FrontendsBehindError{Target: k.target, Behind: behind}
		}
		return nil
	})
}

// MonitordConf is monitord's configuration file.
const MonitordConf = "/etc/one/monitord.conf"

// CheckMonitorAddress checks, on every front-end of an HA zone, that
// NETWORK/MONITOR_ADDRESS in monitord.conf is set (not "auto"): in HA it
// must be the VIP, or the hypervisors report to a front-end that may not
// be the leader (share/etc/oned.conf, upgrade guide step 7). A zone of one
// front-end passes.
func (k *Kit) CheckMonitorAddress(z Zone) upgrade.PreflightCheck {
	return upgrade.Preflight(CheckMonitor, func(ctx context.Context, s *upgrade.State) error {
		if len(z.Frontends) < 2 {
			return nil
		}
		var errs []error
		for _, f := range z.Frontends {
			t, err := s.HostTransport(f.Name)
			if err != nil {
				return err
			}
			// cat, a read-only command, rather than a download: dry-run
			// transports pass commands through, not file transfers.
			raw, err := transport.Output(ctx, t, k.root(transport.Query("cat", "--", MonitordConf)))
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", f.Name, err))
				continue
			}
			conf, err := onedconf.Parse(raw)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %s: %w", f.Name, MonitordConf, err))
				continue
			}
			v, err := conf.Get("NETWORK/MONITOR_ADDRESS")
			if err != nil && !errors.Is(err, onedconf.ErrNotFound) {
				errs = append(errs, fmt.Errorf("%s: %s: %w", f.Name, MonitordConf, err))
				continue
			}
			if v = strings.TrimSpace(v); v == "" || strings.EqualFold(v, "auto") {
				errs = append(errs, fmt.Errorf("%w: %s: %s has MONITOR_ADDRESS %q; set it to the zone's VIP", ErrMonitorAddress, f.Name, MonitordConf, v))
			}
		}
		return errors.Join(errs...)
	})
}

// resumed reports (and notes) a run resumed after the first change: the
// zone is stopped on purpose, health checks do not apply.
func resumed(s *upgrade.State, check string) bool {
	if v, ok := KeyStarted.Get(s); ok && v {
		s.Output("stdout", check+": not checked, the upgrade already started (resumed run)")
		return true
	}
	return false
}

// CheckReachableHosts runs `true` on every host, concurrently: SSH (or the
// transport) works and the login is accepted.
func (k *Kit) CheckReachableHosts(hosts []string) upgrade.PreflightCheck {
	return upgrade.Preflight(CheckReachable, func(ctx context.Context, s *upgrade.State) error {
		var g errgroup.Group
		g.SetLimit(16)
		errs := make([]error, len(hosts))
		for i, h := range hosts {
			g.Go(func() error {
				t, err := s.HostTransport(h)
				if err == nil {
					err = transport.Check(ctx, t, transport.Query("true"))
				}
				if err != nil {
					errs[i] = &transport.HostError{Host: h, Err: err}
				}
				return nil
			})
		}
		_ = g.Wait()
		return errors.Join(errs...)
	})
}

// CheckVersionsConsistent reads the opennebula release on every front-end
// of z (all equal, else ErrInconsistent), the database versions on leader,
// and asks path.Choose whether the upgrade to the target is allowed: a
// downgrade or a jump over a minor release is refused (*path.RefusedError),
// a cloud already at the target gives ErrNothingToDo. Hypervisors' node
// packages must not be newer than the target. The installed release is
// recorded (KeyFromVersion).
func (k *Kit) CheckVersionsConsistent(z Zone, leader string) upgrade.PreflightCheck {
	return upgrade.Preflight(CheckVersions, func(ctx context.Context, s *upgrade.State) error {
		if resumed(s, CheckVersions) {
			return nil
		}
		vers := map[string]vpath.Version{}
		var errs []error
		for _, f := range z.Frontends {
			t, err := s.HostTransport(f.Name)
			if err == nil {
				vers[f.Name], err = k.Release(ctx, t, "opennebula")
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", f.Name, err))
			}
		}
		for _, h := range z.Hypervisors {
			t, err := s.HostTransport(h.Name)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			v, err := k.Release(ctx, t, h.NodePackage())
			if errors.Is(err, system.ErrNotInstalled) {
				errs = append(errs, fmt.Errorf("%s: %s is not installed (wrong kind?)", h.Name, h.NodePackage()))
				continue
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", h.Name, err))
				continue
			}
			if v.Compare(k.target) > 0 {
				errs = append(errs, fmt.Errorf("%s: %s %s is newer than the target %s: %w", h.Name, h.NodePackage(), v, k.target, vpath.ErrDowngrade))
			}
		}
		if err := errors.Join(errs...); err != nil {
			return err
		}
		from := vers[leader]
		var diff []string
		for _, f := range z.Frontends {
			if vers[f.Name] != from {
				diff = append(diff, fmt.Sprintf("%s=%s", f.Name, vers[f.Name]))
			}
		}
		if len(diff) > 0 {
			return fmt.Errorf("%w: %s has %s, but %s", ErrInconsistent, leader, from, strings.Join(diff, ", "))
		}
		t, err := s.HostTransport(leader)
		if err != nil {
			return err
		}
		dbv, err := onedb.Version(ctx, t, k.dbOpts()...)
		if err != nil {
			return fmt.Errorf("%s: onedb version: %w", leader, err)
		}
		d, err := vpath.Choose(from.String(), k.target.String(), vpath.DBVersions{Shared: dbv.Shared.Version, Local: dbv.Local.Version})
		if err != nil {
			return err
		}
		s.Output("stdout", fmt.Sprintf("%s procedure: %s", d.Procedure, d.Reason))
		if d.Procedure == vpath.None {
			return fmt.Errorf("%w: %s", ErrNothingToDo, d.Reason)
		}
		return KeyFromVersion.Set(s, from.String())
	})
}

// CheckOneLeader checks, through front-end via, that zone z has exactly
// one leader, that it is leader (the front-end the plan upgrades first and
// whose database the followers receive), and that every server of the
// inventory is in the zone with its SERVER_ID. A zone without HA passes.
func (k *Kit) CheckOneLeader(z Zone, leader string) upgrade.PreflightCheck {
	return upgrade.Preflight(CheckLeader, func(ctx context.Context, s *upgrade.State) error {
		if resumed(s, CheckLeader) {
			return nil
		}
		t, err := s.HostTransport(leader)
		if err != nil {
			return err
		}
		zz, err := zone.Show(ctx, t, z.ID, k.zoneOpts()...)
		if err != nil {
			return err
		}
		if !zz.HA() {
			if len(z.Frontends) > 1 {
				return fmt.Errorf("zone %d has no HA servers but the inventory lists %d front-ends", z.ID, len(z.Frontends))
			}
			return nil
		}
		l, ok := zz.Leader()
		if !ok {
			return zz.CheckSync(k.o.maxLag)
		}
		var errs []error
		for _, f := range z.Frontends {
			srv, ok := zz.ServerByID(f.ServerID)
			if !ok || srv.Name != f.Name {
				errs = append(errs, fmt.Errorf("zone %d has no server %d named %s", z.ID, f.ServerID, f.Name))
			}
		}
		if len(zz.Servers) != len(z.Frontends) {
			errs = append(errs, fmt.Errorf("zone %d has %d servers, the inventory %d", z.ID, len(zz.Servers), len(z.Frontends)))
		}
		if l.Name != leader {
			errs = append(errs, fmt.Errorf("%w: the leader is %s, the plan was built for %s (rebuild it with that leader)", ErrWrongLeader, l.Name, leader))
		}
		return errors.Join(errs...)
	})
}

// CheckZoneInSync checks once, through front-end via, that zone z is in
// sync (every server reachable, one leader, followers caught up).
func (k *Kit) CheckZoneInSync(z Zone, via string) upgrade.PreflightCheck {
	return upgrade.Preflight(CheckInSync, func(ctx context.Context, s *upgrade.State) error {
		if resumed(s, CheckInSync) {
			return nil
		}
		t, err := s.HostTransport(via)
		if err != nil {
			return err
		}
		zz, err := zone.Show(ctx, t, z.ID, k.zoneOpts()...)
		if err != nil {
			return err
		}
		return zz.CheckSync(k.o.maxLag)
	})
}

// CheckNoFailedVMs lists the VMs through front-end via and fails with a
// *vm.FailedError when any is in a failure state (they need `onevm
// recover` first; transient ones are waited for by VMsSettled).
func (k *Kit) CheckNoFailedVMs(via string) upgrade.PreflightCheck {
	return upgrade.Preflight(CheckVMs, func(ctx context.Context, s *upgrade.State) error {
		if resumed(s, CheckVMs) {
			return nil
		}
		t, err := s.HostTransport(via)
		if err != nil {
			return err
		}
		vms, err := vm.List(ctx, t, k.vmOpts()...)
		if err != nil {
			return err
		}
		var failed []vm.VM
		for _, v := range vms {
			if c := vm.Classify(v); c == vm.Failed || c == vm.Unknown {
				failed = append(failed, v)
			}
		}
		if len(failed) > 0 {
			return &vm.FailedError{VMs: failed}
		}
		return nil
	})
}

// DiskError reports a front-end without enough free space.
type DiskError struct {
	Host, Path      string
	Avail, Required int64 // bytes
}

func (e *DiskError) Error() string {
	return fmt.Sprintf("%s: %s has %d MiB free, the backups need at least %d MiB", e.Host, e.Path, e.Avail>>20, e.Required>>20)
}

func (e *DiskError) Unwrap() error { return ErrLowDisk }

// CheckDiskSpace checks with `df -Pk` that the file system of /var/lib/one
// on every front-end of z has at least minFree bytes free for the database
// backups and onedb's own (a few copies of the database).
func (k *Kit) CheckDiskSpace(z Zone, minFree int64) upgrade.PreflightCheck {
	return upgrade.Preflight(CheckDisk, func(ctx context.Context, s *upgrade.State) error {
		var errs []error
		for _, f := range z.Frontends {
			t, err := s.HostTransport(f.Name)
			if err != nil {
				return err
			}
			out, err := transport.Output(ctx, t, transport.Query("df", "-Pk", "--", "/var/lib/one"))
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", f.Name, err))
				continue
			}
			avail, err := ParseDfAvail(out)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", f.Name, err))
				continue
			}
			if avail < minFree {
				errs = append(errs, &DiskError{Host: f.Name, Path: "/var/lib/one", Avail: avail, Required: minFree})
			}
		}
		return errors.Join(errs...)
	})
}

// ErrMalformed: remote output could not be parsed.
var ErrMalformed = errors.New("malformed output")

// ParseDfAvail returns the available bytes from `df -Pk PATH` output (a
// header line, then one POSIX line: filesystem, 1024-blocks, used,
// available, capacity, mount point).
func ParseDfAvail(out []byte) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	var lines []string
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "Filesystem") {
		return 0, fmt.Errorf("%w: df: expected a header and one line, got %d lines", ErrMalformed, len(lines))
	}
	f := strings.Fields(lines[1])
	if len(f) < 6 {
		return 0, fmt.Errorf("%w: df: %d fields in %q", ErrMalformed, len(f), lines[1])
	}
	// The file system name may contain spaces: count from the end.
	kb, err := strconv.ParseInt(f[len(f)-3], 10, 64)
	if err != nil || kb < 0 || kb > 1<<53 {
		return 0, fmt.Errorf("%w: df: available %q", ErrMalformed, f[len(f)-3])
	}
	return kb << 10, nil
}
