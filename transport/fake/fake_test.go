package fake_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/transport/fake"
)

// recTB records what AssertExpectations reports instead of failing the
// real test.
type recTB struct {
	testing.TB
	errs []string
}

func (r *recTB) Helper() {}

func (r *recTB) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func TestUnexpectedCommandFailsAndIsReported(t *testing.T) {
	t.Parallel()
	f := fake.New("fe1")
	f.Expect(fake.Exact("systemctl", "stop", "opennebula"))

	res, err := f.Run(t.Context(), transport.Cmd("systemctl", "stop", "opennebual"))
	require.Error(t, err)
	assert.ErrorIs(t, err, fake.ErrUnexpected)
	assert.Contains(t, err.Error(), "systemctl stop opennebual", "the error names the argv")
	assert.Equal(t, transport.Result{}, res)

	calls := f.Calls()
	require.Len(t, calls, 1)
	assert.True(t, calls[0].Unexpected)
	assert.ErrorIs(t, calls[0].Err, fake.ErrUnexpected)

	rec := &recTB{TB: t}
	assert.False(t, f.AssertExpectations(rec))
	require.Len(t, rec.errs, 1)
	assert.Contains(t, rec.errs[0], "unexpected command: systemctl stop opennebual")
	assert.Contains(t, rec.errs[0], "expected [systemctl stop opennebula] once, got 0 (registered at fake_test.go:")
}

func TestExpectationsInOrderSkippingUsedUp(t *testing.T) {
	t.Parallel()
	f := fake.New("fe1")
	f.Expect(fake.Exact("onezone", "show", "0")).Reply("first").Times(2)
	f.Expect(fake.Prefix("onezone", "show")).Reply("second")
	f.Expect(fake.Exact("onezone", "show", "0")).Reply("never: the prefix above matches first")

	ctx := t.Context()
	var got []string
	for range 3 {
		out, err := transport.Output(ctx, f, transport.Cmd("onezone", "show", "0"))
		require.NoError(t, err)
		got = append(got, string(out))
	}
	assert.Equal(t, []string{"first", "first", "second"}, got)

	_, err := f.Run(ctx, transport.Cmd("onezone", "show", "1"))
	assert.ErrorIs(t, err, fake.ErrUnexpected, "all matching expectations are used up except the third, which does not match")

	rec := &recTB{TB: t}
	f.AssertExpectations(rec)
	require.Len(t, rec.errs, 1)
	assert.Contains(t, rec.errs[0], "unexpected command: onezone show 1")
	assert.Contains(t, rec.errs[0], "expected [onezone show 0] once, got 0")
}

func TestAnyIsUnlimitedAndOptional(t *testing.T) {
	t.Parallel()
	f := fake.New("fe1")
	e := f.Expect(fake.Prefix("systemctl", "is-active")).Stdout("active\n").Any()
	f.Expect(fake.Exact("never", "called")).Any()
	for range 5 {
		require.NoError(t, transport.Check(t.Context(), f, transport.Query("systemctl", "is-active", "x")))
	}
	assert.Equal(t, 5, e.Count())
	assert.True(t, f.AssertExpectations(t))
}

func TestMatchers(t *testing.T) {
	t.Parallel()
	sudo := transport.Cmd("systemctl", "stop", "opennebula").AsRoot()
	plain := transport.Cmd("systemctl", "stop", "opennebula")
	tests := []struct {
		name    string
		m       fake.Matcher
		cmd     transport.Command
		matches bool
	}{
		{"exact", fake.Exact("systemctl", "stop", "opennebula"), plain, true},
		{"exact ignores sudo", fake.Exact("systemctl", "stop", "opennebula"), sudo, true},
		{"exact longer", fake.Exact("systemctl", "stop"), plain, false},
		{"exact shorter", fake.Exact("systemctl", "stop", "opennebula", "x"), plain, false},
		{"prefix", fake.Prefix("systemctl", "stop"), plain, true},
		{"prefix whole", fake.Prefix("systemctl", "stop", "opennebula"), plain, true},
		{"prefix other", fake.Prefix("systemctl", "start"), plain, false},
		{"prefix too long", fake.Prefix("systemctl", "stop", "opennebula", "x"), plain, false},
		{"exact empty arg", fake.Exact("echo", ""), transport.Cmd("echo", ""), true},
		{"exact no empty arg", fake.Exact("echo"), transport.Cmd("echo", ""), false},
		{"func sudo", fake.Func(func(c transport.Command) bool { return c.Sudo }), sudo, true},
		{"func not sudo", fake.Func(func(c transport.Command) bool { return c.Sudo }), plain, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.matches, tt.m.Match(tt.cmd))
			assert.NotEmpty(t, tt.m.String())
		})
	}
}

