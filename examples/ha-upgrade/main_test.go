package main

import (
	"bytes"
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
		"plan ha-upgrade zone 0 → 7.4.1",
		"start/majority   <- point of no return",
		"plan done in",
		"downtime opennebula:",
		"simulator: API downtime",
	)
	assert.Less(t, strings.Index(out, "  1. prepare/"), strings.Index(out, "prepare: started"), "plan printed before progress")
}

func TestDryRun(t *testing.T) {
	t.Parallel()
	clitest.Succeeds(t, run, []string{"--dry-run"},
		"commands a real run would execute:",
		"would run",
		"onedb upgrade",
	)
}

// TestHypervisorsOnly: the simulated front-ends are at 7.2.0, so
// upgrading only the hypervisors to 7.4.1 would run the nodes ahead of
// the front-ends; the first preflight check refuses it and nothing runs.
func TestHypervisorsOnly(t *testing.T) {
	t.Parallel()
	code, out, stderr := clitest.Run(run, "--hypervisors-only", "--concurrency", "2")
	assert.Equal(t, 1, code, out)
	assert.Contains(t, out, "plan hypervisors zone 0 → 7.4.1")
	assert.Contains(t, out+stderr, "frontends-at-target")
	assert.Contains(t, out+stderr, "upgrade the front-ends to 7.4.1 first")
	assert.NotContains(t, out, "hypervisors/kvm1/upgrade/packages: started")
}

func TestJSON(t *testing.T) {
	t.Parallel()
	out, _ := clitest.Succeeds(t, run, []string{"--json"})
	events, rest := clitest.SplitJSON(t, out)
	assert.Greater(t, events, 50)
	var rep struct {
		Plan     string `json:"plan"`
		Downtime []struct {
			Service string  `json:"service"`
			DurMS   float64 `json:"dur_ms"`
		} `json:"downtime"`
	}
	require.NoError(t, json.Unmarshal([]byte(rest), &rep), rest)
	require.Len(t, rep.Downtime, 2)
	for _, w := range rep.Downtime {
		assert.Greater(t, w.DurMS, 20000.0, w.Service)
	}
}

func TestUsage(t *testing.T) {
	t.Parallel()
	clitest.Usage(t, run, [][]string{
		{"--no-such-flag"},
		{"--simulate", "--resume"},
		{"--simulate", "--inventory", "x.yaml"},
		{"--concurrency", "0"},
		{"extra"},
		{"--inventory", filepath.Join(t.TempDir(), "missing.yaml")},
	})
}

func TestInventoryRefusesExistingJournal(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	inv := filepath.Join(dir, "cloud.yaml")
	require.NoError(t, os.WriteFile(inv, []byte("target: 7.4.1\nrepository: {url: 'https://downloads.opennebula.io/repo/{series}/Ubuntu/24.04'}\nzone:\n  frontends: [{name: fe1, address: 127.0.0.1:1}]\n"), 0o600))
	j := filepath.Join(dir, "j")
	require.NoError(t, os.WriteFile(j, nil, 0o600))
	code, _, errs := clitest.Run(run, "--inventory", inv, "--journal", j)
	assert.Equal(t, 2, code)
	assert.Contains(t, errs, "--resume")
}

// TestBinary builds the command and runs it as an operator would.
func TestBinary(t *testing.T) {
	t.Parallel()
	bin := clitest.Build(t, "ha-upgrade")
	cmd := exec.Command(bin, "--simulate")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	require.NoError(t, cmd.Run(), errb.String())
	assert.Contains(t, out.String(), "total downtime:")
	cmd = exec.Command(bin, "--bogus")
	err := cmd.Run()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, 2, ee.ExitCode())
}
