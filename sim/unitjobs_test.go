package sim

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// unitTimes is when each unit of node last started or stopped (kind),
// since from.
func unitTimes(c *Cloud, node string, kind EventKind, from time.Time) map[string]time.Duration {
	out := map[string]time.Duration{}
	for _, e := range c.Events() {
		if e.Node == node && e.Kind == kind && !e.At.Before(from) {
			out[e.Detail] = e.At.Sub(from)
		}
	}
	return out
}

// `systemctl stop` and `start` of every OpenNebula unit run one job per
// unit at once, as systemd does, each waiting only for the units it is
// ordered after (After= in OpenNebula's unit files; reversed on stop):
// the command costs the longest chain, not one job after the other.
func TestSystemctlRunsJobsConcurrentlyInUnitOrder(t *testing.T) {
	t.Parallel()
	c, err := HA(3, "7.2.0")
	require.NoError(t, err)
	units := []string{"opennebula", "opennebula-hem", "opennebula-flow", "opennebula-gate", "opennebula-fireedge",
		"opennebula-guacd", "opennebula-ssh-agent", "opennebula-ssh-socks-cleaner.timer", "opennebula-showback.timer"}

	start := c.Now()
	ok(t, c, "fe2", append([]string{"systemctl", "stop"}, units...)...)
	stop := c.Now().Sub(start)
	at := unitTimes(c, "fe2", EventUnitStop, start)
	require.Len(t, at, len(units), "every unit stopped")
	for _, u := range []string{"opennebula-hem", "opennebula-flow", "opennebula-gate", "opennebula-fireedge"} {
		assert.Less(t, at[u], at["opennebula"], "%s (After=opennebula) stops before opennebula", u)
	}
	assert.Less(t, at["opennebula"], at["opennebula-ssh-agent"], "opennebula (After=ssh-agent) stops before it")
	assert.Equal(t, at["opennebula-guacd"], at["opennebula-hem"], "guacd, unordered, stops at once")
	// 1 s for hem..fireedge, 4 s for oned, 1 s for ssh-agent; in
	// sequence it took 12 s.
	assert.Equal(t, 6*time.Second, stop-baseCost("systemctl"))

	start = c.Now()
	ok(t, c, "fe2", append([]string{"systemctl", "start"}, units...)...)
	startCost := c.Now().Sub(start)
	at = unitTimes(c, "fe2", EventUnitStart, start)
	require.Len(t, at, len(units), "every unit started")
	assert.Less(t, at["opennebula-ssh-agent"], at["opennebula"], "ssh-agent before opennebula (After=)")
	for _, u := range []string{"opennebula-hem", "opennebula-flow", "opennebula-gate", "opennebula-fireedge"} {
		assert.Greater(t, at[u], at["opennebula"], "%s (After=opennebula) starts after opennebula", u)
	}
	assert.Equal(t, 5*time.Second, startCost-baseCost("systemctl"))
}

// A start job that fails its assertion fails alone: the others run.
func TestSystemctlStartAssertionFailsOneJob(t *testing.T) {
	t.Parallel()
	c, err := HA(3, "7.2.0")
	require.NoError(t, err)
	ok(t, c, "fe2", "systemctl", "stop", "opennebula-flow", "opennebula-gate")
	res := do(t, c, "fe2", "rm", "-f", "/var/lib/one/.one/oneflow_auth")
	require.Equal(t, 0, res.ExitCode)
	res = do(t, c, "fe2", "systemctl", "start", "opennebula-flow", "opennebula-gate")
	assert.Equal(t, 1, res.ExitCode)
	assert.Contains(t, string(res.Stderr), "Assertion failed on job for opennebula-flow.service.")
	assert.Contains(t, ok(t, c, "fe2", "systemctl", "is-active", "opennebula-gate"), "active")
}
