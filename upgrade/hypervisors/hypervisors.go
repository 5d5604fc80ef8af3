package hypervisors

import (
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.uber.org/zap"

	"github.com/upgradekit/upgradekit/upgrade"
	"github.com/upgradekit/upgradekit/upgrade/internal/nebula"
)

// Inventory types, shared by every OpenNebula procedure (see upgrade/ha).
type (
	// Inventory is the cloud to upgrade.
	Inventory = nebula.Inventory
	// Zone is one zone: front-ends and hypervisors.
	Zone = nebula.Zone
	// Frontend is one front-end.
	Frontend = nebula.Frontend
	// Hypervisor is one hypervisor host: name, SSH address, kind.
	Hypervisor = nebula.Hypervisor
	// Repository is the target release's package repository.
	Repository = nebula.Repository
)

// ErrFrontendsBehind: a front-end runs an older release than the target;
// Plan's first preflight check (CheckFrontends) refuses to run the nodes
// ahead of the front-ends. The error is a *FrontendsBehindError.
var ErrFrontendsBehind = nebula.ErrFrontendsBehind

// FrontendsBehindError lists the front-ends older than the target.
type FrontendsBehindError = nebula.FrontendsBehindError

// CheckFrontends is the preflight check that every front-end of the zone
// already runs the target release.
const CheckFrontends = nebula.CheckFrontends

// Option configures the plan; the same options serve upgrade/ha.
type Option = nebula.Option

// WithCLIUser runs onehost and onevm as user through sudo.
func WithCLIUser(user string) Option { return nebula.WithCLIUser(user) }

// WithLogger sets the logger (default zap.NewNop()).
func WithLogger(l *zap.Logger) Option { return nebula.WithLogger(l) }

// WithClock sets the clock of backups and waits (default time.Now).
func WithClock(now func() time.Time) Option { return nebula.WithClock(now) }

// WithTimer sets the timers waits sleep on (the simulator's virtual ones).
func WithTimer(newTimer func() backoff.Timer) Option { return nebula.WithTimer(newTimer) }

// WithSudo sets whether root commands go through sudo (default true).
func WithSudo(sudo bool) Option { return nebula.WithSudo(sudo) }

// WithConcurrency sets how many hypervisors are upgraded at once
// (default 5).
func WithConcurrency(n int) Option { return nebula.WithConcurrency(n) }

// WithCanary sets whether the first hypervisor goes alone before the
// others (default true).
func WithCanary(on bool) Option { return nebula.WithCanary(on) }

// WithFailureBudget sets after how many failed hypervisors no new one is
// started (default 1; hosts in flight finish).
func WithFailureBudget(n int) Option { return nebula.WithFailureBudget(n) }

// WithLeader names the front-end that runs onehost (default the zone's
// first front-end).
func WithLeader(name string) Option { return nebula.WithLeader(name) }

// WithWaitTimeout bounds the VM wait (default 10 minutes).
func WithWaitTimeout(d time.Duration) Option { return nebula.WithWaitTimeout(d) }

// WithPollInterval sets the first and largest interval between polls.
func WithPollInterval(first, largest time.Duration) Option {
	return nebula.WithPollInterval(first, largest)
}

// Step names.
const (
	StepVMs          = "vms-settled"
	StepDisable      = "hosts-disable"
	StepHypervisors  = "hypervisors"
	StepHostsRestore = "hosts-restore"
)

// Node returns the fan-out that upgrades every hypervisor of zone zoneID,
// named "hypervisors/<host>/...": repository, node package, libvirtd
// restart (KVM), `onehost sync` of the host as oneadmin on front-end via,
// and the host back to its recorded state (nebula.HostsSnapshot, taken by
// the hosts-disable step that must run before). Hosts run WithConcurrency
// at a time, the first alone WithCanary, and no new host starts after
// WithFailureBudget failures. It returns nil for a zone without
// hypervisors.
func Node(inv Inventory, zoneID int, via string, opts ...Option) (upgrade.Node, error) {
	k, err := nebula.New(inv, opts...)
	if err != nil {
		return nil, err
	}
	return node(k, zoneID, via)
}

func node(k *nebula.Kit, zoneID int, via string) (upgrade.Node, error) {
	z, ok := k.Inventory().Zone(zoneID)
	if !ok {
		return nil, fmt.Errorf("%w: no zone %d", nebula.ErrInvalidInventory, zoneID)
	}
	if len(z.Hypervisors) == 0 {
		return nil, nil
	}
	return upgrade.PerHost(StepHypervisors, z.HypervisorNames(), k.HypervisorNodes(z, via)).WithParallel(k.Parallel()), nil
}

// Plan upgrades only the hypervisors of the inventory's first zone, for
// when the front-ends are already at the target: VMs settled, hosts
// recorded and disabled, the hypervisors in batches, then every host back
// to its recorded state. The front-end used is the zone's leader
// (WithLeader, default the first front-end).
//
// Preflight checks first that every front-end runs the target release
// (CheckFrontends): nodes must never run ahead of the front-ends, so a
// front-end still on an older release stops the plan before any change
// (*FrontendsBehindError); then the hosts are reachable and no VM is in a
// failure state.
func Plan(inv Inventory, opts ...Option) (*upgrade.Plan, error) {
	k, err := nebula.New(inv, opts...)
	if err != nil {
		return nil, err
	}
	z := inv.Zones[0]
	via, err := k.Leader(z)
	if err != nil {
		return nil, err
	}
	hv, err := node(k, z.ID, via)
	if err != nil {
		return nil, err
	}
	if hv == nil {
		return nil, fmt.Errorf("%w: zone %d has no hypervisors", nebula.ErrInvalidInventory, z.ID)
	}
	p := upgrade.NewPlan(fmt.Sprintf("hypervisors zone %d → %s", z.ID, k.Target()),
		k.VMsSettled(StepVMs, via),
		k.DisableHosts(StepDisable, z, via),
		hv,
		k.RestoreHosts(StepHostsRestore, z, via),
	).WithPreflight(
		k.CheckFrontendsAtTarget(z),
		k.CheckReachableHosts(inv.Hosts()),
		k.CheckNoFailedVMs(via),
	).WithSecrets(k.Secrets()...)
	return p, p.Validate()
}
