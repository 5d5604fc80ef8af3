package openstack_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/openstack"
	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/transport/fake"
	"github.com/upgradekit/upgradekit/transport/local"
)

// heatNode fakes a heat controller: which migration directories the
// installed heat ships, and the database's two version tables.
type heatNode struct {
	mu      sync.Mutex
	dirs    map[string]string // migrations directory -> listing
	migrate string            // migrate_version.version, "" = no table
	alembic string            // alembic_version.version_num, "" = no table
	version string
	synced  int
}

func (h *heatNode) install(f *fake.Transport) {
	f.Expect(fake.Exact("dpkg-query", "-W", "-f=${Version}", "--", "heat-common")).Reply(h.version).Any()
	f.Expect(fake.Func(func(c transport.Command) bool {
		return c.Path == "/bin/sh" && len(c.Args) > 4 && strings.Contains(c.Args[1], "find_spec")
	})).Handle(func(_ context.Context, c transport.Command) (transport.Result, error) {
		if l, ok := h.dirs[c.Args[4]]; ok {
			return transport.Result{Stdout: []byte(l)}, nil
		}
		return transport.Result{ExitCode: 4, Stderr: []byte("no migrations directory " + c.Args[4])}, nil
	}).Any()
	f.Expect(fake.Func(func(c transport.Command) bool { return c.Path == "mariadb" })).Handle(
		func(_ context.Context, c transport.Command) (transport.Result, error) {
			sql, err := io.ReadAll(c.Stdin)
			if err != nil {
				return transport.Result{}, err
			}
			h.mu.Lock()
			defer h.mu.Unlock()
			switch q := string(sql); {
			case strings.Contains(q, "information_schema"):
				var out string
				if h.alembic != "" {
					out += "alembic_version\n"
				}
				if h.migrate != "" {
					out += "migrate_version\n"
				}
				return transport.Result{Stdout: []byte(out)}, nil
			case strings.Contains(q, "version_num"):
				return transport.Result{Stdout: []byte(h.alembic + "\n")}, nil
			case strings.Contains(q, "migrate_version"):
				return transport.Result{Stdout: []byte(h.migrate + "\n")}, nil
			}
			return transport.Result{ExitCode: 1, Stderr: []byte("ERROR 1064 (42000): unexpected SQL")}, nil
		}).Any()
	f.Expect(fake.Exact("heat-manage", "--config-file", "/etc/heat/heat.conf", "db_sync")).Handle(
		func(context.Context, transport.Command) (transport.Result, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.synced++
			h.alembic = "c6214ca60943" // heat 21+: stamps over migrate_version
			return transport.Result{}, nil
		}).Any()
}

const (
	heatMigrateListing = "dir /h/migrate_repo/versions\nfile 073_newton.py\nfile 086_drop_watch_rule_watch_data_tables.py\nfile __init__.py\n"
	heatAlembicListing = "dir /h/migrations/versions\nfile c6214ca60943_initial_revision.py\nline c6214ca60943_initial_revision.py revision = 'c6214ca60943'\nline c6214ca60943_initial_revision.py down_revision = None\n"
)

var heatDB = openstack.WithDatabase("heat", openstack.DBAccess{Database: "heat", Host: "db", User: "heat"})

