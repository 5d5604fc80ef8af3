package sim

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Work on three nodes inside lanes costs the longest of the three, not
// their sum; outside lanes it adds up.
func TestLanesOverlapWorkOnSeveralNodes(t *testing.T) {
	t.Parallel()
	cost := func(lanes bool) time.Duration {
		c, err := HA(3, "7.2.0")
		require.NoError(t, err)
		for _, n := range []string{"fe1", "fe2", "fe3"} {
			switchRepo(t, c, n, "7.4")
		}
		start := c.Now()
		if lanes {
			c.BeginLanes()
		}
		for _, n := range []string{"fe1", "fe2", "fe3"} {
			upgradePkgs(t, c, n)
		}
		if lanes {
			c.EndLanes()
		}
		return c.Now().Sub(start)
	}
	serial, parallel := cost(false), cost(true)
	assert.Greater(t, parallel, time.Duration(0))
	assert.InDelta(t, float64(serial)/3, float64(parallel), float64(time.Second), "serial %s, in lanes %s", serial, parallel)
}

// A download-only run fills the cache; the upgrade then only installs.
func TestDownloadOnlyThenInstall(t *testing.T) {
	t.Parallel()
	c, err := HA(3, "7.2.0")
	require.NoError(t, err)
	switchRepo(t, c, "fe1", "7.4")
	start := c.Now()
	out := ok(t, c, "fe1", "apt-get", "install", "--only-upgrade", "--download-only", "-y",
		"opennebula", "opennebula-gate", "opennebula-flow", "opennebula-fireedge", "python3-pyone")
	assert.Contains(t, out, "Download complete and in download only mode")
	fetch := c.Now().Sub(start)
	assert.Contains(t, ok(t, c, "fe1", "dpkg-query", "-W", "-f=${Version}\n", "opennebula"), "7.2.0", "nothing installed")
	start = c.Now()
	upgradePkgs(t, c, "fe1")
	install := c.Now().Sub(start)
	assert.Contains(t, ok(t, c, "fe1", "dpkg-query", "-W", "-f=${Version}\n", "opennebula"), "7.4.1")
	assert.Greater(t, fetch, fetchBase)
	assert.Less(t, install, fetch+installBase, "the install does not download again")
}
