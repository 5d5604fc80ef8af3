package ssh_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/upgradekit/upgradekit/internal/testbed"
	"github.com/upgradekit/upgradekit/transport"
	sshx "github.com/upgradekit/upgradekit/transport/ssh"
)

func TestRunOutputExitEnvDirStdin(t *testing.T) {
	t.Parallel()
	b := newBed(t, 1, func(c *testbed.Config) { c.Env = map[string]string{"ROLE": "leader"} })
	h := b.Hosts[0]
	c := newClient(t, hostConfig(b, h))
	ctx := t.Context()

	tests := []struct {
		name       string
		cmd        transport.Command
		wantOut    string
		wantErr    string
		wantCode   int
		wantSignal string
	}{
		{name: "stdout", cmd: transport.Cmd("echo", "hello", "world"), wantOut: "hello world\n"},
		{name: "setenv per host", cmd: transport.Shell(`echo "$UPGRADEKIT_HOST $ROLE"`), wantOut: "h0 leader\n"},
		{name: "exit code and stderr", cmd: transport.Shell("echo oops >&2; exit 3"), wantErr: "oops\n", wantCode: 3},
		{name: "env", cmd: transport.Command{Path: "/bin/sh", Args: []string{"-c", `printf %s "$A"`}, Env: map[string]string{"A": "x y $(id)"}}, wantOut: "x y $(id)"},
		{name: "dir", cmd: transport.Command{Path: "pwd", Dir: "/etc"}, wantOut: "/etc\n"},
		{name: "stdin", cmd: transport.Command{Path: "cat", Stdin: strings.NewReader("in put\n")}, wantOut: "in put\n"},
		{name: "hostile args", cmd: transport.Cmd("printf", "%s|", "$(id)", "`id`", "it's", "a\nb", "-n", "ü"), wantOut: "$(id)|`id`|it's|a\nb|-n|ü|"},
		{name: "sudo as root", cmd: transport.Cmd("id", "-u").AsRoot(), wantOut: "0\n"},
		{name: "sudo as user", cmd: transport.Cmd("id", "-un").AsUser("nobody"), wantOut: "nobody\n"},
		{name: "killed by signal", cmd: transport.Shell("kill -TERM $$"), wantCode: -1, wantSignal: "TERM"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := c.Run(ctx, tt.cmd)
			require.NoError(t, err)
			assert.Equal(t, tt.wantOut, string(res.Stdout))
			assert.Equal(t, tt.wantErr, string(res.Stderr))
			assert.Equal(t, tt.wantCode, res.ExitCode)
			assert.Equal(t, tt.wantSignal, res.Signal)
			assert.Equal(t, "h0", res.Host)
		})
	}
}

func TestSecretEnvNotInArgv(t *testing.T) {
	t.Parallel()
	b := newBed(t, 1, nil)
	c := newClient(t, hostConfig(b, b.Hosts[0]))
	secret := "s3cr3t-" + hex.EncodeToString([]byte(t.Name()))
	cmd := transport.Shell(`f=$(mktemp); printf '%s\n' "$PW" >"$f"; n=$(grep -l -a -F -f "$f" /proc/[0-9]*/cmdline 2>/dev/null | wc -l); rm -f "$f"; echo "$n"; echo "$PW"`)
	cmd.SecretEnv = map[string]transport.Secret{"PW": transport.NewSecret(secret)}
	res, err := c.Run(t.Context(), cmd)
	require.NoError(t, err)
	assert.Equal(t, "0\n"+secret+"\n", string(res.Stdout), "no process may carry the secret in argv")
	assert.NotContains(t, res.Cmd, secret)
}

