package transport_test

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/transport"
)

func secrets(kv ...string) map[string]transport.Secret {
	m := map[string]transport.Secret{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = transport.NewSecret(kv[i+1])
	}
	return m
}

func TestCommandWire(t *testing.T) {
	t.Parallel()
	base := transport.Cmd("onedb", "backup", "-f")
	withEnv := base
	withEnv.Env = map[string]string{"B": "2", "A": "x y"}
	sudo := base.AsRoot()
	sudoEnv := withEnv.AsUser("oneadmin")
	secret := base
	secret.SecretEnv = secrets("PW", "p'w $x", "DB", "db-secret")
	secretSudo := secret.AsRoot()
	secretSudo.Env = map[string]string{"A": "1"}
	dir := base
	dir.Dir = "/var/lib/one dir"

	const wrap = `IFS= read -r DB || exit 126; export DB; IFS= read -r PW || exit 126; export PW; exec "$@"`
	tests := []struct {
		name     string
		cmd      transport.Command
		inline   bool
		argv     []string
		env      map[string]string
		prefix   string
		dir      string
		lineHint string
	}{
		{name: "plain", cmd: base, argv: []string{"onedb", "backup", "-f"}},
		{name: "env set on process", cmd: withEnv, argv: []string{"onedb", "backup", "-f"},
			env: map[string]string{"A": "x y", "B": "2"}},
		{name: "env inlined, sorted", cmd: withEnv, inline: true,
			argv: []string{"env", "A=x y", "B=2", "onedb", "backup", "-f"}, lineHint: "env 'A=x y' 'B=2' onedb"},
		{name: "sudo", cmd: sudo, argv: []string{"sudo", "-n", "--", "onedb", "backup", "-f"}},
		{name: "sudo user inlines env (env_reset)", cmd: sudoEnv,
			argv: []string{"sudo", "-n", "-u", "oneadmin", "--", "env", "A=x y", "B=2", "onedb", "backup", "-f"}},
		{name: "secrets on stdin", cmd: secret, inline: true,
			argv: []string{"/bin/sh", "-c", wrap, "sh", "onedb", "backup", "-f"}, prefix: "db-secret\np'w $x\n"},
		{name: "secrets with sudo and env", cmd: secretSudo,
			argv:   []string{"sudo", "-n", "--", "env", "A=1", "/bin/sh", "-c", wrap, "sh", "onedb", "backup", "-f"},
			prefix: "db-secret\np'w $x\n"},
		{name: "dir", cmd: dir, inline: true, argv: []string{"onedb", "backup", "-f"}, dir: "/var/lib/one dir",
			lineHint: "cd -- '/var/lib/one dir' && onedb backup -f"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w, err := tt.cmd.Wire(tt.inline)
			require.NoError(t, err)
			assert.Equal(t, tt.argv, w.Argv)
			assert.Equal(t, tt.env, w.Env)
			assert.Equal(t, tt.prefix, string(w.StdinPrefix))
			assert.Equal(t, tt.dir, w.Dir)
			if tt.lineHint != "" {
				assert.Contains(t, w.ShellLine(), tt.lineHint)
			}
			for _, s := range tt.cmd.SecretEnv {
				for _, a := range w.Argv {
					assert.NotContains(t, a, s.Reveal(), "a secret reached argv")
				}
			}
		})
	}
}

func TestCommandWireRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cmd  transport.Command
		want string
	}{
		{"no path", transport.Command{Args: []string{"x"}}, "no path"},
		{"empty env name", transport.Command{Path: "x", Env: map[string]string{"": "v"}}, "invalid environment variable name"},
		{"digit first", transport.Command{Path: "x", Env: map[string]string{"1A": "v"}}, "invalid environment variable name"},
		{"dash", transport.Command{Path: "x", Env: map[string]string{"A-B": "v"}}, "invalid environment variable name"},
		{"space", transport.Command{Path: "x", Env: map[string]string{"A B": "v"}}, "invalid environment variable name"},
		{"equals", transport.Command{Path: "x", Env: map[string]string{"A=B": "v"}}, "invalid environment variable name"},
		{"injection", transport.Command{Path: "x", Env: map[string]string{"A;id;B": "v"}}, "invalid environment variable name"},
		{"bad secret name", transport.Command{Path: "x", SecretEnv: secrets("$(id)", "secret-value")}, "invalid environment variable name"},
		{"newline in secret", transport.Command{Path: "x", SecretEnv: secrets("PW", "line1\nline2")}, "newline or NUL"},
		{"NUL in secret", transport.Command{Path: "x", SecretEnv: secrets("PW", "a\x00b")}, "newline or NUL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := tt.cmd.Wire(true)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			for _, s := range tt.cmd.SecretEnv {
				assert.NotContains(t, err.Error(), s.Reveal())
			}
		})
	}
	// Valid names.
	_, err := transport.Command{Path: "x", Env: map[string]string{"_A1": "v", "a": "v"}}.Wire(true)
	assert.NoError(t, err)
}

