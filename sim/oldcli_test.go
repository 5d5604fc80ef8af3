package sim_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/sim"
	"github.com/upgradekit/upgradekit/transport"
)

func runOn(t *testing.T, c *sim.Cloud, node string, sudo bool, argv ...string) transport.Result {
	t.Helper()
	res, err := c.MustFrontend(node).Run(context.Background(), transport.Command{Path: argv[0], Args: argv[1:], Sudo: sudo})
	require.NoError(t, err)
	return res
}

// TestOnecfgCommunityEditionBefore70: the Community Edition's onecfg has
// only `patch` before 7.0; asked for status or upgrade, its CLI parser
// prints "Command '…' not found" and the help, and exits 0 (as
// src/onecfg/bin/onecfg and src/cli/command_parser.rb do at
// release-6.10.0). From 7.0 status and upgrade exist.
func TestOnecfgCommunityEditionBefore70(t *testing.T) {
	t.Parallel()
	c, err := sim.Solo("6.10.3")
	require.NoError(t, err)
	for _, sub := range []string{"status", "upgrade", "init"} {
		res := runOn(t, c, "fe1", true, "onecfg", sub)
		assert.Equal(t, 0, res.ExitCode, sub)
		assert.Equal(t, "Command '"+sub+"' not found\n", string(res.Stderr), sub)
		assert.Contains(t, string(res.Stdout), "## COMMANDS\n   * patch", sub)
		assert.NotContains(t, string(res.Stdout), "Versions", sub)
	}
	assert.False(t, c.Exists("fe1", "/etc/onecfg.conf"), "no onecfg state without onecfg init")

	c7, err := sim.Solo("7.0.0")
	require.NoError(t, err)
	res := runOn(t, c7, "fe1", true, "onecfg", "status")
	assert.Equal(t, 0, res.ExitCode)
	assert.Contains(t, string(res.Stdout), "--- Versions")
}

// TestOnezoneDisableBefore62: `onezone disable/enable` came with 6.2 (zone
// standby mode, OpenNebula issue #5353; src/cli/onezone has no such
// command at release-6.0.3): the 6.0 CLI prints its help, exits 0 and the
// zone stays enabled.
func TestOnezoneDisableBefore62(t *testing.T) {
	t.Parallel()
	c, err := sim.Solo("6.0.0", sim.WithRepo("6.0.0", "6.0.1"))
	require.NoError(t, err)
	res := runOn(t, c, "fe1", false, "onezone", "disable", "0", "--endpoint", "http://localhost:2633/RPC2")
	assert.Equal(t, 0, res.ExitCode)
	assert.Equal(t, "Command 'disable 0 --endpoint http://localhost:2633/RPC2' not found\n", string(res.Stderr))
	assert.Contains(t, string(res.Stdout), "## SYNOPSIS")
	show := runOn(t, c, "fe1", false, "onezone", "show", "0", "-x")
	require.Equal(t, 0, show.ExitCode, string(show.Stderr))
	assert.True(t, strings.Contains(string(show.Stdout), "<STATE>0</STATE>"), "zone still enabled")

	c62, err := sim.Solo("6.2.0", sim.WithRepo("6.2.0"))
	require.NoError(t, err)
	res = runOn(t, c62, "fe1", false, "onezone", "disable", "0")
	assert.Equal(t, 0, res.ExitCode, string(res.Stderr))
	show = runOn(t, c62, "fe1", false, "onezone", "show", "0", "-x")
	assert.Contains(t, string(show.Stdout), "<STATE>1</STATE>")
}
