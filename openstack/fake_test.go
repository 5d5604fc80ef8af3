package openstack_test

import (
	"context"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/openstack"
	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/transport/fake"
)

// fakeDB scripts the database side of a fake node: secret files, the
// SQL client answering version-table queries from revs, the migrations
// listing and the tool package's version.
type fakeDB struct {
	mu      sync.Mutex
	revs    []string // nil: no version table
	listing string
	pkg     string
	version string
}

func (d *fakeDB) set(revs ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.revs = revs
}

func (d *fakeDB) install(f *fake.Transport) {
	f.Expect(fake.Func(func(c transport.Command) bool {
		return c.Path == "/bin/sh" && len(c.Args) > 1 && strings.Contains(c.Args[1], "upgradekit-secret")
	})).Reply("/tmp/upgradekit-secret.test\n").Any()
	f.Expect(fake.Prefix("rm", "-f", "--", "/tmp/upgradekit-secret.test")).Any()
	f.Expect(fake.Func(func(c transport.Command) bool {
		return c.Path == "/bin/sh" && len(c.Args) > 1 && strings.Contains(c.Args[1], "find_spec")
	})).Reply(d.listing).Any()
	f.Expect(fake.Exact("dpkg-query", "-W", "-f=${Version}", "--", d.pkg)).Reply(d.version).Any()
	f.Expect(fake.Func(func(c transport.Command) bool { return c.Path == "mariadb" })).Handle(
		func(_ context.Context, c transport.Command) (transport.Result, error) {
			sql, err := io.ReadAll(c.Stdin)
			if err != nil {
				return transport.Result{}, err
			}
			d.mu.Lock()
			defer d.mu.Unlock()
			switch {
			case strings.Contains(string(sql), "information_schema"):
				if d.revs == nil {
					return transport.Result{}, nil
				}
				return transport.Result{Stdout: []byte("alembic_version\n")}, nil
			case strings.Contains(string(sql), "version_num"):
				return transport.Result{Stdout: []byte(strings.Join(d.revs, "\n") + "\n")}, nil
			}
			return transport.Result{ExitCode: 1, Stderr: []byte("ERROR 1064 (42000): unexpected SQL")}, nil
		}).Any()
}

var testDB = openstack.WithDatabase("keystone", openstack.DBAccess{Database: "keystone", Host: "db", User: "keystone", Password: transport.NewSecret("pw")})

// keystone 27 (2025.1) ships new heads on top of Zed's.
const keystone27Listing = `dir /k
head EXPAND_HEAD 47147121c7a3
head CONTRACT_HEAD 99de3849d860
file a.py
line a.py revision = '27e647c0fad4'
line a.py down_revision = None
file b.py
line b.py revision = '29e87d24a316'
line b.py down_revision = '27e647c0fad4'
file c.py
line c.py revision = 'e25ffa003242'
line c.py down_revision = '27e647c0fad4'
file d.py
line d.py revision = '47147121c7a3'
line d.py down_revision = '29e87d24a316'
file e.py
line e.py revision = '99de3849d860'
line e.py down_revision = 'e25ffa003242'
`

// TestKeystoneCheckBug: on keystone 22–27 `db_sync --check` says 0 with
// migrations pending; ExpandMigrateContract never asks it and runs both
// phases from the recorded revisions.
func TestKeystoneCheckBugFake(t *testing.T) {
	t.Parallel()
	f := fake.New("ctl1")
	db := &fakeDB{revs: []string{"29e87d24a316", "e25ffa003242"}, listing: keystone27Listing, pkg: "python3-keystone", version: "2:27.0.0-1"}
	db.install(f)
	cfg := []string{"--config-file", "/etc/keystone/keystone.conf"}
	f.Expect(fake.Exact(append(append([]string{"keystone-manage"}, cfg...), "db_sync", "--expand")...)).Handle(
		func(context.Context, transport.Command) (transport.Result, error) {
			db.set("47147121c7a3", "e25ffa003242")
			return transport.Result{}, nil
		})
	f.Expect(fake.Exact(append(append([]string{"keystone-manage"}, cfg...), "db_sync", "--contract")...)).Handle(
		func(context.Context, transport.Command) (transport.Result, error) {
			db.set("47147121c7a3", "99de3849d860")
			return transport.Result{}, nil
		})
	svc, _ := openstack.DefaultCatalog().Service("keystone")
	rep, err := openstack.ExpandMigrateContract(context.Background(), f, svc, openstack.WithFamily(openstack.Debian), testDB)
	require.NoError(t, err)
	assert.True(t, rep.Before.ExpandPending)
	assert.True(t, rep.Before.ContractPending)
	assert.True(t, rep.After.AtHead())
	ran, skipped := stepNames(rep.Steps)
	assert.Equal(t, []string{"expand", "contract"}, ran)
	assert.Equal(t, []string{"migrate"}, skipped, "no-op on keystone >= 22")
	f.AssertExpectations(t)
	for _, c := range f.Calls() {
		assert.NotContains(t, c.Argv(), "--check", "the lying probe is not consulted")
		assert.NotContains(t, c.Command.String(), "pw", "no password in argv")
	}
}

