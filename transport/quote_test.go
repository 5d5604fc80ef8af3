package transport_test

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os/exec"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/syntax"

	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/transport/transporttest"
)

func TestQuote(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", "''"},
		{"plain", "plain"},
		{"/usr/bin/onezone", "/usr/bin/onezone"},
		{"-x", "-x"},
		{"a,b:c@d%e+f_g.h", "a,b:c@d%e+f_g.h"},
		{"a b", "'a b'"},
		{"it's", `'it'\''s'`},
		{"'", `''\'''`},
		{"$(id)", "'$(id)'"},
		{"`id`", "'`id`'"},
		{"~", "'~'"},
		{"*", "'*'"},
		{"A=B", "'A=B'"},
		{"a\nb", "'a\nb'"},
		{"ü", "'ü'"},
		{"a\x00b", "'ab'"},
		{"\x00", "''"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, transport.Quote(tt.in))
		})
	}
	assert.Equal(t, "systemctl stop 'one d' ''", transport.Join([]string{"systemctl", "stop", "one d", ""}))
	assert.Equal(t, "", transport.Join(nil))
}

// parseWords parses line as a POSIX shell command with mvdan.cc/sh and
// expands it into fields with an empty environment, failing on anything
// but one plain command: no assignment, redirection, operator, command
// substitution or glob.
func parseWords(line string) ([]string, error) {
	file, err := syntax.NewParser(syntax.Variant(syntax.LangPOSIX)).Parse(strings.NewReader(line), "")
	if err != nil {
		return nil, err
	}
	if len(file.Stmts) != 1 {
		return nil, errors.New("not exactly one statement")
	}
	st := file.Stmts[0]
	if st.Background || st.Negated || st.Coprocess || len(st.Redirs) > 0 {
		return nil, errors.New("statement has operators or redirections")
	}
	call, ok := st.Cmd.(*syntax.CallExpr)
	if !ok {
		return nil, errors.New("not a simple command")
	}
	if len(call.Assigns) > 0 {
		return nil, errors.New("assignment")
	}
	globbed := false
	cfg := &expand.Config{
		Env: expand.ListEnviron(),
		CmdSubst: func(io.Writer, *syntax.CmdSubst) error {
			return errors.New("command substitution")
		},
		ReadDir2: func(string) ([]fs.DirEntry, error) {
			globbed = true
			return nil, nil
		},
	}
	fields, err := expand.Fields(cfg, call.Args...)
	if err != nil {
		return nil, err
	}
	if globbed {
		return nil, errors.New("unquoted glob")
	}
	return fields, nil
}

// decodeWords is an independent, byte-level reader of the subset of POSIX
// quoting Quote may produce: bare safe characters, '...' and \x outside
// quotes. Anything else unquoted is an error.
func decodeWords(line string) ([]string, error) {
	var words []string
	var cur []byte
	inWord := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ':
			if inWord {
				words = append(words, string(cur))
				cur, inWord = nil, false
			}
		case c == '\'':
			end := strings.IndexByte(line[i+1:], '\'')
			if end < 0 {
				return nil, errors.New("unterminated single quote")
			}
			cur = append(cur, line[i+1:i+1+end]...)
			i += end + 1
			inWord = true
		case c == '\\':
			if i+1 >= len(line) {
				return nil, errors.New("trailing backslash")
			}
			i++
			cur = append(cur, line[i])
			inWord = true
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.IndexByte("-_./,:@%+", c) >= 0:
			cur = append(cur, c)
			inWord = true
		default:
			return nil, errors.New("unquoted special byte " + string(rune(c)))
		}
	}
	if inWord {
		words = append(words, string(cur))
	}
	return words, nil
}

// The quoter's property: splitting the quoted line gives back the argv
// (NUL aside, which no shell can carry; the fuzzer's NULs separate
// arguments instead).
func FuzzQuote(f *testing.F) {
	f.Add(strings.Join(transporttest.HostileArgs(), "\x00"))
	for _, a := range transporttest.HostileArgs() {
		f.Add(a)
	}
	f.Add("a\x00\x00b")
	f.Fuzz(func(t *testing.T, s string) {
		argv := strings.Split(s, "\x00")
		line := transport.Join(argv)

		got, err := decodeWords(line)
		require.NoError(t, err, "line %q", line)
		if !(len(argv) == 1 && argv[0] == "" && len(got) == 0) {
			require.Equal(t, argv, got, "line %q", line)
		}

		// mvdan.cc/sh rejects invalid UTF-8 and reads "\r\n" as "\n" even
		// inside quotes; such inputs are covered by decodeWords above and
		// by the real shells in TestQuoteRealShells.
		if utf8.ValidString(line) && !strings.Contains(line, "\r") {
			fields, err := parseWords(line)
			require.NoError(t, err, "line %q", line)
			require.Equal(t, argv, fields, "line %q", line)
		}

		// Quote drops NUL rather than letting it cut the word.
		words, err := decodeWords(transport.Quote(s))
		require.NoError(t, err)
		require.Equal(t, []string{strings.ReplaceAll(s, "\x00", "")}, words)
	})
}

// TestQuoteRealShells runs hostile arguments through real shells: what
// the SSH transport sends is a line the remote shell parses.
func TestQuoteRealShells(t *testing.T) {
	t.Parallel()
	args := transporttest.HostileArgs()
	args = append(args, strings.Repeat("'\"$`\\", 200), "a\x00b")
	want := make([]string, len(args))
	for i, a := range args {
		want[i] = strings.ReplaceAll(a, "\x00", "")
	}
	shells := 0
	for _, sh := range []string{"/bin/sh", "/bin/dash", "/bin/bash", "/usr/bin/zsh", "/bin/busybox"} {
		if _, err := exec.LookPath(sh); err != nil {
			continue
		}
		shells++
		t.Run(sh, func(t *testing.T) {
			t.Parallel()
			argv := []string{sh, "-c"}
			if strings.HasSuffix(sh, "busybox") {
				argv = []string{sh, "sh", "-c"}
			}
			script := `printf '%s\0' ` + transport.Join(args)
			cmd := exec.CommandContext(t.Context(), argv[0], append(argv[1:], script)...)
			cmd.Env = []string{"HOME=/nonexistent-home", "PATH=/usr/bin:/bin"}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			require.NoError(t, err, "stderr: %s", stderr.String())
			got := strings.Split(string(out), "\x00")
			require.Equal(t, "", got[len(got)-1])
			assert.Equal(t, want, got[:len(got)-1])
		})
	}
	require.NotZero(t, shells, "no shell found")
}

// The argv of a Command with Shell must reach the script as "$@".
func TestShellArgsAreNotSpliced(t *testing.T) {
	t.Parallel()
	c := transport.Shell(`printf '%s\0' "$@"`, "$(id)", "a b")
	assert.Equal(t, []string{"/bin/sh", "-c", `printf '%s\0' "$@"`, "sh", "$(id)", "a b"}, c.Argv())
	w, err := c.Wire(true)
	require.NoError(t, err)
	out, err := exec.CommandContext(t.Context(), "/bin/sh", "-c", w.ShellLine()).Output()
	require.NoError(t, err)
	assert.Equal(t, "$(id)\x00a b\x00", string(out))
}