func TestScriptedReplies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		script func(*fake.Expectation)
		want   transport.Result
	}{
		{"default", func(*fake.Expectation) {}, transport.Result{}},
		{"reply", func(e *fake.Expectation) { e.Reply("out") }, transport.Result{Stdout: []byte("out")}},
		{"exit with stderr", func(e *fake.Expectation) { e.Exit(255, "File exists", "\n") },
			transport.Result{ExitCode: 255, Stderr: []byte("File exists\n")}},
		{"exit and stdout", func(e *fake.Expectation) { e.Stdout("inactive\n").Exit(3) },
			transport.Result{ExitCode: 3, Stdout: []byte("inactive\n")}},
		{"stderr", func(e *fake.Expectation) { e.Stderr("warn") }, transport.Result{Stderr: []byte("warn")}},
		{"truncate", func(e *fake.Expectation) { e.Reply("<ZONE><ID>0</ID></ZONE>").Truncate(9) },
			transport.Result{Stdout: []byte("<ZONE><ID")}},
		{"truncate past end", func(e *fake.Expectation) { e.Reply("abc").Truncate(10) },
			transport.Result{Stdout: []byte("abc")}},
		{"truncate to nothing", func(e *fake.Expectation) { e.Reply("abc").Truncate(0) }, transport.Result{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := fake.New("fe1")
			tt.script(f.Expect(fake.Exact("cmd")))
			res, err := f.Run(t.Context(), transport.Cmd("cmd"))
			require.NoError(t, err)
			assert.Equal(t, tt.want.ExitCode, res.ExitCode)
			assert.Equal(t, string(tt.want.Stdout), string(res.Stdout))
			assert.Equal(t, string(tt.want.Stderr), string(res.Stderr))
			assert.Equal(t, "fe1", res.Host)
			assert.Equal(t, "cmd", res.Cmd)
			f.AssertExpectations(t)
		})
	}
}

func TestOutputGoesToWritersOrBoundedCapture(t *testing.T) {
	t.Parallel()
	f := fake.New("fe1")
	big := strings.Repeat("x", 1000)
	f.Expect(fake.Exact("big")).Stdout("HEAD" + big + "TAIL").Stderr("err").Times(3)

	var out, errb bytes.Buffer
	cmd := transport.Cmd("big")
	cmd.Stdout, cmd.Stderr = &out, &errb
	res, err := f.Run(t.Context(), cmd)
	require.NoError(t, err)
	assert.Nil(t, res.Stdout)
	assert.Nil(t, res.Stderr)
	assert.Equal(t, "HEAD"+big+"TAIL", out.String())
	assert.Equal(t, "err", errb.String())

	cmd = transport.Cmd("big")
	cmd.MaxOutput = 100
	res, err = f.Run(t.Context(), cmd)
	require.NoError(t, err)
	assert.True(t, res.StdoutTruncated)
	assert.False(t, res.StderrTruncated)
	assert.True(t, bytes.HasPrefix(res.Stdout, []byte("HEAD")))
	assert.True(t, bytes.HasSuffix(res.Stdout, []byte("TAIL")))
	assert.Less(t, len(res.Stdout), 200)

	_, err = transport.Output(t.Context(), f, cmd)
	assert.ErrorIs(t, err, transport.ErrTruncated)
	f.AssertExpectations(t)
}