func TestKeystoneYogaMigratesFake(t *testing.T) {
	t.Parallel()
	f := fake.New("ctl1")
	db := &fakeDB{listing: keystone27Listing, pkg: "python3-keystone", version: "2:21.0.0-1"}
	db.install(f)
	f.Expect(fake.Prefix("keystone-manage", "--config-file", "/etc/keystone/keystone.conf", "db_sync", "--expand")).Handle(
		func(context.Context, transport.Command) (transport.Result, error) {
			db.set("47147121c7a3")
			return transport.Result{}, nil
		})
	f.Expect(fake.Prefix("keystone-manage", "--config-file", "/etc/keystone/keystone.conf", "db_sync", "--migrate"))
	f.Expect(fake.Prefix("keystone-manage", "--config-file", "/etc/keystone/keystone.conf", "db_sync", "--contract")).Exit(1, "DBMigrationError: You are attempting to upgrade contract ahead of expand")
	svc, _ := openstack.DefaultCatalog().Service("keystone")
	rep, err := openstack.ExpandMigrateContract(context.Background(), f, svc, openstack.WithFamily(openstack.Debian), testDB)
	var te *openstack.ToolError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, "contract", te.Step)
	assert.Equal(t, 1, te.Code)
	ran, _ := stepNames(rep.Steps)
	assert.Equal(t, []string{"expand", "migrate", "contract"}, ran)
	f.AssertExpectations(t)
}

func TestGlanceDataMigrationFake(t *testing.T) {
	t.Parallel()
	f := fake.New("ctl1")
	db := &fakeDB{revs: []string{"ussuri_contract01"}, pkg: "glance-common", version: "2:25.1.0-2",
		listing: "dir /g\nfile a.py\nline a.py revision = 'ussuri_contract01'\nline a.py down_revision = None\nfile b.py\nline b.py revision = 'wallaby_contract01'\nline b.py down_revision = 'ussuri_contract01'\n"}
	db.install(f)
	pre := []string{"glance-manage", "--config-file", "/etc/glance/glance-api.conf", "db"}
	// 3 -> expand -> 4 -> migrate -> 5 -> contract -> 0.
	for _, code := range []int{3, 4, 5, 0} {
		f.Expect(fake.Exact(append(pre, "check")...)).Exit(code)
	}
	f.Expect(fake.Exact(append(pre, "expand")...))
	f.Expect(fake.Exact(append(pre, "migrate")...))
	f.Expect(fake.Exact(append(pre, "contract")...))
	svc, _ := openstack.DefaultCatalog().Service("glance")
	rep, err := openstack.ExpandMigrateContract(context.Background(), f, svc, openstack.WithFamily(openstack.Debian),
		openstack.WithDatabase("glance", openstack.DBAccess{Database: "glance"}))
	require.NoError(t, err)
	ran, _ := stepNames(rep.Steps)
	assert.Equal(t, []string{"check", "expand", "check", "migrate", "check", "contract", "check"}, ran)
	f.AssertExpectations(t)
}

