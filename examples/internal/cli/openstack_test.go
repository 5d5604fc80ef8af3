package cli_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/examples/internal/cli"
	"github.com/upgradekit/upgradekit/openstack"
)

func TestOpenStackInventory(t *testing.T) {
	t.Parallel()
	f, err := cli.ParseOpenStackFile([]byte(`family: rhel
repository: {name: openstack-antelope, url: "http://mirror/openstack-antelope/"}
controllers:
  - {name: ctl1, address: 10.0.0.11}
  - {name: ctl2}
networks:
  - {name: ctl1, address: 10.0.0.11}
computes:
  - {name: cmp1, address: 10.0.1.1}
`))
	require.NoError(t, err)
	inv, err := f.Inventory()
	require.NoError(t, err)
	assert.Equal(t, openstack.RHEL, inv.Family)
	assert.Equal(t, []string{"ctl1", "ctl2"}, inv.Controllers)
	assert.Equal(t, []string{"ctl1"}, inv.Networks)
	assert.Equal(t, "openstack-antelope", inv.Repository.Name)
	assert.Equal(t, map[string]string{"ctl1": "10.0.0.11", "ctl2": "ctl2", "cmp1": "10.0.1.1"}, f.Addresses())
	assert.True(t, f.Sudo())

	for _, bad := range []string{
		"controllers: []\n",
		"unknown: 1\n",
		"controllers: [{address: 10.0.0.1}]\n",
		"controllers: [{name: a, address: x}]\ncomputes: [{name: a, address: y}]\n",
	} {
		f, err := cli.ParseOpenStackFile([]byte(bad))
		if err == nil {
			_, err = f.Inventory()
		}
		assert.ErrorIs(t, err, cli.ErrUsage, bad)
	}
}

func TestSimulateOpenStack(t *testing.T) {
	t.Parallel()
	s, err := cli.SimulateOpenStack()
	require.NoError(t, err)
	assert.Len(t, s.Hosts, 6)
	assert.Equal(t, "ctl1", s.Inventory.Controllers[0])
	assert.NotEmpty(t, s.RunnerOptions)
}

func TestOpenStackInventoryTargetAndTLS(t *testing.T) {
	t.Parallel()
	f, err := cli.ParseOpenStackFile([]byte(`target: "2024.1"
database: {ca: /etc/mysql/ca.pem}
controllers: [{name: ctl1}]
`))
	require.NoError(t, err)
	inv, err := f.Inventory()
	require.NoError(t, err)
	assert.Equal(t, "2024.1", inv.Target)
	assert.Len(t, f.ToolOptions(), 1)

	f, err = cli.ParseOpenStackFile([]byte("database: {tls: false}\ncontrollers: [{name: ctl1}]\n"))
	require.NoError(t, err)
	assert.Len(t, f.ToolOptions(), 1, "the explicit opt-out")
	f, err = cli.ParseOpenStackFile([]byte("controllers: [{name: ctl1}]\n"))
	require.NoError(t, err)
	assert.Empty(t, f.ToolOptions(), "the clients' defaults")
}
