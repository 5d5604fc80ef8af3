package shell_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/sim/internal/shell"
	"github.com/upgradekit/upgradekit/sim/internal/vfs"
)

func run(t *testing.T, c *shell.Config, script string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	c.Stdin, c.Stdout, c.Stderr = strings.NewReader(""), &out, &errb
	if c.Now == nil {
		c.Now = func() time.Time { return time.Unix(0, 0) }
	}
	if c.Exec == nil {
		c.Exec = func(_ map[string]string, _ string, argv []string, _ io.Reader, _, stderr io.Writer) int {
			_, _ = io.WriteString(stderr, argv[0]+": not found\n")
			return 127
		}
	}
	code := shell.Run(context.Background(), c, script)
	return code, out.String(), errb.String()
}

func newFS(t *testing.T) *vfs.FS {
	t.Helper()
	f := vfs.New()
	require.NoError(t, f.MkdirAll("/etc", "root", "root", time.Unix(0, 0)))
	require.NoError(t, f.WriteFile("/etc/conf", []byte("a\n"), 0o640, "root", "adm", time.Unix(0, 0)))
	return f
}

func TestRun(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, script   string
		cfg            func(c *shell.Config)
		code           int
		stdout, stderr string
	}{
		{name: "syntax", script: "if", code: 2, stderr: "sh: 1: Syntax error: "},
		{name: "read", script: "cat < /etc/conf", code: 127, stderr: "cat: not found\n"},
		{name: "builtin read", script: "read x < /etc/conf; echo $x", stdout: "a\n"},
		{name: "missing", script: "read x < /etc/none", code: 1, stderr: "file does not exist"},
		{name: "read denied", script: "read x < /etc/conf",
			cfg: func(c *shell.Config) { c.CanRead = func(string) bool { return false } }, code: 1, stderr: "permission denied"},
		{name: "write denied", script: "echo b > /etc/conf",
			cfg: func(c *shell.Config) { c.CanWrite = func(string) bool { return false } }, code: 1, stderr: "permission denied"},
		{name: "append", script: "echo b >> /etc/conf; while read l; do echo $l; done < /etc/conf", stdout: "a\nb\n"},
		{name: "umask noop", script: "umask 077 && echo ok", stdout: "ok\n"},
		{name: "env and args", script: `echo "$A $B $1 $#"`, stdout: "x y p 1\n",
			cfg: func(c *shell.Config) {
				c.Env = []string{"A=x"}
				c.Vars = map[string]string{"B": "y"}
				c.Args = []string{"sh", "p"}
			}},
		{name: "test -d", script: "[ -d /etc ] && [ ! -d /etc/conf ] && echo yes", stdout: "yes\n"},
		{name: "glob", script: "echo /etc/*", stdout: "/etc/conf\n"},
		{name: "dev null", script: "echo x > /dev/null; [ -e /dev/null ] || echo none",
			stdout: "none\n"},
		{name: "dev null stat", script: "[ -e /dev/null ] && echo yes", stdout: "yes\n",
			cfg: func(c *shell.Config) { c.DevNull = true }},
		{name: "exec bit", script: "[ -x /etc/conf ] || echo no", stdout: "no\n",
			cfg: func(c *shell.Config) { c.CheckExec = true }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := &shell.Config{FS: newFS(t), Dir: "/", Owner: "root"}
			if tt.cfg != nil {
				tt.cfg(c)
			}
			code, out, errs := run(t, c, tt.script)
			assert.Equal(t, tt.code, code)
			assert.Equal(t, tt.stdout, out)
			if tt.stderr == "" {
				assert.Empty(t, errs)
			} else {
				assert.Contains(t, errs, tt.stderr)
			}
		})
	}
}