func TestNewerDatabaseFake(t *testing.T) {
	t.Parallel()
	f := fake.New("ctl1")
	db := &fakeDB{revs: []string{"29e87d24a316", "c88cdce8f248"}, listing: keystone27Listing, pkg: "python3-keystone", version: "2:27.0.0-1"}
	db.install(f)
	svc, _ := openstack.DefaultCatalog().Service("keystone")
	_, err := openstack.ExpandMigrateContract(context.Background(), f, svc, openstack.WithFamily(openstack.Debian), testDB)
	var newer *openstack.NewerDatabaseError
	require.ErrorAs(t, err, &newer)
	assert.Equal(t, []string{"c88cdce8f248"}, newer.Revisions)
	assert.Equal(t, "2:27.0.0-1", newer.Version)
	assert.Contains(t, err.Error(), "refusing to run old tools")
	f.AssertExpectations(t) // no keystone-manage was run: it would be unexpected
}

const novaTable = `+----------------------------------+
| Upgrade Check Results            |
+----------------------------------+
| Check: Cells v2                  |
| Result: Failure                  |
| Details: No cell mappings found. |
+----------------------------------+
| Check: Placement API             |
| Result: Success                  |
| Details: None                    |
+----------------------------------+
`

func TestUpgradeCheckExitCodesFake(t *testing.T) {
	t.Parallel()
	cat := openstack.DefaultCatalog()
	nova, _ := cat.Service("nova")
	cinder, _ := cat.Service("cinder")
	nova.Databases, cinder.Databases = nil, nil // the check's parsing alone, no version guard
	novaArgv := []string{"nova-status", "--config-file", "/etc/nova/nova.conf", "upgrade", "check"}
	cinderArgv := []string{"cinder-status", "--config-file", "/etc/cinder/cinder.conf", "upgrade", "check", "--json"}
	for _, tc := range []struct {
		name   string
		svc    openstack.Service
		argv   []string
		code   int
		stdout string
		stderr string
		want   openstack.CheckCode
		err    error
	}{
		{name: "nova failure table", svc: nova, argv: novaArgv, code: 2, stdout: novaTable, want: openstack.CheckFailure},
		{name: "nova crash", svc: nova, argv: novaArgv, code: 255, stdout: "Error:\nTraceback ...", err: openstack.ErrToolCrashed},
		{name: "argparse rejects", svc: nova, argv: novaArgv, code: 2, stderr: "usage: nova-status ...", err: openstack.ErrBadInput},
		{name: "cinder json warning", svc: cinder, argv: cinderArgv, code: 1, stdout: `{"name": "Upgrade Check Results", "checks": [{"check": "Use of Policy File", "result": 1, "details": "x"}]}`, want: openstack.CheckWarning},
		{name: "success with garbage", svc: cinder, argv: cinderArgv, code: 0, stdout: "not json", err: openstack.ErrMalformedOutput},
		{name: "not installed", svc: cinder, argv: cinderArgv, code: 127, err: openstack.ErrToolNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := fake.New("ctl1")
			f.Expect(fake.Exact(tc.argv...)).Exit(tc.code, tc.stderr).Stdout(tc.stdout)
			rep, err := openstack.UpgradeCheck(context.Background(), f, tc.svc)
			f.AssertExpectations(t)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, rep.Code)
			assert.Equal(t, tc.svc.UpgradeCheck.JSON, rep.JSON)
			if tc.want == openstack.CheckFailure {
				assert.ErrorContains(t, rep.Err(), "Cells v2: Failure (No cell mappings found.)")
			} else {
				assert.NoError(t, rep.Err())
			}
		})
	}
}

func TestOnlineDataMigrationsFake(t *testing.T) {
	t.Parallel()
	cat := openstack.DefaultCatalog()
	cinder, _ := cat.Service("cinder")
	cinder.Databases = nil // no version check: the ODM loop alone
	argv := []string{"cinder-manage", "--config-file", "/etc/cinder/cinder.conf", "db", "online_data_migrations", "--max_count", "50"}
	row := func(n int) string {
		return "+------+----------------+-------------+\n| Migration | Total Needed | Completed |\n|------+------+------|\n| m1 | " + itoa(n) + " | " + itoa(n) + " |\n+------+------+------+\n"
	}
	for _, tc := range []struct {
		name    string
		codes   []int
		batches int
		err     error
	}{
		{name: "loop while 1", codes: []int{1, 1, 0}, batches: 3},
		{name: "errors without progress", codes: []int{1, 2}, batches: 2, err: openstack.ErrMigrationsFailed},
		{name: "bad max count", codes: []int{127}, batches: 1, err: openstack.ErrBadInput},
		{name: "crash", codes: []int{255}, batches: 1, err: openstack.ErrToolCrashed},
		{name: "never finishes", codes: []int{1, 1, 1}, batches: 3, err: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := fake.New("ctl1")
			for _, c := range tc.codes {
				f.Expect(fake.Exact(argv...)).Exit(c).Stdout(row(c % 2))
			}
			opts := []openstack.Option{openstack.WithBatchSize(50)}
			if tc.name == "never finishes" {
				opts = append(opts, openstack.WithMaxBatches(3))
			}
			rep, err := openstack.OnlineDataMigrations(context.Background(), f, cinder, opts...)
			f.AssertExpectations(t)
			assert.Equal(t, tc.batches, rep.Batches)
			switch {
			case tc.err != nil:
				assert.ErrorIs(t, err, tc.err)
			case tc.name == "never finishes":
				assert.ErrorContains(t, err, "still reporting progress after 3 batches")
			default:
				require.NoError(t, err)
				assert.Equal(t, 2, rep.Migrated())
			}
		})
	}
}