func TestStdinIsRecorded(t *testing.T) {
	t.Parallel()
	f := fake.New("db1")
	f.Expect(fake.Exact("mysql"))
	f.Expect(fake.Exact("mysql")).Handle(func(ctx context.Context, c transport.Command) (transport.Result, error) {
		buf := make([]byte, 6)
		if _, err := io.ReadFull(c.Stdin, buf); err != nil {
			return transport.Result{}, err
		}
		_, _ = c.Stdout.Write(buf)                                // streamed output...
		return transport.Result{Stdout: []byte("|returned")}, nil // ...then returned output
	})
	for range 2 {
		cmd := transport.Cmd("mysql")
		cmd.Stdin = strings.NewReader("SELECT 1; SELECT 2;")
		res, err := f.Run(t.Context(), cmd)
		require.NoError(t, err)
		if res.Stdout != nil {
			assert.Equal(t, "SELECT|returned", string(res.Stdout))
		}
	}
	calls := f.Calls()
	require.Len(t, calls, 2)
	for _, c := range calls {
		assert.Equal(t, "SELECT 1; SELECT 2;", string(c.Stdin), "a call records all of stdin")
		assert.True(t, c.Done)
	}
	f.AssertExpectations(t)
}

func TestFaults(t *testing.T) {
	t.Parallel()
	t.Run("connection lost before start", func(t *testing.T) {
		t.Parallel()
		f := fake.New("fe1")
		called := false
		f.Expect(fake.Exact("onedb", "upgrade")).ConnectionLost(false).Handle(func(context.Context, transport.Command) (transport.Result, error) {
			called = true
			return transport.Result{}, nil
		})
		cmd := transport.Cmd("onedb", "upgrade")
		cmd.Stdin = strings.NewReader("unread")
		_, err := f.Run(t.Context(), cmd)
		require.ErrorIs(t, err, transport.ErrConnectionLost)
		cl, ok := errors.AsType[*transport.ConnectionLostError](err)
		require.True(t, ok)
		assert.False(t, cl.Started)
		assert.Equal(t, "fe1", cl.Host)
		assert.False(t, called, "nothing ran")
		assert.Empty(t, f.Calls()[0].Stdin, "stdin was not read")
	})
	t.Run("connection lost after start", func(t *testing.T) {
		t.Parallel()
		f := fake.New("fe1")
		called := false
		f.Expect(fake.Exact("onedb", "upgrade")).ConnectionLost(true).Handle(func(context.Context, transport.Command) (transport.Result, error) {
			called = true
			return transport.Result{}, nil
		})
		_, err := f.Run(t.Context(), transport.Cmd("onedb", "upgrade"))
		cl, ok := errors.AsType[*transport.ConnectionLostError](err)
		require.True(t, ok, "got %v", err)
		assert.True(t, cl.Started)
		assert.True(t, called, "the command ran")
	})
	t.Run("hang until cancel", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			f := fake.New("fe1")
			f.Expect(fake.Exact("sleep")).Hang()
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(time.Hour, cancel)
			start := time.Now()
			_, err := f.Run(ctx, transport.Cmd("sleep"))
			assert.ErrorIs(t, err, context.Canceled)
			assert.NotErrorIs(t, err, transport.ErrTimeout)
			assert.Equal(t, time.Hour, time.Since(start))
		})
	})
	t.Run("hang until timeout", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			f := fake.New("fe1")
			f.Expect(fake.Exact("sleep")).Hang()
			cmd := transport.Cmd("sleep")
			cmd.Timeout = time.Minute
			start := time.Now()
			_, err := f.Run(t.Context(), cmd)
			assert.ErrorIs(t, err, transport.ErrTimeout)
			te, ok := errors.AsType[*transport.TimeoutError](err)
			require.True(t, ok)
			assert.Equal(t, "fe1", te.Host)
			assert.Equal(t, time.Minute, time.Since(start))
		})
	})
	t.Run("delay", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			f := fake.New("fe1")
			f.Expect(fake.Exact("slow")).Delay(30 * time.Second).Reply("done").Times(2)
			start := time.Now()
			res, err := f.Run(t.Context(), transport.Cmd("slow"))
			require.NoError(t, err)
			assert.Equal(t, "done", string(res.Stdout))
			assert.Equal(t, 30*time.Second, time.Since(start))
			assert.Equal(t, 30*time.Second, res.Duration)

			cmd := transport.Cmd("slow")
			cmd.Timeout = 10 * time.Second
			_, err = f.Run(t.Context(), cmd)
			assert.ErrorIs(t, err, transport.ErrTimeout, "a delay longer than the timeout")
		})
	})
	t.Run("handler sees timeout", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			f := fake.New("fe1")
			f.Expect(fake.Exact("x")).Handle(func(ctx context.Context, c transport.Command) (transport.Result, error) {
				<-ctx.Done()
				return transport.Result{}, ctx.Err()
			})
			cmd := transport.Cmd("x")
			cmd.Timeout = time.Second
			_, err := f.Run(t.Context(), cmd)
			assert.ErrorIs(t, err, transport.ErrTimeout)
		})
	})
	t.Run("handler error", func(t *testing.T) {
		t.Parallel()
		f := fake.New("fe1")
		boom := errors.New("boom")
		f.Expect(fake.Exact("x")).Handle(func(context.Context, transport.Command) (transport.Result, error) {
			return transport.Result{}, boom
		})
		_, err := f.Run(t.Context(), transport.Cmd("x"))
		assert.ErrorIs(t, err, boom)
	})
	t.Run("cancelled before run", func(t *testing.T) {
		t.Parallel()
		f := fake.New("fe1")
		e := f.Expect(fake.Exact("x"))
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := f.Run(ctx, transport.Cmd("x"))
		assert.ErrorIs(t, err, context.Canceled)
		assert.Zero(t, e.Count(), "a command that never ran does not use the expectation")
	})
}