// The wire form really works in a shell: env inlined, secrets read from
// stdin and the command's own stdin intact behind them.
func TestCommandWireRunsInShell(t *testing.T) {
	t.Parallel()
	cmd := transport.Shell(`printf '%s|%s|%s|' "$A" "$PW" "$(pwd)"; cat`)
	cmd.Env = map[string]string{"A": "$(id) 'x'"}
	cmd.SecretEnv = secrets("PW", ` \x "q" $y `)
	cmd.Dir = "/tmp"
	w, err := cmd.Wire(true)
	require.NoError(t, err)
	sh := exec.CommandContext(t.Context(), "/bin/sh", "-c", w.ShellLine())
	sh.Stdin = strings.NewReader(string(w.StdinPrefix) + "rest\nof stdin")
	out, err := sh.Output()
	require.NoError(t, err)
	assert.Equal(t, `$(id) 'x'| \x "q" $y |/tmp|rest`+"\nof stdin", string(out))
}

func TestCommandString(t *testing.T) {
	t.Parallel()
	cmd := transport.Cmd("mysql", "-u", "oneadmin", "--password=hunter22", "hunter2", "one db")
	cmd.Redact = []string{"hunter2", "hunter22", ""}
	cmd.Env = map[string]string{"LANG": "C", "TOKEN": "hunter2"}
	cmd.SecretEnv = secrets("MYSQL_PWD", "s3cret")
	cmd = cmd.AsUser("oneadmin")
	s := cmd.String()
	assert.Equal(t, "sudo -n -u oneadmin -- env 'LANG=C' 'TOKEN=[REDACTED]' MYSQL_PWD=[REDACTED] mysql -u oneadmin '--password=[REDACTED]' [REDACTED] 'one db'", s)
	assert.NotContains(t, s, "s3cret")
	assert.NotContains(t, s, "hunter")
	// Redaction is for display only: the wire command is unchanged.
	w, err := cmd.Wire(true)
	require.NoError(t, err)
	assert.Contains(t, w.Argv, "--password=hunter22")
	assert.Equal(t, "--password=[REDACTED] x", cmd.RedactString("--password=hunter22 x"))

	assert.Equal(t, "echo ''", transport.Cmd("echo", "").String())
	assert.Equal(t, `/bin/sh -c 'exit "$1"' sh 3`, transport.Shell(`exit "$1"`, "3").String())
}

func TestCommandBuilders(t *testing.T) {
	t.Parallel()
	q := transport.Query("onezone", "show", "0")
	assert.True(t, q.ReadOnly)
	assert.False(t, transport.Cmd("onezone").ReadOnly)
	assert.True(t, transport.Cmd("x").MarkReadOnly().ReadOnly)

	// WithArgs never writes into a shared backing array.
	base := transport.Cmd("systemctl", make([]string, 0, 8)...)
	a := base.WithArgs("stop", "a")
	b := base.WithArgs("stop", "b")
	assert.Equal(t, []string{"systemctl", "stop", "a"}, a.Argv())
	assert.Equal(t, []string{"systemctl", "stop", "b"}, b.Argv())

	r := transport.Cmd("x").AsUser("bob")
	assert.True(t, r.Sudo)
	assert.Equal(t, "bob", r.User)
	r = r.AsRoot()
	assert.True(t, r.Sudo)
	assert.Empty(t, r.User)
}

