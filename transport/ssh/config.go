package ssh

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kevinburke/ssh_config"
)

// Defaults applied by NewConfig and to zero fields of a Config.
const (
	DefaultPort              = 22
	DefaultConnectTimeout    = 15 * time.Second
	DefaultKeepAliveInterval = 15 * time.Second
	DefaultKeepAliveMax      = 3
	// DefaultMaxSessions keeps concurrent sessions per connection below
	// sshd's default MaxSessions of 10.
	DefaultMaxSessions      = 8
	DefaultReconnectTimeout = 20 * time.Second
)

// Config is the data that says how to reach one host: what users keep in
// YAML. The zero value of every field is usable; NewConfig shows the
// defaults. Fields set here win over the OpenSSH client configuration
// named by ConfigFile, which fills only the fields left empty.
type Config struct {
	// Host is the address or, with ConfigFile, a Host alias of the
	// OpenSSH configuration. It may carry a port ("h:2222", "[::1]:22").
	Host string `yaml:"host" json:"host"`
	// Name is the host's name in errors, logs and Result.Host; "" means Host.
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	// Port is the TCP port; 0 means the one in Host, else the
	// configuration file's, else 22.
	Port int `yaml:"port,omitempty" json:"port,omitempty"`
	// User is the login user; "" means the configuration file's, else
	// the current OS user.
	User string `yaml:"user,omitempty" json:"user,omitempty"`
	// IdentityFiles are private keys to offer; encrypted ones need
	// WithPassphrase. Listed files must exist.
	IdentityFiles []string `yaml:"identity_files,omitempty" json:"identity_files,omitempty"`
	// KnownHostsFiles are the known_hosts files host keys are checked
	// against. With the Strict policy each listed file must exist (New
	// fails with ErrKnownHostsMissing); when the list is empty and
	// ConfigFile's UserKnownHostsFile (or ~/.ssh/known_hosts) is used
	// instead, at least one of those must.
	KnownHostsFiles []string `yaml:"known_hosts_files,omitempty" json:"known_hosts_files,omitempty"`
	// UseAgent offers the keys of the ssh-agent listening on AgentSocket
	// (or the agent given with WithAgent).
	UseAgent    bool   `yaml:"use_agent,omitempty" json:"use_agent,omitempty"`
	AgentSocket string `yaml:"agent_socket,omitempty" json:"agent_socket,omitempty"`
	// ProxyJump lists bastions to go through, as OpenSSH's ProxyJump:
	// "[user@]host[:port][,...]"; "none" disables one from ConfigFile.
	ProxyJump string `yaml:"proxy_jump,omitempty" json:"proxy_jump,omitempty"`
	// ConfigFile is an OpenSSH client configuration (ssh_config(5)) read
	// for HostName, User, Port, IdentityFile, ProxyJump and
	// UserKnownHostsFile. "" reads none; UserConfigFile names the user's.
	ConfigFile string `yaml:"config_file,omitempty" json:"config_file,omitempty"`
	// HomeDir expands "~" in paths; "" means the current user's home.
	HomeDir string `yaml:"home_dir,omitempty" json:"home_dir,omitempty"`
	// ConnectTimeout bounds TCP connect plus SSH handshake of each hop.
	ConnectTimeout time.Duration `yaml:"connect_timeout,omitempty" json:"connect_timeout,omitempty"`
	// KeepAliveInterval is the period of keepalive@openssh.com probes;
	// negative disables them. After KeepAliveMax unanswered probes the
	// connection is closed and running commands fail with
	// *transport.ConnectionLostError.
	KeepAliveInterval time.Duration `yaml:"keepalive_interval,omitempty" json:"keepalive_interval,omitempty"`
	KeepAliveMax      int           `yaml:"keepalive_max,omitempty" json:"keepalive_max,omitempty"`
	// MaxSessions caps concurrent commands (sessions) on the connection;
	// more concurrent Runs wait. Keep it below the server's MaxSessions.
	MaxSessions int `yaml:"max_sessions,omitempty" json:"max_sessions,omitempty"`
	// ReconnectTimeout bounds the retries (exponential backoff) when a
	// connection that was up has to be re-established; negative means
	// a single attempt.
	ReconnectTimeout time.Duration `yaml:"reconnect_timeout,omitempty" json:"reconnect_timeout,omitempty"`
	// Ciphers, KeyExchanges and MACs override x/crypto/ssh's
	// preferences (its default cipher, aes128-gcm@openssh.com, is the
	// fastest on CPUs with AES instructions).
	Ciphers      []string `yaml:"ciphers,omitempty" json:"ciphers,omitempty"`
	KeyExchanges []string `yaml:"key_exchanges,omitempty" json:"key_exchanges,omitempty"`
	MACs         []string `yaml:"macs,omitempty" json:"macs,omitempty"`
}

