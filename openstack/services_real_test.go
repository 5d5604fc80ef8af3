package openstack_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/openstack"
	"github.com/upgradekit/upgradekit/transport"
)

func TestGlanceReal(t *testing.T) {
	requireReal(t, "glance-manage", "glance-status")
	t.Parallel()
	e := newEnv(t, "glance")
	ctx := ctxT(t)

	rep, err := openstack.ExpandMigrateContract(ctx, e.t, e.svc, e.opts...)
	require.NoError(t, err)
	ran, skipped := stepNames(rep.Steps)
	// db check 3 -> expand -> db check 5 (not 4: no pending data
	// migrations) -> contract -> db check 0.
	assert.Equal(t, []string{"check", "expand", "check", "contract", "check"}, ran)
	assert.Equal(t, []string{"migrate"}, skipped)
	assert.Equal(t, 3, rep.Before.ToolCheck)
	assert.Equal(t, 0, rep.After.ToolCheck)
	assert.Equal(t, []string{"wallaby_contract01"}, rep.After.Schema.Revisions)

	rep, err = openstack.ExpandMigrateContract(ctx, e.t, e.svc, e.opts...)
	require.NoError(t, err)
	assert.True(t, rep.AlreadyAtHead)
	ran, _ = stepNames(rep.Steps)
	assert.Equal(t, []string{"check"}, ran)

	uc, err := openstack.UpgradeCheck(ctx, e.t, e.svc, e.opts...)
	require.NoError(t, err)
	assert.True(t, uc.JSON)
	assert.Equal(t, openstack.CheckSuccess, uc.Code)
	assert.NotEmpty(t, uc.Checks)
	require.NoError(t, uc.Err())

	// A newer release's revision: glance `db check` would say "run
	// expand"; the primitive refuses instead.
	e.sql(t, "glance", "UPDATE alembic_version SET version_num = '2024_1_contract01'")
	_, err = openstack.ExpandMigrateContract(ctx, e.t, e.svc, e.opts...)
	assert.ErrorIs(t, err, openstack.ErrNewerDatabase)
	_, err = openstack.SchemaCheck(ctx, e.t, e.svc, e.opts...)
	assert.ErrorIs(t, err, openstack.ErrNewerDatabase, "glance db check would say 3 (expand)")
}

func TestNeutronReal(t *testing.T) {
	requireReal(t, "neutron-db-manage")
	t.Parallel()
	e := newEnv(t, "neutron")
	ctx := ctxT(t)

	// Without a way to stop the servers the contract phase is refused
	// once has_offline_migrations says it is needed; expand still ran.
	rep, err := openstack.ExpandMigrateContract(ctx, e.t, e.svc, e.opts...)
	require.ErrorIs(t, err, openstack.ErrStopRequired)
	ran, _ := stepNames(rep.Steps)
	assert.Equal(t, []string{"has_offline_migrations", "expand", "has_offline_migrations"}, ran)
	assert.Equal(t, 1, rep.Before.ToolCheck)

	stopped := 0
	stop := openstack.WithStopServers(func(context.Context) error { stopped++; return nil })
	rep, err = openstack.ExpandMigrateContract(ctx, e.t, e.svc, append(e.opts, stop)...)
	require.NoError(t, err)
	ran, skipped := stepNames(rep.Steps)
	assert.Equal(t, []string{"has_offline_migrations", "contract", "has_offline_migrations"}, ran)
	assert.Equal(t, []string{"expand"}, skipped)
	assert.Equal(t, 1, stopped)
	assert.True(t, rep.StoppedServers)
	assert.Equal(t, 0, rep.After.ToolCheck)
	assert.True(t, rep.After.AtHead())

	rep, err = openstack.ExpandMigrateContract(ctx, e.t, e.svc, append(e.opts, stop)...)
	require.NoError(t, err)
	assert.True(t, rep.AlreadyAtHead)
	assert.Equal(t, 1, stopped, "no offline migrations: servers left running")

	// neutron-db-manage `current` would crash with 255 "Can't locate
	// revision"; the primitive refuses before running it.
	e.sql(t, "neutron", "INSERT INTO alembic_version VALUES ('0123456789ab')")
	_, err = openstack.ExpandMigrateContract(ctx, e.t, e.svc, append(e.opts, stop)...)
	var newer *openstack.NewerDatabaseError
	require.ErrorAs(t, err, &newer)
	assert.Equal(t, []string{"0123456789ab"}, newer.Revisions)
	_, err = openstack.SchemaCheck(ctx, e.t, e.svc, e.opts...)
	assert.ErrorIs(t, err, openstack.ErrNewerDatabase, "has_offline_migrations would not say so")
}

