package testbed_test

import (
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/internal/testbed"
)

func TestBedRunsOpenSSHClients(t *testing.T) {
	b := testbed.New(t, testbed.Config{
		Hosts:     2,
		FirstAddr: netip.MustParseAddr("127.22.0.1"),
		Port:      22100,
		Env:       map[string]string{"ROLE": "front end"},
	})
	require.Len(t, b.Hosts, 2)
	assert.Equal(t, "127.22.0.2", b.Hosts[1].Addr.String())
	require.NoError(t, os.WriteFile(b.Hosts[0].Path("/etc/one/marker"), []byte("h0 only\n"), 0o644))

	for _, h := range b.Hosts {
		out, err := exec.Command("ssh", "-F", b.SSHConfigFile, h.Name,
			`echo "$UPGRADEKIT_HOST/$ROLE/$HOME"; cat /etc/one/marker 2>/dev/null || echo none; ls -A ~ | wc -l`).CombinedOutput()
		require.NoError(t, err, string(out))
		want := "none\n"
		if h.Index == 0 {
			want = "h0 only\n"
		}
		assert.Equal(t, h.Name+"/front end/"+"/root\n"+want+"0\n", string(out))
	}
}

func TestHostKillRestartPause(t *testing.T) {
	b := testbed.New(t, testbed.Config{FirstAddr: netip.MustParseAddr("127.22.1.1"), Port: 22101})
	h := b.Hosts[0]
	ssh := func() (string, error) {
		out, err := exec.Command("ssh", "-F", b.SSHConfigFile, "-o", "ConnectTimeout=2", h.Name, "echo ok").CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	out, err := ssh()
	require.NoError(t, err, out)
	pid := h.PID()
	require.NotZero(t, pid)
	comm, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	require.NoError(t, err)
	assert.Equal(t, "sshd\n", string(comm))

	require.NoError(t, h.Kill())
	assert.False(t, h.Running())
	_, err = ssh()
	assert.Error(t, err, "a killed host must refuse connections")

	require.NoError(t, h.Start(t.Context()))
	out, err = ssh()
	require.NoError(t, err, out)

	// KillConnections cuts a running session but the host stays up.
	long := exec.Command("ssh", "-F", b.SSHConfigFile, h.Name, "sleep 43.5")
	require.NoError(t, long.Start())
	require.Eventually(t, func() bool {
		return processWithArg("43.5")
	}, 10*time.Second, 20*time.Millisecond)
	require.NoError(t, h.KillConnections())
	assert.Error(t, long.Wait(), "the session was cut")
	assert.True(t, h.Running())
	out, err = ssh()
	require.NoError(t, err, out)

	require.NoError(t, h.Pause())
	_, err = ssh()
	assert.Error(t, err, "a paused host never answers")
	require.NoError(t, h.Resume())
	out, err = ssh()
	require.NoError(t, err, out)
	assert.Equal(t, "ok", out)
}

// processWithArg reports whether some process has arg as an argument.
func processWithArg(arg string) bool {
	files, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil && slices.Contains(strings.Split(string(b), "\x00"), arg) {
			return true
		}
	}
	return false
}
