package openstack_test

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/internal/testdb"
	"github.com/upgradekit/upgradekit/openstack"
	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/transport/local"
)

var record = flag.Bool("record", false, "write real tool outputs to testdata/real/")

// recordOutput saves a real tool's stdout and exit code as a sample.
func recordOutput(path string, args []string, res transport.Result) {
	var words []string
	for i := 0; i < len(args); i++ {
		if args[i] == "--config-file" {
			i++
			continue
		}
		words = append(words, strings.Trim(args[i], "-"))
	}
	name := fmt.Sprintf("%s_%s_rc%d.out", filepath.Base(path), strings.Join(words, "_"), res.ExitCode)
	_ = os.MkdirAll("testdata/real", 0o755)
	_ = os.WriteFile(filepath.Join("testdata/real", name), res.Stdout, 0o644)
}

// One MariaDB server for the package's real-tool tests; each test gets
// its own databases.
var (
	srv      *testdb.Server
	srvErr   error
	toolRuns atomic.Int64 // real management-tool invocations, for the report
)

func TestMain(m *testing.M) {
	flag.Parse()
	if !testing.Short() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		srv, srvErr = testdb.New(ctx)
		cancel()
	}
	start := time.Now()
	code := m.Run()
	if srv != nil {
		_ = srv.Close()
	}
	if n := toolRuns.Load(); n > 0 {
		fmt.Fprintf(os.Stderr, "openstack real tools: %d invocations, package wall %s\n", n, time.Since(start).Round(time.Second))
	}
	os.Exit(code)
}

// requireReal skips (locally) or fails (CI=true) a test whose real tools
// or database are unavailable.
func requireReal(t *testing.T, tools ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: real-tool tests skipped")
	}
	var missing []string
	for _, tool := range append([]string{"mariadb", "mysqldump", "python3"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	problem := ""
	switch {
	case len(missing) > 0:
		problem = "missing tools " + strings.Join(missing, ", ") + " (run .ci/openstack-deps.sh)"
	case srv == nil:
		problem = fmt.Sprintf("no MariaDB: %v", srvErr)
	}
	if problem == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal(problem)
	}
	t.Skip(problem)
}

// counting counts the management-tool runs that go through it.
type counting struct{ transport.Transport }

var managers = map[string]bool{}

func init() {
	for _, s := range openstack.DefaultCatalog().Services() {
		if s.Manage != "" {
			managers[s.Manage] = true
		}
		if s.UpgradeCheck != nil {
			managers[s.UpgradeCheck.Command] = true
		}
	}
}

func (c counting) Run(ctx context.Context, cmd transport.Command) (transport.Result, error) {
	path, args := cmd.Path, cmd.Args
	if path == "unshare" && len(args) > 6 {
		path, args = args[6], args[7:] // keystone-status in its namespace
	}
	if path == "chroot" && len(args) > 1 {
		path, args = args[1], args[2:] // the newer release's tools
	}
	if !managers[filepath.Base(path)] {
		return c.Transport.Run(ctx, cmd)
	}
	toolRuns.Add(1)
	res, err := c.Transport.Run(ctx, cmd)
	if *record && err == nil {
		recordOutput(path, args, res)
	}
	return res, err
}

func newLocal(t *testing.T) transport.Transport {
	t.Helper()
	lt, err := local.New(local.WithHostName("controller"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = lt.Close() })
	return counting{lt}
}

// svcEnv is one service's private databases and generated config.
type svcEnv struct {
	svc  openstack.Service
	t    transport.Transport
	conf string
	dbs  map[string]string // catalog name -> actual database name
	user string
	pass string
	opts []openstack.Option
}

var dbSeq atomic.Int64

// newEnv creates svc's databases (one user for all, as packagers do) and
// a config file with fail-fast retry settings, and returns options that
// point the primitives at them.
func newEnv(t *testing.T, name string) *svcEnv {
	t.Helper()
	svc, ok := openstack.DefaultCatalog().Service(name)
	require.True(t, ok)
	e := &svcEnv{svc: svc, t: newLocal(t), dbs: map[string]string{}}
	n := dbSeq.Add(1)
	admin := srv.Admin(t)
	for i, d := range svc.Databases {
		actual := fmt.Sprintf("%s_t%d", d.Name, n)
		e.dbs[d.Name] = actual
		if i == 0 {
			e.user, e.pass = srv.CreateDatabase(t, actual)
			continue
		}
		_, err := admin.Exec("CREATE DATABASE " + actual)
		require.NoError(t, err)
		for _, h := range []string{"127.0.0.1", "localhost", "%"} {
			_, err = admin.Exec(fmt.Sprintf("GRANT ALL ON %s.* TO '%s'@'%s'", actual, e.user, h))
			require.NoError(t, err)
		}
		t.Cleanup(func() { _, _ = admin.Exec("DROP DATABASE IF EXISTS " + actual) })
	}
	e.conf = filepath.Join(t.TempDir(), name+".conf")
	require.NoError(t, os.WriteFile(e.conf, []byte(e.config(srv.Port)), 0o640))
	e.opts = []openstack.Option{openstack.WithConfigFiles(e.conf), openstack.WithFamily(openstack.Debian)}
	if name == "nova" {
		// cell0 is reached with [database]'s credentials under its own name.
		a, err := openstack.ParseConnection(e.url(srv.Port, "nova_cell0"))
		require.NoError(t, err)
		e.opts = append(e.opts, openstack.WithDatabase("nova_cell0", a))
	}
	return e
}

func (e *svcEnv) url(port int, db string) string {
	return fmt.Sprintf("mysql+pymysql://%s:%s@127.0.0.1:%d/%s", e.user, e.pass, port, e.dbs[db])
}

func (e *svcEnv) config(port int) string {
	var b strings.Builder
	b.WriteString("[DEFAULT]\n# generated for tests\n")
	if e.svc.Name == "neutron" {
		b.WriteString("core_plugin = ml2\n")
	}
	if e.svc.Name == "nova" {
		b.WriteString("transport_url = rabbit://guest:guest@127.0.0.1:5672/\n")
	}
	for _, d := range e.svc.Databases {
		if d.Derived {
			continue
		}
		fmt.Fprintf(&b, "\n[%s]\nconnection = %s\nmax_retries = 1\nretry_interval = 1\n", d.Section, e.url(port, d.Name))
	}
	return b.String()
}

// deadEnv is e with a config pointing at a closed port.
func (e *svcEnv) deadConfig(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), e.svc.Name+"-dead.conf")
	require.NoError(t, os.WriteFile(p, []byte(e.config(closedPort(t))), 0o640))
	return p
}

func (e *svcEnv) sql(t *testing.T, db, stmt string) {
	t.Helper()
	conn, err := srv.Admin(t).Conn(context.Background())
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.ExecContext(context.Background(), "USE "+e.dbs[db])
	require.NoError(t, err)
	_, err = conn.ExecContext(context.Background(), stmt)
	require.NoError(t, err, stmt)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	return port
}
