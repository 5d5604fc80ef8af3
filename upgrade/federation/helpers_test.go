package federation_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/sim"
	"github.com/upgradekit/upgradekit/upgrade"
	"github.com/upgradekit/upgradekit/upgrade/federation"
)

const repoURL = "https://downloads.opennebula.io/repo/{series}/Ubuntu/24.04"

// fedInventory describes sim.Federation: master zone 0 (fr-fe1..3,
// leader fr-fe1), slave 100 (ge-fe1..3, leader ge-fe2, listed first) and
// solo slave 101 (us-fe1), each with two hypervisors.
func fedInventory(target string) federation.Inventory {
	fe := func(name string, id int) federation.Frontend { return federation.Frontend{Name: name, ServerID: id} }
	hv := func(names ...string) []federation.Hypervisor {
		var out []federation.Hypervisor
		for _, n := range names {
			out = append(out, federation.Hypervisor{Name: n})
		}
		return out
	}
	return federation.Inventory{
		Target:     target,
		Repository: federation.Repository{URL: repoURL},
		Zones: []federation.Zone{
			{ID: 0, Name: "M-EU-FR", Endpoint: "http://192.168.150.1:2633/RPC2",
				Frontends: []federation.Frontend{fe("fr-fe1", 0), fe("fr-fe2", 1), fe("fr-fe3", 2)}, Hypervisors: hv("fr-kvm1", "fr-kvm2")},
			{ID: 100, Name: "S-EU-GE", Endpoint: "http://192.168.150.2:2633/RPC2",
				Frontends: []federation.Frontend{fe("ge-fe2", 1), fe("ge-fe1", 0), fe("ge-fe3", 2)}, Hypervisors: hv("ge-kvm1", "ge-kvm2")},
			{ID: 101, Name: "S-US-CA", Endpoint: "http://192.168.150.3:2633/RPC2",
				Frontends: []federation.Frontend{fe("us-fe1", -1)}, Hypervisors: hv("us-kvm1", "us-kvm2")},
		},
	}
}

func simOpts(c *sim.Cloud, more ...federation.Option) []federation.Option {
	return append([]federation.Option{federation.WithClock(c.Now), federation.WithTimer(c.Clock().NewTimer),
		federation.WithPollInterval(time.Second, 5*time.Second), federation.WithWaitTimeout(5 * time.Minute)}, more...)
}

func run(ctx context.Context, t *testing.T, c *sim.Cloud, p *upgrade.Plan, store upgrade.Store, more ...upgrade.Option) (upgrade.Report, error) {
	t.Helper()
	opts := append([]upgrade.Option{upgrade.WithHosts(c.Transports()), upgrade.WithClock(c.Now), upgrade.WithJournal(store)}, more...)
	r, err := upgrade.NewRunner(p, opts...)
	require.NoError(t, err)
	return r.Run(ctx)
}

func status(t *testing.T, c *sim.Cloud, node string) sim.NodeStatus {
	t.Helper()
	st, err := c.Status(node)
	require.NoError(t, err)
	return st
}
