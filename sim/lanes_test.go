package sim

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/transport"
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

// Inside lanes a copy from one node to two others (download, upload, as
// system.CopyFile streams it) is charged where the data goes: each
// receiving node's upload overlaps its download and cannot end before
// it, and the sender's downloads follow each other, so the second copy
// ends two transfers after the start. Before, the transfers cost time
// on no node's timeline and the receivers did not wait at all.
func TestLanesCopyWaitsForTheSender(t *testing.T) {
	t.Parallel()
	c, err := HA(3, "7.2.0")
	require.NoError(t, err)
	data := make([]byte, 8<<20) // 8 MiB: 84 ms per transfer at the modelled rate
	for i := range data {
		data[i] = byte(i)
	}
	ctx := context.Background()
	src, err := c.Frontend("fe1")
	require.NoError(t, err)
	_, err = src.Upload(ctx, "/tmp/f", bytes.NewReader(data), transport.FileOptions{Sudo: true})
	require.NoError(t, err)
	one := transferCost(int64(len(data)))

	start := c.Now()
	c.BeginLanes()
	ends := map[string]time.Duration{}
	for _, dst := range []string{"fe2", "fe3"} {
		var buf bytes.Buffer
		_, err := src.Download(ctx, "/tmp/f", &buf, transport.FileOptions{Sudo: true})
		require.NoError(t, err)
		d, err := c.Frontend(dst)
		require.NoError(t, err)
		_, err = d.Upload(ctx, "/tmp/f", &buf, transport.FileOptions{Sudo: true})
		require.NoError(t, err)
		ends[dst] = c.lanes.at[dst].Sub(start)
	}
	c.EndLanes()
	assert.Equal(t, one, ends["fe2"], "fe2: streamed, its upload ends with its download")
	assert.Equal(t, 2*one, ends["fe3"], "fe3: its download follows fe2's out of fe1")
	assert.Equal(t, ends["fe3"], c.Now().Sub(start), "the clock ends with the last timeline")
}