func TestRunRedirectAttrs(t *testing.T) {
	t.Parallel()
	f := newFS(t)
	c := &shell.Config{FS: f, Dir: "/etc", Owner: "oneadmin", Umask: 0o022}
	code, _, _ := run(t, c, "echo new > fresh; echo b > conf")
	require.Equal(t, 0, code)
	st, err := f.Stat("/etc/fresh")
	require.NoError(t, err)
	assert.Equal(t, "oneadmin", st.Owner)
	assert.Equal(t, "-rw-r--r--", st.Mode.String())
	st, _ = f.Stat("/etc/conf")
	assert.Equal(t, "root", st.Owner, "vfs keeps the owner of a file it rewrites")

	f = newFS(t)
	c = &shell.Config{FS: f, Dir: "/etc", Owner: "root", KeepAttrs: true}
	code, _, _ = run(t, c, "echo b > conf")
	require.Equal(t, 0, code)
	st, _ = f.Stat("/etc/conf")
	b, _ := f.ReadFile("/etc/conf")
	assert.Equal(t, "b\n", string(b))
	assert.Equal(t, "adm", st.Group)
	assert.Equal(t, "-rw-r-----", st.Mode.String())
}

func TestRunExec(t *testing.T) {
	t.Parallel()
	var gotEnv map[string]string
	var gotDir, gotIn string
	c := &shell.Config{FS: newFS(t), Dir: "/", Owner: "root",
		ConsumesStdin: func(argv []string) bool { return argv[0] == "eat" },
		Exec: func(env map[string]string, dir string, argv []string, in io.Reader, out, _ io.Writer) int {
			b, _ := io.ReadAll(in)
			if argv[0] == "eat" {
				gotEnv, gotDir, gotIn = env, dir, string(b)
			}
			_, _ = io.WriteString(out, argv[0]+"\n")
			return 0
		}}
	code, out, _ := run(t, c, "export K=v; L=w; cd /etc && echo hi | eat; echo x | skip")
	require.Equal(t, 0, code)
	assert.Equal(t, "eat\nskip\n", out)
	assert.Equal(t, "v", gotEnv["K"])
	assert.NotContains(t, gotEnv, "L")
	assert.Equal(t, "/etc", gotDir)
	assert.Equal(t, "hi\n", gotIn)
}

func TestLookup(t *testing.T) {
	t.Parallel()
	known := func(b string) bool { return b == "onedb" }
	assert.Equal(t, []string{"echo", "/usr/bin/onedb"}, shell.Lookup("/x/onedb", known))
	assert.Equal(t, []string{"echo", "cd"}, shell.Lookup("cd", known))
	assert.Equal(t, []string{"false"}, shell.Lookup("nope", known))
}

func TestOperands(t *testing.T) {
	t.Parallel()
	ops, dash := shell.Operands([]string{"cat", "-n", "a", "b"})
	assert.Equal(t, []string{"a", "b"}, ops)
	assert.False(t, dash)
	_, dash = shell.Operands([]string{"cat", "a", "-"})
	assert.True(t, dash)
}

func TestFind(t *testing.T) {
	t.Parallel()
	assert.True(t, shell.FindMatch("/a/b.conf", vfs.File{}, "f", "*.conf"))
	assert.False(t, shell.FindMatch("/a/b.conf", vfs.File{}, "d", ""))
	assert.False(t, shell.FindMatch("/a/b.txt", vfs.File{}, "", "*.conf"))
	assert.Equal(t, []string{"rm", "-f", "x", "y", "z"}, shell.FindExec([]string{"rm", "-f", "{}", "z"}, []string{"x", "y"}))
	argv, end := shell.FindExecArgs([]string{"-exec", "rm", "{}", "+", "-print"}, 0)
	assert.Equal(t, []string{"rm", "{}"}, argv)
	assert.Equal(t, 3, end)
	verb := func(b *strings.Builder, v byte) { b.WriteString("<" + string(v) + ">") }
	assert.Equal(t, "<p>\n\x00\tq%", shell.FindPrintf(`%p\n\0\t\q%`, true, verb))
	assert.Equal(t, "t", shell.FindPrintf(`\t`, false, verb))
}
