package openstack_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/openstack"
	"github.com/upgradekit/upgradekit/transport"
)

// The cross-release tests upgrade databases that Debian 12's (Zed) tools
// brought to their heads with a newer release's real tools: Debian 13's
// (2025.1: keystone 27, glance 30, placement 13, nova 31, neutron 26,
// cinder 26, heat 24), installed in a root by .ci/openstack-newer.sh and
// run through chroot(8) against the test's private MariaDB on TCP.
// Before, during and after, the library's answer is compared with the
// database's own revision tables and the tools' exit codes, and every
// entry point refuses the old tools on the newer databases.

const newerRootDefault = "/srv/openstack-trixie"

// newerRoot returns the root holding the newer release's tools, or skips
// (fails under CI=true, whose .ci/run prepares it).
func newerRoot(t *testing.T) string {
	t.Helper()
	requireReal(t)
	root := os.Getenv("UPGRADEKIT_OPENSTACK_NEWER_ROOT")
	if root == "" {
		root = newerRootDefault
	}
	problem := ""
	if _, err := os.Stat(filepath.Join(root, ".upgradekit-newer-done")); err != nil {
		problem = "no newer OpenStack release at " + root + " (run: sudo .ci/openstack-newer.sh)"
	} else if os.Geteuid() != 0 {
		problem = "the newer release's tools run through chroot, which needs root"
	}
	if problem == "" {
		return root
	}
	if os.Getenv("CI") == "true" {
		t.Fatal(problem)
	}
	t.Skip(problem)
	return ""
}

// chroot runs the wrapped tools, and the probes of what they know (their
// package version, their migration scripts), inside root.
func chroot(root string) openstack.Option {
	return openstack.WithWrap(func(c transport.Command) transport.Command {
		c.Args = append([]string{root, c.Path}, c.Args...)
		c.Path = "chroot"
		return c
	})
}

// newerOpts points the primitives at the newer release in root: a copy
// of e's config inside the root, and e's databases given directly (the
// SQL probes run on the host).
func (e *svcEnv) newerOpts(t *testing.T, root string) []openstack.Option {
	t.Helper()
	dir := filepath.Join(root, "tmp", "upgradekit-tests")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	f, err := os.CreateTemp(dir, e.svc.Name+"-*.conf")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.Remove(f.Name()) })
	_, err = f.WriteString(e.config(srv.Port))
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.NoError(t, os.Chmod(f.Name(), 0o644))
	access, err := openstack.ServiceDatabases(ctxT(t), e.t, e.svc, e.opts...)
	require.NoError(t, err)
	opts := []openstack.Option{openstack.WithConfigFiles(strings.TrimPrefix(f.Name(), root)), openstack.WithFamily(openstack.Debian), chroot(root)}
	for name, a := range access {
		opts = append(opts, openstack.WithDatabase(name, a))
	}
	return opts
}

// truth reads a database's version table directly: sorted revisions, nil
// when the table does not exist.
func (e *svcEnv) truth(t *testing.T, db string, table openstack.VersionTable) []string {
	t.Helper()
	admin := srv.Admin(t)
	var n int
	require.NoError(t, admin.QueryRow("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?", e.dbs[db], string(table)).Scan(&n))
	if n == 0 {
		return nil
	}
	col := "version_num"
	if table == openstack.Migrate {
		col = "version"
	}
	rows, err := admin.Query(fmt.Sprintf("SELECT %s FROM %s.%s", col, e.dbs[db], table))
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		require.NoError(t, rows.Scan(&v))
		out = append(out, v)
	}
	require.NoError(t, rows.Err())
	slices.Sort(out)
	return out
}

func (e *svcEnv) tableCount(t *testing.T, db string) int {
	t.Helper()
	var n int
	require.NoError(t, srv.Admin(t).QueryRow("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = ?", e.dbs[db]).Scan(&n))
	return n
}