// TestDeadDatabaseReal: neutron-db-manage ignores max_retries and would
// retry ~102 s; the primitive's timeout bounds it. The probes fail fast
// with a typed database error.
func TestDeadDatabaseReal(t *testing.T) {
	requireReal(t, "neutron-db-manage", "cinder-status")
	t.Parallel()
	e := newEnv(t, "neutron")
	ctx := ctxT(t)
	dead := e.deadConfig(t)

	// The version guard reads the live database; the tool gets the dead one.
	live, err := openstack.ServiceDatabases(ctx, e.t, e.svc, e.opts...)
	require.NoError(t, err)
	start := time.Now()
	_, err = openstack.SchemaCheck(ctx, e.t, e.svc, openstack.WithConfigFiles(dead), openstack.WithTimeout(5*time.Second),
		openstack.WithFamily(openstack.Debian), openstack.WithDatabase("neutron", live["neutron"]))
	require.ErrorIs(t, err, transport.ErrTimeout)
	assert.Less(t, time.Since(start), 60*time.Second, "bounded well below neutron's ~102 s")

	_, err = openstack.ExpandMigrateContract(ctx, e.t, e.svc, openstack.WithConfigFiles(dead), openstack.WithFamily(openstack.Debian))
	var dbe *openstack.DBError
	require.ErrorAs(t, err, &dbe)
	assert.Contains(t, []int{2002, 2003}, dbe.Number)

	// cinder-status crashes (255) on a dead database: not a check result.
	// (The version guard reads the live database; the tool the dead one.)
	c := newEnv(t, "cinder")
	cl, err := openstack.ServiceDatabases(ctx, c.t, c.svc, c.opts...)
	require.NoError(t, err)
	_, err = openstack.UpgradeCheck(ctx, c.t, c.svc, openstack.WithConfigFiles(c.deadConfig(t)), openstack.WithTimeout(90*time.Second),
		openstack.WithFamily(openstack.Debian), openstack.WithDatabase("cinder", cl["cinder"]))
	assert.ErrorIs(t, err, openstack.ErrToolCrashed)
	// Without that, the guard itself meets the dead database: typed.
	_, err = openstack.UpgradeCheck(ctx, c.t, c.svc, openstack.WithConfigFiles(c.deadConfig(t)), openstack.WithFamily(openstack.Debian))
	require.ErrorAs(t, err, &dbe)
}