// NewConfig returns a Config for host with every default filled in. Port
// stays 0: the port in host, else the configuration file's, else 22.
func NewConfig(host string) Config {
	return Config{
		Host:              host,
		ConnectTimeout:    DefaultConnectTimeout,
		KeepAliveInterval: DefaultKeepAliveInterval,
		KeepAliveMax:      DefaultKeepAliveMax,
		MaxSessions:       DefaultMaxSessions,
		ReconnectTimeout:  DefaultReconnectTimeout,
	}
}

// UserConfigFile returns the path of the current user's OpenSSH client
// configuration, ~/.ssh/config.
func UserConfigFile() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("ssh: %w", err)
	}
	return filepath.Join(home, ".ssh", "config"), nil
}

// FromSSHConfig returns NewConfig(host) set to honour the current user's
// ~/.ssh/config (and ~/.ssh/known_hosts when the file names none), the way
// `ssh host` would.
func FromSSHConfig(host string) (Config, error) {
	file, err := UserConfigFile()
	if err != nil {
		return Config{}, err
	}
	c := NewConfig(host)
	c.ConfigFile = file
	return c, nil
}

// Clone returns a deep copy of c.
func (c Config) Clone() Config {
	c.IdentityFiles = slices.Clone(c.IdentityFiles)
	c.KnownHostsFiles = slices.Clone(c.KnownHostsFiles)
	c.Ciphers = slices.Clone(c.Ciphers)
	c.KeyExchanges = slices.Clone(c.KeyExchanges)
	c.MACs = slices.Clone(c.MACs)
	return c
}

// target is a Config resolved against the OpenSSH configuration and
// defaults: everything a dial needs.
type target struct {
	name          string // for errors and logs
	addr          string // host:port to dial
	user          string
	identityFiles []string
	idOptional    bool // identity files came from ssh_config: skip missing ones
	knownHosts    []string
	khOptional    bool // known_hosts files came from ssh_config or the default: one must exist
	jumps         []target
}

// resolve fills c's empty fields from the OpenSSH configuration and the
// defaults, and resolves the ProxyJump chain.
func resolve(c Config) (target, error) {
	c = c.Clone()
	if c.Host == "" {
		return target{}, errors.New("ssh: config has no Host")
	}
	var sc *ssh_config.Config
	if c.ConfigFile != "" {
		f, err := os.Open(c.ConfigFile)
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			return target{}, fmt.Errorf("ssh: %w", err)
		default:
			sc, err = ssh_config.Decode(f)
			f.Close()
			if err != nil {
				return target{}, fmt.Errorf("ssh: parse %s: %w", c.ConfigFile, err)
			}
		}
	}
	return resolveWith(c, sc, 0)
}