func TestHostKeys(t *testing.T) {
	t.Parallel()
	b := newBed(t, 1, nil)
	h := b.Hosts[0]
	dir := t.TempDir()

	other, err := testbed.GenerateKey(filepath.Join(dir, "other"), nil)
	require.NoError(t, err)
	changed := filepath.Join(dir, "changed")
	require.NoError(t, os.WriteFile(changed, []byte(knownhosts.Line([]string{knownhosts.Normalize(h.HostPort())}, other.PublicKey())+"\n"), 0o644))
	empty := filepath.Join(dir, "empty")
	require.NoError(t, os.WriteFile(empty, nil, 0o644))

	t.Run("unknown host refused", func(t *testing.T) {
		t.Parallel()
		cfg := hostConfig(b, h)
		cfg.KnownHostsFiles = []string{empty}
		_, err := newClient(t, cfg).Run(t.Context(), transport.Cmd("true"))
		require.ErrorIs(t, err, transport.ErrUnknownHostKey)
		assert.NotErrorIs(t, err, transport.ErrHostKeyChanged)
		assert.Contains(t, err.Error(), empty, "names the files it looked in")
	})
	// A missing known_hosts file is named before any host is dialled,
	// not reported later as an unknown host key.
	t.Run("missing known_hosts file", func(t *testing.T) {
		t.Parallel()
		missing := filepath.Join(dir, "missing")
		rec := &recordingDialer{}
		for _, files := range [][]string{{missing}, {b.KnownHostsFile, missing}} {
			cfg := hostConfig(b, h)
			cfg.KnownHostsFiles = files
			_, err := sshx.New(cfg, sshx.WithDialer(rec))
			require.ErrorIs(t, err, sshx.ErrKnownHostsMissing)
			assert.ErrorIs(t, err, os.ErrNotExist)
			assert.Contains(t, err.Error(), missing)
			assert.NotErrorIs(t, err, transport.ErrUnknownHostKey)
		}
		// Through an OpenSSH configuration: one of its files is enough.
		sshCfg := filepath.Join(t.TempDir(), "config")
		require.NoError(t, os.WriteFile(sshCfg, []byte("UserKnownHostsFile "+missing+" "+b.KnownHostsFile+"\n"), 0o600))
		cfg := hostConfig(b, h)
		cfg.KnownHostsFiles, cfg.ConfigFile = nil, sshCfg
		_, err := newClient(t, cfg).Run(t.Context(), transport.Cmd("true"))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(sshCfg, []byte("UserKnownHostsFile "+missing+"\n"), 0o600))
		_, err = sshx.New(cfg)
		require.ErrorIs(t, err, sshx.ErrKnownHostsMissing)
		// TOFU creates its file: nothing needs to exist.
		cfg.KnownHostsFiles = []string{missing}
		_, err = sshx.New(cfg, sshx.WithHostKeyPolicy(sshx.TrustOnFirstUse(filepath.Join(t.TempDir(), "tofu"))))
		require.NoError(t, err)
		assert.Empty(t, rec.take(), "no host was dialled")
	})
	// known_hosts holds a key of another type than the host offers: the
	// algorithms are pinned to the known type, so the handshake finds no
	// common host key algorithm, which is a changed key.
	t.Run("known key of another type", func(t *testing.T) {
		t.Parallel()
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		pub, err := ssh.NewPublicKey(&priv.PublicKey)
		require.NoError(t, err)
		kh := filepath.Join(t.TempDir(), "known_hosts")
		require.NoError(t, os.WriteFile(kh, []byte(knownhosts.Line([]string{knownhosts.Normalize(h.HostPort())}, pub)+"\n"), 0o644))
		cfg := hostConfig(b, h)
		cfg.KnownHostsFiles = []string{kh}
		_, err = newClient(t, cfg).Run(t.Context(), transport.Cmd("true"))
		require.ErrorIs(t, err, transport.ErrHostKeyChanged)
		assert.NotErrorIs(t, err, transport.ErrUnknownHostKey)
		assert.Contains(t, err.Error(), "ssh-ed25519")
		assert.Contains(t, err.Error(), ssh.FingerprintSHA256(pub))
		assert.Contains(t, err.Error(), kh+":1")
	})
	t.Run("changed key refused even with TOFU", func(t *testing.T) {
		t.Parallel()
		cfg := hostConfig(b, h)
		cfg.KnownHostsFiles = []string{changed}
		for _, p := range []*sshx.HostKeyPolicy{sshx.Strict(), sshx.TrustOnFirstUse(filepath.Join(t.TempDir(), "tofu"))} {
			_, err := newClient(t, cfg, sshx.WithHostKeyPolicy(p)).Run(t.Context(), transport.Cmd("true"))
			require.ErrorIs(t, err, transport.ErrHostKeyChanged)
			assert.Contains(t, err.Error(), ssh.FingerprintSHA256(h.HostKey))
		}
	})
	t.Run("TOFU records then checks", func(t *testing.T) {
		t.Parallel()
		tofu := filepath.Join(t.TempDir(), "sub", "known_hosts")
		cfg := hostConfig(b, h)
		cfg.KnownHostsFiles = []string{empty}
		_, err := newClient(t, cfg, sshx.WithHostKeyPolicy(sshx.TrustOnFirstUse(tofu))).Run(t.Context(), transport.Cmd("true"))
		require.NoError(t, err)
		recorded, err := os.ReadFile(tofu)
		require.NoError(t, err)
		assert.Equal(t, h.KnownHostsLine()+"\n", string(recorded))
		// Strict now accepts it from the recorded file.
		cfg.KnownHostsFiles = []string{tofu}
		_, err = newClient(t, cfg).Run(t.Context(), transport.Cmd("true"))
		require.NoError(t, err)
	})
}

