package transporttest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	mrand "math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/transport"
)

// DefaultLargeFileBytes is the size of the file the upload and download
// test sends when Config.LargeFileBytes is zero.
const DefaultLargeFileBytes = 256 << 20

// Config adapts the suite to a transport. The zero value runs every test
// and suits a transport to a real host (local, ssh).
type Config struct {
	// LargeFileBytes is the size of the file uploaded and downloaded with
	// a checksum; 0 means DefaultLargeFileBytes, negative skips the test.
	// The data comes from a deterministic PRNG stream and is never held
	// whole in memory by the suite.
	LargeFileBytes int64
	// Concurrency is the number of goroutines running commands at once in
	// the concurrent-Run test; 0 means 20.
	Concurrency int
	// CancelWithin is how long a cancelled or timed-out command may take
	// to return; 0 means 10s (generous for loaded CI machines).
	CancelWithin time.Duration
	// SkipProc skips what needs the host's /proc read through Run: that a
	// cancelled command's processes are gone, and that a SecretEnv value
	// is absent from every /proc/*/cmdline while the command runs. Set it
	// for fakes and simulators.
	SkipProc bool
	// SkipFiles declares that commands and file transfers do not share a
	// real filesystem (fakes): it skips WithSecretFile, a hostile Dir and
	// the upload into a non-writable directory, and uses Stat (required
	// then) to check an upload's mode and owner.
	SkipFiles bool
	// Stat, when set, reports a file's mode, owner and group after an
	// upload, instead of running stat(1) through the transport.
	Stat func(t transport.Transport, path string) (FileInfo, error)
	// Sudo declares that the login user may run `sudo -n`: the suite then
	// also runs argv, env and SecretEnv checks through sudo.
	Sudo bool
}

// FileInfo is what Config.Stat reports.
type FileInfo struct {
	Mode         fs.FileMode
	Owner, Group string
}

func (c Config) withDefaults() Config {
	if c.LargeFileBytes == 0 {
		c.LargeFileBytes = DefaultLargeFileBytes
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 20
	}
	if c.CancelWithin <= 0 {
		c.CancelWithin = 10 * time.Second
	}
	return c
}

// suite carries what every check needs.
type suite struct {
	cfg          Config
	newTransport func(t *testing.T) transport.Transport
}

// Run runs the conformance suite against the transports newTransport
// returns; it is called once per subtest and the suite closes what it
// gets (Close must be idempotent, so the factory may also close it in
// t.Cleanup). At most one Config may be given; without one the zero
// Config is used.
//
// The checks run one after another (the leak check needs a quiet
// process): call Run from a test that is not parallel.
func Run(t *testing.T, newTransport func(t *testing.T) transport.Transport, cfg ...Config) {
	t.Helper()
	if len(cfg) > 1 {
		t.Fatalf("transporttest.Run: at most one Config, got %d", len(cfg))
	}
	var c Config
	if len(cfg) == 1 {
		c = cfg[0]
	}
	if c.SkipFiles && c.Stat == nil {
		t.Fatal("transporttest.Run: Config.SkipFiles needs Config.Stat")
	}
	s := &suite{cfg: c.withDefaults(), newTransport: newTransport}
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, tr transport.Transport)
	}{
		{"ExitCodes", s.testExitCodes},
		{"StdoutStderr", s.testStdoutStderr},
		{"Stdin", s.testStdin},
		{"Env", s.testEnv},
		{"Dir", s.testDir},
		{"HostileArgs", s.testHostileArgs},
		{"HugeOutput", s.testHugeOutput},
		{"StdoutWriter", s.testStdoutWriter},
		{"Cancel", s.testCancel},
		{"Timeout", s.testTimeout},
		{"ConcurrentRun", s.testConcurrentRun},
		{"DoubleClose", s.testDoubleClose},
		{"SecretEnv", s.testSecretEnv},
		{"SecretFile", s.testSecretFile},
		{"UploadDownloadLarge", s.testUploadDownloadLarge},
		{"UploadModeOwner", s.testUploadModeOwner},
		{"UploadNotWritable", s.testUploadNotWritable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTransport(t)
			require.NotNil(t, tr, "newTransport returned nil")
			t.Cleanup(func() { assert.NoError(t, tr.Close(), "Close") })
			tc.fn(t, tr)
		})
	}
}

