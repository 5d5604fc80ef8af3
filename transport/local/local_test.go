package local_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/transport/local"
	"github.com/upgradekit/upgradekit/transport/transporttest"
)

func TestConformance(t *testing.T) {
	transporttest.Run(t, func(t *testing.T) transport.Transport {
		return newLocal(t)
	}, transporttest.Config{Sudo: sudoWorks()})
}

func newLocal(t *testing.T, opts ...local.Option) *local.Transport {
	t.Helper()
	tr, err := local.New(opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

// sudoWorks reports whether `sudo -n` runs here without a password.
func sudoWorks() bool {
	return exec.Command("sudo", "-n", "true").Run() == nil
}

// requireSudo skips without a passwordless sudo, except in CI where the
// machine is set up for it.
func requireSudo(t *testing.T) {
	t.Helper()
	if sudoWorks() {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("CI=true but `sudo -n true` fails")
	}
	t.Skip("no passwordless sudo")
}

func TestSudo(t *testing.T) {
	t.Parallel()
	requireSudo(t)
	tr := newLocal(t)
	ctx := t.Context()
	cmd := transport.Shell(`printf '%s %s' "$(id -un)" "$UK_VAR"`)
	cmd.Env = map[string]string{"UK_VAR": "kept through env_reset"}
	out, err := transport.Output(ctx, tr, cmd.AsRoot())
	require.NoError(t, err)
	assert.Equal(t, "root kept through env_reset", string(out))

	out, err = transport.Output(ctx, tr, transport.Cmd("id", "-un").AsUser("nobody"))
	require.NoError(t, err)
	assert.Equal(t, "nobody\n", string(out))
}

func TestSignalIsReported(t *testing.T) {
	t.Parallel()
	tr := newLocal(t)
	res, err := tr.Run(t.Context(), transport.Shell(`kill -TERM $$`))
	require.NoError(t, err, "a command killed by a signal ran: not a transport error")
	assert.Equal(t, -1, res.ExitCode)
	assert.Equal(t, "TERM", res.Signal)
	assert.False(t, res.Success())
	err = transport.ResultError(transport.Cmd("x"), res)
	assert.ErrorContains(t, err, "killed by signal TERM")
}

func TestStartFailuresLookLikeAShell(t *testing.T) {
	t.Parallel()
	tr := newLocal(t)
	dir := t.TempDir()
	notExec := filepath.Join(dir, "script")
	require.NoError(t, os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644))
	tests := []struct {
		name string
		cmd  transport.Command
		code int
	}{
		{"not in PATH", transport.Cmd("upgradekit-no-such-program"), 127},
		{"no such path", transport.Cmd("/nonexistent/prog"), 127},
		{"not executable", transport.Cmd(notExec), 126},
		{"missing dir", transport.Command{Path: "pwd", Dir: filepath.Join(dir, "missing")}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := tr.Run(t.Context(), tt.cmd)
			require.NoError(t, err)
			assert.Equal(t, tt.code, res.ExitCode)
			assert.NotEmpty(t, res.Stderr, "the reason is on stderr")

			var stderr strings.Builder
			c := tt.cmd
			c.Stderr = &stderr
			res, err = tr.Run(t.Context(), c)
			require.NoError(t, err)
			assert.Nil(t, res.Stderr)
			assert.NotEmpty(t, stderr.String(), "the reason goes to the Stderr writer")
		})
	}
}

// alive reports whether pid runs (a zombie waiting for its reaper does
// not count).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z")
}

func readPids(t *testing.T, path string) []int {
	t.Helper()
	var pids []int
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(path)
		if err != nil {
			return false
		}
		pids = pids[:0]
		for _, f := range strings.Fields(string(b)) {
			n, err := strconv.Atoi(f)
			if err != nil {
				return false
			}
			pids = append(pids, n)
		}
		return len(pids) == 2
	}, 10*time.Second, 10*time.Millisecond)
	return pids
}

// A process group that ignores SIGTERM is killed after the grace.
func TestCancelKillsStubbornGroup(t *testing.T) {
	t.Parallel()
	tr := newLocal(t, local.WithKillGrace(200*time.Millisecond))
	pidFile := filepath.Join(t.TempDir(), "pids")
	cmd := transport.Shell(`trap '' TERM; sleep 60 & c=$!; printf '%s %s' "$$" "$c" > "$1.tmp"; mv "$1.tmp" "$1"; wait "$c"; wait "$c"`, pidFile)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := tr.Run(ctx, cmd)
		done <- err
	}()
	pids := readPids(t, pidFile)
	cancel()
	err := <-done
	assert.ErrorIs(t, err, context.Canceled)
	for _, pid := range pids {
		assert.Eventually(t, func() bool { return !alive(pid) }, 10*time.Second, 10*time.Millisecond, "pid %d survived", pid)
	}
}

