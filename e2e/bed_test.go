package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/upgradekit/upgradekit/internal/testbed"
	"github.com/upgradekit/upgradekit/internal/testdb"
	"github.com/upgradekit/upgradekit/onedb"
	"github.com/upgradekit/upgradekit/sim"
	"github.com/upgradekit/upgradekit/transport"
	sshtransport "github.com/upgradekit/upgradekit/transport/ssh"
)

// sshPort is the port every front-end's sshd listens on, each on its own
// address of 127.40.0.0/16 (this package's range; ports 24000-24999).
const sshPort = 24022

// buildOnce returns a function that builds the main package pkg once per
// test binary, into a directory TestMain removes.
func buildOnce(pkg, name string) func() (string, error) {
	return sync.OnceValues(func() (string, error) {
		dir, err := os.MkdirTemp("", "upgradekit-e2e-"+name+"-")
		if err != nil {
			return "", err
		}
		buildDirs.add(dir)
		gobin, err := exec.LookPath("go")
		if err != nil {
			gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		bin := filepath.Join(dir, name)
		out, err := exec.Command(gobin, "build", "-o", bin, pkg).CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("go build %s: %w: %s", pkg, err, out)
		}
		return bin, nil
	})
}

// The binaries the tests run: the simulator's multi-call binary on the
// front-ends, the operator's HA upgrade command on the client side.
var (
	onesimBinary    = buildOnce("github.com/upgradekit/upgradekit/sim/cmd/onesim", "onesim")
	haUpgradeBinary = buildOnce("github.com/upgradekit/upgradekit/examples/ha-upgrade", "ha-upgrade")
)

// buildDirs are removed by TestMain after every test ran.
var buildDirs = &dirList{}

type dirList struct {
	mu   sync.Mutex
	dirs []string
}

func (d *dirList) add(dir string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dirs = append(d.dirs, dir)
}

func (d *dirList) removeAll() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, dir := range d.dirs {
		_ = os.RemoveAll(dir)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	buildDirs.removeAll()
	os.Exit(code)
}

// oneadminGID is the oneadmin group the hosts' wrapperScript adds.
const oneadminGID = 9869

// wrapperScript runs in the host's private mount namespace (after testbed
// bound its /root, /etc/one and /var/lib/one) in place of sshd. It gives
// the host copy-on-write /etc, /var and /run (overlays whose upper
// directories are the host's own, so apt sources, /etc/onecfg.conf,
// /var/log/one, /var/lock and /var/tmp stay private), binds its /etc/one
// and /var/lib/one again over the overlays, binds the directory of onesim
// symlinks over /usr/local/bin (on sshd's and sudo's PATH), adds the
// oneadmin user (uid 9869, as OpenNebula's packages do) and lets sudo keep
// the simulator's variables; then it execs sshd, so the PID testbed
// started is sshd's.
const wrapperScript = `#!/bin/sh
set -e
for cfg; do :; done
d=$(dirname "$cfg")
for m in etc var run; do
	mkdir -p "$d/ov/$m/up" "$d/ov/$m/work"
	mount -t overlay overlay -o "lowerdir=/$m,upperdir=$d/ov/$m/up,workdir=$d/ov/$m/work" "/$m"
done
mount --bind "$d/fs/etc/one" /etc/one
mount --bind "$d/fs/var/lib/one" /var/lib/one
mount --bind "$d/../bin" /usr/local/bin
grep -q '^oneadmin:' /etc/group || echo 'oneadmin:x:9869:' >>/etc/group
grep -q '^oneadmin:' /etc/passwd || echo 'oneadmin:x:9869:9869::/var/lib/one:/bin/sh' >>/etc/passwd
mkdir -p /etc/sudoers.d
echo 'Defaults env_keep += "UPGRADEKIT_SIM_NODE UPGRADEKIT_SIM_STATE UPGRADEKIT_SIM_REAL_FILES"' >/etc/sudoers.d/upgradekit-e2e
chmod 0440 /etc/sudoers.d/upgradekit-e2e
exec /usr/sbin/sshd "$@"
`

// node is one simulated OpenNebula node (front-end or hypervisor) on a
// real sshd host.
type node struct {
	// Name is the simulator's node name (fe1, fe2, ..., kvm1, ...), also
	// the name of the host in the plan.
	Name   string
	Host   *testbed.Host
	Client *sshtransport.Client

	// DB is a front-end's own MariaDB server (nil on a hypervisor); Conn
	// reaches its database as seen from the front-end.
	DB   *testdb.Server
	Conn onedb.Conn

	// dials counts the DialContext calls of Checksums.
	dials atomic.Int64
}

// cloudBed is a simulated HA cloud whose front-ends (and hypervisors) are
// sshd hosts.
type cloudBed struct {
	Bed         *testbed.Bed
	StateDir    string
	Frontends   []*node
	Hypervisors []*node
}