// agree asserts the library's view of every database equals the
// revision tables, and returns it.
func (e *svcEnv) agree(t *testing.T, opts []openstack.Option, when string) *openstack.VersionReport {
	t.Helper()
	vr, err := openstack.CheckVersions(ctxT(t), e.t, e.svc, opts...)
	require.NoError(t, err, when)
	for _, d := range vr.Databases {
		assert.Equal(t, e.truth(t, d.Database.Name, d.Database.VersionTable), d.State.Revisions, "%s: %s: %s", when, d.Database.Name, d.Database.VersionTable)
		other := openstack.Migrate
		if d.Database.VersionTable == openstack.Migrate {
			other = openstack.Alembic
		}
		assert.Equal(t, e.truth(t, d.Database.Name, other), d.State.Other, "%s: %s: %s", when, d.Database.Name, other)
	}
	return vr
}

// refusedByOld asserts every entry point refuses the installed (old)
// tools on e's databases, now newer (the version guard runs before any
// tool).
func (e *svcEnv) refusedByOld(t *testing.T, when string) {
	t.Helper()
	ctx := ctxT(t)
	calls := map[string]func() error{
		"CheckVersions": func() error { _, err := openstack.CheckVersions(ctx, e.t, e.svc, e.opts...); return err },
		"DBSync":        func() error { _, err := openstack.DBSync(ctx, e.t, e.svc, e.opts...); return err },
	}
	if e.svc.DBUpgrade == openstack.ExpandContract {
		calls["ExpandMigrateContract"] = func() error { _, err := openstack.ExpandMigrateContract(ctx, e.t, e.svc, e.opts...); return err }
		calls["SchemaCheck"] = func() error { _, err := openstack.SchemaCheck(ctx, e.t, e.svc, e.opts...); return err }
	}
	if e.svc.ODM != nil {
		calls["OnlineDataMigrations"] = func() error { _, err := openstack.OnlineDataMigrations(ctx, e.t, e.svc, e.opts...); return err }
	}
	if e.svc.UpgradeCheck != nil {
		calls["UpgradeCheck"] = func() error { _, err := openstack.UpgradeCheck(ctx, e.t, e.svc, e.opts...); return err }
	}
	for name, call := range calls {
		err := call()
		var newer *openstack.NewerDatabaseError
		if assert.ErrorAs(t, err, &newer, "%s: %s", when, name) {
			assert.NotEmpty(t, newer.Revisions)
		}
	}
}

// crossEnv starts a cross-release test of service: the newer release's
// root (or a skip), and a private environment in parallel with the others.
func crossEnv(t *testing.T, service string) (string, *svcEnv) {
	t.Helper()
	root := newerRoot(t)
	t.Parallel()
	return root, newEnv(t, service)
}

// zedHeads brings e's databases to the installed (Zed) tools' heads with
// expand/migrate/contract where the service has it, else db sync, plus
// opts, and requires the revision tables to say every database is there.
func (e *svcEnv) zedHeads(t *testing.T, opts ...openstack.Option) *openstack.VersionReport {
	t.Helper()
	opts = append(slices.Clone(e.opts), opts...)
	var err error
	if e.svc.DBUpgrade == openstack.ExpandContract {
		_, err = openstack.ExpandMigrateContract(ctxT(t), e.t, e.svc, opts...)
	} else {
		_, err = openstack.DBSync(ctxT(t), e.t, e.svc, opts...)
	}
	require.NoError(t, err)
	zed := e.agree(t, e.opts, "Zed head")
	for _, d := range zed.Databases {
		require.True(t, d.AtHead, d.Database.Name)
	}
	return zed
}

// newerBefore points the primitives at the newer release in root and
// asserts, before any upgrade, that they agree with the revision tables
// and that the root's package version matches version (a regexp).
func (e *svcEnv) newerBefore(t *testing.T, root, version string) ([]openstack.Option, *openstack.VersionReport) {
	t.Helper()
	newer := e.newerOpts(t, root)
	vr := e.agree(t, newer, "before")
	assert.Regexp(t, version, vr.Version)
	return newer, vr
}

// newerAfter asserts, after the upgrade, that the library agrees with the
// revision tables, every database is at the newer tools' heads, and every
// entry point refuses the old tools.
func (e *svcEnv) newerAfter(t *testing.T, newer []openstack.Option) {
	t.Helper()
	vr := e.agree(t, newer, "after")
	for _, d := range vr.Databases {
		assert.True(t, d.AtHead, d.Database.Name)
	}
	e.refusedByOld(t, "after")
}