// TestHeatMigrationSystemsFake: heat's migration system is found from
// the installed package, in both directions of the sqlalchemy-migrate to
// alembic change (heat 21, 2023.2).
func TestHeatMigrationSystemsFake(t *testing.T) {
	t.Parallel()
	heat, _ := openstack.DefaultCatalog().Service("heat")
	ctx := context.Background()
	opts := []openstack.Option{openstack.WithFamily(openstack.Debian), heatDB}

	// heat 24 on a Zed database (migrate 86): not at head, db_sync stamps.
	f := fake.New("ctl1")
	h := &heatNode{dirs: map[string]string{"db/migrations/versions": heatAlembicListing}, migrate: "86", version: "1:24.0.0-1"}
	h.install(f)
	vr, err := openstack.CheckVersions(ctx, f, heat, opts...)
	require.NoError(t, err)
	assert.Equal(t, openstack.Alembic, vr.Databases[0].Database.VersionTable)
	assert.False(t, vr.Databases[0].AtHead)
	assert.Equal(t, []string{"86"}, vr.Databases[0].State.Other)
	rep, err := openstack.DBSync(ctx, f, heat, opts...)
	require.NoError(t, err)
	assert.Equal(t, []string{"c6214ca60943"}, rep.After[0].Revisions)
	rep, err = openstack.DBSync(ctx, f, heat, opts...)
	require.NoError(t, err)
	assert.True(t, rep.AlreadyAtHead)
	assert.Equal(t, 1, h.synced)

	// heat 19 (Zed) on that database: alembic_version is a newer release's.
	f = fake.New("ctl1")
	old := &heatNode{dirs: map[string]string{"db/sqlalchemy/migrate_repo/versions": heatMigrateListing}, migrate: "86", alembic: "c6214ca60943", version: "1:19.0.0-3"}
	old.install(f)
	for name, run := range map[string]func() error{
		"CheckVersions": func() error { _, err := openstack.CheckVersions(ctx, f, heat, opts...); return err },
		"DBSync":        func() error { _, err := openstack.DBSync(ctx, f, heat, opts...); return err },
	} {
		err := run()
		var newer *openstack.NewerDatabaseError
		require.ErrorAs(t, err, &newer, name)
		assert.Equal(t, []string{"c6214ca60943"}, newer.Revisions, name)
	}
	assert.Zero(t, old.synced)

	// heat 24 on a database short of migrate 86: it would stamp it as
	// complete; refused.
	f = fake.New("ctl1")
	short := &heatNode{dirs: map[string]string{"db/migrations/versions": heatAlembicListing}, migrate: "80", version: "1:24.0.0-1"}
	short.install(f)
	_, err = openstack.DBSync(ctx, f, heat, opts...)
	var legacy *openstack.LegacySchemaError
	require.ErrorAs(t, err, &legacy)
	assert.ErrorIs(t, err, openstack.ErrUpgradePath)
	assert.Equal(t, "80", legacy.Revision)
	assert.Zero(t, short.synced)

	// A package shipping neither directory: typed, no tool run.
	f = fake.New("ctl1")
	none := &heatNode{dirs: map[string]string{}, migrate: "86", version: "1:30.0.0-1"}
	none.install(f)
	_, err = openstack.DBSync(ctx, f, heat, opts...)
	require.ErrorIs(t, err, openstack.ErrUnknownLayout)
	assert.Zero(t, none.synced)
}

// TestSchemaCheckVersionGuardFake: on a database a newer release
// migrated, SchemaCheck refuses before the old tool answers (glance would
// say "expand needed", neutron "up to date").
func TestSchemaCheckVersionGuardFake(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		svc, pkg, listing, rev string
		db                     openstack.Option
	}{
		{svc: "keystone", pkg: "python3-keystone", listing: keystone27Listing, rev: "c88cdce8f248", db: testDB},
		{svc: "glance", pkg: "glance-common", listing: "dir /g\nfile a.py\nline a.py revision = 'wallaby_contract01'\nline a.py down_revision = None\n", rev: "2024_1_contract01",
			db: openstack.WithDatabase("glance", openstack.DBAccess{Database: "glance"})},
		{svc: "neutron", pkg: "neutron-common", listing: "dir /n\nfile a.py\nline a.py revision = 'I38991de2b4'\nline a.py down_revision = None\n", rev: "0123456789ab",
			db: openstack.WithDatabase("neutron", openstack.DBAccess{Database: "neutron"})},
	} {
		t.Run(tc.svc, func(t *testing.T) {
			t.Parallel()
			f := fake.New("ctl1")
			db := &fakeDB{revs: []string{tc.rev}, listing: tc.listing, pkg: tc.pkg, version: "2:1.0.0-1"}
			db.install(f)
			svc, _ := openstack.DefaultCatalog().Service(tc.svc)
			_, err := openstack.SchemaCheck(context.Background(), f, svc, openstack.WithFamily(openstack.Debian), tc.db)
			var newer *openstack.NewerDatabaseError
			require.ErrorAs(t, err, &newer)
			assert.Equal(t, []string{tc.rev}, newer.Revisions)
			for _, c := range f.Calls() {
				assert.NotEqual(t, svc.Manage, c.Command.Path, "the old tool is not asked")
			}
		})
	}
}

// TestUpgradeCheckStartupFailureFake: a tool that exits 1 with nothing
// on stdout did not start; its reason is carried, not reported as a
// Warning or malformed output.
func TestUpgradeCheckStartupFailureFake(t *testing.T) {
	t.Parallel()
	f := fake.New("ctl1")
	f.Expect(fake.Prefix("keystone-status")).Exit(1, "/etc/keystone/fernet-keys/ does not exist\n")
	svc, _ := openstack.DefaultCatalog().Service("keystone")
	svc.Databases = nil
	_, err := openstack.UpgradeCheck(context.Background(), f, svc)
	require.ErrorIs(t, err, openstack.ErrToolStartup)
	assert.NotErrorIs(t, err, openstack.ErrMalformedOutput)
	var te *openstack.ToolError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, "/etc/keystone/fernet-keys/ does not exist", te.Reason)
	assert.Equal(t, "keystone: upgrade check: could not start: exit status 1: /etc/keystone/fernet-keys/ does not exist", err.Error())
}

