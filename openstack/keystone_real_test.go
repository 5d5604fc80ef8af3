package openstack_test

import (
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/openstack"
	"github.com/upgradekit/upgradekit/transport"
)

func stepNames(steps []openstack.StepRun) (ran, skipped []string) {
	for _, s := range steps {
		if s.Skipped {
			skipped = append(skipped, s.Name)
		} else {
			ran = append(ran, s.Name)
		}
	}
	return ran, skipped
}

func TestKeystoneReal(t *testing.T) {
	requireReal(t, "keystone-manage")
	t.Parallel()
	e := newEnv(t, "keystone")
	ctx := ctxT(t)

	chk, err := openstack.SchemaCheck(ctx, e.t, e.svc, e.opts...)
	require.NoError(t, err)
	assert.Equal(t, 2, chk.Code, "empty database: run --expand")

	// Rolling upgrade, first half: expand only.
	rep, err := openstack.ExpandMigrateContract(ctx, e.t, e.svc, append(e.opts, openstack.WithPhases(openstack.PhaseExpand))...)
	require.NoError(t, err)
	ran, _ := stepNames(rep.Steps)
	assert.Equal(t, []string{"expand"}, ran)
	assert.True(t, rep.Before.ExpandPending)
	assert.False(t, rep.Before.Schema.Exists)
	assert.False(t, rep.After.ExpandPending)
	assert.True(t, rep.After.ContractPending)
	assert.Equal(t, "29e87d24a316", rep.ExpandHead)
	assert.Equal(t, "e25ffa003242", rep.ContractHead)
	assert.Regexp(t, `^2:22\.`, rep.Version)

	chk, err = openstack.SchemaCheck(ctx, e.t, e.svc, e.opts...)
	require.NoError(t, err)
	assert.Equal(t, 4, chk.Code, "expand done: run --contract")

	// Second half: migrate is a no-op on Zed and skipped; contract runs.
	rep, err = openstack.ExpandMigrateContract(ctx, e.t, e.svc, e.opts...)
	require.NoError(t, err)
	ran, skipped := stepNames(rep.Steps)
	assert.Equal(t, []string{"contract"}, ran)
	assert.Equal(t, []string{"expand", "migrate"}, skipped)
	assert.True(t, rep.After.AtHead())
	assert.False(t, rep.StoppedServers)

	chk, err = openstack.SchemaCheck(ctx, e.t, e.svc, e.opts...)
	require.NoError(t, err)
	assert.Equal(t, 0, chk.Code)
	assert.True(t, chk.UpToDate)

	// Already at head: a result, and no tool runs.
	rep, err = openstack.ExpandMigrateContract(ctx, e.t, e.svc, e.opts...)
	require.NoError(t, err)
	assert.True(t, rep.AlreadyAtHead)
	assert.Empty(t, rep.Steps)

	// keystone-status loads its backends before parsing --config-file and
	// insists on /etc/keystone/fernet-keys: run it in a private mount
	// namespace with a key directory bound over /etc/keystone (WithWrap).
	if os.Geteuid() == 0 {
		etc := keystoneEtc(t)
		wrap := openstack.WithWrap(func(c transport.Command) transport.Command {
			c.Args = append([]string{"-m", "sh", "-c", `mount --bind "$1" /etc/keystone && shift && exec "$@"`, "sh", etc, c.Path}, c.Args...)
			c.Path = "unshare"
			return c
		})
		uc, err := openstack.UpgradeCheck(ctx, e.t, e.svc, append(e.opts, wrap)...)
		require.NoError(t, err)
		assert.True(t, uc.JSON)
		assert.Equal(t, openstack.CheckSuccess, uc.Code)
		assert.Len(t, uc.Checks, 3)
	}

	// Without /etc/keystone/fernet-keys keystone-status exits 1 with
	// only that reason on stderr: it did not start.
	if _, err := os.Stat("/etc/keystone/fernet-keys"); os.IsNotExist(err) {
		_, err := openstack.UpgradeCheck(ctx, e.t, e.svc, e.opts...)
		require.ErrorIs(t, err, openstack.ErrToolStartup)
		var te *openstack.ToolError
		require.ErrorAs(t, err, &te)
		assert.Contains(t, te.Reason, "fernet-keys")
	}

	// Backup, a one-row change detected, restore with equal checksums;
	// TLS explicitly off for the probes, the dump and the restore.
	dir := t.TempDir()
	e.opts = append(e.opts, openstack.WithDBTLS(openstack.DBTLS{Disable: true}))
	backups, err := openstack.BackupServiceDatabases(ctx, e.t, e.svc, dir, e.opts...)
	require.NoError(t, err)
	require.Len(t, backups, 1)
	b := backups[0]
	assert.Greater(t, b.Bytes, int64(1000))
	assert.Len(t, b.SHA256, 64)
	assert.GreaterOrEqual(t, len(b.Tables), 40, "keystone has ~49 tables")
	access, err := openstack.ServiceDatabases(ctx, e.t, e.svc, e.opts...)
	require.NoError(t, err)
	a := access["keystone"]
	require.NoError(t, openstack.VerifyDatabase(ctx, e.t, a, b, e.opts...))

	e.sql(t, "keystone", "INSERT INTO region (id, description, extra) VALUES ('RegionTwo', 'added after the backup', '{}')")
	err = openstack.VerifyDatabase(ctx, e.t, a, b)
	var mm *openstack.ChecksumMismatchError
	require.ErrorAs(t, err, &mm)
	assert.Equal(t, []string{"region: rows 1 != 0"}, mm.Tables)
	// A "newer release" adds a table and a revision: restore drops both.
	e.sql(t, "keystone", "CREATE TABLE added_by_newer (id INT PRIMARY KEY)")
	e.sql(t, "keystone", "INSERT INTO alembic_version VALUES ('ffffffffffff')")

	// Old tool against the newer database: refused before running.
	_, err = openstack.ExpandMigrateContract(ctx, e.t, e.svc, e.opts...)
	var newer *openstack.NewerDatabaseError
	require.ErrorAs(t, err, &newer)
	assert.ErrorIs(t, err, openstack.ErrNewerDatabase)
	assert.Equal(t, []string{"ffffffffffff"}, newer.Revisions)
	assert.Equal(t, "python3-keystone", newer.Package)
	_, err = openstack.DBSync(ctx, e.t, e.svc, e.opts...)
	assert.ErrorIs(t, err, openstack.ErrNewerDatabase)
	_, err = openstack.SchemaCheck(ctx, e.t, e.svc, e.opts...)
	assert.ErrorIs(t, err, openstack.ErrNewerDatabase, "keystone-manage db_sync --check would crash")

	require.NoError(t, openstack.RestoreDatabase(ctx, e.t, a, b, e.opts...))
	require.NoError(t, openstack.VerifyDatabase(ctx, e.t, a, b))
	rep, err = openstack.ExpandMigrateContract(ctx, e.t, e.svc, e.opts...)
	require.NoError(t, err, "restored database is accepted again")
	assert.True(t, rep.AlreadyAtHead)
}

// keystoneEtc makes a directory with Fernet and credential keys.
func keystoneEtc(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"fernet-keys", "credential-keys"} {
		require.NoError(t, os.Mkdir(filepath.Join(dir, d), 0o700))
		for _, n := range []string{"0", "1"} {
			key := make([]byte, 32)
			_, err := rand.Read(key)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(dir, d, n), []byte(base64.URLEncoding.EncodeToString(key)), 0o600))
		}
	}
	return dir
}