// schemaCheck runs the schema check of the tools opts point at.
func schemaCheck(t *testing.T, e *svcEnv, opts []openstack.Option) openstack.ToolCheckResult {
	t.Helper()
	chk, err := openstack.SchemaCheck(ctxT(t), e.t, e.svc, opts...)
	require.NoError(t, err)
	return chk
}

// checkNewer runs the newer release's upgrade check and returns its
// report; the exit code is the report's code.
func checkNewer(t *testing.T, e *svcEnv, opts []openstack.Option) *openstack.UpgradeCheckReport {
	t.Helper()
	uc, err := openstack.UpgradeCheck(ctxT(t), e.t, e.svc, opts...)
	require.NoError(t, err)
	assert.Equal(t, int(uc.Code), uc.Step.ExitCode)
	return uc
}

func TestCrossReleaseKeystoneReal(t *testing.T) {
	root, e := crossEnv(t, "keystone")
	ctx := ctxT(t)
	e.zedHeads(t)

	newer, vr := e.newerBefore(t, root, `^2:27\.`)
	assert.False(t, vr.Databases[0].AtHead)
	chk := schemaCheck(t, e, newer)
	t.Logf("keystone 27 db_sync --check before the upgrade: exit %d (%s)", chk.Code, chk.Meaning)

	// Expand (migrate is a no-op since Zed): the new expand head, the old
	// contract head.
	rep, err := openstack.ExpandMigrateContract(ctx, e.t, e.svc, append(slices.Clone(newer), openstack.WithPhases(openstack.PhaseExpand, openstack.PhaseMigrate))...)
	require.NoError(t, err)
	ran, _ := stepNames(rep.Steps)
	assert.Equal(t, []string{"expand"}, ran)
	assert.False(t, rep.After.ExpandPending)
	assert.True(t, rep.After.ContractPending)
	assert.Equal(t, e.truth(t, "keystone", openstack.Alembic), rep.After.Schema.Revisions)
	assert.Contains(t, rep.After.Schema.Revisions, rep.ExpandHead)
	e.agree(t, newer, "during")
	e.refusedByOld(t, "during")
	chk = schemaCheck(t, e, newer)
	t.Logf("keystone 27 db_sync --check between expand and contract: exit %d (%s)", chk.Code, chk.Meaning)

	rep, err = openstack.ExpandMigrateContract(ctx, e.t, e.svc, append(slices.Clone(newer), openstack.WithPhases(openstack.PhaseContract))...)
	require.NoError(t, err)
	assert.True(t, rep.After.AtHead())
	assert.Equal(t, []string{rep.ContractHead, rep.ExpandHead}, sortedPair(rep.After.Schema.Revisions, rep.ContractHead, rep.ExpandHead))
	e.newerAfter(t, newer)
	assert.Equal(t, 0, schemaCheck(t, e, newer).Code)

	// keystone-status 27 in the root, with key directories there.
	for _, d := range []string{"fernet-keys", "credential-keys"} {
		p := filepath.Join(root, "etc", "keystone", d)
		if _, err := os.Stat(filepath.Join(p, "0")); err == nil {
			continue
		}
		require.NoError(t, os.MkdirAll(p, 0o700))
		for _, n := range []string{"0", "1"} {
			key := make([]byte, 32)
			_, _ = rand.Read(key)
			require.NoError(t, os.WriteFile(filepath.Join(p, n), []byte(base64.URLEncoding.EncodeToString(key)), 0o600))
		}
	}
	uc := checkNewer(t, e, newer)
	assert.True(t, uc.JSON)
	assert.Equal(t, openstack.CheckSuccess, uc.Code)
}

// sortedPair returns the recorded revisions if they are exactly a and b.
func sortedPair(revs []string, a, b string) []string {
	want := []string{a, b}
	slices.Sort(want)
	got := slices.Clone(revs)
	slices.Sort(got)
	if slices.Equal(got, want) {
		return []string{a, b}
	}
	return got
}

