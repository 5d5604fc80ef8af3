package testbed

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// DefaultMounts returns the directories every host gets its own copy of
// when Config.Mounts is nil: root's home, /etc/one and /var/lib/one.
func DefaultMounts() []string { return []string{"/root", "/etc/one", "/var/lib/one"} }

// DefaultSSHD is the sshd binary started when Config.SSHD is empty.
const DefaultSSHD = "/usr/sbin/sshd"

// Config describes a set of hosts to start.
type Config struct {
	// Hosts is how many hosts to start; 0 means 1.
	Hosts int
	// FirstAddr is the first host's address; host i listens on the i-th
	// address after it, skipping addresses ending in .0 and .255. It must
	// be in 127.0.0.0/8. Give every concurrent user its own range.
	FirstAddr netip.Addr
	// Port is the port every host listens on (each on its own address);
	// 0 means 22.
	Port int
	// Dir holds every file of the bed. Empty means a new temporary
	// directory removed by Close.
	Dir string
	// NamePrefix names the hosts NamePrefix0, NamePrefix1, ...; "" means "h".
	NamePrefix string
	// User is the login user written to the client configuration; "" means root.
	User string
	// Mounts lists the directories each host gets a private, initially
	// empty copy of (bind mounts in the host's mount namespace). nil means
	// DefaultMounts(); an empty non-nil slice means none. Missing mount
	// points are created, empty, on the real file system.
	Mounts []string
	// Env is set for every command on every host (sshd SetEnv). Each host
	// also gets UPGRADEKIT_HOST=<its name>.
	Env map[string]string
	// MaxSessions is sshd's MaxSessions; 0 means 10, sshd's default.
	MaxSessions int
	// ExtraConfig lines are appended to every host's sshd_config.
	ExtraConfig []string
	// Setup, when set, is called for every host before its configuration
	// is written; it may change the host's Env and ExtraConfig.
	Setup func(h *Host)
	// SSHD is the sshd binary; "" means DefaultSSHD.
	SSHD string
	// StartTimeout bounds how long Start waits for each host to accept
	// connections; 0 means 30s.
	StartTimeout time.Duration
}

// Bed is a set of running sshd hosts and the client files to reach them.
type Bed struct {
	// Dir holds every file of the bed.
	Dir string
	// Hosts are the started hosts, in order.
	Hosts []*Host
	// User is the login user.
	User string
	// ClientKeyFile is an unencrypted ed25519 private key authorized on
	// every host; ClientSigner is the same key.
	ClientKeyFile string
	ClientSigner  ssh.Signer
	// AuthorizedKeysFile is the authorized_keys file shared by all hosts;
	// AuthorizeKey appends to it.
	AuthorizedKeysFile string
	// KnownHostsFile lists every host's key as [addr]:port.
	KnownHostsFile string
	// SSHConfigFile is an OpenSSH client configuration with a Host entry
	// per host name (HostName, Port) and defaults for all of them
	// (User, IdentityFile, IdentitiesOnly, UserKnownHostsFile,
	// StrictHostKeyChecking yes, BatchMode yes). Pass it to OpenSSH
	// tools with -F.
	SSHConfigFile string

	cfg       Config
	removeDir bool
	mu        sync.Mutex // guards authorized_keys appends
}

// Host is one sshd process.
type Host struct {
	// Name is the host's name in the client configuration (h0, h1, ...).
	Name string
	// Index is the host's position in Bed.Hosts.
	Index int
	// Addr and Port are where sshd listens.
	Addr netip.Addr
	Port int
	// Dir holds the host's files: host key, sshd_config, sshd.log and
	// fs/<mount> for every mounted directory.
	Dir string
	// HostKeyFile is the host's private ed25519 key; HostKey its public key.
	HostKeyFile string
	HostKey     ssh.PublicKey
	// ConfigFile is the host's sshd_config; LogFile receives sshd's stderr.
	ConfigFile, LogFile string
	// Env is the host's SetEnv; ExtraConfig its extra sshd_config lines.
	// Change them in Config.Setup, or before Restart (then call
	// WriteConfig).
	Env         map[string]string
	ExtraConfig []string

	bed  *Bed
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Available reports why sshd hosts cannot run on this machine, or nil.
func Available() error {
	if os.Geteuid() != 0 {
		return errors.New("testbed: needs root (bind mounts, /run/sshd)")
	}
	for _, bin := range []string{DefaultSSHD, "unshare", "mount"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("testbed: %s not found: %w", bin, err)
		}
	}
	return nil
}