func TestSecretsNeverPrinted(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zapcore.DebugLevel)
	f := fake.New("db1", fake.WithLogger(zap.New(core)))
	f.Expect(fake.Prefix("mysql")).Exit(1, "Access denied for password hunter2-secret")

	cmd := transport.Cmd("mysql", "--password-hint", "hunter2-secret")
	cmd.Redact = []string{"hunter2-secret"}
	cmd.SecretEnv = map[string]transport.Secret{"MYSQL_PWD": transport.NewSecret("env-secret")}
	err := transport.Check(t.Context(), f, cmd)
	require.Error(t, err)
	_, err2 := f.Run(t.Context(), transport.Cmd("mysqldump").WithArgs("hunter2-secret"))
	require.ErrorIs(t, err2, fake.ErrUnexpected)

	rec := &recTB{TB: t}
	f.AssertExpectations(rec)
	printed := []string{err.Error(), f.Calls()[0].String(), fmt.Sprint(f.Calls()), fmt.Sprintf("%+v", f.Calls()[0].Command)}
	printed = append(printed, rec.errs...)
	for _, e := range logs.All() {
		printed = append(printed, e.Message)
		for _, fld := range e.Context {
			printed = append(printed, fmt.Sprint(fld.String, fld.Interface))
		}
	}
	require.NotEmpty(t, logs.All(), "calls are logged")
	for _, p := range printed {
		assert.NotContains(t, p, "env-secret")
	}
	for _, p := range printed[:2] {
		assert.NotContains(t, p, "hunter2-secret")
	}
	// The unexpected mysqldump did not carry Redact: it prints its argv,
	// which is why secrets belong in SecretEnv, not in argv.
	assert.Contains(t, err.Error(), "Access denied for password [REDACTED]")
}

func TestConcurrentCallsAreAllRecorded(t *testing.T) {
	t.Parallel()
	c := fake.NewCluster("fe1", "fe2")
	for _, h := range c.Hosts() {
		c.Host(h).Expect(fake.Prefix("echo")).Any()
	}
	const n = 50
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			h := c.Hosts()[i%2]
			_, _ = c.Host(h).Run(context.Background(), transport.Cmd("echo", fmt.Sprint(i)))
		})
	}
	wg.Wait()
	calls := c.Calls()
	require.Len(t, calls, n)
	seen := map[int64]bool{}
	for i, call := range calls {
		assert.False(t, seen[call.Seq], "Seq %d twice", call.Seq)
		seen[call.Seq] = true
		if i > 0 {
			assert.Greater(t, call.Seq, calls[i-1].Seq)
		}
		assert.NoError(t, call.Err)
	}
	assert.True(t, c.AssertExpectations(t))
}

