package sim_test

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/sim"
	"github.com/upgradekit/upgradekit/transport"
)

func TestTransportsCoversEveryNode(t *testing.T) {
	t.Parallel()
	c, err := sim.HA(3, "7.2.0")
	require.NoError(t, err)
	hosts := c.Transports()
	want := append(c.Frontends(), c.Hypervisors()...)
	got := make([]string, 0, len(hosts))
	for name, tr := range hosts {
		got = append(got, name)
		assert.Equal(t, name, transport.HostName(tr), "transport of %s names its node", name)
	}
	slices.Sort(got)
	slices.Sort(want)
	assert.Equal(t, want, got)
	assert.Len(t, got, 6)
}
