package sim

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/transport"
)

// do runs argv on node name of c and returns the result.
func do(t testing.TB, c *Cloud, name string, argv ...string) transport.Result {
	t.Helper()
	return doCmd(t, c, name, transport.Cmd(argv[0], argv[1:]...))
}

func doCmd(t testing.TB, c *Cloud, name string, cmd transport.Command) transport.Result {
	t.Helper()
	tr := &Transport{c: c, name: name}
	res, err := tr.Run(context.Background(), cmd)
	require.NoError(t, err, "%s: %s", name, cmd)
	return res
}

// ok runs argv and requires exit 0, returning stdout.
func ok(t testing.TB, c *Cloud, name string, argv ...string) string {
	t.Helper()
	res := do(t, c, name, argv...)
	require.Equal(t, 0, res.ExitCode, "%s: %v\nstdout: %s\nstderr: %s", name, argv, res.Stdout, res.Stderr)
	return string(res.Stdout)
}

func sample(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return string(b)
}

// section returns the lines of a multi-case sample after the "###" line
// containing header, up to the next "###" line (without the blank line
// that separates cases).
func section(t testing.TB, name, header string) string {
	t.Helper()
	lines := strings.SplitAfter(sample(t, name), "\n")
	start := -1
	for i, l := range lines {
		if strings.HasPrefix(l, "###") && strings.Contains(l, header) {
			start = i + 1
			break
		}
	}
	require.GreaterOrEqual(t, start, 0, "no section %q in %s", header, name)
	for start < len(lines) && strings.HasPrefix(lines[start], "###") {
		start++
	}
	var b strings.Builder
	last := true
	for _, l := range lines[start:] {
		if strings.HasPrefix(l, "###") {
			last = false
			break
		}
		b.WriteString(l)
	}
	s := b.String()
	if !last {
		s = strings.TrimSuffix(s, "\n")
	}
	return s
}

// replicated drops the tables oned never replicates (localTables) from
// table checksums: the leader's monitoring differs from its followers'.
func replicated(m map[string]string) map[string]string {
	out := maps.Clone(m)
	for _, t := range localTables {
		delete(out, t)
	}
	return out
}

// withNode runs f on node name's state under the cloud lock.
func withNode(c *Cloud, name string, f func(n *node)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f(c.st.Nodes[name])
}

func cmdAs(user string, argv ...string) transport.Command {
	return transport.Cmd(argv[0], argv[1:]...).AsUser(user)
}

func regexpAll(s, re string) []string {
	var out []string
	for _, m := range regexp.MustCompile(re).FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	return out
}
