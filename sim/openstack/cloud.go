package ossim

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/upgradekit/upgradekit/openstack"
	"github.com/upgradekit/upgradekit/sim/internal/vfs"
	"github.com/upgradekit/upgradekit/transport"
)

// DBHost is the host name of the simulated MariaDB server in every
// service's connection URL.
const DBHost = "dbhost"

// Topology names the nodes of a simulated cloud.
type Topology struct {
	Controllers []string
	Networks    []string
	Computes    []string
	// Family is "debian" (default) or "rhel".
	Family openstack.Family
}

// Option configures New.
type Option interface{ apply(*config) error }

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

type config struct {
	releases []Release
	start    time.Time
	log      *zap.Logger
	odm      map[string]int
	stuck    map[string]int
}

// WithReleases sets the releases the simulator knows, oldest first: the
// cloud starts on the first; a repository naming a later one (its Name
// in an apt source or yum baseurl) offers that one's packages. Default:
// Zed, Antelope.
func WithReleases(rs ...Release) Option {
	return optionFunc(func(c *config) error {
		if len(rs) == 0 {
			return fmt.Errorf("ossim: WithReleases: no release")
		}
		c.releases = slices.Clone(rs)
		return nil
	})
}

// WithStart sets the virtual clock's start (default 2026-11-21 09:00 UTC).
func WithStart(t time.Time) Option {
	return optionFunc(func(c *config) error { c.start = t; return nil })
}

// WithLogger logs every command the cloud answers (default: none).
func WithLogger(l *zap.Logger) Option {
	return optionFunc(func(c *config) error {
		if l == nil {
			return fmt.Errorf("ossim: WithLogger(nil)")
		}
		c.log = l
		return nil
	})
}

// WithPendingDataMigrations leaves rows of the starting release's online
// data migrations unmigrated for service ("nova", "placement",
// "cinder"): the state a previous upgrade that skipped them leaves. For
// "glance" the rows are the current release's data migration that
// `glance-manage db migrate` moves (db check then answers 4 once the
// expand is done).
func WithPendingDataMigrations(service string, rows int) Option {
	return optionFunc(func(c *config) error {
		if _, ok := odmNames(service); (!ok && service != "glance") || rows < 0 {
			return fmt.Errorf("ossim: WithPendingDataMigrations(%q, %d)", service, rows)
		}
		c.odm[service] = rows
		return nil
	})
}

// WithUnmigratableRows leaves rows that nova's populate_user_id finds
// and cannot migrate (instance mappings whose instance is in no cell):
// nova-manage lists them as needed, migrates none and exits 0, as the
// real nova-manage 26 does (the openstack package's real-tool tests
// reproduce it).
func WithUnmigratableRows(rows int) Option {
	return optionFunc(func(c *config) error {
		if rows < 0 {
			return fmt.Errorf("ossim: WithUnmigratableRows(%d)", rows)
		}
		c.stuck["nova"] = rows
		return nil
	})
}

// unit is one systemd unit on a node.
type unit struct {
	service string
	active  bool
	failed  bool
	release int    // code it runs
	pin     string // [upgrade_levels] compute it read at start or SIGHUP
	pid     int
}

// node is one simulated machine.
type node struct {
	name        string
	roles       []openstack.Role
	fs          *vfs.FS
	installed   map[string]int // package → release index
	available   int            // newest release the configured repositories offer
	units       map[string]*unit
	unreachable bool
	failUpgrade bool
}

// Cloud is a simulated OpenStack control plane: controllers, network
// nodes and computes, each answering commands through its Transport, one
// MariaDB server holding every service database. Safe for concurrent use;
// commands run one at a time.
type Cloud struct {
	mu       sync.Mutex
	clock    *Clock
	log      *zap.Logger
	releases []Release
	family   openstack.Family
	catalog  openstack.Catalog
	schemas  map[string]*schemaDef
	nodes    map[string]*node
	order    []string
	dbs      map[string]*database
	dbDown   bool
	users    map[string]string // db user → password
	events   []Event
	faults   []*Fault
	pid      int
	glanceDM int // glance rows the current release's data migration must move
}