func TestCrossReleaseGlanceReal(t *testing.T) {
	root, e := crossEnv(t, "glance")
	ctx := ctxT(t)
	e.zedHeads(t)

	newer, vr := e.newerBefore(t, root, `^2:30\.`)
	assert.False(t, vr.Databases[0].AtHead)
	assert.Equal(t, 3, schemaCheck(t, e, newer).Code, "glance 30 db check: expand needed")
	uc := checkNewer(t, e, newer)
	t.Logf("glance 30 upgrade check on the Zed schema: %s", uc.Code)

	rep, err := openstack.ExpandMigrateContract(ctx, e.t, e.svc, append(slices.Clone(newer), openstack.WithPhases(openstack.PhaseExpand, openstack.PhaseMigrate))...)
	require.NoError(t, err)
	assert.Equal(t, 3, rep.Before.ToolCheck)
	assert.False(t, rep.After.ExpandPending)
	assert.Equal(t, e.truth(t, "glance", openstack.Alembic), rep.After.Schema.Revisions)
	chk := schemaCheck(t, e, newer)
	assert.Equal(t, rep.After.ToolCheck, chk.Code, "the library's state is the tool's answer")
	assert.Contains(t, []int{4, 5}, chk.Code, "during: migrate or contract pending")
	e.agree(t, newer, "during")
	e.refusedByOld(t, "during")

	rep, err = openstack.ExpandMigrateContract(ctx, e.t, e.svc, append(slices.Clone(newer), openstack.WithPhases(openstack.PhaseContract))...)
	require.NoError(t, err)
	assert.Equal(t, 0, rep.After.ToolCheck)
	e.newerAfter(t, newer)
	assert.Equal(t, 0, schemaCheck(t, e, newer).Code)
	uc = checkNewer(t, e, newer)
	assert.True(t, uc.JSON)
}

func TestCrossReleaseNeutronReal(t *testing.T) {
	root, e := crossEnv(t, "neutron")
	ctx := ctxT(t)
	e.zedHeads(t, openstack.WithStopServers(func(context.Context) error { return nil }))
	tablesZed := e.tableCount(t, "neutron")

	newer, vr := e.newerBefore(t, root, `^2:26\.`)
	assert.False(t, vr.Databases[0].AtHead)

	stopped := 0
	stopNewer := openstack.WithStopServers(func(context.Context) error { stopped++; return nil })
	rep, err := openstack.ExpandMigrateContract(ctx, e.t, e.svc, append(slices.Clone(newer), stopNewer, openstack.WithPhases(openstack.PhaseExpand))...)
	require.NoError(t, err)
	assert.False(t, rep.After.ExpandPending)
	tablesExpand := e.tableCount(t, "neutron")
	// neutron's expand is not purely additive: it drops legacy vendor
	// plugin tables. The verified backup must come first.
	t.Logf("neutron 26 expand: %d tables before, %d after", tablesZed, tablesExpand)
	assert.Less(t, tablesExpand, tablesZed, "neutron's expand drops tables")
	assert.Equal(t, rep.After.ToolCheck, schemaCheck(t, e, newer).Code, "the library's state is has_offline_migrations' answer")
	e.agree(t, newer, "during")
	e.refusedByOld(t, "during")

	rep, err = openstack.ExpandMigrateContract(ctx, e.t, e.svc, append(slices.Clone(newer), stopNewer, openstack.WithPhases(openstack.PhaseContract))...)
	require.NoError(t, err)
	assert.True(t, rep.After.AtHead())
	assert.Equal(t, 0, rep.After.ToolCheck)
	t.Logf("neutron 26 contract: servers stopped %d time(s)", stopped)
	e.newerAfter(t, newer)
	assert.Equal(t, 0, schemaCheck(t, e, newer).Code)
}