func TestWrongKeyIsAuthFailed(t *testing.T) {
	t.Parallel()
	b := newBed(t, 1, nil)
	cfg := hostConfig(b, b.Hosts[0])
	cfg.IdentityFiles = []string{filepath.Join(t.TempDir(), "wrong")}
	_, err := testbed.GenerateKey(cfg.IdentityFiles[0], nil)
	require.NoError(t, err)
	_, err = newClient(t, cfg).Run(t.Context(), transport.Cmd("true"))
	require.ErrorIs(t, err, transport.ErrAuthFailed)
	assert.NotErrorIs(t, err, transport.ErrConnectionLost)
}

func TestEncryptedKeyWithPassphrase(t *testing.T) {
	t.Parallel()
	b := newBed(t, 1, nil)
	key := filepath.Join(t.TempDir(), "enc")
	s, err := testbed.GenerateKey(key, []byte("open sesame"))
	require.NoError(t, err)
	require.NoError(t, b.AuthorizeKey(s.PublicKey()))
	cfg := hostConfig(b, b.Hosts[0])
	cfg.IdentityFiles = []string{key}

	_, err = sshx.New(cfg)
	require.Error(t, err, "an encrypted key without a passphrase callback is a config error")

	var asked []string
	c := newClient(t, cfg, sshx.WithPassphrase(func(file string) ([]byte, error) {
		asked = append(asked, file)
		return []byte("open sesame"), nil
	}))
	out, err := transport.Output(t.Context(), c, transport.Cmd("echo", "ok"))
	require.NoError(t, err)
	assert.Equal(t, "ok\n", string(out))
	assert.Equal(t, []string{key}, asked)

	_, err = sshx.New(cfg, sshx.WithPassphrase(func(string) ([]byte, error) { return []byte("wrong"), nil }))
	require.Error(t, err)
}

func TestAgentAuth(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("ssh-agent"); err != nil {
		t.Skip("no ssh-agent")
	}
	b := newBed(t, 1, nil)
	sock := filepath.Join(t.TempDir(), "agent.sock")
	cmd := exec.Command("ssh-agent", "-a", sock, "-D")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // even if the test binary is killed
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var conn net.Conn
	require.Eventually(t, func() bool {
		c, err := net.Dial("unix", sock)
		if err != nil {
			return false
		}
		conn = c
		return true
	}, 10*time.Second, 10*time.Millisecond, "ssh-agent never listened")

	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	defer conn.Close()
	ag := agent.NewClient(conn) // one client per connection: it pipelines requests
	require.NoError(t, ag.Add(agent.AddedKey{PrivateKey: priv}))
	pub, err := ssh.NewPublicKey(priv.Public())
	require.NoError(t, err)
	require.NoError(t, b.AuthorizeKey(pub))

	cfg := hostConfig(b, b.Hosts[0])
	cfg.IdentityFiles = nil
	cfg.UseAgent, cfg.AgentSocket = true, sock
	out, err := transport.Output(t.Context(), newClient(t, cfg), transport.Cmd("echo", "agent"))
	require.NoError(t, err)
	assert.Equal(t, "agent\n", string(out))

	// Agent and key file together: the agent's key is tried first and
	// refused, the file's is accepted on the same connection attempt.
	_, other, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	require.NoError(t, ag.RemoveAll())
	require.NoError(t, ag.Add(agent.AddedKey{PrivateKey: other}))
	cfg.IdentityFiles = []string{b.ClientKeyFile}
	out, err = transport.Output(t.Context(), newClient(t, cfg), transport.Cmd("echo", "both"))
	require.NoError(t, err)
	assert.Equal(t, "both\n", string(out))
}