func itoa(n int) string { return string(rune('0' + n)) }

func TestNeutronStopOnlyWhenOfflineFake(t *testing.T) {
	t.Parallel()
	listing := "dir /n\nhead EXPAND_HEAD e2\nhead CONTRACT_HEAD c2\nfile a.py\nline a.py revision = 'root'\nline a.py down_revision = None\n" +
		"file b.py\nline b.py revision = 'e2'\nline b.py down_revision = 'root'\nfile c.py\nline c.py revision = 'c2'\nline c.py down_revision = 'root'\n"
	pre := []string{"neutron-db-manage", "--config-file", "/etc/neutron/neutron.conf", "--config-file", "/etc/neutron/plugins/ml2/ml2_conf.ini"}
	for _, tc := range []struct {
		name    string
		offline int
		stops   int
	}{
		{name: "contract needs stop", offline: 1, stops: 1},
		{name: "no offline migrations", offline: 0, stops: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := fake.New("ctl1")
			db := &fakeDB{revs: []string{"root"}, listing: listing, pkg: "neutron-common", version: "2:21.0.0-7"}
			db.install(f)
			f.Expect(fake.Exact(append(pre, "has_offline_migrations")...)).Exit(1)
			f.Expect(fake.Exact(append(pre, "upgrade", "--expand")...)).Handle(func(context.Context, transport.Command) (transport.Result, error) {
				if tc.offline == 0 {
					db.set("e2", "c2") // a release without contract migrations
				} else {
					db.set("e2", "root")
				}
				return transport.Result{}, nil
			})
			f.Expect(fake.Exact(append(pre, "has_offline_migrations")...)).Exit(tc.offline)
			if tc.offline == 1 {
				f.Expect(fake.Exact(append(pre, "upgrade", "--contract")...)).Handle(func(context.Context, transport.Command) (transport.Result, error) {
					db.set("e2", "c2")
					return transport.Result{}, nil
				})
			}
			f.Expect(fake.Exact(append(pre, "has_offline_migrations")...)).Exit(0)
			stops := 0
			svc, _ := openstack.DefaultCatalog().Service("neutron")
			rep, err := openstack.ExpandMigrateContract(context.Background(), f, svc, openstack.WithFamily(openstack.Debian),
				openstack.WithDatabase("neutron", openstack.DBAccess{Database: "neutron"}),
				openstack.WithStopServers(func(context.Context) error { stops++; return nil }))
			require.NoError(t, err)
			assert.Equal(t, tc.stops, stops)
			assert.Equal(t, tc.stops == 1, rep.StoppedServers)
			assert.True(t, rep.After.AtHead())
			f.AssertExpectations(t)
		})
	}
}

