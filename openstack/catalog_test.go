package openstack_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/openstack"
)

func TestDefaultCatalog(t *testing.T) {
	t.Parallel()
	cat := openstack.DefaultCatalog()
	assert.Equal(t, []string{"keystone", "glance", "placement", "nova", "neutron", "cinder", "heat", "horizon"}, cat.Names())
	for _, s := range cat.Services() {
		require.NoError(t, s.Validate(), s.Name)
		for _, f := range []openstack.Family{openstack.Debian, openstack.RHEL} {
			assert.NotEmpty(t, s.UnitsFor(f, openstack.Controller), "%s %s units", s.Name, f)
			assert.NotEmpty(t, s.PackagesFor(f, openstack.Controller), "%s %s packages", s.Name, f)
			if s.DBUpgrade != openstack.NoDatabase {
				assert.NotEmpty(t, s.ToolPackage[f], "%s %s tool package", s.Name, f)
			}
		}
	}
	nova, _ := cat.Service("nova")
	assert.Equal(t, [][]string{{"api_db", "sync"}, {"db", "sync"}}, nova.Sync)
	assert.Equal(t, []string{"nova-compute"}, nova.UnitsFor(openstack.Debian, openstack.Compute))
	assert.False(t, nova.UpgradeCheck.JSON, "nova-status rejects --json")
	placement, _ := cat.Service("placement")
	assert.False(t, placement.UpgradeCheck.JSON, "placement-status ignores --json")
	assert.Equal(t, "--max-count", placement.ODM.MaxCountFlag)
	cinder, _ := cat.Service("cinder")
	assert.Equal(t, []string{"cinder-scheduler", "cinder-volume", "cinder-backup", "cinder-api"}, cinder.UnitsFor(openstack.Debian, openstack.Controller))
	neutron, _ := cat.Service("neutron")
	assert.Equal(t, "neutron-openvswitch-agent", neutron.UnitsFor(openstack.Debian, openstack.Network)[0], "L2 agent first")
	for _, n := range []string{"keystone", "glance", "neutron"} {
		s, _ := cat.Service(n)
		assert.Equal(t, openstack.ExpandContract, s.DBUpgrade, n)
	}
	horizon, _ := cat.Service("horizon")
	assert.Equal(t, openstack.NoDatabase, horizon.DBUpgrade)
}

func TestCatalogValueSemantics(t *testing.T) {
	t.Parallel()
	cat := openstack.DefaultCatalog()
	ks, _ := cat.Service("keystone")
	ks.Units[openstack.Debian][openstack.Controller][0] = "changed"
	ks.ConfigFiles[0] = "/changed"
	again, _ := cat.Service("keystone")
	assert.Equal(t, "keystone", again.Units[openstack.Debian][openstack.Controller][0], "Service returns a deep copy")
	assert.Equal(t, "/etc/keystone/keystone.conf", again.ConfigFiles[0])

	_, err := cat.With(again)
	assert.ErrorContains(t, err, "already has service")
	_, err = cat.Override(openstack.Service{Name: "swift"})
	assert.ErrorContains(t, err, "no service")
	_, err = cat.With(openstack.Service{Name: "bad", DBUpgrade: openstack.DBSyncOnly})
	assert.ErrorContains(t, err, "no management tool")

	first := openstack.Service{Name: "aaa", Order: 1}
	c2, err := cat.With(first)
	require.NoError(t, err)
	assert.Equal(t, "aaa", c2.Names()[0])
	assert.Len(t, cat.Names(), 8, "receiver unchanged")
	assert.NotContains(t, cat.Without("heat").Names(), "heat")
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	svc, _ := openstack.DefaultCatalog().Service("heat")
	for _, o := range []openstack.Option{openstack.WithTimeout(0), openstack.WithBatchSize(-1), openstack.WithMaxBatches(0),
		openstack.WithFamily("bsd"), openstack.WithConfigFiles(), openstack.WithLogger(nil), openstack.WithPhases(openstack.Phase(9))} {
		_, err := openstack.UpgradeCheck(t.Context(), nil, svc, o)
		assert.Error(t, err)
	}
	_, err := openstack.ExpandMigrateContract(t.Context(), nil, svc)
	assert.ErrorContains(t, err, "use DBSync")
	horizon, _ := openstack.DefaultCatalog().Service("horizon")
	_, err = openstack.DBSync(t.Context(), nil, horizon)
	assert.ErrorIs(t, err, openstack.ErrNoDatabase)
}

func TestHeatMigrationLayouts(t *testing.T) {
	t.Parallel()
	heat, ok := openstack.DefaultCatalog().Service("heat")
	require.True(t, ok)
	ls := heat.Databases[0].Layouts()
	require.Len(t, ls, 2)
	assert.Equal(t, openstack.MigrationLayout{Migrations: "db/migrations/versions", VersionTable: openstack.Alembic}, ls[0], "heat 21-25 (2023.2-2025.2)")
	assert.Equal(t, openstack.MigrationLayout{Releases: "2022.2-2023.1 (heat 19-20)", Migrations: "db/sqlalchemy/migrate_repo/versions", VersionTable: openstack.Migrate, Final: "86"}, ls[1])
	c := heat.Clone()
	c.Databases[0].Legacy[0].Final = "x"
	assert.Equal(t, "86", heat.Databases[0].Legacy[0].Final, "Clone copies Legacy")
}