// HostileArgs returns arguments that a careless quoter breaks: command
// substitution, quotes, backslashes, newlines, leading dashes, globs,
// tildes, spaces, unicode, invalid UTF-8 and the empty string. Every call
// returns a new slice.
func HostileArgs() []string {
	return []string{
		"$(id)", "`id`", "$(touch /tmp/upgradekit-pwned)", "${HOME}", "$HOME", "$1", "$@",
		"'", `"`, `\`, `\\`, `'\''`, `"'"'"`, `\'`, `it's`, `say "hi"`,
		"a\nb", "\n", "trailing\n", "\r\n", "tab\there",
		"-n", "-e", "--", "-", "--help", "-rf /",
		"*", "?", "[a-z]", "{a,b}", "~", "~root", "~/x", "a*b",
		"a b", " lead", "trail ", "  ", "a;b", "a|b", "a&b", "a&&b", "<in", ">out", "2>&1", "(x)",
		"!", "!!", "#comment", "a#b", "=", "A=B", "%s", "%%", `\0`, `\n`,
		"ünïcødé ✓", "日本語", "🙂", "\u202e", "\x01\x1f\x7f", "\xff\xfe",
		"",
	}
}

func (s *suite) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// run runs cmd and requires that it ran (err == nil).
func run(t *testing.T, ctx context.Context, tr transport.Transport, cmd transport.Command) transport.Result {
	t.Helper()
	res, err := tr.Run(ctx, cmd)
	require.NoError(t, err, "run %s", cmd)
	return res
}

// output runs cmd and requires exit 0, returning stdout.
func output(t *testing.T, ctx context.Context, tr transport.Transport, cmd transport.Command) string {
	t.Helper()
	out, err := transport.Output(ctx, tr, cmd)
	require.NoError(t, err)
	return string(out)
}

func (s *suite) testExitCodes(t *testing.T, tr transport.Transport) {
	ctx := s.ctx(t)
	for _, code := range []int{0, 1, 3, 255} {
		res := run(t, ctx, tr, transport.Shell(`exit "$1"`, strconv.Itoa(code)))
		assert.Equal(t, code, res.ExitCode, "exit %d", code)
		assert.Empty(t, res.Signal)
		assert.Equal(t, code == 0, res.Success())

		err := transport.Check(ctx, tr, transport.Shell(`echo "failing $1" >&2; exit "$1"`, strconv.Itoa(code)))
		if code == 0 {
			assert.NoError(t, err)
			continue
		}
		got, ok := transport.ExitCode(err)
		assert.True(t, ok, "Check error %v carries no *ExitError", err)
		assert.Equal(t, code, got)
		assert.ErrorContains(t, err, fmt.Sprintf("failing %d", code), "ExitError shows the stderr tail")
	}
	res := run(t, ctx, tr, transport.Cmd("/nonexistent/upgradekit-no-such-program", "x"))
	assert.Equal(t, 127, res.ExitCode, "a missing program exits 127 like in a shell")
}

func (s *suite) testStdoutStderr(t *testing.T, tr transport.Transport) {
	ctx := s.ctx(t)
	res := run(t, ctx, tr, transport.Shell(`printf out1; printf err1 >&2; printf out2; printf 'err2\n' >&2; exit 4`))
	assert.Equal(t, "out1out2", string(res.Stdout))
	assert.Equal(t, "err1err2\n", string(res.Stderr))
	assert.Equal(t, 4, res.ExitCode)
	assert.False(t, res.StdoutTruncated || res.StderrTruncated)

	res = run(t, ctx, tr, transport.Cmd("true"))
	assert.Empty(t, res.Stdout, "no output is empty")
	assert.Empty(t, res.Stderr)
}

func (s *suite) testStdin(t *testing.T, tr transport.Transport) {
	ctx := s.ctx(t)
	// Binary data with every byte value, NULs and no final newline.
	data := make([]byte, 1<<20+7)
	prng(1).Read(data)
	cmd := transport.Cmd("cat")
	cmd.Stdin = bytes.NewReader(data)
	out := output(t, ctx, tr, cmd)
	assert.True(t, out == string(data), "stdin came back changed: %d bytes in, %d out", len(data), len(out))

	// No Stdin means empty stdin: cat must not block.
	cctx, cancel := context.WithTimeout(ctx, s.cfg.CancelWithin)
	defer cancel()
	out2, err := transport.Output(cctx, tr, transport.Cmd("cat"))
	require.NoError(t, err, "cat without Stdin must see EOF at once")
	assert.Empty(t, out2)
}

func (s *suite) testEnv(t *testing.T, tr transport.Transport) {
	ctx := s.ctx(t)
	env := map[string]string{
		"UK_A": "$(id) `id` 'single' \"double\" \\ back\nnewline *",
		"UK_B": "x y",
		"UK_C": "",
	}
	script := `printf '%s|%s|%s|%s' "$UK_A" "$UK_B" "${UK_C-unset}" "${UK_D-unset}"`
	want := env["UK_A"] + "|x y||unset"
	cmd := transport.Shell(script)
	cmd.Env = env
	assert.Equal(t, want, output(t, ctx, tr, cmd))
	if s.cfg.Sudo {
		assert.Equal(t, want, output(t, ctx, tr, cmd.AsRoot()), "with sudo")
	}

	bad := transport.Cmd("true")
	bad.Env = map[string]string{"A B": "x"}
	_, err := tr.Run(ctx, bad)
	assert.Error(t, err, "an invalid variable name is refused")
}

func (s *suite) testDir(t *testing.T, tr transport.Transport) {
	ctx := s.ctx(t)
	cmd := transport.Cmd("pwd")
	cmd.Dir = "/"
	assert.Equal(t, "/\n", output(t, ctx, tr, cmd))

	if s.cfg.SkipFiles {
		return
	}
	base := tempDir(t, ctx, tr)
	dir := base + "/d $(id) 'q' ü"
	output(t, ctx, tr, transport.Shell(`mkdir -- "$1"`, dir))
	cmd.Dir = dir
	assert.Equal(t, dir+"\n", output(t, ctx, tr, cmd))

	cmd.Dir = base + "/missing"
	res, err := tr.Run(ctx, cmd)
	if err == nil {
		assert.NotZero(t, res.ExitCode, "a missing Dir must not run the command")
		assert.Empty(t, res.Stdout)
	}
}

func (s *suite) testHostileArgs(t *testing.T, tr transport.Transport) {
	ctx := s.ctx(t)
	args := HostileArgs()
	check := func(name string, cmd transport.Command) {
		t.Helper()
		out := output(t, ctx, tr, cmd)
		got := strings.Split(out, "\x00")
		require.NotEmpty(t, got)
		assert.Equal(t, "", got[len(got)-1], "%s: output must end in NUL", name)
		got = got[:len(got)-1]
		assert.Equal(t, args, got, "%s: argv did not round-trip", name)
	}
	check("shell", transport.Shell(`printf '%s\0' "$@"`, args...))
	check("argv", transport.Cmd("printf", append([]string{`%s\0`}, args...)...))
	for _, a := range args {
		// One at a time, so a failure names the argument.
		out := output(t, ctx, tr, transport.Shell(`printf '%s' "$1"`, a))
		assert.Equal(t, a, out, "argument %q", a)
	}
	if s.cfg.Sudo {
		check("sudo", transport.Shell(`printf '%s\0' "$@"`, args...).AsRoot())
	}
}

func (s *suite) testHugeOutput(t *testing.T, tr transport.Transport) {
	ctx := s.ctx(t)
	const limit = 4096
	line := strings.Repeat("0123456789abcdef", 64) // 1 KiB per line
	script := `out() { printf 'HEAD-MARK\n'; i=0; while [ "$i" -lt "$1" ]; do printf '%s\n' "$2"; i=$((i+1)); done; printf 'TAIL-MARK\n'; }; out "$@"; out "$@" >&2`
	cmd := transport.Shell(script, "2048", line)
	cmd.MaxOutput = limit
	res := run(t, ctx, tr, cmd)
	for name, got := range map[string][]byte{"stdout": res.Stdout, "stderr": res.Stderr} {
		assert.LessOrEqual(t, len(got), limit+100, "%s capture is bounded", name)
		assert.True(t, bytes.HasPrefix(got, []byte("HEAD-MARK\n")), "%s keeps the head", name)
		assert.True(t, bytes.HasSuffix(got, []byte("TAIL-MARK\n")), "%s keeps the tail", name)
	}
	assert.True(t, res.StdoutTruncated, "StdoutTruncated")
	assert.True(t, res.StderrTruncated, "StderrTruncated")
	assert.Zero(t, res.ExitCode)

	_, err := transport.Output(ctx, tr, cmd)
	assert.ErrorIs(t, err, transport.ErrTruncated)

	cmd = transport.Shell(script, "2", "short")
	cmd.MaxOutput = limit
	res = run(t, ctx, tr, cmd)
	assert.Equal(t, "HEAD-MARK\nshort\nshort\nTAIL-MARK\n", string(res.Stdout))
	assert.False(t, res.StdoutTruncated)
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// eventually polls cond every 20ms until it is true or within passes.
func eventually(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *suite) testStdoutWriter(t *testing.T, tr transport.Transport) {
	ctx := s.ctx(t)
	var out, errb syncBuffer
	cmd := transport.Shell(`printf 'one\n'; printf 'e\n' >&2; printf 'two\n'`)
	cmd.Stdout, cmd.Stderr = &out, &errb
	res := run(t, ctx, tr, cmd)
	assert.Equal(t, "one\ntwo\n", out.String())
	assert.Equal(t, "e\n", errb.String())
	assert.Nil(t, res.Stdout, "Result.Stdout stays nil with a writer")
	assert.Nil(t, res.Stderr, "Result.Stderr stays nil with a writer")

	// Output streams while the command runs: "ready" arrives before the
	// command (sleeping) could end.
	var live syncBuffer
	cmd = transport.Shell(`printf 'ready\n'; sleep 60`)
	cmd.Stdout = &live
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := tr.Run(cctx, cmd)
		done <- err
	}()
	streamed := eventually(s.cfg.CancelWithin, func() bool { return live.String() == "ready\n" })
	cancel()
	select {
	case err := <-done:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(s.cfg.CancelWithin):
		t.Errorf("Run did not return within %s of cancel", s.cfg.CancelWithin)
	}
	assert.True(t, streamed, "stdout did not stream before exit: got %q", live.String())
}

// settledGoroutines waits until the goroutine count drops to at most
// baseline and returns the last count seen.
func settledGoroutines(baseline int, within time.Duration) int {
	n := runtime.NumGoroutine()
	eventually(within, func() bool {
		runtime.GC()
		n = runtime.NumGoroutine()
		return n <= baseline
	})
	return n
}

func (s *suite) testCancel(t *testing.T, tr transport.Transport) {
	ctx := s.ctx(t)
	// Warm up (connections, pools), then take the baseline.
	run(t, ctx, tr, transport.Cmd("true"))
	time.Sleep(100 * time.Millisecond)
	baseline := runtime.NumGoroutine()

	cmd := transport.Cmd("sleep", "60")
	var pidFile string
	if !s.cfg.SkipProc {
		pidFile = tempDir(t, ctx, tr) + "/pids"
		// $$ is the shell, $c a child in the same session: both must go.
		cmd = transport.Shell(`sleep 60 & c=$!; printf '%s %s\n' "$$" "$c" > "$1.tmp"; mv -- "$1.tmp" "$1"; wait "$c"`, pidFile)
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := tr.Run(cctx, cmd)
		done <- err
	}()

	var pids []string
	if !s.cfg.SkipProc {
		ok := eventually(s.cfg.CancelWithin, func() bool {
			res, err := tr.Run(ctx, transport.Shell(`cat -- "$1" 2>/dev/null`, pidFile))
			if err != nil || res.ExitCode != 0 {
				return false
			}
			pids = strings.Fields(string(res.Stdout))
			return len(pids) == 2
		})
		if !ok {
			cancel()
			<-done
			t.Fatalf("the command never wrote its pid file %s", pidFile)
		}
	} else {
		time.Sleep(100 * time.Millisecond) // let it start
	}

	start := time.Now()
	cancel()
	select {
	case err := <-done:
		assert.ErrorIs(t, err, context.Canceled, "a cancelled Run returns an error matching context.Canceled")
		t.Logf("cancelled Run returned in %s", time.Since(start).Round(time.Millisecond))
	case <-time.After(s.cfg.CancelWithin):
		t.Fatalf("Run did not return within %s of cancel", s.cfg.CancelWithin)
	}

	if !s.cfg.SkipProc {
		var alive string
		gone := eventually(s.cfg.CancelWithin, func() bool {
			// A zombie waiting for its reaper counts as gone.
			res, err := tr.Run(ctx, transport.Shell(`for p in "$@"; do s=$(cut -d' ' -f3 "/proc/$p/stat" 2>/dev/null) && [ "$s" != Z ] && printf '%s ' "$p"; done; exit 0`, pids...))
			if err != nil {
				return false
			}
			alive = string(res.Stdout)
			return alive == ""
		})
		assert.True(t, gone, "processes still alive after cancel: %s (of %v)", alive, pids)
	}

	if n := settledGoroutines(baseline, 5*time.Second); n > baseline {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		t.Errorf("goroutines leaked by a cancelled Run: %d after, %d before\n%s", n, baseline, buf)
	}

	// The transport is still usable after a cancel.
	assert.Equal(t, "ok", output(t, ctx, tr, transport.Shell(`printf ok`)))
}

func (s *suite) testTimeout(t *testing.T, tr transport.Transport) {
	ctx := s.ctx(t)
	// Connect first: the timeout below is then spent in the command, not
	// in a handshake that a loaded machine can make last longer.
	run(t, ctx, tr, transport.Cmd("true"))
	cmd := transport.Cmd("sleep", "60")
	cmd.Timeout = 300 * time.Millisecond
	start := time.Now()
	_, err := tr.Run(ctx, cmd)
	took := time.Since(start)
	require.Error(t, err)
	assert.ErrorIs(t, err, transport.ErrTimeout)
	te, ok := errors.AsType[*transport.TimeoutError](err)
	if assert.True(t, ok, "error %v is not a *TimeoutError", err) {
		assert.Equal(t, cmd.Timeout, te.After)
	}
	assert.Less(t, took, s.cfg.CancelWithin, "timeout took too long")
	assert.NoError(t, ctx.Err(), "the caller's context is untouched")

	cmd = transport.Shell(`printf done`)
	cmd.Timeout = time.Minute
	assert.Equal(t, "done", output(t, ctx, tr, cmd), "a command within its timeout succeeds")
}

func (s *suite) testConcurrentRun(t *testing.T, tr transport.Transport) {
	ctx := s.ctx(t)
	n := s.cfg.Concurrency
	type outcome struct {
		out string
		err error
	}
	results := make([]outcome, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			cmd := transport.Shell(`printf '%s:' "$1"; cat`, strconv.Itoa(i))
			cmd.Stdin = strings.NewReader(strings.Repeat(fmt.Sprintf("payload-%d;", i), 1000))
			out, err := transport.Output(ctx, tr, cmd)
			results[i] = outcome{string(out), err}
		})
	}
	wg.Wait()
	for i, r := range results {
		if assert.NoError(t, r.err, "goroutine %d", i) {
			want := strconv.Itoa(i) + ":" + strings.Repeat(fmt.Sprintf("payload-%d;", i), 1000)
			assert.True(t, r.out == want, "goroutine %d got another command's output: %.60q...", i, r.out)
		}
	}
}

func (s *suite) testDoubleClose(t *testing.T, tr transport.Transport) {
	ctx := s.ctx(t)
	output(t, ctx, tr, transport.Cmd("true"))
	assert.NoError(t, tr.Close(), "first Close")
	assert.NoError(t, tr.Close(), "second Close")
	_, err := tr.Run(ctx, transport.Cmd("true"))
	assert.ErrorIs(t, err, transport.ErrClosed, "Run after Close")
}

func randomSecret(t *testing.T) transport.Secret {
	b := make([]byte, 12)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return transport.NewSecret("uk-secret-" + hex.EncodeToString(b))
}

func (s *suite) testSecretEnv(t *testing.T, tr transport.Transport) {
	ctx := s.ctx(t)
	sec := randomSecret(t)
	val := sec.Reveal()
	variants := []transport.Command{transport.Shell(`printf '%s' "$UK_SECRET"`)}
	if s.cfg.Sudo {
		variants = append(variants, transport.Shell(`printf '%s' "$UK_SECRET"`).AsRoot())
	}
	for _, cmd := range variants {
		cmd.SecretEnv = map[string]transport.Secret{"UK_SECRET": sec}
		cmd.Env = map[string]string{"UK_PLAIN": "plain"}
		res := run(t, ctx, tr, cmd)
		assert.Equal(t, val, string(res.Stdout), "the command sees the secret")
		assert.NotContains(t, cmd.String(), val)
		assert.NotContains(t, res.Cmd, val, "Result.Cmd")
	}

	// The command's own stdin arrives intact after the secret.
	cmd := transport.Shell(`printf '%s|%s|' "$UK_SECRET" "$UK_OTHER"; cat`)
	cmd.SecretEnv = map[string]transport.Secret{"UK_SECRET": sec, "UK_OTHER": transport.NewSecret("two")}
	cmd.Stdin = strings.NewReader("line1\nline2")
	assert.Equal(t, val+"|two|line1\nline2", output(t, ctx, tr, cmd))

	// A failing command that prints the secret: the error masks it.
	cmd = transport.Shell(`printf 'bad password %s\n' "$UK_SECRET" >&2; exit 2`)
	cmd.SecretEnv = map[string]transport.Secret{"UK_SECRET": sec}
	err := transport.Check(ctx, tr, cmd)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), val)
	assert.Contains(t, err.Error(), "bad password [REDACTED]")
	if ee, ok := errors.AsType[*transport.ExitError](err); assert.True(t, ok) {
		assert.NotContains(t, string(ee.Stderr), val)
	}

	if s.cfg.SkipProc {
		return
	}
	// While a command holding the secret runs, no process's argv has it.
	// Dir is set because a remote shell running `cd DIR && ...` stays
	// alive as the command's parent (a lone command is exec'd, and its
	// argv replaced); with sudo, sudo stays as the parent too.
	s.scanCmdline(t, ctx, tr, sec, false)
	if s.cfg.Sudo {
		s.scanCmdline(t, ctx, tr, sec, true)
	}
}

func (s *suite) scanCmdline(t *testing.T, ctx context.Context, tr transport.Transport, sec transport.Secret, sudo bool) {
	t.Helper()
	dir := tempDir(t, ctx, tr)
	marker := "uk-marker-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	cmd := transport.Shell(`printf '%s\n' "$$" > "$1.tmp"; mv -- "$1.tmp" "$1"; sleep 30; : "$2"`, dir+"/pid", marker)
	cmd.SecretEnv = map[string]transport.Secret{"UK_SECRET": sec}
	cmd.Env = map[string]string{"UK_PLAIN": "plain"}
	cmd.Dir = "/"
	cmd.Sudo = sudo
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := tr.Run(cctx, cmd)
		done <- err
	}()
	defer func() { cancel(); <-done }()
	started := eventually(s.cfg.CancelWithin, func() bool {
		res, err := tr.Run(ctx, transport.Shell(`test -s "$1"`, dir+"/pid"))
		return err == nil && res.ExitCode == 0
	})
	require.True(t, started, "the command holding the secret never started (sudo %v)", sudo)
	res := run(t, ctx, tr, transport.Shell(`for f in /proc/[0-9]*/cmdline; do tr '\0' ' ' < "$f" 2>/dev/null; echo; done; exit 0`))
	assert.True(t, strings.Contains(string(res.Stdout), marker), "the /proc scan did not see the running command")
	var leaks []string
	for _, line := range strings.Split(string(res.Stdout), "\n") {
		if strings.Contains(line, sec.Reveal()) {
			leaks = append(leaks, strings.ReplaceAll(line, sec.Reveal(), "<SECRET>"))
		}
	}
	assert.Empty(t, leaks, "the secret is in these processes' argv (sudo %v)", sudo)
}

func (s *suite) testSecretFile(t *testing.T, tr transport.Transport) {
	if s.cfg.SkipFiles {
		t.Skip("Config.SkipFiles")
	}
	ctx := s.ctx(t)
	sec := randomSecret(t)
	var path string
	err := transport.WithSecretFile(ctx, tr, sec, false, func(p string) error {
		path = p
		res, err := tr.Run(ctx, transport.Shell(`stat -c '%a' -- "$1"; cat -- "$1"`, p))
		if err != nil {
			return err
		}
		assert.Equal(t, "600\n"+sec.Reveal(), string(res.Stdout), "secret file mode and content")
		return nil
	})
	require.NoError(t, err)
	require.NotEmpty(t, path)
	res := run(t, ctx, tr, transport.Shell(`test -e "$1"`, path))
	assert.NotZero(t, res.ExitCode, "secret file %s left behind", path)

	// Removed even when fn fails.
	fnErr := errors.New("fn failed")
	err = transport.WithSecretFile(ctx, tr, sec, false, func(p string) error { path = p; return fnErr })
	assert.ErrorIs(t, err, fnErr)
	res = run(t, ctx, tr, transport.Shell(`test -e "$1"`, path))
	assert.NotZero(t, res.ExitCode, "secret file %s left behind after fn failed", path)
}

// tempDir makes a directory on the host, removed after the test.
func tempDir(t *testing.T, ctx context.Context, tr transport.Transport) string {
	t.Helper()
	res := run(t, ctx, tr, transport.Cmd("mktemp", "-d", "/tmp/upgradekit-transporttest.XXXXXXXX"))
	require.Zero(t, res.ExitCode, "mktemp: %s", res.Stderr)
	dir := strings.TrimSpace(string(res.Stdout))
	require.True(t, strings.HasPrefix(dir, "/tmp/upgradekit-transporttest."), "mktemp printed %q", dir)
	t.Cleanup(func() {
		// Cleanups run last-registered first: tr is still open here
		// unless the test closed it.
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := tr.Run(cctx, transport.Cmd("rm", "-rf", "--", dir)); err != nil {
			t.Logf("remove %s: %v", dir, err)
		}
	})
	return dir
}

func prng(seed uint64) *mrand.ChaCha8 {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	return mrand.NewChaCha8(s)
}

// fileDir returns a directory for uploads: a real temp dir, or a made-up
// path with SkipFiles.
func (s *suite) fileDir(t *testing.T, ctx context.Context, tr transport.Transport) string {
	if s.cfg.SkipFiles {
		return "/transporttest/" + strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	}
	return tempDir(t, ctx, tr)
}

func (s *suite) testUploadDownloadLarge(t *testing.T, tr transport.Transport) {
	if s.cfg.LargeFileBytes < 0 {
		t.Skip("Config.LargeFileBytes < 0")
	}
	ctx := s.ctx(t)
	size := s.cfg.LargeFileBytes
	dst := s.fileDir(t, ctx, tr) + "/large.bin"

	sent := sha256.New()
	src := io.TeeReader(io.LimitReader(prng(42), size), sent)
	start := time.Now()
	up, err := transport.Upload(ctx, tr, dst, src, transport.FileOptions{Mode: 0o600})
	require.NoError(t, err)
	upTook := time.Since(start)
	want := hex.EncodeToString(sent.Sum(nil))
	assert.Equal(t, size, up.Bytes, "uploaded bytes")
	assert.Equal(t, want, up.SHA256, "upload checksum")

	got := sha256.New()
	cw := &countWriter{w: got}
	start = time.Now()
	down, err := transport.Download(ctx, tr, dst, cw, transport.FileOptions{})
	require.NoError(t, err)
	downTook := time.Since(start)
	assert.Equal(t, size, cw.n, "downloaded bytes")
	assert.Equal(t, size, down.Bytes)
	assert.Equal(t, want, hex.EncodeToString(got.Sum(nil)), "downloaded content differs")
	assert.Equal(t, want, down.SHA256, "download checksum")
	t.Logf("%d MiB: upload %s (%.0f MiB/s), download %s (%.0f MiB/s)", size>>20,
		upTook.Round(time.Millisecond), mibps(size, upTook), downTook.Round(time.Millisecond), mibps(size, downTook))

	// Replacing an existing file works and leaves no temp files.
	up, err = transport.Upload(ctx, tr, dst, strings.NewReader("small"), transport.FileOptions{})
	require.NoError(t, err)
	assert.Equal(t, int64(5), up.Bytes)
	var buf bytes.Buffer
	_, err = transport.Download(ctx, tr, dst, &buf, transport.FileOptions{})
	require.NoError(t, err)
	assert.Equal(t, "small", buf.String())
	if !s.cfg.SkipFiles {
		res := run(t, ctx, tr, transport.Shell(`cd -- "$1" && ls -A`, dst[:strings.LastIndexByte(dst, '/')]))
		assert.Equal(t, "large.bin\n", string(res.Stdout), "only the uploaded file is left")
	}

	_, err = transport.Download(ctx, tr, dst+".missing", io.Discard, transport.FileOptions{})
	assert.Error(t, err, "downloading a missing file")
	if !s.cfg.SkipFiles {
		_, err = transport.Download(ctx, tr, dst[:strings.LastIndexByte(dst, '/')], io.Discard, transport.FileOptions{})
		assert.Error(t, err, "downloading a directory")
	}
}

func mibps(n int64, d time.Duration) float64 {
	return float64(n) / (1 << 20) / max(d.Seconds(), 1e-9)
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func (s *suite) stat(t *testing.T, ctx context.Context, tr transport.Transport, path string) FileInfo {
	t.Helper()
	if s.cfg.Stat != nil {
		fi, err := s.cfg.Stat(tr, path)
		require.NoError(t, err)
		return fi
	}
	out := output(t, ctx, tr, transport.Cmd("stat", "-c", "%a %U %G", "--", path))
	f := strings.Fields(out)
	require.Len(t, f, 3, "stat printed %q", out)
	mode, err := strconv.ParseUint(f[0], 8, 32)
	require.NoError(t, err)
	return FileInfo{Mode: fs.FileMode(mode), Owner: f[1], Group: f[2]}
}

func (s *suite) testUploadModeOwner(t *testing.T, tr transport.Transport) {
	ctx := s.ctx(t)
	dir := s.fileDir(t, ctx, tr)
	owner, group := "upgradekit", "upgradekit"
	if !s.cfg.SkipFiles {
		// Chown to ourselves always works; as root, give it away.
		id := strings.Fields(output(t, ctx, tr, transport.Shell(`id -u; id -un; id -gn`)))
		require.Len(t, id, 3)
		owner, group = id[1], id[2]
		if id[0] == "0" {
			ng := strings.Fields(output(t, ctx, tr, transport.Shell(`id -un nobody && id -gn nobody`)))
			require.Len(t, ng, 2)
			owner, group = ng[0], ng[1]
		}
	}
	for _, mode := range []fs.FileMode{0o600, 0o640, 0o755} {
		dst := fmt.Sprintf("%s/f%o", dir, mode)
		_, err := transport.Upload(ctx, tr, dst, strings.NewReader("content"),
			transport.FileOptions{Mode: mode, Owner: owner, Group: group})
		require.NoError(t, err)
		fi := s.stat(t, ctx, tr, dst)
		assert.Equal(t, mode, fi.Mode, "mode of %s", dst)
		assert.Equal(t, owner, fi.Owner, "owner of %s", dst)
		assert.Equal(t, group, fi.Group, "group of %s", dst)
	}
	dst := dir + "/default"
	_, err := transport.Upload(ctx, tr, dst, strings.NewReader(""), transport.FileOptions{})
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o644), s.stat(t, ctx, tr, dst).Mode, "default mode")
}

func (s *suite) testUploadNotWritable(t *testing.T, tr transport.Transport) {
	if s.cfg.SkipFiles {
		t.Skip("Config.SkipFiles")
	}
	ctx := s.ctx(t)
	dir := tempDir(t, ctx, tr)
	// A regular file as the parent directory fails even for root.
	output(t, ctx, tr, transport.Shell(`printf x > "$1/file"`, dir))
	_, err := transport.Upload(ctx, tr, dir+"/file/dst", strings.NewReader("data"), transport.FileOptions{})
	assert.Error(t, err, "upload below a regular file")

	// A read-only directory fails for anyone but root.
	if strings.TrimSpace(output(t, ctx, tr, transport.Cmd("id", "-u"))) != "0" {
		output(t, ctx, tr, transport.Shell(`mkdir -m 0555 -- "$1/ro"`, dir))
		_, err = transport.Upload(ctx, tr, dir+"/ro/dst", strings.NewReader("data"), transport.FileOptions{})
		assert.Error(t, err, "upload into a 0555 directory")
		output(t, ctx, tr, transport.Shell(`chmod 0755 -- "$1/ro"`, dir))
		res := run(t, ctx, tr, transport.Shell(`ls -A -- "$1/ro"`, dir))
		assert.Empty(t, string(res.Stdout), "nothing left in the read-only directory")
	}
	res := run(t, ctx, tr, transport.Shell(`ls -A -- "$1"`, dir))
	assert.Subset(t, []string{"file", "ro"}, strings.Fields(string(res.Stdout)), "nothing left behind")
}