// TestOnlineDataMigrationsPendingFake: exit 0 with rows found and none
// migrated (nova's populate_user_id) is reported, typed.
func TestOnlineDataMigrationsPendingFake(t *testing.T) {
	t.Parallel()
	nova, _ := openstack.DefaultCatalog().Service("nova")
	nova.Databases = nil
	f := fake.New("ctl1")
	f.Expect(fake.Prefix("nova-manage")).Reply(`Running batches of 50 until complete
+---------------------------------------------+--------------+-----------+
|                  Migration                  | Total Needed | Completed |
+---------------------------------------------+--------------+-----------+
|         fill_virtual_interface_list         |      0       |     0     |
|               populate_user_id              |      6       |     0     |
+---------------------------------------------+--------------+-----------+
`)
	rep, err := openstack.OnlineDataMigrations(context.Background(), f, nova, openstack.WithBatchSize(50))
	require.ErrorIs(t, err, openstack.ErrRowsPending)
	var pe *openstack.PendingRowsError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, []openstack.MigrationCount{{Name: "populate_user_id", Total: 6, Completed: 0}}, pe.Migrations)
	assert.Equal(t, pe.Migrations, rep.Pending)
	assert.Contains(t, err.Error(), "populate_user_id: 6 rows found, 0 migrated in the last run")
}

// TestForServiceFake: options for one service leave the others alone.
func TestForServiceFake(t *testing.T) {
	t.Parallel()
	f := fake.New("ctl1")
	f.Expect(fake.Exact("docker", "exec", "keystone", "keystone-status", "--config-file", "/srv/ks.conf", "upgrade", "check", "--json")).
		Reply(`{"name": "Upgrade Check Results", "checks": []}`)
	f.Expect(fake.Exact("cinder-status", "--config-file", "/etc/cinder/cinder.conf", "upgrade", "check", "--json")).
		Reply(`{"name": "Upgrade Check Results", "checks": []}`)
	opts := []openstack.Option{openstack.ForService("keystone",
		openstack.WithConfigFiles("/srv/ks.conf"),
		openstack.WithWrap(func(c transport.Command) transport.Command {
			c.Args = append([]string{"exec", "keystone", c.Path}, c.Args...)
			c.Path = "docker"
			return c
		}))}
	cat := openstack.DefaultCatalog()
	for _, name := range []string{"keystone", "cinder"} {
		svc, _ := cat.Service(name)
		svc.Databases = nil
		_, err := openstack.UpgradeCheck(context.Background(), f, svc, opts...)
		require.NoError(t, err, name)
	}
	f.AssertExpectations(t)
	_, err := openstack.UpgradeCheck(context.Background(), f, openstack.Service{Name: "x", UpgradeCheck: &openstack.UpgradeCheckSpec{Command: "x"}}, openstack.ForService(""))
	assert.Error(t, err)
}

// TestDBTLSFake: the TLS choice reaches the probes, the dump and the
// restore alike.
func TestDBTLSFake(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		tls  openstack.DBTLS
		want []string
	}{
		{openstack.DBTLS{CA: "/etc/mysql/ca.pem"}, []string{"--ssl-ca=/etc/mysql/ca.pem", "--ssl-verify-server-cert"}},
		{openstack.DBTLS{Cert: "/c.pem", Key: "/k.pem"}, []string{"--ssl-cert=/c.pem", "--ssl-key=/k.pem"}},
		{openstack.DBTLS{Disable: true}, []string{"--skip-ssl"}},
	} {
		f := fake.New("ctl1")
		db := &fakeDB{}
		db.install(f)
		f.Expect(fake.Prefix("mkdir")).Any()
		f.Expect(fake.Func(func(c transport.Command) bool { return c.Path == "/bin/sh" })).Reply("100\n" + strings.Repeat("0", 64) + "  -\n-- Dump completed on 2026-11-21\n").Any()
		f.Expect(fake.Prefix("rm")).Any()
		a := openstack.DBAccess{Database: "nova", Host: "db", User: "nova"}
		b, err := openstack.BackupDatabase(context.Background(), f, a, "/b", openstack.WithDBTLS(tc.tls))
		require.NoError(t, err)
		require.NoError(t, openstack.RestoreDatabase(context.Background(), f, a, b, openstack.WithDBTLS(tc.tls)))
		seen := map[string]bool{}
		for _, c := range f.Calls() {
			argv := strings.Join(c.Argv(), " ")
			for _, tool := range []string{"mariadb --user", "mysqldump", "--batch -- nova"} {
				if strings.Contains(argv, tool) {
					seen[tool] = true
					for _, w := range tc.want {
						assert.Contains(t, c.Argv(), w, argv)
					}
				}
			}
		}
		assert.Len(t, seen, 3, "probe, dump and load all seen")
	}
	for _, bad := range []openstack.DBTLS{{}, {Disable: true, CA: "/ca"}, {Cert: "/c"}} {
		_, err := openstack.TableStates(context.Background(), fake.New("x"), openstack.DBAccess{Database: "d"}, openstack.WithDBTLS(bad))
		assert.Error(t, err, "%+v", bad)
	}
}

