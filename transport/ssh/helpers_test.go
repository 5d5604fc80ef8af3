package ssh_test

import (
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/upgradekit/upgradekit/internal/testbed"
	sshx "github.com/upgradekit/upgradekit/transport/ssh"
)

// Tests of this package use 127.20.N.0/24 (one N per bed) and port 22000.
var nextNet atomic.Int32

func newBedB(b *testing.B) *testbed.Bed {
	n := nextNet.Add(1)
	return testbed.New(b, testbed.Config{FirstAddr: netip.AddrFrom4([4]byte{127, 20, byte(n), 1}), Port: 22000})
}

func newBed(t *testing.T, hosts int, mod func(*testbed.Config)) *testbed.Bed {
	t.Helper()
	n := nextNet.Add(1)
	require.Less(t, n, int32(255), "out of test address space")
	cfg := testbed.Config{
		Hosts:     hosts,
		FirstAddr: netip.AddrFrom4([4]byte{127, 20, byte(n), 1}),
		Port:      22000,
	}
	if mod != nil {
		mod(&cfg)
	}
	return testbed.New(t, cfg)
}

// hostConfig returns a Config reaching h with the bed's key and known_hosts.
func hostConfig(b *testbed.Bed, h *testbed.Host) sshx.Config {
	c := sshx.NewConfig(h.HostPort())
	c.Name = h.Name
	c.User = b.User
	c.IdentityFiles = []string{b.ClientKeyFile}
	c.KnownHostsFiles = []string{b.KnownHostsFile}
	return c
}

func newClient(t *testing.T, cfg sshx.Config, opts ...sshx.Option) *sshx.Client {
	t.Helper()
	opts = append([]sshx.Option{sshx.WithLogger(zaptest.NewLogger(t))}, opts...)
	c, err := sshx.New(cfg, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}
