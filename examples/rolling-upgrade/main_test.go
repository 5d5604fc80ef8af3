package main

import (
	"path/filepath"
	"testing"

	"github.com/upgradekit/upgradekit/examples/internal/clitest"
)

func TestSimulatedRolling(t *testing.T) {
	t.Parallel()
	clitest.Succeeds(t, run, nil,
		"plan rolling-upgrade zone 0 → 7.4.1",
		"nodes/fe1/handoff",
		"simulator: API downtime 4.741s, write downtime 4.741s",
	)
}

func TestSimulatedRejoin(t *testing.T) {
	t.Parallel()
	clitest.Succeeds(t, run, []string{"--mode", "rejoin"},
		"leader/start   <- point of no return",
		"rejoin/fe3/join",
		"write downtime 33.51",
		"gave the re-added followers their server IDs again",
	)
}

func TestDryRun(t *testing.T) {
	t.Parallel()
	clitest.Succeeds(t, run, []string{"--mode", "rejoin", "--dry-run"},
		"commands a real run would execute:",
		"would run onezone server-del 0 1",
		"simulator: API downtime 0s, write downtime 0s",
	)
}

func TestUsage(t *testing.T) {
	t.Parallel()
	clitest.Usage(t, run, [][]string{
		{"--mode", "sideways"},
		{"--fsck", "never"},
		{"--simulate", "--resume"},
		{"extra"},
		{"--inventory", filepath.Join(t.TempDir(), "missing.yaml")},
	})
}