func TestKilledMidCommandIsConnectionLostStarted(t *testing.T) {
	t.Parallel()
	b := newBed(t, 1, nil)
	h := b.Hosts[0]
	cfg := hostConfig(b, h)
	cfg.ReconnectTimeout = -1
	c := newClient(t, cfg)
	started := make(chan struct{})
	cmd := transport.Shell("echo started; exec sleep 60")
	cmd.Stdout = writerFunc(func(p []byte) (int, error) {
		if bytes.Contains(p, []byte("started")) {
			close(started)
		}
		return len(p), nil
	})
	errc := make(chan error, 1)
	go func() { _, err := c.Run(t.Context(), cmd); errc <- err }()
	select {
	case <-started:
	case err := <-errc:
		t.Fatalf("command ended early: %v", err)
	}
	require.NoError(t, h.Kill())
	err := <-errc
	require.ErrorIs(t, err, transport.ErrConnectionLost)
	lost, ok := errors.AsType[*transport.ConnectionLostError](err)
	require.True(t, ok)
	assert.True(t, lost.Started, "the command was running: it may have had effects")
	assert.Equal(t, "h0", lost.Host)
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestRestartedHostReconnects(t *testing.T) {
	t.Parallel()
	b := newBed(t, 1, nil)
	h := b.Hosts[0]
	c := newClient(t, hostConfig(b, h))
	out, err := transport.Output(t.Context(), c, transport.Shell("echo $PPID"))
	require.NoError(t, err)
	require.NoError(t, h.Restart(t.Context()))
	out2, err := transport.Output(t.Context(), c, transport.Shell("echo $PPID"))
	require.NoError(t, err, "a connection that died between commands is re-opened")
	assert.NotEqual(t, string(out), string(out2), "a new sshd session process")
	st := c.Stats()
	assert.EqualValues(t, 2, st.Dials)
	assert.True(t, st.Connected)
}

func TestReconnectWaitsForSlowRestart(t *testing.T) {
	t.Parallel()
	b := newBed(t, 1, nil)
	h := b.Hosts[0]
	c := newClient(t, hostConfig(b, h))
	require.NoError(t, c.Connect(t.Context()))
	require.NoError(t, h.Kill())
	require.Eventually(t, func() bool { return !c.Connected() }, 10*time.Second, 10*time.Millisecond)
	var wg sync.WaitGroup
	wg.Go(func() {
		time.Sleep(300 * time.Millisecond)
		assert.NoError(t, h.Start(context.Background()))
	})
	out, err := transport.Output(t.Context(), c, transport.Cmd("echo", "back"))
	wg.Wait()
	require.NoError(t, err)
	assert.Equal(t, "back\n", string(out))
	assert.EqualValues(t, 1, c.Stats().Reconnects)
}

func TestProxyJump(t *testing.T) {
	t.Parallel()
	b := newBed(t, 2, nil)
	bastion, target := b.Hosts[0], b.Hosts[1]
	// The bastion only forwards to the target.
	bastion.ExtraConfig = append(bastion.ExtraConfig, "PermitOpen "+target.HostPort())
	require.NoError(t, bastion.WriteConfig())
	require.NoError(t, bastion.Restart(t.Context()))

	rec := &recordingDialer{}
	cases := map[string]sshx.Config{}
	cfg := hostConfig(b, target)
	cfg.ProxyJump = "root@" + bastion.HostPort()
	cases["config field"] = cfg
	cases["ssh_config"] = sshx.Config{Host: target.Name, ConfigFile: writeSSHConfig(t, b, fmt.Sprintf("Host %s\n  ProxyJump %s\n", target.Name, bastion.Name))}
	for name, cfg := range cases {
		t.Run(name, func(t *testing.T) {
			out, err := transport.Output(t.Context(), newClient(t, cfg, sshx.WithDialer(rec)), transport.Shell(`echo $UPGRADEKIT_HOST`))
			require.NoError(t, err)
			assert.Equal(t, "h1\n", string(out))
			assert.Equal(t, []string{bastion.HostPort()}, rec.take(), "only the bastion is dialled directly")
		})
	}
	t.Run("unknown bastion key", func(t *testing.T) {
		kh := filepath.Join(t.TempDir(), "kh")
		require.NoError(t, os.WriteFile(kh, []byte(target.KnownHostsLine()+"\n"), 0o644))
		cfg := hostConfig(b, target)
		cfg.ProxyJump = bastion.HostPort()
		cfg.KnownHostsFiles = []string{kh}
		_, err := newClient(t, cfg).Run(t.Context(), transport.Cmd("true"))
		require.ErrorIs(t, err, transport.ErrUnknownHostKey)
		assert.Contains(t, err.Error(), "bastion")
	})
}

type recordingDialer struct {
	mu    sync.Mutex
	addrs []string
	d     net.Dialer
}

func (r *recordingDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	r.mu.Lock()
	r.addrs = append(r.addrs, addr)
	r.mu.Unlock()
	return r.d.DialContext(ctx, network, addr)
}

func (r *recordingDialer) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	a := r.addrs
	r.addrs = nil
	return a
}

