package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
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
	assert.Contains(t, out, "plan ha-upgrade zone 0 → 7.4.1")
	assert.Contains(t, out, "start/majority   <- point of no return")
	assert.Contains(t, out, "plan done in")
	assert.Contains(t, out, "downtime opennebula:")
	assert.Contains(t, out, "simulator: API downtime")
	assert.Less(t, strings.Index(out, "  1. prepare/"), strings.Index(out, "prepare: started"), "plan printed before progress")
}

func TestDryRun(t *testing.T) {
	t.Parallel()
	code, out, errs := runArgs(t, "--dry-run")
	require.Equal(t, 0, code, errs)
	assert.Contains(t, out, "commands a real run would execute:")
	assert.Contains(t, out, "would run")
	assert.Contains(t, out, "onedb upgrade")
}

func TestHypervisorsOnly(t *testing.T) {
	t.Parallel()
	code, out, errs := runArgs(t, "--hypervisors-only", "--concurrency", "2")
	require.Equal(t, 0, code, errs)
	assert.Contains(t, out, "plan hypervisors zone 0 → 7.4.1")
	assert.Contains(t, out, "hypervisors/kvm3/upgrade/sync")
	assert.NotContains(t, out, "leader/onedb-upgrade")
}

func TestJSON(t *testing.T) {
	t.Parallel()
	code, out, errs := runArgs(t, "--json")
	require.Equal(t, 0, code, errs)
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	events := 0
	var rest strings.Builder
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "{\"kind\"") || strings.HasPrefix(line, "{\"time\"") || (strings.HasPrefix(line, "{") && strings.HasSuffix(line, "}")) {
			var m map[string]any
			require.NoError(t, json.Unmarshal([]byte(line), &m), line)
			events++
			continue
		}
		rest.WriteString(line + "\n")
	}
	assert.Greater(t, events, 50)
	var rep struct {
		Plan     string `json:"plan"`
		Downtime []struct {
			Service string  `json:"service"`
			DurMS   float64 `json:"dur_ms"`
		} `json:"downtime"`
	}
	require.NoError(t, json.Unmarshal([]byte(rest.String()), &rep), rest.String())
	require.Len(t, rep.Downtime, 2)
	for _, w := range rep.Downtime {
		assert.Greater(t, w.DurMS, 20000.0, w.Service)
	}
}

func TestUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--no-such-flag"},
		{"--simulate", "--resume"},
		{"--simulate", "--inventory", "x.yaml"},
		{"--concurrency", "0"},
		{"extra"},
		{"--inventory", filepath.Join(t.TempDir(), "missing.yaml")},
	} {
		code, _, _ := runArgs(t, args...)
		assert.Equal(t, 2, code, "%v", args)
	}
}

func TestInventoryRefusesExistingJournal(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	inv := filepath.Join(dir, "cloud.yaml")
	require.NoError(t, os.WriteFile(inv, []byte("target: 7.4.1\nrepository: {url: 'https://downloads.opennebula.io/repo/{series}/Ubuntu/24.04'}\nzone:\n  frontends: [{name: fe1, address: 127.0.0.1:1}]\n"), 0o600))
	j := filepath.Join(dir, "j")
	require.NoError(t, os.WriteFile(j, nil, 0o600))
	code, _, errs := runArgs(t, "--inventory", inv, "--journal", j)
	assert.Equal(t, 2, code)
	assert.Contains(t, errs, "--resume")
}

// TestBinary builds the command and runs it as an operator would.
func TestBinary(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "ha-upgrade")
	build := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, ".")
	outb, err := build.CombinedOutput()
	require.NoError(t, err, string(outb))
	cmd := exec.Command(bin, "--simulate")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	require.NoError(t, cmd.Run(), errb.String())
	assert.Contains(t, out.String(), "total downtime:")
	cmd = exec.Command(bin, "--bogus")
	err = cmd.Run()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, 2, ee.ExitCode())
}
