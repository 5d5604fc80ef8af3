package proctest

import (
	"fmt"
	"time"

	"github.com/upgradekit/upgradekit/sim"
	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/upgrade"
	"github.com/upgradekit/upgradekit/upgrade/federation"
	"github.com/upgradekit/upgradekit/upgrade/ha"
	"github.com/upgradekit/upgradekit/upgrade/internal/nebula"
	"github.com/upgradekit/upgradekit/upgrade/internal/nebula/nebulatest"
	"github.com/upgradekit/upgradekit/upgrade/rolling"
)

// HA is the full HA upgrade (upgrade/ha) of a 3-node cluster,
// 7.2.0 → 7.4.1.
func HA() Procedure {
	return Procedure{
		Name:     "ha",
		NewCloud: func() (*sim.Cloud, error) { return sim.HA(3, "7.2.0") },
		Plan: func(c *sim.Cloud) (*upgrade.Plan, error) {
			// A static inventory, as an operator's: the live oned.conf
			// files change during the run.
			return ha.Plan(HAInventory(3, "7.4.1"), nebulatest.Options(c)...)
		},
		NoReturn:      ha.PointOfNoReturn,
		RollbackFault: ha.StepLeader + "/onedb-upgrade",
		To:            "7.4.1", ToDB: "7.4.0",
	}
}

// Rolling is the rolling patch upgrade (upgrade/rolling Plan) of a
// 3-node cluster, 7.4.0 → 7.4.1; it has no point of no return.
func Rolling() Procedure {
	return Procedure{
		Name:     "rolling",
		NewCloud: func() (*sim.Cloud, error) { return sim.HA(3, "7.4.0") },
		Plan: func(c *sim.Cloud) (*upgrade.Plan, error) {
			return rolling.Plan(HAInventory(3, "7.4.1"), rollingOptions(c)...)
		},
		RollbackFault: "nodes/fe1/onecfg",
		To:            "7.4.1", ToDB: "7.4.0",
	}
}

// Rejoin is the break-and-rejoin minor upgrade (upgrade/rolling
// RejoinPlan) of a 3-node cluster, 7.2.0 → 7.4.1.
func Rejoin() Procedure {
	return Procedure{
		Name:     "rejoin",
		NewCloud: func() (*sim.Cloud, error) { return sim.HA(3, "7.2.0") },
		Plan: func(c *sim.Cloud) (*upgrade.Plan, error) {
			// A static inventory: re-added followers get new SERVER_IDs,
			// and the resumed plan must be the same plan.
			return rolling.RejoinPlan(HAInventory(3, "7.4.1"), rollingOptions(c)...)
		},
		NoReturn:      rolling.RejoinNoReturn,
		RollbackFault: "leader/onedb-upgrade",
		To:            "7.4.1", ToDB: "7.4.0",
	}
}

// Federation is the coordinated upgrade (upgrade/federation) of the
// simulator's federation: HA master zone 0, HA slave 100 (leader
// ge-fe2), solo slave 101; 7.2.0 → 7.4.1.
func Federation() Procedure {
	return Procedure{
		Name:     "federation",
		NewCloud: func() (*sim.Cloud, error) { return sim.Federation("7.2.0") },
		Plan: func(c *sim.Cloud) (*upgrade.Plan, error) {
			return federation.Plan(FederationInventory("7.4.1"),
				federation.WithClock(c.Now), federation.WithTimer(c.Clock().NewTimer),
				federation.WithPollInterval(time.Second, 5*time.Second), federation.WithWaitTimeout(5*time.Minute),
				federation.WithChecksums(nebulatest.Checksums(c)))
		},
		NoReturn:      federation.PointOfNoReturn(0),
		RollbackFault: "zone-100/leader/onedb-upgrade",
		To:            "7.4.1", ToDB: "7.4.0",
	}
}

// FederationPatch is the federation's patch upgrade (upgrade/federation),
// 7.4.0 → 7.4.1: each zone on its own, none disabled.
func FederationPatch() Procedure {
	p := Federation()
	p.Name = "federation-patch"
	p.NewCloud = func() (*sim.Cloud, error) { return sim.Federation("7.4.0") }
	return p
}

// ByName returns the procedure named name.
func ByName(name string) (Procedure, bool) {
	for _, p := range []Procedure{HA(), Rolling(), Rejoin(), Federation(), FederationPatch()} {
		if p.Name == name {
			return p, true
		}
	}
	return Procedure{}, false
}

func rollingOptions(c *sim.Cloud) []rolling.Option {
	return []rolling.Option{rolling.WithClock(c.Now), rolling.WithTimer(c.Clock().NewTimer),
		rolling.WithPollInterval(time.Second, 5*time.Second), rolling.WithWaitTimeout(5 * time.Minute),
		rolling.WithChecksums(nebulatest.Checksums(c))}
}

// FederationInventory describes sim.Federation: master zone 0 (fr-fe1..3,
// leader fr-fe1), slave 100 (ge-fe1..3, leader ge-fe2, listed first) and
// solo slave 101 (us-fe1), each with two hypervisors.
func FederationInventory(target string) nebula.Inventory {
	fe := func(name string, id int) nebula.Frontend { return nebula.Frontend{Name: name, ServerID: id} }
	hv := func(names ...string) []nebula.Hypervisor {
		var out []nebula.Hypervisor
		for _, n := range names {
			out = append(out, nebula.Hypervisor{Name: n})
		}
		return out
	}
	return nebula.Inventory{
		Target:     target,
		Repository: nebula.Repository{URL: nebulatest.RepoURL, Token: transport.NewSecret(Token)},
		Zones: []nebula.Zone{
			{ID: 0, Name: "M-EU-FR", Endpoint: "http://192.168.150.1:2633/RPC2",
				Frontends: []nebula.Frontend{fe("fr-fe1", 0), fe("fr-fe2", 1), fe("fr-fe3", 2)}, Hypervisors: hv("fr-kvm1", "fr-kvm2")},
			{ID: 100, Name: "S-EU-GE", Endpoint: "http://192.168.150.2:2633/RPC2",
				Frontends: []nebula.Frontend{fe("ge-fe2", 1), fe("ge-fe1", 0), fe("ge-fe3", 2)}, Hypervisors: hv("ge-kvm1", "ge-kvm2")},
			{ID: 101, Name: "S-US-CA", Endpoint: "http://192.168.150.3:2633/RPC2",
				Frontends: []nebula.Frontend{fe("us-fe1", -1)}, Hypervisors: hv("us-kvm1", "us-kvm2")},
		},
	}
}

// HAInventory describes sim.HA(n, ...) as it is created: fe1..feN with
// SERVER_IDs 0..n-1 (leader fe1) and the KVM hosts kvm1..kvm3.
func HAInventory(n int, target string) nebula.Inventory {
	z := nebula.Zone{ID: 0, Name: "OpenNebula"}
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("fe%d", i)
		z.Frontends = append(z.Frontends, nebula.Frontend{Name: name, Address: name, ServerID: i - 1})
	}
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("kvm%d", i)
		z.Hypervisors = append(z.Hypervisors, nebula.Hypervisor{Name: name, Address: name, Kind: "kvm"})
	}
	return nebula.Inventory{Target: target, Repository: nebula.Repository{URL: nebulatest.RepoURL, Token: transport.NewSecret(Token)}, Zones: []nebula.Zone{z}}
}