func TestPlacementReal(t *testing.T) {
	requireReal(t, "placement-manage", "placement-status")
	t.Parallel()
	e := newEnv(t, "placement")
	ctx := ctxT(t)

	_, err := openstack.UpgradeCheck(ctx, e.t, e.svc, e.opts...)
	var te *openstack.ToolError
	require.ErrorAs(t, err, &te, "empty schema: placement-status crashes")
	assert.Equal(t, 255, te.Code)
	assert.ErrorIs(t, err, openstack.ErrToolCrashed)

	rep, err := openstack.DBSync(ctx, e.t, e.svc, e.opts...)
	require.NoError(t, err)
	assert.False(t, rep.AlreadyAtHead)
	assert.False(t, rep.Before[0].Exists)
	assert.Equal(t, []string{"422ece571366"}, rep.After[0].Revisions)

	rep, err = openstack.DBSync(ctx, e.t, e.svc, e.opts...)
	require.NoError(t, err)
	assert.True(t, rep.AlreadyAtHead)
	assert.Empty(t, rep.Steps)

	// An allocation without a consumer record: Incomplete Consumers warns.
	e.sql(t, "placement", "INSERT INTO resource_providers (id, uuid, name, generation, root_provider_id, created_at) VALUES (1, 'c1c1c1c1-0000-4000-8000-000000000001', 'rp1', 0, 1, NOW())")
	e.sql(t, "placement", "INSERT INTO allocations (resource_provider_id, consumer_id, resource_class_id, used, created_at) VALUES (1, 'c1c1c1c1-0000-4000-8000-0000000000aa', 0, 1, NOW())")
	uc, err := openstack.UpgradeCheck(ctx, e.t, e.svc, e.opts...)
	require.NoError(t, err)
	assert.False(t, uc.JSON, "placement-status prints its table")
	assert.Equal(t, openstack.CheckWarning, uc.Code)
	require.Len(t, uc.Failed(), 1)
	assert.Equal(t, "Incomplete Consumers", uc.Failed()[0].Name)
	assert.NoError(t, uc.Err(), "a warning passes")

	odm, err := openstack.OnlineDataMigrations(ctx, e.t, e.svc, append(e.opts, openstack.WithBatchSize(5))...)
	require.NoError(t, err)
	assert.Equal(t, 2, odm.Batches, "rc 1 (one row migrated) then rc 0")
	assert.Equal(t, 1, odm.Migrated())

	// A provider without a root: Missing Root Provider IDs fails.
	e.sql(t, "placement", "UPDATE resource_providers SET root_provider_id = NULL")
	uc, err = openstack.UpgradeCheck(ctx, e.t, e.svc, e.opts...)
	require.NoError(t, err)
	assert.Equal(t, openstack.CheckFailure, uc.Code)
	var cf *openstack.CheckFailedError
	require.ErrorAs(t, uc.Err(), &cf)
	assert.Equal(t, "Missing Root Provider IDs", cf.Checks[0].Name)

	// The tool's own loop fixes it and still exits 0.
	odm, err = openstack.OnlineDataMigrations(ctx, e.t, e.svc, e.opts...)
	require.NoError(t, err)
	assert.Equal(t, 1, odm.Batches)
	assert.Equal(t, 1, odm.Migrated())

	uc, err = openstack.UpgradeCheck(ctx, e.t, e.svc, e.opts...)
	require.NoError(t, err)
	assert.Equal(t, openstack.CheckSuccess, uc.Code)
	assert.Len(t, uc.Checks, 3)
}

