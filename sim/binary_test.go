package sim_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/sim"
	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/transport/local"
)

// TestMultiCallBinary builds sim/cmd/onesim, installs its symlinks in a
// temporary PATH and answers OpenNebula commands through transport/local,
// with the state shared (and flock-ed) between processes.
func TestMultiCallBinary(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	state := filepath.Join(dir, "state")
	require.NoError(t, os.MkdirAll(bin, 0o755))
	build := exec.Command(gobin, "build", "-o", filepath.Join(bin, "onesim"), "./cmd/onesim")
	out, err := build.CombinedOutput()
	require.NoError(t, err, string(out))
	for _, args := range [][]string{
		{"init", "-state", state, "-topology", "ha", "-nodes", "3", "-version", "7.4.0"},
		{"install", "-dir", bin},
	} {
		out, err := exec.Command(filepath.Join(bin, "onesim"), args...).CombinedOutput()
		require.NoError(t, err, string(out))
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))

	lt, err := local.New(local.WithHostName("fe1"))
	require.NoError(t, err)
	defer lt.Close()
	ctx := context.Background()
	env := func(node string) map[string]string {
		return map[string]string{"UPGRADEKIT_SIM_STATE": state, "UPGRADEKIT_SIM_NODE": node}
	}
	cmd := transport.Query("onezone", "show", "0", "-x")
	cmd.Env = env("fe1")
	res, err := lt.Run(ctx, cmd)
	require.NoError(t, err)
	want, err := os.ReadFile("testdata/onezone-show-3node.xml")
	require.NoError(t, err)
	assert.Equal(t, string(want), string(res.Stdout), string(res.Stderr))

	// Concurrent invocations on different nodes are serialised by flock.
	var wg sync.WaitGroup
	codes := make([]int, 6)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := transport.Cmd("onehost", "disable", "0")
			c.Env = env([]string{"fe1", "fe2", "fe3"}[i%3])
			r, err := lt.Run(ctx, c)
			if err != nil {
				codes[i] = -1
				return
			}
			codes[i] = r.ExitCode
		}()
	}
	wg.Wait()
	assert.Equal(t, []int{0, 0, 0, 0, 0, 0}, codes)

	c := transport.Cmd("systemctl", "stop", "opennebula")
	c.Env = env("fe2")
	res, err = lt.Run(ctx, c)
	require.NoError(t, err)
	require.Equal(t, 0, res.ExitCode, string(res.Stderr))
	c = transport.Query("systemctl", "is-active", "opennebula")
	c.Env = env("fe2")
	res, err = lt.Run(ctx, c)
	require.NoError(t, err)
	assert.Equal(t, 3, res.ExitCode)
	assert.Equal(t, "inactive\n", string(res.Stdout))

	c = transport.Query("onedb", "version")
	c.Env = env("fe3")
	res, err = lt.Run(ctx, c)
	require.NoError(t, err)
	assert.Equal(t, 0, res.ExitCode, string(res.Stderr))

	// The saved state is valid and has the six writes.
	f, err := os.Open(filepath.Join(state, sim.StateFile))
	require.NoError(t, err)
	defer f.Close()
	cloud, err := sim.Load(f)
	require.NoError(t, err)
	st, err := cloud.Status("fe1")
	require.NoError(t, err)
	assert.Equal(t, int64(184239), st.LogIndex)
	evs, err := exec.Command(filepath.Join(bin, "onesim"), "events", "-state", state).Output()
	require.NoError(t, err)
	var first sim.Event
	require.NoError(t, json.Unmarshal(evs[:indexNL(evs)], &first))
	assert.Equal(t, sim.EventCommand, first.Kind)
}

func indexNL(b []byte) int {
	for i, c := range b {
		if c == '\n' {
			return i
		}
	}
	return len(b)
}
