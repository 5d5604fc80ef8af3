package rolling_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/sim"
	"github.com/upgradekit/upgradekit/upgrade"
	"github.com/upgradekit/upgradekit/upgrade/rolling"
)

// benchSeeds is how many simulated runs a downtime figure is taken over:
// the elections' random back-off makes each run a sample.
const benchSeeds = 50

// reportSpread reports the median and the worst of ds in seconds.
func reportSpread(b *testing.B, name string, ds []time.Duration) {
	s := slices.Clone(ds)
	slices.Sort(s)
	b.ReportMetric(s[len(s)/2].Seconds(), name+"-median-s")
	b.ReportMetric(s[len(s)-1].Seconds(), name+"-worst-s")
}

func benchDowntime(b *testing.B, from string, plan func(c *sim.Cloud) (*upgrade.Plan, error)) {
	for b.Loop() {
		var api, writes []time.Duration
		for seed := range uint64(benchSeeds) {
			c, err := sim.HA(3, from, sim.WithSeed(seed))
			require.NoError(b, err)
			p, err := plan(c)
			require.NoError(b, err)
			r, err := upgrade.NewRunner(p, upgrade.WithHosts(c.Transports()), upgrade.WithClock(c.Now))
			require.NoError(b, err)
			_, err = r.Run(context.Background())
			require.NoError(b, err, fmt.Sprintf("seed %d", seed))
			api, writes = append(api, c.APIDowntime(0)), append(writes, c.WriteDowntime(0))
		}
		reportSpread(b, "api", api)
		reportSpread(b, "writes", writes)
	}
}

// BenchmarkRollingDowntime: the rolling patch upgrade 7.4.0 → 7.4.1 of a
// 3-front-end zone, API and write downtime over 50 seeds (virtual
// seconds, as the simulated zone saw them).
func BenchmarkRollingDowntime(b *testing.B) {
	benchDowntime(b, "7.4.0", func(c *sim.Cloud) (*upgrade.Plan, error) {
		return rolling.Plan(haInventory(3, "7.4.1"), simOpts(c)...)
	})
}

// BenchmarkRejoinDowntime: break-and-rejoin 7.2.0 → 7.4.1, likewise.
func BenchmarkRejoinDowntime(b *testing.B) {
	benchDowntime(b, "7.2.0", func(c *sim.Cloud) (*upgrade.Plan, error) {
		return rolling.RejoinPlan(haInventory(3, "7.4.1"), simOpts(c)...)
	})
}
