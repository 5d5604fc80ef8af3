package ssh_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/transport"
)

const testUser = "upgradekit-ssh"

// nonRootUser creates a system user (password "*": not locked, but no
// password login) allowed to run only `id` as root through sudo, and
// removes it (and the sudoers rule) afterwards.
func nonRootUser(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("useradd"); err != nil {
		t.Skip("no useradd")
	}
	if out, err := exec.Command("useradd", "--system", "--password", "*", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/bin/sh", testUser).CombinedOutput(); err != nil {
		if !strings.Contains(string(out), "already exists") {
			t.Fatalf("useradd: %v: %s", err, out)
		}
	} else {
		// -f: the user's sshd session may still be exiting.
		t.Cleanup(func() { _ = exec.Command("userdel", "-f", testUser).Run() })
	}
	rule := "/etc/sudoers.d/upgradekit-ssh-test"
	require.NoError(t, os.WriteFile(rule, []byte(testUser+" ALL=(root) NOPASSWD: /usr/bin/id\n"), 0o440))
	t.Cleanup(func() { _ = os.Remove(rule) })
}

func TestNonRootUserAndSudo(t *testing.T) {
	b := newBed(t, 1, nil)
	nonRootUser(t)
	// sshd reads authorized_keys as the user: open the path to it.
	for d := b.Dir; d != "/tmp" && d != "/"; d = filepath.Dir(d) {
		require.NoError(t, os.Chmod(d, 0o755))
	}
	cfg := hostConfig(b, b.Hosts[0])
	cfg.User = testUser
	c := newClient(t, cfg)
	out, err := transport.Output(t.Context(), c, transport.Cmd("id", "-un"))
	if err != nil {
		log, _ := os.ReadFile(b.Hosts[0].LogFile)
		t.Log(string(log))
	}
	require.NoError(t, err)
	assert.Equal(t, testUser+"\n", string(out))
	out, err = transport.Output(t.Context(), c, transport.Cmd("/usr/bin/id", "-u").AsRoot())
	require.NoError(t, err)
	assert.Equal(t, "0\n", string(out))

	// sudo -n never prompts: a command outside the rule fails at once.
	res, err := c.Run(t.Context(), transport.Cmd("true").AsRoot())
	require.NoError(t, err)
	assert.NotZero(t, res.ExitCode)
	assert.Contains(t, string(res.Stderr), "password is required")

	// As a non-root login sshd accepts signals: a cancel kills the command.
	ctx, cancel := context.WithCancel(t.Context())
	started := make(chan struct{})
	cmd := transport.Shell("echo started; exec sleep 41.5")
	cmd.Stdout = writerFunc(func(p []byte) (int, error) { close(started); return len(p), nil })
	errc := make(chan error, 1)
	go func() { _, err := c.Run(ctx, cmd); errc <- err }()
	select {
	case <-started:
	case err := <-errc:
		t.Fatalf("command ended early: %v", err)
	}
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)
	out, err = transport.Output(t.Context(), c, transport.Shell(`grep -alzx '4[1]\.5' /proc/[0-9]*/cmdline >/dev/null && echo running || echo gone`))
	require.NoError(t, err)
	assert.Equal(t, "gone\n", string(out))
}