func TestToolTimeoutFake(t *testing.T) {
	t.Parallel()
	f := fake.New("ctl1")
	db := &fakeDB{revs: []string{"a"}, listing: "dir /n\nfile a.py\nline a.py revision = 'a'\nline a.py down_revision = None\n", pkg: "neutron-common", version: "2:21.0.0-7"}
	db.install(f)
	f.Expect(fake.Prefix("neutron-db-manage")).Hang()
	svc, _ := openstack.DefaultCatalog().Service("neutron")
	_, err := openstack.SchemaCheck(context.Background(), f, svc, openstack.WithTimeout(20*time.Millisecond),
		openstack.WithFamily(openstack.Debian), openstack.WithDatabase("neutron", openstack.DBAccess{Database: "neutron"}))
	require.ErrorIs(t, err, transport.ErrTimeout)
	var c []fake.Call
	for _, call := range f.Calls() {
		if call.Command.Path == "neutron-db-manage" {
			c = append(c, call)
		}
	}
	require.Len(t, c, 1)
	assert.Equal(t, 20*time.Millisecond, c[0].Command.Timeout)
	assert.True(t, c[0].Command.ReadOnly, "probes are read-only for dry-run")
}

func TestWrapAndUserFake(t *testing.T) {
	t.Parallel()
	f := fake.New("ctl1")
	f.Expect(fake.Exact("docker", "exec", "heat_api", "heat-status", "--config-file", "/etc/heat/heat.conf", "upgrade", "check", "--json")).
		Reply(`{"name": "Upgrade Check Results", "checks": []}`)
	svc, _ := openstack.DefaultCatalog().Service("heat")
	svc.Databases = nil
	rep, err := openstack.UpgradeCheck(context.Background(), f, svc, openstack.AsServiceUser(), openstack.WithWrap(func(c transport.Command) transport.Command {
		c.Args = append([]string{"exec", "heat_api", c.Path}, c.Args...)
		c.Path = "docker"
		return c
	}))
	require.NoError(t, err)
	assert.Equal(t, openstack.CheckSuccess, rep.Code)
	assert.Equal(t, "heat", f.Calls()[0].Command.User)
	f.AssertExpectations(t)
}

func TestBackupNoSecretsInArgvFake(t *testing.T) {
	t.Parallel()
	f := fake.New("ctl1")
	a := openstack.DBAccess{Database: "nova", Host: "db", Port: 3306, User: "nova", Password: transport.NewSecret("hunter2secret")}
	f.Expect(fake.Exact("mkdir", "-p", "-m", "0700", "--", "/var/backups/up"))
	db := &fakeDB{}
	db.install(f)
	f.Expect(fake.Func(func(c transport.Command) bool {
		return c.Path == "/bin/sh" && strings.Contains(strings.Join(c.Args, " "), "mysqldump")
	})).Handle(func(context.Context, transport.Command) (transport.Result, error) { return transport.Result{}, nil })
	f.Expect(fake.Func(func(c transport.Command) bool {
		return c.Path == "/bin/sh" && strings.Contains(c.Args[1], "Dump") || strings.Contains(strings.Join(c.Args, " "), "tail -n 1")
	})).Reply("100\n" + strings.Repeat("0", 64) + "  -\nINSERT INTO x VALUES (1,\n")
	_, err := openstack.BackupDatabase(context.Background(), f, a, "/var/backups/up",
		openstack.WithClock(func() time.Time { return time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC) }))
	require.ErrorIs(t, err, openstack.ErrBackupInvalid, "a dump without its completion line is rejected")
	var dumped, removed bool
	for _, c := range f.Calls() {
		assert.NotContains(t, c.Command.String(), "hunter2secret")
		assert.NotContains(t, strings.Join(c.Argv(), " "), "hunter2secret")
		if strings.Contains(strings.Join(c.Argv(), " "), "mysqldump") {
			dumped = true
			assert.Contains(t, c.Argv(), "--single-transaction")
			assert.Equal(t, "/var/backups/up/nova-20261121T120000Z.sql", c.Argv()[4], "the script dumps to $1.partial and renames it")
		}
		if slices.Equal(c.Argv(), []string{"rm", "-f", "--", "/var/backups/up/nova-20261121T120000Z.sql"}) {
			removed = true
		}
		if c.Command.Path == "mariadb" {
			assert.Equal(t, "hunter2secret", c.Command.SecretEnv["MYSQL_PWD"].Reveal(), "probes get the password in MYSQL_PWD")
			assert.True(t, c.Command.ReadOnly)
		}
		if c.Command.Path == "/bin/sh" && strings.Contains(c.Command.Args[1], "mktemp") {
			assert.Contains(t, string(c.Stdin), "password=\"hunter2secret\"", "secret travels on stdin")
		}
	}
	assert.True(t, dumped)
	assert.True(t, removed, "the truncated dump is not left behind")
}