func TestNovaReal(t *testing.T) {
	requireReal(t, "nova-manage", "nova-status")
	t.Parallel()
	e := newEnv(t, "nova")
	ctx := ctxT(t)

	rep, err := openstack.DBSync(ctx, e.t, e.svc, e.opts...)
	require.NoError(t, err)
	ran, _ := stepNames(rep.Steps)
	assert.Equal(t, []string{"api_db sync", "db sync"}, ran, "api_db before db")
	require.Len(t, rep.After, 3)
	assert.True(t, rep.After[0].Exists, "nova_api")
	assert.True(t, rep.After[1].Exists, "nova")
	assert.False(t, rep.After[2].Exists, "cell0 not mapped yet: not synced")

	// Map cell0; the next sync migrates it, and then all is at head.
	e.sql(t, "nova_api", fmt.Sprintf("INSERT INTO cell_mappings (uuid, name, transport_url, database_connection, created_at) VALUES ('00000000-0000-0000-0000-000000000000', 'cell0', 'none:///', '%s', NOW())", e.url(srv.Port, "nova_cell0")))
	rep, err = openstack.DBSync(ctx, e.t, e.svc, e.opts...)
	require.NoError(t, err)
	assert.False(t, rep.AlreadyAtHead)
	assert.True(t, rep.After[2].Exists, "cell0 synced")
	rep, err = openstack.DBSync(ctx, e.t, e.svc, e.opts...)
	require.NoError(t, err)
	assert.True(t, rep.AlreadyAtHead)

	// Three instance mappings waiting for queued_for_delete: batches of
	// two give rc 1, 1, 0.
	for i := 1; i <= 3; i++ {
		e.sql(t, "nova_api", fmt.Sprintf("INSERT INTO instance_mappings (instance_uuid, cell_id, project_id, queued_for_delete, created_at) SELECT 'a0a0a0a0-0000-4000-8000-00000000000%d', id, 'p', NULL, NOW() FROM cell_mappings LIMIT 1", i))
	}
	// populate_user_id finds the mappings (user_id NULL) but has no
	// instance to fill them from: nova-manage exits 0 with rows left,
	// which is reported.
	odm, err := openstack.OnlineDataMigrations(ctx, e.t, e.svc, append(e.opts, openstack.WithBatchSize(2))...)
	require.ErrorIs(t, err, openstack.ErrRowsPending)
	require.Len(t, odm.Pending, 1)
	assert.Equal(t, "populate_user_id", odm.Pending[0].Name)
	assert.Equal(t, 2, odm.Pending[0].Total, "the last batch found two (--max-count 2)")
	assert.Zero(t, odm.Pending[0].Completed)
	assert.Equal(t, 3, odm.Batches)
	assert.Equal(t, 3, odm.Migrated())
	names := map[string]openstack.MigrationCount{}
	for _, m := range odm.Migrations {
		names[m.Name] = m
	}
	assert.Equal(t, 2, names["populate_queued_for_delete"].Total, "first batch saw two")
	assert.Equal(t, 3, names["populate_queued_for_delete"].Completed)

	// nova-status has no --json: its table is parsed. Only cell0 is
	// mapped and no service user is configured: Failure (exit 2).
	uc, err := openstack.UpgradeCheck(ctx, e.t, e.svc, e.opts...)
	require.NoError(t, err)
	assert.False(t, uc.JSON)
	assert.Equal(t, openstack.CheckFailure, uc.Code)
	require.Len(t, uc.Checks, 7)
	assert.Equal(t, "Cells v2", uc.Checks[0].Name)
	assert.Equal(t, openstack.CheckFailure, uc.Checks[0].Result)
	assert.Contains(t, uc.Checks[0].Details, "at least two cell mappings")
	assert.ErrorContains(t, uc.Err(), "Cells v2: Failure")
}

func TestCinderReal(t *testing.T) {
	requireReal(t, "cinder-manage", "cinder-status")
	t.Parallel()
	e := newEnv(t, "cinder")
	ctx := ctxT(t)

	_, err := openstack.UpgradeCheck(ctx, e.t, e.svc, e.opts...)
	assert.ErrorIs(t, err, openstack.ErrToolCrashed, "empty schema: cinder-status crashes")

	rep, err := openstack.DBSync(ctx, e.t, e.svc, e.opts...)
	require.NoError(t, err)
	assert.NotEmpty(t, rep.After[0].Revisions)

	// --max_count, cinder's spelling (--max-count would be argparse rc 2).
	odm, err := openstack.OnlineDataMigrations(ctx, e.t, e.svc, append(e.opts, openstack.WithBatchSize(10))...)
	require.NoError(t, err)
	assert.Equal(t, 1, odm.Batches)
	assert.Contains(t, odm.Steps[0].Cmd, "--max_count 10")
	assert.NotEmpty(t, odm.Migrations, "tabulate table parsed")

	uc, err := openstack.UpgradeCheck(ctx, e.t, e.svc, e.opts...)
	require.NoError(t, err)
	assert.True(t, uc.JSON)
	assert.Equal(t, openstack.CheckSuccess, uc.Code)
	assert.GreaterOrEqual(t, len(uc.Checks), 5)
}

