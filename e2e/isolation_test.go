package e2e_test

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/onedconf"
	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/zone"
)

// assertSeparateHosts checks the test bed itself: each sshd front-end
// answers as its own simulated node, has its own oned.conf (SERVER_ID),
// its own /etc, /etc/one and /var/lib/one that neither the other
// front-ends nor the machine see, and its own database, reached through
// SSH.
func (cb *cloudBed) assertSeparateHosts(t *testing.T, ctx context.Context) {
	t.Helper()
	z, err := zone.Show(ctx, cb.Frontend("fe2").Client, 0)
	require.NoError(t, err)
	require.Len(t, z.Servers, len(cb.Frontends))
	l, ok := z.Leader()
	require.True(t, ok, "one leader: %+v", z.Servers)
	assert.Equal(t, "fe1", l.Name)

	for i, fe := range cb.Frontends {
		conf, err := onedconf.Parse([]byte(fe.run(t, ctx, "cat", "--", "/etc/one/oned.conf")))
		require.NoError(t, err, fe.Name)
		fed, err := conf.Federation()
		require.NoError(t, err, fe.Name)
		assert.Equal(t, i, fed.ServerID, fe.Name)
		assert.Equal(t, "oneadmin\n", fe.run(t, ctx, "id", "-un", "oneadmin"))

		dials := fe.dials.Load()
		sums, err := fe.Checksums(ctx)
		require.NoError(t, err, fe.Name)
		assert.Contains(t, sums.Tables, "host_pool", fe.Name)
		assert.Equal(t, dials+1, fe.dials.Load(), "%s: database reached through SSH", fe.Name)
	}

	// Files written on one front-end stay there.
	fe1, fe2 := cb.Frontend("fe1"), cb.Frontend("fe2")
	for _, p := range []string{"/etc/upgradekit-e2e-marker", "/etc/one/upgradekit-e2e-marker", "/var/lib/one/upgradekit-e2e-marker"} {
		fe1.run(t, ctx, "sh", "-c", `echo fe1 >"$1"`, "sh", p)
		assert.Equal(t, "fe1\n", fe1.run(t, ctx, "cat", "--", p))
		if p == "/etc/one/upgradekit-e2e-marker" {
			got, err := os.ReadFile(fe1.Host.Path(p))
			require.NoError(t, err)
			assert.Equal(t, "fe1\n", string(got), "fe1's /etc/one is its directory in the bed")
		}
		res, err := fe2.Client.Run(ctx, transport.Query("test", "-e", p))
		require.NoError(t, err)
		assert.Equal(t, 1, res.ExitCode, "%s seen on fe2", p)
		_, err = os.Stat(p)
		assert.ErrorIs(t, err, os.ErrNotExist, "%s written on the machine itself", p)
		fe1.run(t, ctx, "rm", "--", p)
	}
}