func TestCommandContext(t *testing.T) {
	t.Parallel()
	cmd := transport.Cmd("sleep")
	cmd.Timeout = time.Millisecond
	ctx, cancel := transport.CommandContext(t.Context(), cmd)
	defer cancel()
	<-ctx.Done()
	err := transport.TimeoutErr(ctx, "fe1", cmd)
	require.ErrorIs(t, err, transport.ErrTimeout)
	assert.Equal(t, "host fe1: sleep: timed out after 1ms", err.Error())

	parent, cancelParent := ctxWithCancel(t)
	ctx2, cancel2 := transport.CommandContext(parent, transport.Cmd("x"))
	defer cancel2()
	cancelParent()
	<-ctx2.Done()
	assert.NoError(t, transport.TimeoutErr(ctx2, "fe1", transport.Cmd("x")), "a cancelled parent is not a timeout")
	_, hasDeadline := ctx2.Deadline()
	assert.False(t, hasDeadline, "no Timeout, no deadline")
}

func TestCapture(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		limit     int
		writes    []string
		want      string
		truncated bool
	}{
		{"nothing", 10, nil, "", false},
		{"short", 10, []string{"hello"}, "hello", false},
		{"exactly the limit", 10, []string{"0123456789"}, "0123456789", false},
		{"one over", 10, []string{"0123456789a"}, "01234\n... omitting 1 bytes ...\n6789a", true},
		{"many small writes", 10, strings.Split("abcdefghijklmnopqrstuvwxyz", ""), "abcde\n... omitting 16 bytes ...\nvwxyz", true},
		{"big write then small", 10, []string{"0123456789ABCDEF", "xy"}, "01234\n... omitting 8 bytes ...\nDEFxy", true},
		{"odd limit", 7, []string{"abcdefghij"}, "abcd\n... omitting 3 bytes ...\nhij", true},
		{"limit one", 1, []string{"abc"}, "a\n... omitting 2 bytes ...\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := transport.NewCapture(tt.limit)
			total := 0
			for _, w := range tt.writes {
				n, err := c.Write([]byte(w))
				require.NoError(t, err)
				require.Equal(t, len(w), n)
				total += n
			}
			assert.Equal(t, tt.want, string(c.Bytes()))
			assert.Equal(t, tt.truncated, c.Truncated())
			assert.Equal(t, int64(total), c.Written())
		})
	}
	assert.Nil(t, transport.NewCapture(5).Bytes(), "nothing written is nil")
}

// TestCaptureModel compares Capture with the obvious model (keep
// everything, then cut) over pseudo-random write sizes.
func TestCaptureModel(t *testing.T) {
	t.Parallel()
	seed := uint64(7)
	next := func(n int) int { seed = seed*6364136223846793005 + 1442695040888963407; return int(seed>>33) % n }
	for _, limit := range []int{2, 3, 16, 17, 100} {
		for range 50 {
			c := transport.NewCapture(limit)
			var all bytes.Buffer
			for range next(20) {
				p := make([]byte, next(3*limit))
				for i := range p {
					p[i] = byte('a' + next(26))
				}
				_, _ = c.Write(p)
				all.Write(p)
			}
			b := all.Bytes()
			head, tail := limit-limit/2, limit/2
			want := string(b)
			if len(b) > limit {
				want = string(b[:head]) + "\n... omitting " + itoa(len(b)-head-tail) + " bytes ...\n" + string(b[len(b)-tail:])
			}
			if len(b) == 0 {
				assert.Nil(t, c.Bytes())
				continue
			}
			require.Equal(t, want, string(c.Bytes()), "limit %d, %d bytes", limit, len(b))
		}
	}
}

func TestCaptureConcurrent(t *testing.T) {
	t.Parallel()
	c := transport.NewCapture(64)
	done := make(chan struct{})
	for range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 1000 {
				_, _ = c.Write([]byte("0123456789"))
			}
		}()
	}
	for range 8 {
		<-done
	}
	assert.Equal(t, int64(80000), c.Written())
	assert.True(t, c.Truncated())
	assert.Len(t, c.Bytes(), 64+len("\n... omitting 79936 bytes ...\n"))
}