func TestHeatReal(t *testing.T) {
	requireReal(t, "heat-manage", "heat-status")
	t.Parallel()
	e := newEnv(t, "heat")
	ctx := ctxT(t)

	rep, err := openstack.DBSync(ctx, e.t, e.svc, e.opts...)
	require.NoError(t, err)
	assert.False(t, rep.Before[0].Exists, "heat-manage db_version would print 72 here; the table says empty")
	assert.Equal(t, []string{"86"}, rep.After[0].Revisions)

	rep, err = openstack.DBSync(ctx, e.t, e.svc, e.opts...)
	require.NoError(t, err)
	assert.True(t, rep.AlreadyAtHead)

	uc, err := openstack.UpgradeCheck(ctx, e.t, e.svc, e.opts...)
	require.NoError(t, err)
	assert.True(t, uc.JSON)
	assert.Equal(t, openstack.CheckSuccess, uc.Code)

	e.sql(t, "heat", "UPDATE migrate_version SET version = 101")
	_, err = openstack.DBSync(ctx, e.t, e.svc, e.opts...)
	var newer *openstack.NewerDatabaseError
	require.ErrorAs(t, err, &newer)
	assert.Equal(t, []string{"101"}, newer.Revisions)
}

// TestConfigEditReal edits a copy of Debian's stock nova.conf (thousands
// of commented-out defaults) through the local transport.
func TestConfigEditReal(t *testing.T) {
	requireReal(t)
	t.Parallel()
	stock, err := os.ReadFile("/etc/nova/nova.conf")
	if err != nil {
		stock = []byte("[DEFAULT]\n#debug = false\n\n[upgrade_levels]\n#compute = <None>\n")
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "nova.conf")
	require.NoError(t, os.WriteFile(p, stock, 0o640))
	require.NoError(t, os.Chmod(p, 0o640))
	tr := newLocal(t)
	ctx := ctxT(t)

	changed, err := openstack.SetOption(ctx, tr, p, "upgrade_levels", "compute", "auto")
	require.NoError(t, err)
	assert.True(t, changed)
	got, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Contains(t, string(got), "\ncompute = auto\n")
	assert.Equal(t, len(stock)+len("compute = auto\n"), len(got), "only one line added")
	fi, err := os.Stat(p)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), fi.Mode().Perm())

	changed, err = openstack.SetOption(ctx, tr, p, "upgrade_levels", "compute", "auto")
	require.NoError(t, err)
	assert.False(t, changed)

	changed, err = openstack.UnsetOption(ctx, tr, p, "upgrade_levels", "compute")
	require.NoError(t, err)
	assert.True(t, changed)
	got, err = os.ReadFile(p)
	require.NoError(t, err)
	assert.Equal(t, string(stock), string(got), "byte-identical after unpin")

	// Config directory backup and restore.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte("a: b\n"), 0o600))
	b, err := openstack.BackupConfigDir(ctx, tr, dir)
	require.NoError(t, err)
	assert.DirExists(t, b.Copy)
	require.NoError(t, os.WriteFile(p, []byte("broken"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "new.conf"), []byte("x"), 0o644))
	require.NoError(t, openstack.RestoreConfigDir(ctx, tr, b))
	got, err = os.ReadFile(p)
	require.NoError(t, err)
	assert.Equal(t, string(stock), string(got))
	assert.NoFileExists(t, filepath.Join(dir, "new.conf"))
	fi, err = os.Stat(filepath.Join(dir, "policy.yaml"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
}

// TestBackupConfigDirShrunkDirectory backs up a directory that once held
// many entries: on ext4 it stays larger than its fresh copy, which must
// not make the backup look changed.
func TestBackupConfigDirShrunkDirectory(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "etc")
	sub := filepath.Join(dir, "conf.d")
	require.NoError(t, os.MkdirAll(sub, 0o755))
	for i := range 600 {
		require.NoError(t, os.WriteFile(filepath.Join(sub, fmt.Sprintf("old-%03d.conf", i)), nil, 0o644))
	}
	for i := range 600 {
		require.NoError(t, os.Remove(filepath.Join(sub, fmt.Sprintf("old-%03d.conf", i))))
	}
	require.NoError(t, os.WriteFile(filepath.Join(sub, "keep.conf"), []byte("[DEFAULT]\n"), 0o640))
	b, err := openstack.BackupConfigDir(ctxT(t), newLocal(t), dir)
	require.NoError(t, err)
	got, err := os.ReadFile(filepath.Join(b.Copy, "conf.d", "keep.conf"))
	require.NoError(t, err)
	assert.Equal(t, "[DEFAULT]\n", string(got))
}