// TestErrorsNameTheOperationFake: a failed probe names what failed,
// without its shell script or the transport's host, and once.
func TestErrorsNameTheOperationFake(t *testing.T) {
	t.Parallel()
	f := fake.New("inner-10.0.0.7")
	f.Expect(fake.Exact("dpkg-query", "-W", "-f=${Version}", "--", "heat-common")).Reply("1:24.0.0-1")
	f.Expect(fake.Func(func(c transport.Command) bool { return c.Path == "/bin/sh" })).Exit(3, "python package heat not found")
	heat, _ := openstack.DefaultCatalog().Service("heat")
	_, err := openstack.CheckVersions(context.Background(), f, heat, openstack.WithFamily(openstack.Debian), heatDB)
	require.Error(t, err)
	assert.Equal(t, "heat: list migrations: exit status 3: python package heat not found", err.Error())
	var ee *transport.ExitError
	assert.True(t, errors.As(err, &ee), "the exit error is still in the chain")

	f = fake.New("inner-10.0.0.7")
	f.Expect(fake.Prefix("nova-manage")).Exit(3, "oslo_db.exception.DBError: boom")
	nova, _ := openstack.DefaultCatalog().Service("nova")
	nova.Databases = nil
	nova.Sync = [][]string{{"db", "sync"}}
	_, err = openstack.OnlineDataMigrations(context.Background(), f, nova)
	require.Error(t, err)
	msg := err.Error()
	assert.Equal(t, 1, strings.Count(msg, "nova:"), msg)
	for _, no := range []string{"--config-file", "inner-10.0.0.7", "/bin/sh"} {
		assert.NotContains(t, msg, no)
	}
}

// TestDumpFailureLeavesNoFile runs the real dump script through the
// local transport with stand-in dump tools: one that writes half a dump
// and fails the way a MariaDB 11 client refuses a server without TLS,
// one that exits 0 with a truncated dump. Neither leaves a file behind.
func TestDumpFailureLeavesNoFile(t *testing.T) {
	t.Parallel()
	bin := t.TempDir()
	write := func(name, script string) string {
		p := filepath.Join(bin, name)
		require.NoError(t, os.WriteFile(p, []byte(script), 0o755))
		return p
	}
	// The dump tool gets --result-file=<file> before "--".
	resultFile := `for a; do case $a in --result-file=*) f=${a#--result-file=};; esac; done
`
	tlsRefused := write("dump-tls", "#!/bin/sh\n"+resultFile+`printf -- '-- MariaDB dump\nCREATE TABLE' > "$f"
echo "mysqldump: Got error: 2026: \"TLS/SSL error: SSL is required, but the server does not support it\" when trying to connect" >&2
exit 2
`)
	truncated := write("dump-trunc", "#!/bin/sh\n"+resultFile+`printf -- '-- MariaDB dump\nINSERT INTO x VALUES (1,\n' > "$f"
`)
	// The SQL client answers the table fingerprint with no tables.
	client := write("client", "#!/bin/sh\ncat >/dev/null\n")
	lt, err := local.New(local.WithHostName("ctl"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = lt.Close() })
	a := openstack.DBAccess{Database: "nova", Host: "127.0.0.1", User: "nova"}
	for name, dump := range map[string]string{"tls refused": tlsRefused, "truncated": truncated} {
		dir := filepath.Join(t.TempDir(), "backups")
		_, err := openstack.BackupDatabase(context.Background(), lt, a, dir, openstack.WithDBClient(client, dump))
		require.Error(t, err, name)
		if name == "tls refused" {
			assert.Contains(t, err.Error(), "SSL is required", "the client's reason is kept")
			assert.NotContains(t, err.Error(), "umask", "not the script")
		} else {
			assert.ErrorIs(t, err, openstack.ErrBackupInvalid)
		}
		left, _ := os.ReadDir(dir)
		assert.Empty(t, left, "%s: no empty or partial dump left", name)
	}
}
