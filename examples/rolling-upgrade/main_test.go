package main

import (
	"bytes"
	"context"
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

func TestSimulatedRolling(t *testing.T) {
	t.Parallel()
	code, out, errs := runArgs(t)
	require.Equal(t, 0, code, errs)
	assert.Contains(t, out, "plan rolling-upgrade zone 0 → 7.4.1")
	assert.Contains(t, out, "nodes/fe1/handoff")
	assert.Contains(t, out, "simulator: API downtime 5.3s, write downtime 5.3s")
}

func TestSimulatedRejoin(t *testing.T) {
	t.Parallel()
	code, out, errs := runArgs(t, "--mode", "rejoin")
	require.Equal(t, 0, code, errs)
	assert.Contains(t, out, "leader/start   <- point of no return")
	assert.Contains(t, out, "rejoin/fe3/join")
	assert.Contains(t, out, "write downtime 1m1.1")
	assert.Contains(t, out, "new server IDs")
}

func TestDryRun(t *testing.T) {
	t.Parallel()
	code, out, errs := runArgs(t, "--mode", "rejoin", "--dry-run")
	require.Equal(t, 0, code, errs)
	assert.Contains(t, out, "commands a real run would execute:")
	assert.Contains(t, out, "would run onezone server-del 0 1")
	assert.Contains(t, out, "simulator: API downtime 0s, write downtime 0s")
}

func TestUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--mode", "sideways"},
		{"--fsck", "never"},
		{"--simulate", "--resume"},
		{"extra"},
		{"--inventory", filepath.Join(t.TempDir(), "missing.yaml")},
	} {
		code, _, _ := runArgs(t, args...)
		assert.Equal(t, 2, code, "%v", args)
	}
}
