package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func runArgs(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestSimulatedUpgrade(t *testing.T) {
	t.Parallel()
	code, out, errs := runArgs(t)
	require.Equal(t, 0, code, errs)
	assert.Contains(t, out, "simulated control plane: controllers [ctl1 ctl2], network [net1], computes [cmp1 cmp2 cmp3] at zed; target 2023.1")
	assert.Contains(t, out, "finish/contract   <- point of no return")
	assert.Contains(t, out, "downtime neutron:")
	assert.Contains(t, out, "simulator (virtual time): API unavailable per service: keystone 0s")
	assert.NotContains(t, out, "upstream rules broken")
	assert.Less(t, strings.Index(out, "backup/databases"), strings.Index(out, "backup/databases: started"), "plan printed before progress")
}

func TestDryRun(t *testing.T) {
	t.Parallel()
	code, out, errs := runArgs(t, "--dry-run")
	require.Equal(t, 0, code, errs)
	assert.Contains(t, out, "commands a real run would execute:")
	assert.Contains(t, out, "would run")
	assert.Contains(t, out, "apt-get install --only-upgrade")
	assert.Contains(t, out, "keystone-status --config-file /etc/keystone/keystone.conf upgrade check --json")
}

func TestJSON(t *testing.T) {
	t.Parallel()
	code, out, errs := runArgs(t, "--json", "--concurrency", "2", "--no-canary")
	require.Equal(t, 0, code, errs)
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<22)
	events := 0
	var rest strings.Builder
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "{") && strings.HasSuffix(line, "}") {
			var m map[string]any
			require.NoError(t, json.Unmarshal([]byte(line), &m), line)
			events++
			continue
		}
		rest.WriteString(line + "\n")
	}
	assert.Greater(t, events, 100)
	var rep struct {
		Plan            string `json:"plan"`
		ServiceDowntime []struct {
			Service string  `json:"service"`
			DurMS   float64 `json:"dur_ms"`
		} `json:"service_downtime"`
	}
	require.NoError(t, json.Unmarshal([]byte(rest.String()), &rep), rest.String())
	assert.Equal(t, "openstack-controlplane", rep.Plan)
	require.Len(t, rep.ServiceDowntime, 1)
	assert.Equal(t, "neutron", rep.ServiceDowntime[0].Service)
	assert.Greater(t, rep.ServiceDowntime[0].DurMS, 5000.0)
	assert.Contains(t, errs, "simulator (virtual time)")
}

func TestUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--simulate", "--resume"},
		{"--inventory", "x.yaml", "--simulate"},
		{"--concurrency", "0"},
		{"--failure-budget", "0"},
		{"extra"},
		{"--inventory", filepath.Join(t.TempDir(), "missing.yaml")},
	} {
		code, _, _ := runArgs(t, args...)
		assert.Equal(t, 2, code, "%v", args)
	}
	inv := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(inv, []byte("controllers: []\nunknown: 1\n"), 0o600))
	code, _, errs := runArgs(t, "--inventory", inv)
	assert.Equal(t, 2, code)
	assert.Contains(t, errs, "unknown")
}

// TestSmokeBinary builds the command and runs it as a user would.
func TestSmokeBinary(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := filepath.Join(t.TempDir(), "openstack-upgrade")
	build := exec.Command("go", "build", "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, args := range [][]string{{"--simulate"}, {"--dry-run"}} {
		cmd := exec.Command(bin, args...)
		cmd.Dir = t.TempDir()
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%v: %s", args, out)
		assert.Contains(t, string(out), "plan openstack-controlplane", "%v", args)
		assert.Contains(t, string(out), "finish/verify/heat", "%v", args)
	}
}