// requireServers skips (or, with CI=true, fails) when sshd hosts or
// MariaDB cannot run here.
func requireServers(t *testing.T) {
	t.Helper()
	testbed.Require(t)
	if _, err := exec.LookPath("mariadbd"); err != nil {
		if _, err := os.Stat("/usr/sbin/mariadbd"); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("CI=true but mariadbd is missing")
			}
			t.Skip("skipping: mariadbd not found")
		}
	}
	for _, tool := range []string{"mysqldump", "mariadb", "sudo"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("CI=true but %s is missing", tool)
			}
			t.Skipf("skipping: %s not found", tool)
		}
	}
}

// newCloudBed starts an n-front-end HA cloud at version: a MariaDB server
// per front-end, the simulator's state (front-end i is fe<i+1>, its
// database mirrored in its own server), and n sshd hosts from firstAddr.
// With hv > 0 the cloud has hv hypervisors (kvm1, ...), each an sshd host
// too; with hv == 0 it keeps the simulator's three hypervisors, which no
// host answers for (the plan then leaves them out).
func newCloudBed(t *testing.T, firstAddr string, n, hv int, version string) *cloudBed {
	t.Helper()
	requireServers(t)
	onesim, err := onesimBinary()
	require.NoError(t, err)

	root := t.TempDir()
	cb := &cloudBed{StateDir: filepath.Join(root, "state")}
	bin := filepath.Join(root, "bed", "bin")
	require.NoError(t, os.MkdirAll(bin, 0o755))
	out, err := exec.Command(onesim, "install", "-dir", bin).CombinedOutput()
	require.NoError(t, err, string(out))
	wrapper := filepath.Join(root, "sshd-wrapper")
	require.NoError(t, os.WriteFile(wrapper, []byte(wrapperScript), 0o755))

	var opts []sim.Option
	opts = append(opts, sim.WithStart(time.Now().UTC()))
	start := time.Now()
	dbs := startDBs(t, n)
	dbDur := time.Since(start)
	for i, db := range dbs {
		fe := &node{Name: fmt.Sprintf("fe%d", i+1), DB: db}
		user, pass := fe.DB.CreateDatabase(t, "opennebula")
		fe.Conn = onedb.Conn{Server: fe.DB.Host, Port: fe.DB.Port, User: user, DBName: "opennebula",
			Password: transport.NewSecret(pass)}
		opts = append(opts, sim.WithMariaDB(fe.Name, sim.MariaDB{Host: fe.DB.Host, Port: fe.DB.Port,
			User: user, Password: transport.NewSecret(pass)}))
		cb.Frontends = append(cb.Frontends, fe)
	}
	if hv > 0 {
		opts = append(opts, sim.WithHypervisors(hv))
		// `onehost sync` runs as oneadmin (sudo -u oneadmin), and the
		// simulator's state is root's: the binary runs setuid root, as
		// the real CLI's user would reach the real oned. Only root and
		// the oneadmin group (which exists only inside the hosts' mount
		// namespaces) may run it.
		for _, p := range []string{filepath.Dir(onesim), onesim} {
			require.NoError(t, os.Chown(p, 0, oneadminGID))
		}
		require.NoError(t, os.Chmod(filepath.Dir(onesim), 0o750))
		require.NoError(t, os.Chmod(onesim, os.ModeSetuid|0o750))
	}
	c, err := sim.HA(n, version, opts...)
	require.NoError(t, err)
	require.NoError(t, sim.Init(cb.StateDir, c))

	start = time.Now()
	cb.Bed = testbed.New(t, testbed.Config{
		Hosts:      n + hv,
		FirstAddr:  netip.MustParseAddr(firstAddr),
		Port:       sshPort,
		Dir:        filepath.Join(root, "bed"),
		NamePrefix: "sshd",
		Env:        map[string]string{"UPGRADEKIT_SIM_STATE": cb.StateDir, "UPGRADEKIT_SIM_REAL_FILES": "1"},
		Setup: func(h *testbed.Host) {
			h.Env["UPGRADEKIT_SIM_NODE"] = fmt.Sprintf("fe%d", h.Index+1)
			if h.Index >= n {
				h.Env["UPGRADEKIT_SIM_NODE"] = fmt.Sprintf("kvm%d", h.Index-n+1)
			}
		},
		SSHD: wrapper,
	})
	for i, fe := range cb.Frontends {
		fe.Host = cb.Bed.Hosts[i]
		fe.Client = cb.dial(t, fe)
		// The simulator writes a node's files (oned.conf, remotes, auth
		// files...) into the host's own /etc/one and /var/lib/one on its
		// first command there: a front-end has them before any upgrade.
		fe.run(t, t.Context(), "oned", "--version")
	}
	for i := range hv {
		h := &node{Name: fmt.Sprintf("kvm%d", i+1), Host: cb.Bed.Hosts[n+i]}
		h.Client = cb.dial(t, h)
		h.run(t, t.Context(), "dpkg-query", "-W", "opennebula-node-kvm")
		cb.Hypervisors = append(cb.Hypervisors, h)
	}
	t.Logf("test bed: %d MariaDB servers in %s, %d sshd hosts ready in %s",
		n, dbDur.Round(time.Millisecond), n+hv, time.Since(start).Round(time.Millisecond))
	return cb
}

