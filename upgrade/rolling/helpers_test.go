package rolling_test

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/onedb"
	"github.com/upgradekit/upgradekit/sim"
	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/upgrade"
	"github.com/upgradekit/upgradekit/upgrade/rolling"
)

const repoURL = "https://downloads.opennebula.io/repo/{series}/Ubuntu/24.04"

// haInventory describes sim.HA(n, ...): fe1..feN (leader fe1) and
// kvm1..kvm3.
func haInventory(n int, target string) rolling.Inventory {
	z := rolling.Zone{ID: 0, Name: "OpenNebula"}
	for i := 1; i <= n; i++ {
		name := "fe" + string(rune('0'+i))
		z.Frontends = append(z.Frontends, rolling.Frontend{Name: name, ServerID: i - 1})
	}
	for _, h := range []string{"kvm1", "kvm2", "kvm3"} {
		z.Hypervisors = append(z.Hypervisors, rolling.Hypervisor{Name: h})
	}
	return rolling.Inventory{Target: target, Repository: rolling.Repository{URL: repoURL}, Zones: []rolling.Zone{z}}
}

// simOpts are the plan options that put the waits on c's virtual time.
func simOpts(c *sim.Cloud, more ...rolling.Option) []rolling.Option {
	return append([]rolling.Option{rolling.WithClock(c.Now), rolling.WithTimer(c.Clock().NewTimer),
		rolling.WithPollInterval(time.Second, 5*time.Second), rolling.WithWaitTimeout(5 * time.Minute)}, more...)
}

// run runs p on c with a journal in store and returns the report.
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

var transportStop = transport.Cmd("systemctl", "stop", "opennebula")

// replicated drops the tables oned writes outside the Raft log
// (onedb.LocalTables): the leader's monitoring differs from its
// followers'.
func replicated(m map[string]string) map[string]string {
	out := maps.Clone(m)
	for _, t := range onedb.LocalTables() {
		delete(out, t)
	}
	return out
}
