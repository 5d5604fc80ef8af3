package sim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/upgradekit/upgradekit/sim/internal/vfs"
	"github.com/upgradekit/upgradekit/transport"
)

// Errors callers branch on.
var (
	// ErrUnknownNode: no front-end or hypervisor has that name.
	ErrUnknownNode = errors.New("sim: unknown node")
	// ErrBadSpec: a topology specification is inconsistent.
	ErrBadSpec = errors.New("sim: invalid specification")
)

// Cloud is a simulated OpenNebula deployment: zones of front-ends (Raft
// HA or solo), hypervisor hosts and VMs. Every node is reachable through a
// transport.Transport that answers the commands an upgrade sends. It is
// safe for concurrent use; commands are applied one at a time.
type Cloud struct {
	mu    sync.Mutex
	st    *state
	clock *Clock
	log   *zap.Logger
	login string
	// realTime makes the clock follow the wall clock (multi-call binary).
	realTime bool
	cmds     map[string]handler
	lanes    *lanes // per-node timelines, while parallel work runs
}

// Option configures New.
type Option interface{ apply(*config) error }

type config struct {
	log      *zap.Logger
	login    string
	start    time.Time
	repo     []string
	realTime bool
	mirrors  map[string]MariaDB
	hosts    int // hypervisors per zone for HA/Solo/Federation; -1 default
	vms      int // VMs per hypervisor; -1 default
	seed     uint64
}

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

// WithLogger logs every command the cloud answers at debug level.
func WithLogger(l *zap.Logger) Option {
	return optionFunc(func(c *config) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrBadSpec)
		}
		c.log = l
		return nil
	})
}

// WithLoginUser sets the user commands run as when they use neither Sudo
// nor User (default "root", as with SSH to root@front-end).
func WithLoginUser(u string) Option {
	return optionFunc(func(c *config) error {
		if u == "" {
			return fmt.Errorf("%w: empty login user", ErrBadSpec)
		}
		c.login = u
		return nil
	})
}

// WithStart sets the virtual time the cloud starts at.
func WithStart(t time.Time) Option {
	return optionFunc(func(c *config) error { c.start = t; return nil })
}

// WithRepo sets the OpenNebula versions the package repositories offer
// (default 6.10.3, 7.0.0, 7.2.0, 7.4.0, 7.4.1).
func WithRepo(versions ...string) Option {
	return optionFunc(func(c *config) error {
		if len(versions) == 0 {
			return fmt.Errorf("%w: empty repository", ErrBadSpec)
		}
		c.repo = slices.Clone(versions)
		return nil
	})
}

// WithHypervisors sets how many hypervisors each zone of HA, Solo and
// Federation gets (kvm1..kvmN; the third is disabled).
func WithHypervisors(n int) Option {
	return optionFunc(func(c *config) error {
		if n < 0 {
			return fmt.Errorf("%w: %d hypervisors", ErrBadSpec, n)
		}
		c.hosts = n
		return nil
	})
}

// WithVMsPerHost sets how many running VMs each hypervisor of HA, Solo and
// Federation gets (default 1).
func WithVMsPerHost(n int) Option {
	return optionFunc(func(c *config) error {
		if n < 0 {
			return fmt.Errorf("%w: %d VMs per host", ErrBadSpec, n)
		}
		c.vms = n
		return nil
	})
}

// WithSeed seeds the cloud's randomness: the timer phases of Raft
// followers and the random back-off of split votes (default 1). The same
// seed and the same commands give the same run.
func WithSeed(seed uint64) Option {
	return optionFunc(func(c *config) error { c.seed = seed; return nil })
}

// DefaultStart is the virtual time a new cloud starts at.
var DefaultStart = time.Date(2025, 11, 21, 9, 0, 0, 0, time.UTC)

