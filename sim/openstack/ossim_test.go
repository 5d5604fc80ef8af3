package ossim_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/openstack"
	ossim "github.com/upgradekit/upgradekit/sim/openstack"
	"github.com/upgradekit/upgradekit/system"
	"github.com/upgradekit/upgradekit/transport"
)

func newCloud(t *testing.T, opts ...ossim.Option) *ossim.Cloud {
	t.Helper()
	c, err := ossim.New(ossim.Topology{Controllers: []string{"ctl1"}, Computes: []string{"cmp1"}}, opts...)
	require.NoError(t, err)
	return c
}

func TestPrimitivesAtStart(t *testing.T) {
	t.Parallel()
	c := newCloud(t)
	ctl, err := c.Transport("ctl1")
	require.NoError(t, err)
	ctx := context.Background()
	for _, svc := range openstack.DefaultCatalog().Services() {
		if svc.DBUpgrade == openstack.NoDatabase {
			continue
		}
		vr, err := openstack.CheckVersions(ctx, ctl, svc, openstack.WithFamily(openstack.Debian))
		require.NoError(t, err, svc.Name)
		for _, d := range vr.Databases {
			assert.True(t, d.AtHead, "%s %s %v", svc.Name, d.Access.Database, d.State.Revisions)
		}
		if svc.UpgradeCheck != nil {
			rep, err := openstack.UpgradeCheck(ctx, ctl, svc, openstack.WithFamily(openstack.Debian))
			require.NoError(t, err, svc.Name)
			assert.NoError(t, rep.Err(), svc.Name)
			assert.NotEmpty(t, rep.Checks, svc.Name)
		}
	}
}

func TestUpgradeKeystoneByHand(t *testing.T) {
	t.Parallel()
	c := newCloud(t)
	ctl, _ := c.Transport("ctl1")
	ctx := context.Background()
	sys, err := system.New()
	require.NoError(t, err)
	require.NoError(t, sys.SwitchRepository(ctx, ctl, system.Repo{Name: "openstack-antelope", URL: "http://osbpo.debian.net/debian", Suite: "bookworm-antelope-backports", Components: []string{"main"}}))
	require.NoError(t, sys.Upgrade(ctx, ctl, "keystone", "python3-keystone"))
	ks, _ := openstack.DefaultCatalog().Service("keystone")
	opts := []openstack.Option{openstack.WithFamily(openstack.Debian)}
	code, err := openstack.SchemaCheck(ctx, ctl, ks, opts...)
	require.NoError(t, err)
	assert.Equal(t, 0, code.Code, "keystone 23 --check lies")
	bs, err := openstack.BackupServiceDatabases(ctx, ctl, ks, "/var/backups/t", opts...)
	require.NoError(t, err)
	before, err := c.TableChecksums("keystone")
	require.NoError(t, err)
	rep, err := openstack.ExpandMigrateContract(ctx, ctl, ks, opts...)
	require.NoError(t, err)
	assert.True(t, rep.After.AtHead())
	after, _ := c.TableChecksums("keystone")
	assert.NotEqual(t, before, after)
	acc, err := openstack.ServiceDatabases(ctx, ctl, ks, opts...)
	require.NoError(t, err)
	require.NoError(t, openstack.RestoreDatabase(ctx, ctl, acc["keystone"], bs[0], opts...))
	restored, _ := c.TableChecksums("keystone")
	assert.Equal(t, before, restored)

	cb, err := openstack.BackupConfigDir(ctx, ctl, "/etc/keystone", opts...)
	require.NoError(t, err)
	d0, _ := c.TreeDigest("ctl1", "/etc/keystone")
	_, err = openstack.SetOption(ctx, ctl, "/etc/keystone/keystone.conf", "cache", "enabled", "false", opts...)
	require.NoError(t, err)
	require.NoError(t, openstack.RestoreConfigDir(ctx, ctl, cb, opts...))
	d1, _ := c.TreeDigest("ctl1", "/etc/keystone")
	assert.Equal(t, d0, d1)
	_ = transport.Cmd
}

// A dead database makes the tools retry for ~100 s; the primitives'
// timeout bounds that.
func TestDeadDatabaseTimeout(t *testing.T) {
	t.Parallel()
	c := newCloud(t)
	ctl, _ := c.Transport("ctl1")
	c.SetDatabaseDown(true)
	nova, _ := openstack.DefaultCatalog().Service("nova")
	_, err := openstack.DBSync(context.Background(), ctl, nova, openstack.WithFamily(openstack.Debian),
		openstack.WithForce(), openstack.WithTimeout(30*time.Second),
		openstack.WithDatabase("nova_api", openstack.DBAccess{Database: "nova_api", Host: ossim.DBHost, User: "nova", Password: transport.NewSecret("nova-secret-pw")}))
	require.Error(t, err)
	// the versions probe meets the dead server first: a client error
	assert.Contains(t, err.Error(), "ERROR 2002")
	res, err := ctl.Run(context.Background(), transport.Command{Path: "nova-manage", Args: []string{"api_db", "sync"}, Timeout: 30 * time.Second})
	assert.ErrorIs(t, err, transport.ErrTimeout)
	assert.Zero(t, res.ExitCode)
}