// writeSSHConfig writes extra followed by the bed's client configuration.
func writeSSHConfig(t *testing.T, b *testbed.Bed, extra string) string {
	t.Helper()
	base, err := os.ReadFile(b.SSHConfigFile)
	require.NoError(t, err)
	f := filepath.Join(t.TempDir(), "config")
	require.NoError(t, os.WriteFile(f, append([]byte(extra), base...), 0o644))
	return f
}

func TestSSHConfigFileEndToEnd(t *testing.T) {
	t.Parallel()
	b := newBed(t, 1, nil)
	c := newClient(t, sshx.Config{Host: "h0", ConfigFile: b.SSHConfigFile})
	assert.Equal(t, b.Hosts[0].HostPort(), c.Addr())
	out, err := transport.Output(t.Context(), c, transport.Cmd("whoami"))
	require.NoError(t, err)
	assert.Equal(t, "root\n", string(out))
}

func TestKeepAliveDetectsDeadPeer(t *testing.T) {
	t.Parallel()
	b := newBed(t, 1, nil)
	h := b.Hosts[0]
	cfg := hostConfig(b, h)
	cfg.KeepAliveInterval, cfg.KeepAliveMax = 100*time.Millisecond, 3
	cfg.ReconnectTimeout = -1
	c := newClient(t, cfg)
	started := make(chan struct{})
	cmd := transport.Shell("echo started; exec sleep 60")
	cmd.Stdout = writerFunc(func(p []byte) (int, error) { close(started); return len(p), nil })
	errc := make(chan error, 1)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	go func() { _, err := c.Run(ctx, cmd); errc <- err }()
	select {
	case <-started:
	case err := <-errc:
		t.Fatalf("command ended early: %v", err)
	}
	require.NoError(t, h.Pause())
	t.Cleanup(func() { _ = h.Resume() })
	err := <-errc
	require.ErrorIs(t, err, transport.ErrConnectionLost, "keepalive, not the 30s context, must end the command")
	require.NoError(t, ctx.Err())
	lost, _ := errors.AsType[*transport.ConnectionLostError](err)
	assert.True(t, lost.Started)
	assert.False(t, c.Connected())
}