// New builds a cloud at the first release with every service running,
// every schema at that release's heads and its online data migrations
// complete.
func New(top Topology, opts ...Option) (*Cloud, error) {
	cfg := &config{releases: []Release{Zed(), Antelope()}, start: time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC), log: zap.NewNop(), odm: map[string]int{}, stuck: map[string]int{}}
	for _, o := range opts {
		if err := o.apply(cfg); err != nil {
			return nil, err
		}
	}
	if len(top.Controllers) == 0 {
		return nil, fmt.Errorf("ossim: no controllers")
	}
	if top.Family == "" {
		top.Family = openstack.Debian
	}
	if top.Family != openstack.Debian && top.Family != openstack.RHEL {
		return nil, fmt.Errorf("ossim: unknown family %q", top.Family)
	}
	c := &Cloud{
		clock: &Clock{now: cfg.start}, log: cfg.log, releases: cfg.releases, family: top.Family,
		catalog: openstack.DefaultCatalog(), schemas: schemas(cfg.releases), nodes: map[string]*node{},
		dbs: map[string]*database{}, users: map[string]string{},
	}
	roles := map[string][]openstack.Role{}
	add := func(names []string, r openstack.Role) {
		for _, n := range names {
			if !slices.Contains(roles[n], r) {
				roles[n] = append(roles[n], r)
			}
			if !slices.Contains(c.order, n) {
				c.order = append(c.order, n)
			}
		}
	}
	add(top.Controllers, openstack.Controller)
	add(top.Networks, openstack.Network)
	add(top.Computes, openstack.Compute)
	for _, svc := range c.catalog.Services() {
		for _, d := range svc.Databases {
			c.users[d.Name] = svc.Name
		}
	}
	for _, name := range c.order {
		n, err := c.newNode(name, roles[name])
		if err != nil {
			return nil, err
		}
		c.nodes[name] = n
	}
	c.glanceDM = cfg.odm["glance"]
	delete(cfg.odm, "glance")
	if err := c.initDatabases(cfg.odm, cfg.stuck); err != nil {
		return nil, err
	}
	for _, name := range c.order {
		for u := range c.nodes[name].units {
			c.startUnit(c.nodes[name], u)
		}
	}
	c.events = nil
	return c, nil
}

// password is the simulated database password of a database's user.
func password(user string) string { return user + "-secret-pw" }

// Clock returns the virtual clock.
func (c *Cloud) Clock() *Clock { return c.clock }

// Now returns the virtual time.
func (c *Cloud) Now() time.Time { return c.clock.Now() }

// Family returns the nodes' distribution family.
func (c *Cloud) Family() openstack.Family { return c.family }

// Nodes returns the node names: controllers, network nodes, computes.
func (c *Cloud) Nodes() []string { return slices.Clone(c.order) }

// Releases returns the releases the cloud knows, oldest first.
func (c *Cloud) Releases() []Release { return slices.Clone(c.releases) }

// Transport returns the transport of node name.
func (c *Cloud) Transport(name string) (*Transport, error) {
	if _, ok := c.nodes[name]; !ok {
		return nil, fmt.Errorf("ossim: no node %q", name)
	}
	return &Transport{c: c, name: name}, nil
}

// Transports returns every node's transport by name.
func (c *Cloud) Transports() map[string]transport.Transport {
	out := map[string]transport.Transport{}
	for _, n := range c.order {
		out[n] = &Transport{c: c, name: n}
	}
	return out
}

// Transport is one node of the cloud behind transport.Transport, with
// Upload and Download.
type Transport struct {
	c      *Cloud
	name   string
	closed bool
	mu     sync.Mutex
}

var (
	_ transport.Transport  = (*Transport)(nil)
	_ transport.Uploader   = (*Transport)(nil)
	_ transport.Downloader = (*Transport)(nil)
	_ transport.Namer      = (*Transport)(nil)
)

// Host returns the node's name.
func (t *Transport) Host() string { return t.name }

// Close marks the transport closed; later calls fail with ErrClosed.
func (t *Transport) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	return nil
}

func (t *Transport) usable(ctx context.Context) error {
	t.mu.Lock()
	closed := t.closed
	t.mu.Unlock()
	if closed {
		return transport.ErrClosed
	}
	return ctx.Err()
}

// Run answers cmd like the node would.
func (t *Transport) Run(ctx context.Context, cmd transport.Command) (transport.Result, error) {
	if err := t.usable(ctx); err != nil {
		return transport.Result{}, err
	}
	c := t.c
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[t.name]
	if n.unreachable {
		return transport.Result{}, &transport.ConnectionLostError{Host: t.name, Err: transport.ErrConnectionLost}
	}
	argv := cmd.Argv()
	c.event(Event{Kind: EventCommand, Node: t.name, Detail: cmd.String()})
	c.log.Debug("run", zap.String("host", t.name), zap.String("cmd", cmd.String()))
	var stdout, stderr bytes.Buffer
	var outW, errW io.Writer = &stdout, &stderr
	if cmd.Stdout != nil {
		outW = cmd.Stdout
	}
	if cmd.Stderr != nil {
		errW = cmd.Stderr
	}
	start := c.clock.Now()
	f := c.fault(t.name, argv)
	if f != nil && f.KillDatabase {
		c.dbDown = true
		f = nil
	}
	if f != nil {
		c.clock.Advance(time.Second)
		if f.Unreachable {
			n.unreachable = true
			return transport.Result{}, &transport.ConnectionLostError{Host: t.name, Started: true, Err: transport.ErrConnectionLost}
		}
		fmt.Fprint(errW, f.Stderr)
		return transport.Result{ExitCode: f.Exit, Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), Duration: c.clock.Since(start)}, nil
	}
	env := map[string]string{}
	maps.Copy(env, cmd.Env)
	for k, v := range cmd.SecretEnv {
		env[k] = v.Reveal()
	}
	var stdin io.Reader = bytes.NewReader(nil)
	if cmd.Stdin != nil {
		stdin = cmd.Stdin
	}
	p := &proc{c: c, n: n, ctx: ctx, env: env, dir: "/root", stdin: stdin, stdout: outW, stderr: errW}
	code := p.run(argv)
	c.clock.Advance(10 * time.Millisecond)
	if cmd.Timeout > 0 && c.clock.Since(start) > cmd.Timeout {
		// The client gave up; the command's effects stand, as on a
		// real host where it keeps running after the session closes.
		return transport.Result{}, &transport.TimeoutError{Host: t.name, Cmd: cmd.String(), After: cmd.Timeout}
	}
	return transport.Result{ExitCode: code, Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), Duration: c.clock.Since(start)}, nil
}