// startDBs starts n MariaDB servers at once (each takes seconds) and
// stops them in t.Cleanup. It skips, or fails with CI=true, as
// testdb.Start does.
func startDBs(t *testing.T, n int) []*testdb.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	dbs := make([]*testdb.Server, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			// mariadb-install-db runs without --tmpdir, so installs
			// running at the same time can trip over each other's
			// temporary tables in /tmp: retry.
			for attempt := 0; attempt < 3; attempt++ {
				if dbs[i], errs[i] = testdb.New(ctx); errs[i] == nil || errors.Is(errs[i], testdb.ErrUnavailable) {
					return
				}
			}
		})
	}
	wg.Wait()
	for _, db := range dbs {
		if db != nil {
			t.Cleanup(func() {
				if err := db.Close(); err != nil {
					t.Errorf("testdb: stop: %v", err)
				}
			})
		}
	}
	if err := errors.Join(errs...); err != nil {
		if os.Getenv("CI") != "true" && errors.Is(err, testdb.ErrUnavailable) {
			t.Skipf("testdb: %v", err)
		}
		t.Fatalf("testdb: %v", err)
	}
	return dbs
}

// dial returns an SSH transport to fe with strict host key checking
// against the bed's known_hosts; it is closed in t.Cleanup.
func (cb *cloudBed) dial(t *testing.T, fe *node) *sshtransport.Client {
	t.Helper()
	cfg := sshtransport.NewConfig(fe.Host.HostPort())
	cfg.Name = fe.Name
	cfg.User = cb.Bed.User
	cfg.IdentityFiles = []string{cb.Bed.ClientKeyFile}
	cfg.KnownHostsFiles = []string{cb.Bed.KnownHostsFile}
	c, err := sshtransport.New(cfg, sshtransport.WithLogger(testLogger(t)))
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Hosts returns the transports by front-end name, for upgrade.WithHosts.
func (cb *cloudBed) Hosts() map[string]transport.Transport {
	out := map[string]transport.Transport{}
	for _, n := range append(append([]*node(nil), cb.Frontends...), cb.Hypervisors...) {
		out[n.Name] = n.Client
	}
	return out
}

// Frontend returns the front-end called name.
func (cb *cloudBed) Frontend(name string) *node {
	for _, fe := range cb.Frontends {
		if fe.Name == name {
			return fe
		}
	}
	return nil
}

// Checksums opens the front-end's database through its SSH transport's
// DialContext (direct-tcpip: the MySQL connection leaves from the
// front-end) and fingerprints it.
func (fe *node) Checksums(ctx context.Context, opts ...onedb.ChecksumOption) (onedb.TableChecksums, error) {
	return checksumsVia(ctx, countDials(fe.Client, &fe.dials), fe.Conn, opts...)
}

// checksumsVia fingerprints the database conn reached through t's
// DialContext.
func checksumsVia(ctx context.Context, t transport.Transport, conn onedb.Conn, opts ...onedb.ChecksumOption) (onedb.TableChecksums, error) {
	db, err := onedb.Open(ctx, t, conn)
	if err != nil {
		return onedb.TableChecksums{}, err
	}
	defer db.Close()
	return db.Checksums(ctx, opts...)
}

// dialCounter is an SSH transport whose DialContext calls are counted,
// so a test can tell that database traffic went through SSH.
type dialCounter struct {
	*sshtransport.Client
	n *atomic.Int64
}

func countDials(c *sshtransport.Client, n *atomic.Int64) dialCounter { return dialCounter{c, n} }

func (d dialCounter) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d.n.Add(1)
	return d.Client.DialContext(ctx, network, addr)
}

// run runs argv on fe and returns its stdout; a failure fails t.
func (fe *node) run(t *testing.T, ctx context.Context, path string, args ...string) string {
	t.Helper()
	res, err := fe.Client.Run(ctx, transport.Cmd(path, args...))
	require.NoError(t, err, "%s: %s %s", fe.Name, path, strings.Join(args, " "))
	require.Equal(t, 0, res.ExitCode, "%s: %s %s: %s", fe.Name, path, strings.Join(args, " "), res.Stderr)
	return string(res.Stdout)
}

// testLogger logs warnings and errors to t; E2E_DEBUG=1 logs everything.
func testLogger(t *testing.T) *zap.Logger {
	level := zap.WarnLevel
	if os.Getenv("E2E_DEBUG") == "1" {
		level = zap.DebugLevel
	}
	return zaptest.NewLogger(t, zaptest.Level(level))
}