func TestConcurrentRunsCappedBelowMaxSessions(t *testing.T) {
	t.Parallel()
	b := newBed(t, 1, func(c *testbed.Config) { c.MaxSessions = 10 })
	c := newClient(t, hostConfig(b, b.Hosts[0]))
	var wg sync.WaitGroup
	var ok atomic.Int32
	errs := make(chan error, 30)
	for i := range 30 {
		wg.Go(func() {
			out, err := transport.Output(t.Context(), c, transport.Shell(`sleep 0.2; echo "$1"`, fmt.Sprint(i)))
			if err == nil && string(out) == fmt.Sprintf("%d\n", i) {
				ok.Add(1)
			} else if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	assert.EqualValues(t, 30, ok.Load())
	assert.EqualValues(t, 1, c.Stats().Dials, "one connection carries every session")
}

func TestCancelStopsRemoteCommand(t *testing.T) {
	t.Parallel()
	b := newBed(t, 1, nil)
	h := b.Hosts[0]
	c := newClient(t, hostConfig(b, h))
	marker := "/root/cancel-marker"
	started := make(chan struct{})
	cmd := transport.Shell(`echo started; sleep 37.5; touch "$1"`, marker)
	cmd.Stdout = writerFunc(func(p []byte) (int, error) { close(started); return len(p), nil })
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { _, err := c.Run(ctx, cmd); errc <- err }()
	select {
	case <-started:
	case err := <-errc:
		t.Fatalf("command ended early: %v", err)
	}
	cancel()
	err := <-errc
	require.ErrorIs(t, err, context.Canceled)
	// The connection survives and the remote shell is gone.
	out, err := transport.Output(t.Context(), c, transport.Shell(`grep -alzx '3[7]\.5' /proc/[0-9]*/cmdline >/dev/null && echo running || echo gone`))
	require.NoError(t, err)
	assert.Equal(t, "gone\n", string(out))
	_, err = os.Stat(h.Path(marker))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

// The connection is up before the timed command, so the timeout can
// only expire in the command (which never ends by itself): however loaded
// the machine, the error is the command's *TimeoutError.
func TestCommandTimeout(t *testing.T) {
	t.Parallel()
	b := newBed(t, 1, nil)
	c := newClient(t, hostConfig(b, b.Hosts[0]))
	require.NoError(t, c.Connect(t.Context()))
	cmd := transport.Cmd("sleep", "3600")
	cmd.Timeout = 200 * time.Millisecond
	_, err := c.Run(t.Context(), cmd)
	require.ErrorIs(t, err, transport.ErrTimeout)
	te, ok := errors.AsType[*transport.TimeoutError](err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, "h0", te.Host)
	assert.Equal(t, cmd.Timeout, te.After)
	require.NoError(t, t.Context().Err())
}

// A command timeout that expires during the handshake (here: sshd frozen,
// so it never ends) is still the command's *TimeoutError: the handshake's
// connection deadline is the command's, and whichever of the two fires
// first, the error says the command timed out. Several clients race it.
func TestCommandTimeoutDuringHandshake(t *testing.T) {
	t.Parallel()
	b := newBed(t, 1, nil)
	h := b.Hosts[0]
	require.NoError(t, h.Pause())
	t.Cleanup(func() { _ = h.Resume() })
	cfg := hostConfig(b, h)
	cfg.ConnectTimeout = time.Hour
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			cmd := transport.Cmd("true")
			cmd.Timeout = 100 * time.Millisecond
			_, err := newClient(t, cfg).Run(t.Context(), cmd)
			assert.ErrorIs(t, err, transport.ErrTimeout)
			te, ok := errors.AsType[*transport.TimeoutError](err)
			if assert.True(t, ok, "%v", err) {
				assert.Equal(t, cmd.Timeout, te.After)
			}
		})
	}
	wg.Wait()
}

func TestDialContextThroughHost(t *testing.T) {
	t.Parallel()
	b := newBed(t, 1, nil)
	c := newClient(t, hostConfig(b, b.Hosts[0]))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = io.Copy(conn, conn)
	}()
	conn, err := c.DialContext(t.Context(), "tcp", ln.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.Write([]byte("ping"))
	require.NoError(t, err)
	buf := make([]byte, 4)
	_, err = io.ReadFull(conn, buf)
	require.NoError(t, err)
	assert.Equal(t, "ping", string(buf))
}

func TestUploadDownload(t *testing.T) {
	t.Parallel()
	b := newBed(t, 1, nil)
	h := b.Hosts[0]
	c := newClient(t, hostConfig(b, h))
	data := make([]byte, 3<<20+17)
	_, _ = rand.Read(data)
	sum := sha256.Sum256(data)
	tr, err := transport.Upload(t.Context(), c, "/root/up.bin", bytes.NewReader(data), transport.FileOptions{Mode: 0o600})
	require.NoError(t, err)
	assert.Equal(t, hex.EncodeToString(sum[:]), tr.SHA256)
	assert.EqualValues(t, len(data), tr.Bytes)
	got, err := os.ReadFile(h.Path("/root/up.bin"))
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data, got))
	fi, err := os.Stat(h.Path("/root/up.bin"))
	require.NoError(t, err)
	assert.EqualValues(t, 0o600, fi.Mode().Perm())

	var buf bytes.Buffer
	tr, err = transport.Download(t.Context(), c, "/root/up.bin", &buf, transport.FileOptions{})
	require.NoError(t, err)
	assert.Equal(t, hex.EncodeToString(sum[:]), tr.SHA256)
	assert.True(t, bytes.Equal(data, buf.Bytes()))

	// A reader failing halfway never installs a short file.
	_, err = transport.Upload(t.Context(), c, "/root/short.bin", io.MultiReader(bytes.NewReader(data[:1<<20]), errReader{}), transport.FileOptions{})
	require.Error(t, err)
	_, err = os.Stat(h.Path("/root/short.bin"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestPoolFanOutWithDeadHost(t *testing.T) {
	t.Parallel()
	b := newBed(t, 4, nil)
	require.NoError(t, b.Hosts[2].Kill())
	base := sshx.Config{User: "root", IdentityFiles: []string{b.ClientKeyFile}, KnownHostsFiles: []string{b.KnownHostsFile}}
	p, err := sshx.NewPool(base)
	require.NoError(t, err)
	defer p.Close()
	for _, h := range b.Hosts {
		cfg := base.Clone()
		cfg.Host = h.HostPort()
		require.NoError(t, p.Add(h.Name, cfg))
	}
	res, err := sshx.Map(t.Context(), p, b.Names(), 2, func(ctx context.Context, host string, tr transport.Transport) (string, error) {
		out, err := transport.Output(ctx, tr, transport.Shell("echo $UPGRADEKIT_HOST"))
		return strings.TrimSpace(string(out)), err
	})
	require.Error(t, err)
	require.Len(t, res, 4)
	for i, r := range res {
		assert.Equal(t, b.Hosts[i].Name, r.Host)
		if i == 2 {
			assert.Error(t, r.Err)
			continue
		}
		assert.NoError(t, r.Err)
		assert.Equal(t, r.Host, r.Value)
	}
	assert.ErrorIs(t, err, syscall.ECONNREFUSED)
	he, ok := errors.AsType[*transport.HostError](err)
	require.True(t, ok)
	assert.Equal(t, "h2", he.Host)
	st := p.Stats()
	assert.Equal(t, 4, st.Clients)
	assert.Equal(t, 3, st.Connected)

	// Each over the live hosts reuses the pooled connections.
	require.NoError(t, p.Each(t.Context(), []string{"h0", "h1", "h3"}, 0, func(ctx context.Context, _ string, tr transport.Transport) error {
		return transport.Check(ctx, tr, transport.Cmd("true"))
	}))
	assert.EqualValues(t, 4, p.Stats().Dials)
	require.NoError(t, p.Close())
	_, err = p.Get("h0")
	assert.ErrorIs(t, err, transport.ErrClosed)
}

func TestCloseTwiceAndRunAfterClose(t *testing.T) {
	t.Parallel()
	b := newBed(t, 1, nil)
	c := newClient(t, hostConfig(b, b.Hosts[0]))
	require.NoError(t, c.Connect(t.Context()))
	require.NoError(t, c.Close())
	require.NoError(t, c.Close())
	_, err := c.Run(t.Context(), transport.Cmd("true"))
	assert.ErrorIs(t, err, transport.ErrClosed)
}

func TestSecretsNeverLogged(t *testing.T) {
	t.Parallel()
	b := newBed(t, 1, nil)
	core, logs := observer.New(zapcore.DebugLevel)
	c := newClient(t, hostConfig(b, b.Hosts[0]), sshx.WithLogger(zap.New(core)))
	secret, token := "pw-"+rand.Text(), "tok-"+rand.Text()
	cmd := transport.Shell(`echo "$PW" >&2; exit 4`, "--token="+token)
	cmd.SecretEnv = map[string]transport.Secret{"PW": transport.NewSecret(secret)}
	cmd.Redact = []string{token}
	res, err := c.Run(t.Context(), cmd)
	require.NoError(t, err)
	assert.Equal(t, 4, res.ExitCode)
	err = transport.ResultError(cmd, res)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), secret)
	assert.NotContains(t, err.Error(), token)

	cmd.Timeout = time.Nanosecond
	_, err = c.Run(t.Context(), cmd)
	require.ErrorIs(t, err, transport.ErrTimeout)
	assert.NotContains(t, err.Error(), token)

	require.NotZero(t, logs.Len())
	for _, e := range logs.All() {
		line := e.Message + fmt.Sprint(e.ContextMap())
		assert.NotContains(t, line, secret)
		assert.NotContains(t, line, token)
	}
}