// Require skips tb when sshd hosts cannot run here, or fails it when the
// environment variable CI is "true" (in CI a missing server is a failure).
func Require(tb testing.TB) {
	tb.Helper()
	if err := Available(); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("CI=true but %v", err)
		}
		tb.Skipf("skipping: %v", err)
	}
}

// New starts the hosts of cfg for a test: it calls Require, puts the bed
// in a test temporary directory unless cfg.Dir is set, and stops every
// process in tb.Cleanup.
func New(tb testing.TB, cfg Config) *Bed {
	tb.Helper()
	Require(tb)
	if cfg.Dir == "" {
		cfg.Dir = tb.TempDir()
	}
	b, err := Start(tb.Context(), cfg)
	if err != nil {
		tb.Fatalf("testbed: %v", err)
	}
	tb.Cleanup(func() { _ = b.Close() })
	return b
}

// Start creates the files of every host and starts them, returning when
// all accept TCP connections. On error everything started is stopped.
func Start(ctx context.Context, cfg Config) (_ *Bed, err error) {
	if err := Available(); err != nil {
		return nil, err
	}
	if cfg.Hosts <= 0 {
		cfg.Hosts = 1
	}
	if !cfg.FirstAddr.IsValid() || !netip.MustParsePrefix("127.0.0.0/8").Contains(cfg.FirstAddr) {
		return nil, fmt.Errorf("testbed: FirstAddr %v is not in 127.0.0.0/8", cfg.FirstAddr)
	}
	if cfg.Port == 0 {
		cfg.Port = 22
	}
	if cfg.NamePrefix == "" {
		cfg.NamePrefix = "h"
	}
	if cfg.User == "" {
		cfg.User = "root"
	}
	if cfg.Mounts == nil {
		cfg.Mounts = DefaultMounts()
	}
	if cfg.MaxSessions == 0 {
		cfg.MaxSessions = 10
	}
	if cfg.SSHD == "" {
		cfg.SSHD = DefaultSSHD
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 30 * time.Second
	}
	b := &Bed{Dir: cfg.Dir, User: cfg.User, cfg: cfg}
	if b.Dir == "" {
		if b.Dir, err = os.MkdirTemp("", "testbed-"); err != nil {
			return nil, fmt.Errorf("testbed: %w", err)
		}
		b.removeDir = true
	}
	defer func() {
		if err != nil {
			_ = b.Close()
		}
	}()
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		return nil, fmt.Errorf("testbed: %w", err)
	}
	if err := b.writeClientFiles(); err != nil {
		return nil, err
	}
	addr := cfg.FirstAddr
	var known, sshCfg strings.Builder
	for i := range cfg.Hosts {
		for a := addr.As4(); a[3] == 0 || a[3] == 255; a = addr.As4() {
			addr = addr.Next()
		}
		if !netip.MustParsePrefix("127.0.0.0/8").Contains(addr) {
			return nil, fmt.Errorf("testbed: address range exhausted at host %d", i)
		}
		h, err := b.newHost(i, addr)
		if err != nil {
			return nil, err
		}
		b.Hosts = append(b.Hosts, h)
		known.WriteString(h.KnownHostsLine() + "\n")
		fmt.Fprintf(&sshCfg, "Host %s\n  HostName %s\n  Port %d\n", h.Name, h.Addr, h.Port)
		addr = addr.Next()
	}
	fmt.Fprintf(&sshCfg, "Host *\n  User %s\n  IdentityFile %s\n  IdentitiesOnly yes\n  UserKnownHostsFile %s\n"+
		"  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n  BatchMode yes\n  LogLevel ERROR\n",
		cfg.User, b.ClientKeyFile, b.KnownHostsFile)
	if err := os.WriteFile(b.KnownHostsFile, []byte(known.String()), 0o644); err != nil {
		return nil, fmt.Errorf("testbed: %w", err)
	}
	if err := os.WriteFile(b.SSHConfigFile, []byte(sshCfg.String()), 0o644); err != nil {
		return nil, fmt.Errorf("testbed: %w", err)
	}
	for _, h := range b.Hosts {
		if err := h.spawn(); err != nil {
			return nil, err
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, len(b.Hosts))
	for i, h := range b.Hosts {
		wg.Go(func() { errs[i] = h.waitReady(ctx, cfg.StartTimeout) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *Bed) writeClientFiles() error {
	b.ClientKeyFile = filepath.Join(b.Dir, "id_ed25519")
	b.AuthorizedKeysFile = filepath.Join(b.Dir, "authorized_keys")
	b.KnownHostsFile = filepath.Join(b.Dir, "known_hosts")
	b.SSHConfigFile = filepath.Join(b.Dir, "ssh_config")
	s, err := GenerateKey(b.ClientKeyFile, nil)
	if err != nil {
		return err
	}
	b.ClientSigner = s
	return os.WriteFile(b.AuthorizedKeysFile, ssh.MarshalAuthorizedKey(s.PublicKey()), 0o644)
}

// AuthorizeKey adds pub to the authorized_keys file of every host.
func (b *Bed) AuthorizeKey(pub ssh.PublicKey) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	f, err := os.OpenFile(b.AuthorizedKeysFile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("testbed: %w", err)
	}
	_, err = f.Write(ssh.MarshalAuthorizedKey(pub))
	return errors.Join(err, f.Close())
}

// Host returns the host called name, or nil.
func (b *Bed) Host(name string) *Host {
	for _, h := range b.Hosts {
		if h.Name == name {
			return h
		}
	}
	return nil
}

// Names returns every host's name.
func (b *Bed) Names() []string {
	names := make([]string, len(b.Hosts))
	for i, h := range b.Hosts {
		names[i] = h.Name
	}
	return names
}

// Close kills every host (and its connections) and removes Dir when Start
// created it. It is safe to call twice.
func (b *Bed) Close() error {
	tree := procTree()
	var pids []int
	for _, h := range b.Hosts {
		if pid := h.PID(); pid > 0 {
			pids = append(pids, descendants(tree, pid)...)
		}
	}
	signalAll(pids, syscall.SIGKILL)
	var errs []error
	for _, h := range b.Hosts {
		h.wait(5 * time.Second)
	}
	if b.removeDir {
		errs = append(errs, os.RemoveAll(b.Dir))
	}
	return errors.Join(errs...)
}

func (b *Bed) newHost(i int, addr netip.Addr) (*Host, error) {
	h := &Host{
		Name:  b.cfg.NamePrefix + strconv.Itoa(i),
		Index: i,
		Addr:  addr,
		Port:  b.cfg.Port,
		bed:   b,
		Env:   map[string]string{"UPGRADEKIT_HOST": b.cfg.NamePrefix + strconv.Itoa(i)},
	}
	for k, v := range b.cfg.Env {
		h.Env[k] = v
	}
	h.ExtraConfig = slices.Clone(b.cfg.ExtraConfig)
	h.Dir = filepath.Join(b.Dir, h.Name)
	h.HostKeyFile = filepath.Join(h.Dir, "ssh_host_ed25519_key")
	h.ConfigFile = filepath.Join(h.Dir, "sshd_config")
	h.LogFile = filepath.Join(h.Dir, "sshd.log")
	for _, m := range b.cfg.Mounts {
		if err := os.MkdirAll(h.Path(m), 0o755); err != nil {
			return nil, fmt.Errorf("testbed: %w", err)
		}
	}
	s, err := GenerateKey(h.HostKeyFile, nil)
	if err != nil {
		return nil, err
	}
	h.HostKey = s.PublicKey()
	if b.cfg.Setup != nil {
		b.cfg.Setup(h)
	}
	return h, h.WriteConfig()
}

// Path returns where the file p, as seen on the host, lives on the real
// file system: under the host's private copy when p is in one of the
// mounted directories, else p itself.
func (h *Host) Path(p string) string {
	p = filepath.Clean(p)
	for _, m := range h.bed.cfg.Mounts {
		if p == m || strings.HasPrefix(p, m+"/") {
			return filepath.Join(h.Dir, "fs", p)
		}
	}
	return p
}

// HostPort returns "addr:port".
func (h *Host) HostPort() string {
	return net.JoinHostPort(h.Addr.String(), strconv.Itoa(h.Port))
}

// KnownHostsLine returns the host's known_hosts line.
func (h *Host) KnownHostsLine() string {
	return knownhosts.Line([]string{knownhosts.Normalize(h.HostPort())}, h.HostKey)
}

// WriteConfig (re)writes the host's sshd_config from its fields; a
// running sshd reads it on Restart.
func (h *Host) WriteConfig() error {
	cfg := h.bed.cfg
	var b strings.Builder
	fmt.Fprintf(&b, "ListenAddress %s\nHostKey %s\nPidFile none\nAuthorizedKeysFile %s\n",
		h.HostPort(), h.HostKeyFile, h.bed.AuthorizedKeysFile)
	b.WriteString("StrictModes no\nUsePAM no\nUseDNS no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n" +
		"PermitRootLogin prohibit-password\nMaxStartups 1000\nPrintMotd no\nPrintLastLog no\n" +
		"Subsystem sftp /usr/lib/openssh/sftp-server\n")
	fmt.Fprintf(&b, "MaxSessions %d\n", cfg.MaxSessions)
	if len(h.Env) > 0 {
		b.WriteString("SetEnv")
		for _, k := range slices.Sorted(maps.Keys(h.Env)) {
			kv := k + "=" + h.Env[k]
			if strings.ContainsAny(kv, "\"\n") {
				return fmt.Errorf("testbed: SetEnv %q: quotes and newlines are not supported", k)
			}
			b.WriteString(` "` + kv + `"`)
		}
		b.WriteString("\n")
	}
	for _, l := range h.ExtraConfig {
		b.WriteString(l + "\n")
	}
	if err := os.WriteFile(h.ConfigFile, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("testbed: %w", err)
	}
	return nil
}

// launchScript mounts the host's private directories ($3,$4 pairs) in
// the new mount namespace and execs sshd ($1) with config $2, so the PID
// started is sshd's.
const launchScript = `sshd=$1 cfg=$2; shift 2
while [ $# -gt 0 ]; do mkdir -p "$2" && mount --bind "$1" "$2" || exit 1; shift 2; done
exec "$sshd" -D -e -f "$cfg"`

func (h *Host) spawn() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cmd != nil {
		select {
		case <-h.done:
		default:
			return fmt.Errorf("testbed: host %s is running", h.Name)
		}
	}
	// A leftover sshd on our address would answer in our place. Killed
	// per-connection children may hold the listening socket a moment
	// longer than their parent: wait a little for it.
	for deadline := time.Now().Add(3 * time.Second); ; {
		ln, err := net.Listen("tcp", h.HostPort())
		if err == nil {
			_ = ln.Close()
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("testbed: host %s: address in use (a leftover sshd?): %w", h.Name, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	args := []string{"-m", "--propagation", "private", "/bin/sh", "-c", launchScript, "sh", h.bed.cfg.SSHD, h.ConfigFile}
	for _, m := range h.bed.cfg.Mounts {
		args = append(args, h.Path(m), m)
	}
	logf, err := os.OpenFile(h.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("testbed: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command("unshare", args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Pdeathsig: a test binary killed by -timeout takes its sshd with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("testbed: host %s: start sshd: %w", h.Name, err)
	}
	done := make(chan struct{})
	h.cmd, h.done = cmd, done
	go func() { // owned by the host: ends when the process exits
		_ = cmd.Wait()
		close(done)
	}()
	return nil
}

func (h *Host) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	h.mu.Lock()
	done := h.done
	h.mu.Unlock()
	d := net.Dialer{Timeout: time.Second}
	for delay := 2 * time.Millisecond; ; delay = min(delay*2, 100*time.Millisecond) {
		select {
		case <-done:
			return fmt.Errorf("testbed: host %s: sshd exited: %s", h.Name, h.logTail())
		default:
		}
		c, err := d.DialContext(ctx, "tcp", h.HostPort())
		if err == nil {
			return c.Close()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("testbed: host %s: not listening: %w: %s", h.Name, err, h.logTail())
		case <-done:
		case <-time.After(delay):
		}
	}
}

func (h *Host) logTail() string {
	b, _ := os.ReadFile(h.LogFile)
	s := strings.TrimSpace(string(b))
	if len(s) > 500 {
		s = s[len(s)-500:]
	}
	return s
}

// PID returns the running sshd's PID, or 0.
func (h *Host) PID() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cmd == nil || h.cmd.Process == nil {
		return 0
	}
	select {
	case <-h.done:
		return 0
	default:
		return h.cmd.Process.Pid
	}
}

// Running reports whether the host's sshd is running.
func (h *Host) Running() bool { return h.PID() != 0 }

// Start starts a stopped host and waits until it accepts connections.
func (h *Host) Start(ctx context.Context) error {
	if err := h.spawn(); err != nil {
		return err
	}
	return h.waitReady(ctx, h.bed.cfg.StartTimeout)
}

// Stop terminates sshd and every connection it serves with SIGTERM (then
// SIGKILL after 5s) and waits for sshd to exit.
func (h *Host) Stop() error { return h.signalWait(syscall.SIGTERM) }

// Kill kills sshd and every connection it serves (and their commands)
// with SIGKILL: the host crashed.
func (h *Host) Kill() error { return h.signalWait(syscall.SIGKILL) }

// KillConnections kills the per-connection sshd processes (and their
// commands) but leaves the listener running: established connections
// drop, new ones work.
func (h *Host) KillConnections() error {
	pid := h.PID()
	if pid == 0 {
		return fmt.Errorf("testbed: host %s is not running", h.Name)
	}
	signalAll(descendants(procTree(), pid)[1:], syscall.SIGKILL)
	return nil
}

// Restart kills the host and starts it again with its current config.
func (h *Host) Restart(ctx context.Context) error {
	if err := h.Kill(); err != nil {
		return err
	}
	return h.Start(ctx)
}

// Pause freezes sshd and its connections with SIGSTOP: TCP still
// connects but nothing answers, like a hung host.
func (h *Host) Pause() error { return h.signalTree(syscall.SIGSTOP) }

// Resume undoes Pause with SIGCONT.
func (h *Host) Resume() error { return h.signalTree(syscall.SIGCONT) }

func (h *Host) signalTree(sig syscall.Signal) error {
	pid := h.PID()
	if pid == 0 {
		return fmt.Errorf("testbed: host %s is not running", h.Name)
	}
	signalAll(descendants(procTree(), pid), sig)
	return nil
}

func (h *Host) signalWait(sig syscall.Signal) error {
	pid := h.PID()
	if pid == 0 {
		return nil
	}
	pids := descendants(procTree(), pid)
	signalAll(pids, sig)
	if sig != syscall.SIGKILL {
		signalAll(pids, syscall.SIGCONT)
	}
	if !h.wait(5 * time.Second) {
		signalAll(descendants(procTree(), pid), syscall.SIGKILL)
		if !h.wait(5 * time.Second) {
			return fmt.Errorf("testbed: host %s: sshd %d did not exit", h.Name, pid)
		}
	}
	return nil
}

func (h *Host) wait(d time.Duration) bool {
	h.mu.Lock()
	done := h.done
	h.mu.Unlock()
	if done == nil {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// procTree maps each PID to its children, from /proc.
func procTree() map[int][]int {
	tree := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parens.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 {
			continue
		}
		ppid, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		tree[ppid] = append(tree[ppid], pid)
	}
	return tree
}

// descendants returns pid followed by all its descendants.
func descendants(tree map[int][]int, pid int) []int {
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		out = append(out, tree[out[i]]...)
	}
	return out
}

func signalAll(pids []int, sig syscall.Signal) {
	for _, p := range pids {
		_ = syscall.Kill(p, sig)
	}
}

// GenerateKey writes a new ed25519 private key in OpenSSH format to path
// (mode 0600), encrypted when passphrase is non-empty, and its public key
// to path+".pub". It returns the key as a signer.
func GenerateKey(path string, passphrase []byte) (ssh.Signer, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("testbed: %w", err)
	}
	var blk *pem.Block
	if len(passphrase) > 0 {
		blk, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "testbed", passphrase)
	} else {
		blk, err = ssh.MarshalPrivateKey(priv, "testbed")
	}
	if err != nil {
		return nil, fmt.Errorf("testbed: %w", err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(blk), 0o600); err != nil {
		return nil, fmt.Errorf("testbed: %w", err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, fmt.Errorf("testbed: %w", err)
	}
	if err := os.WriteFile(path+".pub", ssh.MarshalAuthorizedKey(s.PublicKey()), 0o644); err != nil {
		return nil, fmt.Errorf("testbed: %w", err)
	}
	return s, nil
}