// Upload writes r to dst on the node (atomically, like transport.Upload).
func (t *Transport) Upload(ctx context.Context, dst string, r io.Reader, opts transport.FileOptions) (transport.Transfer, error) {
	if err := t.usable(ctx); err != nil {
		return transport.Transfer{}, err
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return transport.Transfer{}, err
	}
	c := t.c
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[t.name]
	if n.unreachable {
		return transport.Transfer{}, &transport.ConnectionLostError{Host: t.name, Err: transport.ErrConnectionLost}
	}
	c.event(Event{Kind: EventCommand, Node: t.name, Detail: "upload " + dst})
	if f := c.fault(t.name, []string{"upload", dst}); f != nil {
		return transport.Transfer{}, &transport.ExitError{Host: t.name, Cmd: "upload " + dst, Code: f.Exit, Stderr: []byte(f.Stderr)}
	}
	mode := opts.Mode.Perm()
	if mode == 0 {
		mode = 0o644
	}
	owner, group := opts.Owner, opts.Group
	if owner == "" {
		owner = "root"
	}
	if group == "" {
		group = owner
	}
	if err := n.fs.WriteFile(dst, data, mode, owner, group, c.clock.Now()); err != nil {
		return transport.Transfer{}, fmt.Errorf("upload %s: %w", dst, err)
	}
	sum := sha256.Sum256(data)
	c.clock.Advance(50 * time.Millisecond)
	return transport.Transfer{Bytes: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}, nil
}

// Download copies src on the node into w.
func (t *Transport) Download(ctx context.Context, src string, w io.Writer, opts transport.FileOptions) (transport.Transfer, error) {
	if err := t.usable(ctx); err != nil {
		return transport.Transfer{}, err
	}
	c := t.c
	c.mu.Lock()
	n := c.nodes[t.name]
	if n.unreachable {
		c.mu.Unlock()
		return transport.Transfer{}, &transport.ConnectionLostError{Host: t.name, Err: transport.ErrConnectionLost}
	}
	data, err := n.fs.ReadFile(src)
	c.mu.Unlock()
	if err != nil {
		return transport.Transfer{}, fmt.Errorf("download %s: %w", src, err)
	}
	if _, err := w.Write(data); err != nil {
		return transport.Transfer{}, err
	}
	sum := sha256.Sum256(data)
	return transport.Transfer{Bytes: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}, nil
}

// ReadFile returns a file of node.
func (c *Cloud) ReadFile(node, path string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.nodes[node]
	if !ok {
		return nil, fmt.Errorf("ossim: no node %q", node)
	}
	return n.fs.ReadFile(path)
}

// WriteFile writes a file on node (parents created).
func (c *Cloud) WriteFile(node, path string, data []byte, mode fs.FileMode) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.nodes[node]
	if !ok {
		return fmt.Errorf("ossim: no node %q", node)
	}
	if err := n.fs.MkdirAll(dirOf(path), "root", "root", c.clock.Now()); err != nil {
		return err
	}
	return n.fs.WriteFile(path, data, mode, "root", "root", c.clock.Now())
}

// TreeDigest returns a digest of every file, mode and owner below dir on
// node, to compare a config directory before and after a rollback.
func (c *Cloud) TreeDigest(node, dir string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.nodes[node]
	if !ok {
		return "", fmt.Errorf("ossim: no node %q", node)
	}
	paths := n.fs.Walk(dir)
	if len(paths) == 0 {
		return "", fmt.Errorf("ossim: %s: no %s", node, dir)
	}
	h := sha256.New()
	for _, p := range paths {
		st, _ := n.fs.Stat(p)
		data, _ := n.fs.ReadFile(p)
		fmt.Fprintf(h, "%s %v %v %s %s %x\n", strings.TrimPrefix(p, dir), st.Dir, st.Mode, st.Owner, st.Group, sha256.Sum256(data))
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// TableChecksums returns every table's checksum of database db
// ("table" → checksum:rows), to compare before and after a rollback.
func (c *Cloud) TableChecksums(db string) (map[string]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.dbs[db]
	if !ok {
		return nil, fmt.Errorf("ossim: no database %q", db)
	}
	out := map[string]string{}
	for name, t := range d.Tables {
		out[name] = fmt.Sprintf("%d:%d", t.checksum(), len(t.Rows))
	}
	return out, nil
}

// Databases returns the database names.
func (c *Cloud) Databases() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Sorted(maps.Keys(c.dbs))
}

func dirOf(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/"
	}
	return p[:i]
}
