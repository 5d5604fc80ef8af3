package ssh_test

import (
	"testing"

	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/transport/transporttest"
)

// TestConformance runs the shared transport suite against real sshd.
func TestConformance(t *testing.T) {
	b := newBed(t, 1, nil)
	h := b.Hosts[0]
	transporttest.Run(t, func(t *testing.T) transport.Transport {
		return newClient(t, hostConfig(b, h))
	}, transporttest.Config{Sudo: true})
}