// A command that exits while a background child holds its stdout returns
// after the kill grace with its output and status.
func TestStrayChildHoldingPipe(t *testing.T) {
	t.Parallel()
	tr := newLocal(t, local.WithKillGrace(100*time.Millisecond))
	pidFile := filepath.Join(t.TempDir(), "pids")
	res, err := tr.Run(t.Context(), transport.Shell(`sleep 30 & printf '%s %s' "$$" "$!" > "$1"; echo done`, pidFile))
	require.NoError(t, err)
	assert.Equal(t, "done\n", string(res.Stdout))
	assert.Zero(t, res.ExitCode)
	pids := readPids(t, pidFile)
	_ = exec.Command("kill", strconv.Itoa(pids[1])).Run()
}

func TestCloseStopsRunningCommands(t *testing.T) {
	t.Parallel()
	tr, err := local.New(local.WithKillGrace(200 * time.Millisecond))
	require.NoError(t, err)
	done := make(chan error, 1)
	started := make(chan struct{})
	var w startedWriter
	w.started = started
	go func() {
		cmd := transport.Shell(`echo up; sleep 60`)
		cmd.Stdout = &w
		_, err := tr.Run(context.Background(), cmd)
		done <- err
	}()
	<-started
	require.NoError(t, tr.Close())
	assert.ErrorIs(t, <-done, transport.ErrClosed)
	require.NoError(t, tr.Close())
	_, err = tr.Upload(t.Context(), filepath.Join(t.TempDir(), "x"), strings.NewReader(""), transport.FileOptions{})
	assert.ErrorIs(t, err, transport.ErrClosed)
}

type startedWriter struct {
	started chan struct{}
	once    bool
}

func (w *startedWriter) Write(p []byte) (int, error) {
	if !w.once {
		w.once = true
		close(w.started)
	}
	return len(p), nil
}

func TestLogsAreRedacted(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zapcore.DebugLevel)
	tr := newLocal(t, local.WithLogger(zap.New(core)), local.WithHostName("fe1"))
	cmd := transport.Shell(`echo "$PW" >&2; exit 1`, "--token=tok-123")
	cmd.Redact = []string{"tok-123"}
	cmd.SecretEnv = map[string]transport.Secret{"PW": transport.NewSecret("pw-456")}
	err := transport.Check(t.Context(), tr, cmd)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "host fe1:")
	entries := logs.All()
	require.NotEmpty(t, entries)
	for _, e := range entries {
		enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
		buf, err := enc.EncodeEntry(e.Entry, e.Context)
		require.NoError(t, err)
		assert.NotContains(t, buf.String(), "tok-123")
		assert.NotContains(t, buf.String(), "pw-456")
		assert.Contains(t, buf.String(), `"host":"fe1"`)
	}
	assert.NotContains(t, err.Error(), "tok-123")
	assert.NotContains(t, err.Error(), "pw-456")
}

func TestOptionsAreValidated(t *testing.T) {
	t.Parallel()
	for _, opt := range []local.Option{local.WithKillGrace(0), local.WithLogger(nil), local.WithHostName("")} {
		_, err := local.New(opt)
		assert.Error(t, err)
	}
	tr := newLocal(t)
	assert.Equal(t, "localhost", tr.Host())
	assert.Equal(t, "localhost", transport.HostName(tr))
}

func TestUploadUnknownOwnerLeavesNothing(t *testing.T) {
	t.Parallel()
	tr := newLocal(t)
	dir := t.TempDir()
	_, err := tr.Upload(t.Context(), filepath.Join(dir, "f"), strings.NewReader("x"), transport.FileOptions{Owner: "upgradekit-no-such-user"})
	assert.ErrorContains(t, err, "upgradekit-no-such-user")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = tr.Upload(ctx, filepath.Join(dir, "f"), strings.NewReader("x"), transport.FileOptions{})
	assert.ErrorIs(t, err, context.Canceled)
	entries, err = os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries, "a cancelled upload leaves no temp file")
}
