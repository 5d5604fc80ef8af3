package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
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

func TestSimulatedFederation(t *testing.T) {
	t.Parallel()
	code, out, errs := runArgs(t)
	require.Equal(t, 0, code, errs)
	assert.Contains(t, out, "simulated zone 100 S-EU-GE: front-ends [ge-fe2 ge-fe1 ge-fe3]", "leader listed first")
	assert.Contains(t, out, "start/zone-0/majority   <- point of no return")
	assert.Contains(t, out, "downtime zone-0:")
	assert.Contains(t, out, "downtime zone-101:")
	assert.Contains(t, out, "simulator: zone 100 API downtime")
}

func TestDryRun(t *testing.T) {
	t.Parallel()
	code, out, errs := runArgs(t, "--dry-run")
	require.Equal(t, 0, code, errs)
	assert.Contains(t, out, "commands a real run would execute:")
	assert.Contains(t, out, "would run onezone disable 100 --endpoint http://192.168.150.2:2633/RPC2")
	assert.Contains(t, out, "simulator: zone 0 API downtime 0s, write downtime 0s")
}

func TestUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--no-such-flag"},
		{"--simulate", "--resume"},
		{"--leader", "fe1"},
		{"extra"},
		{"--inventory", filepath.Join(t.TempDir(), "missing.yaml")},
	} {
		code, _, _ := runArgs(t, args...)
		assert.Equal(t, 2, code, "%v", args)
	}
}

func TestInventoryNeedsTwoZones(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	inv := filepath.Join(dir, "cloud.yaml")
	require.NoError(t, os.WriteFile(inv, []byte("target: 7.4.1\nrepository: {url: 'https://downloads.opennebula.io/repo/{series}/Ubuntu/24.04'}\nzones:\n  - id: 0\n    leader: fe1\n    frontends: [{name: fe1, address: 127.0.0.1:1}]\n"), 0o600))
	code, _, errs := runArgs(t, "--inventory", inv, "--journal", filepath.Join(dir, "j"))
	assert.Equal(t, 2, code, errs)
	assert.Contains(t, errs, "not a federation")
}
