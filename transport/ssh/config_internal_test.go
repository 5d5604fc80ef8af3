package ssh

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kevinburke/ssh_config"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const sampleSSHConfig = `Host fe1
  HostName 10.0.0.11
  User oneadmin
  Port 2222
  IdentityFile ~/.ssh/fe1_ed25519
  IdentityFile /etc/keys/%h_%r
  UserKnownHostsFile /etc/upgradekit/known_hosts ~/.ssh/known_hosts2
  ProxyJump jump@bastion:2200,hop2

Host bastion
  HostName 10.0.0.1

Host hop2
  HostName 10.0.0.2
  User hopper
  Port 2022

Host direct
  ProxyJump none

Host *
  User root
`

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "config")
	require.NoError(t, os.WriteFile(f, []byte(text), 0o644))
	return f
}

func TestResolveSSHConfig(t *testing.T) {
	t.Parallel()
	file := writeConfig(t, sampleSSHConfig)
	tg, err := resolve(Config{Host: "fe1", ConfigFile: file, HomeDir: "/home/op"})
	require.NoError(t, err)
	assert.Equal(t, "fe1", tg.name)
	assert.Equal(t, "10.0.0.11:2222", tg.addr)
	assert.Equal(t, "oneadmin", tg.user)
	assert.Equal(t, []string{"/home/op/.ssh/fe1_ed25519", "/etc/keys/10.0.0.11_oneadmin"}, tg.identityFiles)
	assert.True(t, tg.idOptional)
	assert.Equal(t, []string{"/etc/upgradekit/known_hosts", "/home/op/.ssh/known_hosts2"}, tg.knownHosts)
	require.Len(t, tg.jumps, 2)
	assert.Equal(t, "10.0.0.1:2200", tg.jumps[0].addr)
	assert.Equal(t, "jump", tg.jumps[0].user)
	assert.Equal(t, "10.0.0.2:2022", tg.jumps[1].addr)
	assert.Equal(t, "hopper", tg.jumps[1].user)
}

func TestResolveExplicitFieldsWin(t *testing.T) {
	t.Parallel()
	file := writeConfig(t, sampleSSHConfig)
	tests := []struct {
		name    string
		cfg     Config
		addr    string
		user    string
		jumps   int
		wantErr string
	}{
		{name: "fields over file", cfg: Config{Host: "fe1", Port: 22, User: "root", ProxyJump: "none", IdentityFiles: []string{"/k"}}, addr: "10.0.0.11:22", user: "root"},
		{name: "port in host", cfg: Config{Host: "fe1:2300"}, addr: "10.0.0.11:2300", user: "oneadmin", jumps: 2},
		{name: "unknown alias keeps name, Host * user", cfg: Config{Host: "other"}, addr: "other:22", user: "root"},
		{name: "ProxyJump none", cfg: Config{Host: "direct"}, addr: "direct:22", user: "root"},
		{name: "ipv6", cfg: Config{Host: "[2001:db8::1]:2200"}, addr: "[2001:db8::1]:2200", user: "root"},
		{name: "host and port disagree", cfg: Config{Host: "fe1:2300", Port: 22}, wantErr: "disagree"},
		{name: "bad port", cfg: Config{Host: "fe1:99999"}, wantErr: "bad port"},
		{name: "no host", cfg: Config{}, wantErr: "no Host"},
		{name: "bad jump", cfg: Config{Host: "x", ProxyJump: "a@"}, wantErr: "ProxyJump"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.cfg.ConfigFile = file
			tg, err := resolve(tt.cfg)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.addr, tg.addr)
			assert.Equal(t, tt.user, tg.user)
			assert.Len(t, tg.jumps, tt.jumps)
		})
	}
}

func TestResolveWithoutConfigFileReadsNothing(t *testing.T) {
	t.Parallel()
	tg, err := resolve(Config{Host: "h", User: "u"})
	require.NoError(t, err)
	assert.Equal(t, "h:22", tg.addr)
	assert.Empty(t, tg.identityFiles)
	assert.Empty(t, tg.knownHosts, "no implicit ~/.ssh/known_hosts without a config file")
}

func TestParseJump(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in         string
		user, host string
		port       int
		ok         bool
	}{
		{"bastion", "", "bastion", 0, true},
		{"me@bastion:2200", "me", "bastion", 2200, true},
		{"ssh://me@bastion:2200", "me", "bastion", 2200, true},
		{"[::1]:22", "", "::1", 22, true},
		{"a@b@c", "a@b", "c", 0, true},
		{"", "", "", 0, false},
		{"me@", "", "", 0, false},
		{"h:0", "", "", 0, false},
	}
	for _, tt := range tests {
		c, err := parseJump(tt.in)
		if !tt.ok {
			assert.Error(t, err, tt.in)
			continue
		}
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.user, c.User, tt.in)
		assert.Equal(t, tt.host, c.Host, tt.in)
		assert.Equal(t, tt.port, c.Port, tt.in)
	}
}

// FuzzResolve feeds arbitrary OpenSSH configurations and ProxyJump values:
// resolution must never panic, and a success must yield dialable
// host:port addresses for the target and every hop.
func FuzzResolve(f *testing.F) {
	f.Add(sampleSSHConfig, "fe1", "")
	f.Add("Host *\n  Port 0\n", "x", "a@b:1,c")
	f.Add("Host a\n  ProxyJump a\n", "a", "")
	f.Add("Host a\n  HostName %h.example\n", "a:22", "ssh://u@[::1]:2")
	f.Fuzz(func(t *testing.T, text, host, jump string) {
		sc, err := ssh_config.Decode(strings.NewReader(text))
		if err != nil {
			return
		}
		tg, err := resolveWith(Config{Host: host, ProxyJump: jump, User: "u", HomeDir: "/h"}, sc, 0)
		if err != nil {
			return
		}
		for _, x := range append(tg.jumps, tg) {
			if _, _, err := net.SplitHostPort(x.addr); err != nil {
				t.Fatalf("resolved %q to bad address %q: %v", host, x.addr, err)
			}
		}
	})
}
