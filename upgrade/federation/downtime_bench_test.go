package federation_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/sim"
	"github.com/upgradekit/upgradekit/upgrade"
	"github.com/upgradekit/upgradekit/upgrade/federation"
)

// BenchmarkFederationDowntime: the federation 7.2.0 → 7.4.1 (HA master,
// HA and solo slaves), each zone's API and write downtime and the whole
// run over 50 seeds (virtual seconds; work on several hosts adds up on
// the simulator's one clock, so these are upper bounds).
func BenchmarkFederationDowntime(b *testing.B) {
	const seeds = 50
	for b.Loop() {
		down := map[string][]time.Duration{}
		for seed := range uint64(seeds) {
			c, err := sim.Federation("7.2.0", sim.WithSeed(seed))
			require.NoError(b, err)
			p, err := federation.Plan(fedInventory("7.4.1"), simOpts(c)...)
			require.NoError(b, err)
			r, err := upgrade.NewRunner(p, upgrade.WithHosts(c.Transports()), upgrade.WithClock(c.Now))
			require.NoError(b, err)
			start := c.Now()
			_, err = r.Run(context.Background())
			require.NoError(b, err, fmt.Sprintf("seed %d", seed))
			for _, z := range []int{0, 100, 101} {
				down[fmt.Sprintf("api-z%d", z)] = append(down[fmt.Sprintf("api-z%d", z)], c.APIDowntime(z))
				down[fmt.Sprintf("writes-z%d", z)] = append(down[fmt.Sprintf("writes-z%d", z)], c.WriteDowntime(z))
			}
			down["run"] = append(down["run"], c.Now().Sub(start))
		}
		for name, ds := range down {
			s := slices.Clone(ds)
			slices.Sort(s)
			b.ReportMetric(s[len(s)/2].Seconds(), name+"-median-s")
			b.ReportMetric(s[len(s)-1].Seconds(), name+"-worst-s")
		}
	}
}
