package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/examples/internal/clitest"
)

func TestSimulatedFederation(t *testing.T) {
	t.Parallel()
	out, _ := clitest.Succeeds(t, run, nil,
		"start/zone-0/majority   <- point of no return",
		"downtime zone-0:",
		"downtime zone-101:",
		"simulator: zone 100 API downtime",
	)
	assert.Contains(t, out, "simulated zone 100 S-EU-GE: front-ends [ge-fe2 ge-fe1 ge-fe3]", "leader listed first")
}

func TestDryRun(t *testing.T) {
	t.Parallel()
	clitest.Succeeds(t, run, []string{"--dry-run"},
		"commands a real run would execute:",
		"would run onezone disable 100 --endpoint http://192.168.150.2:2633/RPC2",
		"simulator: zone 0 API downtime 0s, write downtime 0s",
	)
}

func TestUsage(t *testing.T) {
	t.Parallel()
	clitest.Usage(t, run, [][]string{
		{"--no-such-flag"},
		{"--simulate", "--resume"},
		{"--leader", "fe1"},
		{"extra"},
		{"--inventory", filepath.Join(t.TempDir(), "missing.yaml")},
	})
}

func TestInventoryNeedsTwoZones(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	inv := filepath.Join(dir, "cloud.yaml")
	require.NoError(t, os.WriteFile(inv, []byte("target: 7.4.1\nrepository: {url: 'https://downloads.opennebula.io/repo/{series}/Ubuntu/24.04'}\nzones:\n  - id: 0\n    leader: fe1\n    frontends: [{name: fe1, address: 127.0.0.1:1}]\n"), 0o600))
	code, _, errs := clitest.Run(run, "--inventory", inv, "--journal", filepath.Join(dir, "j"))
	assert.Equal(t, 2, code, errs)
	assert.Contains(t, errs, "not a federation")
}