func resolveWith(c Config, sc *ssh_config.Config, depth int) (target, error) {
	if depth > 8 {
		return target{}, errors.New("ssh: ProxyJump chain too long or circular")
	}
	alias, port := c.Host, c.Port
	if h, p, err := net.SplitHostPort(c.Host); err == nil {
		alias = h
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return target{}, fmt.Errorf("ssh: bad port in %q", c.Host)
		}
		if port != 0 && port != n {
			return target{}, fmt.Errorf("ssh: Host %q and Port %d disagree", c.Host, port)
		}
		port = n
	}
	get := func(key string) string {
		if sc == nil {
			return ""
		}
		v, _ := sc.Get(alias, key)
		return v
	}
	getAll := func(key string) []string {
		if sc == nil {
			return nil
		}
		v, _ := sc.GetAll(alias, key)
		return v
	}
	t := target{name: c.Name}
	hostname := alias
	if v := get("HostName"); v != "" {
		hostname = strings.ReplaceAll(v, "%h", alias)
	}
	if !validHostname(hostname) {
		return target{}, fmt.Errorf("ssh: invalid host name %q", hostname)
	}
	if port == 0 {
		if v := get("Port"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 || n > 65535 {
				return target{}, fmt.Errorf("ssh: %s: bad Port %q in %s", alias, v, c.ConfigFile)
			}
			port = n
		} else {
			port = DefaultPort
		}
	}
	t.user = c.User
	if t.user == "" {
		t.user = get("User")
	}
	if t.user == "" {
		u, err := user.Current()
		if err != nil {
			return target{}, fmt.Errorf("ssh: no User for %s: %w", alias, err)
		}
		t.user = u.Username
	}
	if t.name == "" {
		t.name = c.Host
	}
	t.addr = net.JoinHostPort(hostname, strconv.Itoa(port))
	expand := func(p string) (string, error) {
		r := strings.NewReplacer("%h", hostname, "%p", strconv.Itoa(port), "%r", t.user, "%n", alias, "%%", "%")
		p = r.Replace(p)
		if p == "~" || strings.HasPrefix(p, "~/") {
			home := c.HomeDir
			if home == "" {
				h, err := os.UserHomeDir()
				if err != nil {
					return "", fmt.Errorf("ssh: expand %s: %w", p, err)
				}
				home = h
			}
			p = filepath.Join(home, p[1:])
		}
		return p, nil
	}
	if len(c.IdentityFiles) > 0 {
		for _, f := range c.IdentityFiles {
			p, err := expand(f)
			if err != nil {
				return target{}, err
			}
			t.identityFiles = append(t.identityFiles, p)
		}
	} else {
		for _, f := range getAll("IdentityFile") {
			p, err := expand(f)
			if err != nil {
				return target{}, err
			}
			t.identityFiles = append(t.identityFiles, p)
		}
		if len(t.identityFiles) == 0 && sc != nil {
			// OpenSSH's defaults, when a configuration file is honoured.
			for _, f := range []string{"~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa"} {
				p, err := expand(f)
				if err != nil {
					return target{}, err
				}
				t.identityFiles = append(t.identityFiles, p)
			}
		}
		t.idOptional = true
	}
	khs := c.KnownHostsFiles
	if len(khs) == 0 {
		t.khOptional = true
		for _, v := range getAll("UserKnownHostsFile") {
			khs = append(khs, strings.Fields(v)...)
		}
	}
	if len(khs) == 0 && sc != nil {
		khs = []string{"~/.ssh/known_hosts"}
	}
	for _, f := range khs {
		p, err := expand(f)
		if err != nil {
			return target{}, err
		}
		t.knownHosts = append(t.knownHosts, p)
	}
	jump := c.ProxyJump
	if jump == "" {
		jump = get("ProxyJump")
	}
	if jump != "" && jump != "none" {
		for _, hop := range strings.Split(jump, ",") {
			hc, err := parseJump(strings.TrimSpace(hop))
			if err != nil {
				return target{}, err
			}
			hc.KnownHostsFiles = c.KnownHostsFiles
			hc.HomeDir = c.HomeDir
			if len(c.IdentityFiles) > 0 {
				hc.IdentityFiles = c.IdentityFiles
			}
			ht, err := resolveWith(hc, sc, depth+1)
			if err != nil {
				return target{}, fmt.Errorf("ssh: ProxyJump %s: %w", hop, err)
			}
			// A hop's own ProxyJump is already part of the list.
			ht.jumps = nil
			t.jumps = append(t.jumps, ht)
		}
	}
	return t, nil
}

// validHostname rejects names no resolver accepts and that would make
// a malformed host:port.
func validHostname(h string) bool {
	if h == "" {
		return false
	}
	for _, r := range h {
		if r <= ' ' || r == 0x7f || strings.ContainsRune("[]@/\\,", r) {
			return false
		}
	}
	return true
}

// parseJump parses one ProxyJump hop: [user@]host[:port] or ssh://[user@]host[:port].
func parseJump(s string) (Config, error) {
	s = strings.TrimPrefix(s, "ssh://")
	if s == "" {
		return Config{}, errors.New("ssh: empty ProxyJump hop")
	}
	var c Config
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		c.User, s = s[:i], s[i+1:]
	}
	c.Host = s
	if h, p, err := net.SplitHostPort(s); err == nil {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return Config{}, fmt.Errorf("ssh: bad ProxyJump port in %q", s)
		}
		c.Host, c.Port = h, n
	}
	if c.Host == "" {
		return Config{}, fmt.Errorf("ssh: bad ProxyJump hop %q", s)
	}
	return c, nil
}

// withDefaults fills zero durations and limits.
func (c Config) withDefaults() Config {
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.KeepAliveInterval == 0 {
		c.KeepAliveInterval = DefaultKeepAliveInterval
	}
	if c.KeepAliveMax <= 0 {
		c.KeepAliveMax = DefaultKeepAliveMax
	}
	if c.MaxSessions <= 0 {
		c.MaxSessions = DefaultMaxSessions
	}
	if c.ReconnectTimeout == 0 {
		c.ReconnectTimeout = DefaultReconnectTimeout
	}
	return c
}
