package clitest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// RunFunc is an example command's run function: it parses args, does the
// work and returns the exit code.
type RunFunc func(ctx context.Context, args []string, stdout, stderr io.Writer) int

// Run calls run with args and returns its exit code, stdout and stderr.
func Run(run RunFunc, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// Build builds the command in the test's working directory (its package)
// into a temporary directory and returns the binary's path. It skips the
// test with -short.
func Build(t testing.TB, name string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), name)
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	return bin
}

// SplitJSON parses the JSON lines (events) of out, each of which must be
// valid JSON, and returns how many there are and the other lines (the
// indented report), each ending in a newline.
func SplitJSON(t testing.TB, out string) (events int, rest string) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<22)
	var b strings.Builder
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "{") && strings.HasSuffix(line, "}") {
			var m map[string]any
			require.NoError(t, json.Unmarshal([]byte(line), &m), line)
			events++
			continue
		}
		b.WriteString(line + "\n")
	}
	require.NoError(t, sc.Err())
	return events, b.String()
}

// Succeeds runs run with args, requires exit code 0 and asserts that
// stdout contains each of want. It returns stdout and stderr.
func Succeeds(t *testing.T, run RunFunc, args []string, want ...string) (stdout, stderr string) {
	t.Helper()
	code, stdout, stderr := Run(run, args...)
	require.Equal(t, 0, code, stderr)
	for _, w := range want {
		assert.Contains(t, stdout, w)
	}
	return stdout, stderr
}

// Usage asserts that run exits with code 2 (usage) for each of argss.
func Usage(t *testing.T, run RunFunc, argss [][]string) {
	t.Helper()
	for _, args := range argss {
		code, _, _ := Run(run, args...)
		assert.Equal(t, 2, code, "%v", args)
	}
}