// A host with an ECDSA and an ed25519 key, known only by the ed25519 one:
// x/crypto prefers ECDSA, so without pinning HostKeyAlgorithms the key
// would look changed.
func TestHostKeyAlgorithmsPinned(t *testing.T) {
	t.Parallel()
	ecKey := filepath.Join(t.TempDir(), "ssh_host_ecdsa_key")
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	blk, err := ssh.MarshalPrivateKey(priv, "")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(ecKey, pem.EncodeToMemory(blk), 0o600))
	b := newBed(t, 1, func(c *testbed.Config) { c.ExtraConfig = []string{"HostKey " + ecKey} })
	out, err := transport.Output(t.Context(), newClient(t, hostConfig(b, b.Hosts[0])), transport.Cmd("echo", "pinned"))
	require.NoError(t, err)
	assert.Equal(t, "pinned\n", string(out))
}

// Stdin reaches every one of many concurrent short commands (Run starts
// feeding it only after the exec request succeeded, as x/crypto does).
func TestStdinReachesConcurrentCommands(t *testing.T) {
	t.Parallel()
	b := newBed(t, 1, nil)
	c := newClient(t, hostConfig(b, b.Hosts[0]))
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			cmd := transport.Cmd("cat")
			cmd.Stdin = strings.NewReader(fmt.Sprint(i))
			out, err := transport.Output(t.Context(), c, cmd)
			assert.NoError(t, err)
			assert.Equal(t, fmt.Sprint(i), string(out))
		})
	}
	wg.Wait()
}

