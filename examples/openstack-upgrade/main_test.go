package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/examples/internal/clitest"
)

func TestSimulatedUpgrade(t *testing.T) {
	t.Parallel()
	out, _ := clitest.Succeeds(t, run, nil,
		"simulated control plane: controllers [ctl1 ctl2], network [net1], computes [cmp1 cmp2 cmp3] at zed; target 2023.1",
		"finish/contract   <- point of no return",
		"downtime neutron:",
		"simulator (virtual time): API unavailable per service: keystone 0s",
	)
	assert.NotContains(t, out, "upstream rules broken")
	assert.Less(t, strings.Index(out, "backup/databases"), strings.Index(out, "backup/databases: started"), "plan printed before progress")
}

func TestDryRun(t *testing.T) {
	t.Parallel()
	clitest.Succeeds(t, run, []string{"--dry-run"},
		"commands a real run would execute:",
		"would run",
		"apt-get install --only-upgrade",
		"keystone-status --config-file /etc/keystone/keystone.conf upgrade check --json",
	)
}

func TestJSON(t *testing.T) {
	t.Parallel()
	out, errs := clitest.Succeeds(t, run, []string{"--json", "--concurrency", "2", "--no-canary"})
	events, rest := clitest.SplitJSON(t, out)
	assert.Greater(t, events, 100)
	var rep struct {
		Plan            string `json:"plan"`
		ServiceDowntime []struct {
			Service string  `json:"service"`
			DurMS   float64 `json:"dur_ms"`
		} `json:"service_downtime"`
	}
	require.NoError(t, json.Unmarshal([]byte(rest), &rep), rest)
	assert.Equal(t, "openstack-controlplane", rep.Plan)
	require.Len(t, rep.ServiceDowntime, 1)
	assert.Equal(t, "neutron", rep.ServiceDowntime[0].Service)
	assert.Greater(t, rep.ServiceDowntime[0].DurMS, 5000.0)
	assert.Contains(t, errs, "simulator (virtual time)")
}

func TestUsage(t *testing.T) {
	t.Parallel()
	clitest.Usage(t, run, [][]string{
		{"--simulate", "--resume"},
		{"--inventory", "x.yaml", "--simulate"},
		{"--concurrency", "0"},
		{"--failure-budget", "0"},
		{"extra"},
		{"--inventory", filepath.Join(t.TempDir(), "missing.yaml")},
	})
	inv := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(inv, []byte("controllers: []\nunknown: 1\n"), 0o600))
	code, _, errs := clitest.Run(run, "--inventory", inv)
	assert.Equal(t, 2, code)
	assert.Contains(t, errs, "unknown")
}

// TestSmokeBinary builds the command and runs it as a user would.
func TestSmokeBinary(t *testing.T) {
	t.Parallel()
	bin := clitest.Build(t, "openstack-upgrade")
	for _, args := range [][]string{{"--simulate"}, {"--dry-run"}} {
		cmd := exec.Command(bin, args...)
		cmd.Dir = t.TempDir()
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%v: %s", args, out)
		assert.Contains(t, string(out), "plan openstack-controlplane", "%v", args)
		assert.Contains(t, string(out), "finish/verify/heat", "%v", args)
	}
}
