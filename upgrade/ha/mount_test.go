package ha_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/sim"
	"github.com/upgradekit/upgradekit/upgrade"
)

// /etc/one is a mount point on every front-end (a volume, as in
// containers): rollback restores its contents in place, since Linux
// refuses to rename or remove a mount point (mv: Device or resource busy).
func TestRollbackEtcOneMountPoint(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, 3)
	before := map[string][]byte{}
	for _, n := range cl.c.Frontends() {
		require.NoError(t, cl.c.SetMountPoint(n, "/etc/one", true))
		b, err := cl.c.ReadFile(n, "/etc/one/oned.conf")
		require.NoError(t, err)
		before[n] = b
	}
	require.NoError(t, cl.c.Inject(sim.Fault{Node: "fe1", Argv: []string{"onedb", "upgrade"}, Exit: 255,
		Stderr: "Error running migrator 7.2.0_to_7.4.0.rb\nThe database will be restored\n"}))
	_, err := cl.run(t)
	require.Error(t, err)
	pe, ok := errors.AsType[*upgrade.PartialError](err)
	require.True(t, ok, "%v", err)
	assert.Contains(t, pe.Failed, "leader/onedb-upgrade")
	require.NoError(t, pe.RollbackErr)
	cl.c.ClearFaults()
	assertRolledBack(t, cl.c)
	for _, n := range cl.c.Frontends() {
		b, err := cl.c.ReadFile(n, "/etc/one/oned.conf")
		require.NoError(t, err)
		assert.Equal(t, string(before[n]), string(b), n)
		assert.True(t, cl.c.Exists(n, "/etc/one"), n)
	}
}