// A host whose sshd is frozen accepts TCP but never sends its banner: the
// handshake deadline must end the dial.
func TestHandshakeDeadline(t *testing.T) {
	t.Parallel()
	b := newBed(t, 1, nil)
	h := b.Hosts[0]
	require.NoError(t, h.Pause())
	t.Cleanup(func() { _ = h.Resume() })
	cfg := hostConfig(b, h)
	cfg.ConnectTimeout = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	_, err := newClient(t, cfg).Run(ctx, transport.Cmd("true"))
	require.ErrorIs(t, err, transport.ErrTimeout)
	require.NoError(t, ctx.Err(), "the handshake deadline, not the caller's context, ended it")

	// Cancelling the caller's context ends a stuck handshake too.
	cfg.ConnectTimeout = time.Minute
	cctx, ccancel := context.WithCancel(t.Context())
	time.AfterFunc(200*time.Millisecond, ccancel)
	_, err = newClient(t, cfg).Run(cctx, transport.Cmd("true"))
	require.ErrorIs(t, err, context.Canceled)
}

func TestProxyJumpChain(t *testing.T) {
	t.Parallel()
	b := newBed(t, 3, nil)
	rec := &recordingDialer{}
	cfg := hostConfig(b, b.Hosts[2])
	cfg.ProxyJump = "root@" + b.Hosts[0].HostPort() + ",root@" + b.Hosts[1].HostPort()
	c := newClient(t, cfg, sshx.WithDialer(rec))
	out, err := transport.Output(t.Context(), c, transport.Shell(`echo $UPGRADEKIT_HOST`))
	require.NoError(t, err)
	assert.Equal(t, "h2\n", string(out))
	assert.Equal(t, []string{b.Hosts[0].HostPort()}, rec.take())

	// Losing the middle bastion loses the connection; the next Run
	// reconnects through it once it is back.
	require.NoError(t, b.Hosts[1].Restart(t.Context()))
	out, err = transport.Output(t.Context(), c, transport.Shell(`echo $UPGRADEKIT_HOST`))
	require.NoError(t, err)
	assert.Equal(t, "h2\n", string(out))
	assert.EqualValues(t, 2, c.Stats().Dials)
}