func TestCrossReleasePlacementReal(t *testing.T) {
	root, e := crossEnv(t, "placement")
	ctx := ctxT(t)
	e.zedHeads(t)

	newer, vr := e.newerBefore(t, root, `^13\.`)
	assert.False(t, vr.Databases[0].AtHead)
	uc := checkNewer(t, e, newer)
	t.Logf("placement 13 upgrade check on the Zed schema: %s", uc.Code)

	rep, err := openstack.DBSync(ctx, e.t, e.svc, newer...)
	require.NoError(t, err)
	assert.Equal(t, e.truth(t, "placement", openstack.Alembic), rep.After[0].Revisions)
	e.newerAfter(t, newer)
	odm, err := openstack.OnlineDataMigrations(ctx, e.t, e.svc, newer...)
	require.NoError(t, err)
	assert.Equal(t, 1, odm.Batches)
	uc = checkNewer(t, e, newer)
	assert.Equal(t, openstack.CheckSuccess, uc.Code)
}

func TestCrossReleaseNovaReal(t *testing.T) {
	root, e := crossEnv(t, "nova")
	ctx := ctxT(t)
	_, err := openstack.DBSync(ctx, e.t, e.svc, e.opts...)
	require.NoError(t, err)
	e.sql(t, "nova_api", fmt.Sprintf("INSERT INTO cell_mappings (uuid, name, transport_url, database_connection, created_at) VALUES ('00000000-0000-0000-0000-000000000000', 'cell0', 'none:///', '%s', NOW())", e.url(srv.Port, "nova_cell0")))
	e.zedHeads(t)

	newer, _ := e.newerBefore(t, root, `^2:31\.`)
	uc := checkNewer(t, e, newer)
	t.Logf("nova 31 upgrade check on the Zed schema: %s", uc.Code)

	// During: only `api_db sync` has run (api_db before db); DBSync
	// says the main databases are not at the tool's heads, as their
	// tables say.
	apiOnly := e.svc.Clone()
	apiOnly.Sync = [][]string{{"api_db", "sync"}}
	_, err = openstack.DBSync(ctx, e.t, apiOnly, newer...)
	require.ErrorIs(t, err, openstack.ErrIncomplete)
	vr := e.agree(t, newer, "during")
	at := map[string]bool{}
	for _, d := range vr.Databases {
		at[d.Database.Name] = d.AtHead
	}
	assert.Equal(t, map[string]bool{"nova_api": true, "nova": false, "nova_cell0": false}, at)
	e.refusedByOld(t, "during")

	rep, err := openstack.DBSync(ctx, e.t, e.svc, newer...)
	require.NoError(t, err)
	require.Len(t, rep.After, 3)
	e.newerAfter(t, newer)
	odm, err := openstack.OnlineDataMigrations(ctx, e.t, e.svc, append(slices.Clone(newer), openstack.WithBatchSize(50))...)
	require.NoError(t, err)
	assert.Empty(t, odm.Pending)
	uc = checkNewer(t, e, newer)
	assert.False(t, uc.JSON)
}

func TestCrossReleaseCinderReal(t *testing.T) {
	root, e := crossEnv(t, "cinder")
	ctx := ctxT(t)
	e.zedHeads(t)

	newer, vr := e.newerBefore(t, root, `^2:26\.`)
	assert.False(t, vr.Databases[0].AtHead)
	uc := checkNewer(t, e, newer)
	t.Logf("cinder 26 upgrade check on the Zed schema: %s", uc.Code)

	_, err := openstack.DBSync(ctx, e.t, e.svc, newer...)
	require.NoError(t, err)
	e.newerAfter(t, newer)
	_, err = openstack.OnlineDataMigrations(ctx, e.t, e.svc, append(slices.Clone(newer), openstack.WithBatchSize(50))...)
	require.NoError(t, err)
	uc = checkNewer(t, e, newer)
	assert.True(t, uc.JSON)
}