func newConfig(opts []Option) (config, error) {
	cfg := config{log: zap.NewNop(), login: "root", start: DefaultStart, hosts: -1, vms: -1, seed: 1,
		repo: []string{"6.10.3", "7.0.0", "7.2.0", "7.4.0", "7.4.1"}}
	for _, o := range opts {
		if err := o.apply(&cfg); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

func (c *Cloud) init(cfg config) {
	c.log, c.login, c.realTime = cfg.log, cfg.login, cfg.realTime
	c.clock = newClock(c.st.Now)
	c.cmds = commandTable()
}

// Clock returns the cloud's virtual clock.
func (c *Cloud) Clock() *Clock { return c.clock }

// Now returns the current virtual time.
func (c *Cloud) Now() time.Time { return c.clock.Now() }

// Frontend returns the transport of front-end name.
func (c *Cloud) Frontend(name string) (*Transport, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.st.Nodes[name]
	if !ok || n.Hypervisor {
		return nil, fmt.Errorf("%w: front-end %q", ErrUnknownNode, name)
	}
	return &Transport{c: c, name: name}, nil
}

// Host returns the transport of hypervisor name.
func (c *Cloud) Host(name string) (*Transport, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.st.Nodes[name]
	if !ok || !n.Hypervisor {
		return nil, fmt.Errorf("%w: hypervisor %q", ErrUnknownNode, name)
	}
	return &Transport{c: c, name: name}, nil
}

// MustFrontend is Frontend for tests and examples; it panics on an unknown name.
func (c *Cloud) MustFrontend(name string) *Transport {
	t, err := c.Frontend(name)
	if err != nil {
		panic(err)
	}
	return t
}

// MustHost is Host that panics on an unknown name.
func (c *Cloud) MustHost(name string) *Transport {
	t, err := c.Host(name)
	if err != nil {
		panic(err)
	}
	return t
}

// Transports returns the transport of every node (front-ends and
// hypervisors) by name: the hosts map a Runner takes (upgrade.WithHosts).
func (c *Cloud) Transports() map[string]transport.Transport {
	out := map[string]transport.Transport{}
	for _, n := range c.Frontends() {
		out[n] = &Transport{c: c, name: n}
	}
	for _, n := range c.Hypervisors() {
		out[n] = &Transport{c: c, name: n}
	}
	return out
}

// Frontends lists front-end names, sorted.
func (c *Cloud) Frontends() []string { return c.names(false) }

// Hypervisors lists hypervisor names, sorted.
func (c *Cloud) Hypervisors() []string { return c.names(true) }

func (c *Cloud) names(hyp bool) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for name, n := range c.st.Nodes {
		if n.Hypervisor == hyp {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// Transport is one simulated node behind the transport interface. It
// implements transport.Transport, Namer, Uploader and Downloader.
type Transport struct {
	c      *Cloud
	name   string
	mu     sync.Mutex
	closed bool
}

var (
	_ transport.Transport  = (*Transport)(nil)
	_ transport.Namer      = (*Transport)(nil)
	_ transport.Uploader   = (*Transport)(nil)
	_ transport.Downloader = (*Transport)(nil)
)

// Host returns the node name.
func (t *Transport) Host() string { return t.name }

// Close marks the transport closed; closing twice is allowed.
func (t *Transport) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	return nil
}

func (t *Transport) isClosed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

// Run answers cmd as the node would.
func (t *Transport) Run(ctx context.Context, cmd transport.Command) (transport.Result, error) {
	res := transport.Result{Host: t.name, Cmd: cmd.String()}
	if t.isClosed() {
		return res, fmt.Errorf("host %s: %w", t.name, transport.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if _, err := cmd.Wire(true); err != nil {
		return res, err
	}
	var stdin []byte
	if cmd.Stdin != nil {
		b, err := io.ReadAll(cmd.Stdin)
		if err != nil {
			return res, fmt.Errorf("host %s: read stdin: %w", t.name, err)
		}
		stdin = b
	}
	out, err := t.c.run(ctx, t.name, cmd, stdin)
	if err != nil {
		return res, err
	}
	res.ExitCode = out.code
	res.Duration = out.cost
	stdout, stderr := out.stdout.Bytes(), out.stderr.Bytes()
	stderr = []byte(cmd.RedactString(string(stderr)))
	if cmd.Stdout != nil {
		_, _ = cmd.Stdout.Write(stdout)
	} else {
		res.Stdout, res.StdoutTruncated = capture(stdout, cmd.MaxOutput)
	}
	if cmd.Stderr != nil {
		_, _ = cmd.Stderr.Write(stderr)
	} else {
		res.Stderr, res.StderrTruncated = capture(stderr, cmd.MaxOutput)
	}
	if out.timeout {
		return res, &transport.TimeoutError{Host: t.name, Cmd: cmd.String(), After: cmd.Timeout}
	}
	return res, nil
}

func capture(b []byte, limit int) ([]byte, bool) {
	if len(b) == 0 {
		return nil, false
	}
	c := transport.NewCapture(limit)
	_, _ = c.Write(b)
	return c.Bytes(), c.Truncated()
}

// Upload writes r to dst in the node's file system.
func (t *Transport) Upload(ctx context.Context, dst string, r io.Reader, opts transport.FileOptions) (transport.Transfer, error) {
	if t.isClosed() {
		return transport.Transfer{}, fmt.Errorf("host %s: %w", t.name, transport.ErrClosed)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return transport.Transfer{}, fmt.Errorf("upload %s: %w", dst, err)
	}
	c := t.c
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.st.Nodes[t.name]
	if err := c.reachable(n); err != nil {
		return transport.Transfer{}, err
	}
	user := c.login
	if opts.Sudo {
		user = "root"
	}
	if user != "root" && !writable(n, dst, user) {
		return transport.Transfer{}, fmt.Errorf("upload %s: %w", dst, &transport.ExitError{Host: t.name, Cmd: "upload " + dst, Code: 1, Stderr: []byte("Permission denied")})
	}
	mode := opts.Mode.Perm()
	if mode == 0 {
		mode = 0o644
	}
	owner, group := nameOfID(opts.Owner), nameOfID(opts.Group)
	if owner == "" {
		owner = user
	}
	if group == "" {
		group = owner
	}
	until := c.laneReceived(t.name, data)
	leave := c.enterLane(t.name)
	defer leave()
	cost := transferCost(modelledSize(data))
	c.clock.Advance(cost)
	c.laneWait(until)
	now := c.clock.Now()
	if err := n.FS.Set(dst, vfs.File{Data: data, Mode: mode, Owner: owner, Group: group, ModTime: now}); err != nil {
		return transport.Transfer{}, fmt.Errorf("upload %s: %w", dst, err)
	}
	c.event(now, t.name, EventCommand, "upload "+dst)
	return transport.Transfer{Bytes: int64(len(data)), SHA256: sha256hex(data), Duration: cost}, nil
}

// Download copies src from the node's file system into w.
func (t *Transport) Download(ctx context.Context, src string, w io.Writer, opts transport.FileOptions) (transport.Transfer, error) {
	if t.isClosed() {
		return transport.Transfer{}, fmt.Errorf("host %s: %w", t.name, transport.ErrClosed)
	}
	c := t.c
	c.mu.Lock()
	n := c.st.Nodes[t.name]
	if err := c.reachable(n); err != nil {
		c.mu.Unlock()
		return transport.Transfer{}, err
	}
	data, err := n.FS.ReadFile(src)
	if err == nil && !opts.Sudo && c.login != "root" {
		if st, _ := n.FS.Stat(src); st.Mode&0o004 == 0 && st.Owner != c.login {
			err = fmt.Errorf("%s: Permission denied", src)
		}
	}
	leave := c.enterLane(t.name)
	from := c.clock.Now()
	cost := transferCost(modelledSize(data))
	now := c.clock.Advance(cost)
	c.event(now, t.name, EventCommand, "download "+src)
	leave()
	if err == nil {
		c.laneSent(t.name, from, data)
	}
	c.mu.Unlock()
	if err != nil {
		return transport.Transfer{}, fmt.Errorf("download %s: %w", src, err)
	}
	if _, err := w.Write(data); err != nil {
		return transport.Transfer{}, fmt.Errorf("download %s: %w", src, err)
	}
	return transport.Transfer{Bytes: int64(len(data)), SHA256: sha256hex(data), Duration: cost}, nil
}

// transferCost models ~100 MB/s plus a round trip.
func transferCost(n int64) time.Duration {
	return 50*time.Millisecond + time.Duration(n)*10*time.Nanosecond
}

func (c *Cloud) reachable(n *node) error {
	if n.Unreachable {
		c.clock.Advance(10 * time.Second)
		return &transport.ConnectionLostError{Host: n.Name, Started: false, Err: errors.New("dial tcp " + n.Address + ":22: connect: no route to host")}
	}
	return nil
}

// outcome is what one command did.
type outcome struct {
	code           int
	stdout, stderr bytes.Buffer
	cost           time.Duration
	timeout        bool
}

// proc is the execution context of one simulated command.
type proc struct {
	c      *Cloud
	n      *node
	ctx    context.Context
	argv   []string
	env    map[string]string
	user   string
	dir    string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	cost   time.Duration
	depth  int
	mu     *sync.Mutex // serialises stateful commands inside one shell run
}

func (p *proc) now() time.Time { return p.c.clock.Now() }

func (p *proc) outf(format string, a ...any) { fmt.Fprintf(p.stdout, format, a...) }
func (p *proc) errf(format string, a ...any) { fmt.Fprintf(p.stderr, format, a...) }

// spend advances virtual time by d and ticks the model. On real time
// (the multi-call binary) the clock follows the wall clock instead.
func (p *proc) spend(d time.Duration) {
	p.cost += d
	if p.c.realTime {
		p.c.clock.set(time.Now().UTC())
		p.c.tick(p.c.clock.Now())
		return
	}
	now := p.c.clock.Advance(d)
	p.c.tick(now)
}

func (c *Cloud) run(ctx context.Context, name string, cmd transport.Command, stdin []byte) (*outcome, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.st.Nodes[name]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownNode, name)
	}
	if err := c.reachable(n); err != nil {
		c.event(c.clock.Now(), name, EventCommand, cmd.String()+" (unreachable)")
		return nil, err
	}
	if c.realTime {
		c.clock.set(time.Now().UTC())
	}
	until := c.laneReceived(name, stdin)
	var o *outcome
	leave := c.enterLane(name)
	from := c.clock.Now()
	defer func() {
		if o != nil {
			c.laneWait(until)
		}
		leave()
		if o != nil {
			c.laneSent(name, from, o.stdout.Bytes())
		}
	}()
	c.tick(c.clock.Now())
	user := c.login
	if cmd.User != "" {
		user = cmd.User
	} else if cmd.Sudo {
		user = "root"
	}
	env := map[string]string{"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": homeOf(user), "USER": user, "LOGNAME": user}
	maps.Copy(env, cmd.Env)
	for k, s := range cmd.SecretEnv {
		env[k] = s.Reveal()
	}
	dir := cmd.Dir
	if dir == "" {
		dir = homeOf(user)
	}
	o = &outcome{}
	if st, err := n.FS.Stat(dir); cmd.Dir != "" && (err != nil || !st.Dir) {
		fmt.Fprintf(&o.stderr, "sh: 1: cd: can't cd to %s\n", cmd.Dir)
		o.code = 2
		return o, nil
	}
	p := &proc{c: c, n: n, ctx: ctx, argv: cmd.Argv(), env: env, user: user, dir: dir,
		stdin: bytes.NewReader(stdin), stdout: &o.stdout, stderr: &o.stderr, mu: &sync.Mutex{}}
	o.code = p.exec()
	o.cost = p.cost
	c.logMirror(c.pushMirrors(ctx))
	if cmd.Timeout > 0 && p.cost > cmd.Timeout {
		o.timeout = true
	}
	c.log.Debug("sim command", zap.String("host", name), zap.String("cmd", cmd.String()), zap.Int("exit", o.code), zap.Duration("virtual", p.cost))
	return o, nil
}

func homeOf(user string) string {
	switch user {
	case "root":
		return "/root"
	case "oneadmin":
		return "/var/lib/one"
	}
	return "/home/" + user
}

// exec runs p.argv: faults first, then the shell or a command.
func (p *proc) exec() int {
	if len(p.argv) == 0 {
		return 0
	}
	c := p.c
	c.event(p.now(), p.n.Name, EventCommand, transport.Join(p.argv))
	if f := c.matchFault(p.n.Name, p.argv); f != nil {
		p.spend(f.Delay)
		if f.Exit != 0 || f.Stderr != "" || f.Stdout != "" {
			io.WriteString(p.stdout, f.Stdout)
			io.WriteString(p.stderr, f.Stderr)
			return f.Exit
		}
	}
	name := path.Base(p.argv[0])
	if (name == "sh" || name == "bash" || name == "dash") && len(p.argv) >= 3 && p.argv[1] == "-c" {
		return p.shell(p.argv[2], p.argv[3:])
	}
	if name == "sudo" {
		return p.sudo()
	}
	if name == "env" {
		return p.envCmd()
	}
	h, ok := c.cmds[name]
	if !ok || (p.n.Hypervisor && frontendOnly[name]) {
		p.errf("sh: 1: %s: not found\n", p.argv[0])
		return 127
	}
	p.spend(baseCost(name))
	return h(p)
}

// sub runs argv as a child of p, sharing its streams.
func (p *proc) sub(argv []string, stdin io.Reader, stdout, stderr io.Writer) int {
	q := *p
	q.argv, q.stdin, q.stdout, q.stderr = argv, stdin, stdout, stderr
	q.env = maps.Clone(p.env)
	q.cost = 0
	q.depth++
	code := q.exec()
	p.cost += q.cost
	return code
}

func (p *proc) sudo() int {
	args := p.argv[1:]
	user := "root"
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		switch args[0] {
		case "-u":
			if len(args) > 1 {
				user = args[1]
				args = args[1:]
			}
		case "--":
			args = args[1:]
			goto run
		}
		args = args[1:]
	}
run:
	if len(args) == 0 {
		p.errf("usage: sudo command\n")
		return 1
	}
	q := *p
	q.user = user
	q.env = maps.Clone(p.env)
	q.env["HOME"], q.env["USER"] = homeOf(user), user
	q.argv = args
	q.cost = 0
	code := q.exec()
	p.cost += q.cost
	return code
}

func (p *proc) envCmd() int {
	args := p.argv[1:]
	q := *p
	q.env = maps.Clone(p.env)
	for len(args) > 0 && strings.Contains(args[0], "=") && !strings.HasPrefix(args[0], "-") {
		k, v, _ := strings.Cut(args[0], "=")
		q.env[k] = v
		args = args[1:]
	}
	if len(args) == 0 {
		for _, k := range slices.Sorted(maps.Keys(q.env)) {
			p.outf("%s=%s\n", k, q.env[k])
		}
		return 0
	}
	q.argv = args
	q.cost = 0
	code := q.exec()
	p.cost += q.cost
	return code
}

// handler implements one simulated program.
type handler func(p *proc) int

// frontendOnly commands are "not found" on hypervisors.
var frontendOnly = map[string]bool{"onezone": true, "onedb": true, "onevm": true, "onehost": true, "oned": true, "onecfg": true, "mysqldump": true}

func baseCost(name string) time.Duration {
	switch name {
	case "onezone", "onevm", "onehost":
		return 400 * time.Millisecond
	case "oned", "onecfg":
		return 300 * time.Millisecond
	case "onedb":
		return 1 * time.Second
	}
	return 20 * time.Millisecond
}