func TestLenient(t *testing.T) {
	t.Parallel()
	f := fake.New("fe1", fake.Lenient())
	res, err := f.Run(t.Context(), transport.Cmd("anything", "goes"))
	require.NoError(t, err)
	assert.Equal(t, 0, res.ExitCode)
	assert.True(t, f.Calls()[0].Unexpected)
	assert.True(t, f.AssertExpectations(t), "a lenient fake does not report unexpected commands")
}

func TestRefusesWhatTransportsRefuse(t *testing.T) {
	t.Parallel()
	f := fake.New("fe1", fake.Lenient())
	cmd := transport.Cmd("env")
	cmd.Env = map[string]string{"BAD NAME": "x"}
	_, err := f.Run(t.Context(), cmd)
	assert.ErrorContains(t, err, "invalid environment variable name")

	cmd = transport.Cmd("env")
	cmd.SecretEnv = map[string]transport.Secret{"PW": transport.NewSecret("a\nb")}
	_, err = f.Run(t.Context(), cmd)
	assert.ErrorContains(t, err, "newline")
	assert.NotContains(t, err.Error(), "a\nb")
}

func TestClose(t *testing.T) {
	t.Parallel()
	f := fake.New("fe1")
	f.Expect(fake.Exact("x")).Any()
	require.NoError(t, f.Close())
	require.NoError(t, f.Close())
	_, err := f.Run(t.Context(), transport.Cmd("x"))
	assert.ErrorIs(t, err, transport.ErrClosed)
	_, err = f.Upload(t.Context(), "/x", strings.NewReader(""), transport.FileOptions{})
	assert.ErrorIs(t, err, transport.ErrClosed)
	_, err = f.Download(t.Context(), "/x", io.Discard, transport.FileOptions{})
	assert.ErrorIs(t, err, transport.ErrClosed)
}

func TestFiles(t *testing.T) {
	t.Parallel()
	f := fake.New("fe1")
	ctx := t.Context()
	f.SetFile("/etc/one/oned.conf", []byte("conf"))

	var buf bytes.Buffer
	tr, err := transport.Download(ctx, f, "/etc/one/oned.conf", &buf, transport.FileOptions{})
	require.NoError(t, err)
	assert.Equal(t, "conf", buf.String())
	assert.Equal(t, int64(4), tr.Bytes)

	_, err = transport.Download(ctx, f, "/missing", &buf, transport.FileOptions{})
	assert.ErrorIs(t, err, fs.ErrNotExist)

	tr, err = transport.Upload(ctx, f, "/root/x", strings.NewReader("data"), transport.FileOptions{Mode: 0o600, Owner: "root", Group: "oneadmin", Sudo: true})
	require.NoError(t, err)
	assert.Equal(t, "3a6eb0790f39ac87c94f3856b2dd2c5d110e6811602261a9a923d3bb23adc8b7", tr.SHA256)
	file, ok := f.File("/root/x")
	require.True(t, ok)
	assert.Equal(t, fake.File{Data: []byte("data"), Mode: 0o600, Owner: "root", Group: "oneadmin", Sudo: true}, file)
	assert.Equal(t, []string{"/etc/one/oned.conf", "/root/x"}, f.Files())

	ctx2, cancel := context.WithCancel(ctx)
	cancel()
	_, err = f.Upload(ctx2, "/cancelled", strings.NewReader("data"), transport.FileOptions{})
	assert.ErrorIs(t, err, context.Canceled)
	_, ok = f.File("/cancelled")
	assert.False(t, ok, "a failed upload stores nothing")

	f.RemoveFile("/root/x")
	_, ok = f.File("/root/x")
	assert.False(t, ok)
}

func TestBuilderMisuse(t *testing.T) {
	t.Parallel()
	f := fake.New("fe1")
	assert.Panics(t, func() { f.Expect(fake.Exact("x")).Times(0) })
	assert.Panics(t, func() { fake.New("x", fake.WithLogger(nil)) })
	c := fake.NewCluster("fe1")
	assert.PanicsWithValue(t, `fake: host "fe2" not in cluster [fe1]`, func() { c.Host("fe2") })
	assert.Panics(t, func() { fake.NewCluster("a", "a") })
}