func TestCrossReleaseHeatReal(t *testing.T) {
	root, e := crossEnv(t, "heat")
	ctx := ctxT(t)
	zed := e.zedHeads(t)
	assert.Equal(t, openstack.Migrate, zed.Databases[0].Database.VersionTable, "heat 19 ships sqlalchemy-migrate")
	assert.Equal(t, []string{"86"}, zed.Databases[0].State.Revisions)

	newer, vr := e.newerBefore(t, root, `^1:24\.`)
	assert.Equal(t, openstack.Alembic, vr.Databases[0].Database.VersionTable, "heat 24 ships alembic")
	assert.Equal(t, []string{"86"}, vr.Databases[0].State.Other)
	assert.False(t, vr.Databases[0].AtHead)
	uc := checkNewer(t, e, newer)
	t.Logf("heat 24 upgrade check on the Zed schema: %s", uc.Code)

	// heat 24 would stamp a database short of migrate 86 as complete:
	// refused before it runs.
	e.sql(t, "heat", "UPDATE migrate_version SET version = 85")
	_, err := openstack.DBSync(ctx, e.t, e.svc, newer...)
	require.ErrorIs(t, err, openstack.ErrUpgradePath)
	assert.Nil(t, e.truth(t, "heat", openstack.Alembic), "nothing stamped")
	e.sql(t, "heat", "UPDATE migrate_version SET version = 86")

	// heat 24 stamps its initial alembic revision over migrate_version.
	rep, err := openstack.DBSync(ctx, e.t, e.svc, newer...)
	require.NoError(t, err)
	assert.Equal(t, []string{"c6214ca60943"}, rep.After[0].Revisions)
	assert.Equal(t, []string{"86"}, e.truth(t, "heat", openstack.Migrate), "the legacy table stays")
	// Old heat tools read only migrate_version, which still says 86: the
	// alembic revision marks the database as the newer release's.
	e.newerAfter(t, newer)
	rep, err = openstack.DBSync(ctx, e.t, e.svc, newer...)
	require.NoError(t, err)
	assert.True(t, rep.AlreadyAtHead)
	_, err = openstack.CheckVersions(ctx, e.t, e.svc, e.opts...)
	var newerErr *openstack.NewerDatabaseError
	require.True(t, errors.As(err, &newerErr))
	assert.Equal(t, []string{"c6214ca60943"}, newerErr.Revisions)
	uc = checkNewer(t, e, newer)
	assert.True(t, uc.JSON)
}

// TestMariaDB11ClientTLSReal drives Debian 13's MariaDB 11.8 client (in
// the root) against the test's server, which has no TLS. On loopback the
// client does not insist on TLS (a remote server without TLS is refused
// by default: "SSL is required, but the server does not support it");
// asking it to verify the server with a CA gives that refusal, typed with
// the client's own reason, and the operator's explicit opt-out works.
func TestMariaDB11ClientTLSReal(t *testing.T) {
	root := newerRoot(t)
	if _, err := os.Stat(filepath.Join(root, "usr", "bin", "mariadb")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("no mariadb client in " + root + " (rerun .ci/openstack-newer.sh on a fresh root)")
		}
		t.Skip("no mariadb client in " + root)
	}
	t.Parallel()
	e := newEnv(t, "placement")
	ctx := ctxT(t)
	client := filepath.Join(t.TempDir(), "mariadb11")
	require.NoError(t, os.WriteFile(client, []byte("#!/bin/sh\nexec chroot "+root+" /usr/bin/mariadb \"$@\"\n"), 0o755))
	access, err := openstack.ServiceDatabases(ctx, e.t, e.svc, e.opts...)
	require.NoError(t, err)
	a := access["placement"]
	e.sql(t, "placement", "CREATE TABLE t (id INT PRIMARY KEY)")
	with := openstack.WithDBClient(client, "mysqldump")

	_, err = openstack.TableStates(ctx, e.t, a, with, openstack.WithDBTLS(openstack.DBTLS{CA: "/etc/ssl/certs/ca-certificates.crt"}))
	var dbe *openstack.DBError
	require.ErrorAs(t, err, &dbe)
	assert.Equal(t, 2026, dbe.Number)
	assert.Contains(t, err.Error(), "SSL is required, but the server does not support it")
	assert.NotContains(t, err.Error(), "--user=", "no command line in the message")

	for name, opt := range map[string]openstack.Option{"loopback defaults": nil, "explicit opt-out": openstack.WithDBTLS(openstack.DBTLS{Disable: true})} {
		got, err := openstack.TableStates(ctx, e.t, a, with, opt)
		require.NoError(t, err, name)
		require.Len(t, got, 1, name)
		assert.Equal(t, "t", got[0].Name, name)
	}
}
