package transport_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/transport/fake"
)

func itoa(n int) string { return strconv.Itoa(n) }

func ctxWithCancel(t *testing.T) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	return ctx, cancel
}

func TestExitErrorMessage(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("noise line\n", 1000) + "ERROR: the real reason\n"
	tests := []struct {
		name string
		err  *transport.ExitError
		want string
	}{
		{"code", &transport.ExitError{Host: "fe1", Cmd: "onedb backup", Code: 255, Stderr: []byte("File exists\n")},
			"host fe1: onedb backup: exit status 255: File exists"},
		{"no host no stderr", &transport.ExitError{Cmd: "false", Code: 1}, "false: exit status 1"},
		{"signal", &transport.ExitError{Host: "fe1", Cmd: "sleep 9", Code: -1, Signal: "KILL"},
			"host fe1: sleep 9: killed by signal KILL"},
		{"lines joined", &transport.ExitError{Cmd: "x", Code: 2, Stderr: []byte("\nfirst\n\n  second  \n")},
			"x: exit status 2: first; second"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, tt.err.Error())
		})
	}
	e := &transport.ExitError{Host: "fe1", Cmd: "x", Code: 1, Stderr: []byte(long)}
	msg := e.Error()
	assert.Less(t, len(msg), 600, "the message stays short")
	assert.True(t, strings.HasSuffix(msg, "ERROR: the real reason"), "the tail is kept: %q", msg[len(msg)-60:])
	assert.Len(t, e.Stderr, len(long), "the full stderr stays in the field")
}

func TestStderrTail(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		max  int
		want string
	}{
		{"empty", "", 100, ""},
		{"blank", " \n\n\t\n", 100, ""},
		{"one", "oops\n", 100, "oops"},
		{"last lines that fit", "aaaa\nbbbb\ncccc\n", 10, "bbbb; cccc"},
		{"long last line cut", "short\n" + strings.Repeat("x", 50) + "END", 10, "...xxxxxxxEND"},
		{"invalid utf8", "bad \xff byte", 100, "bad ? byte"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, transport.StderrTail([]byte(tt.in), tt.max))
		})
	}
	// A cut never splits a character.
	for n := 1; n < 12; n++ {
		got := transport.StderrTail([]byte(strings.Repeat("é", 20)), n)
		assert.True(t, utf8.ValidString(got), "max %d: %q", n, got)
	}
}

func TestResultErrorRedacts(t *testing.T) {
	t.Parallel()
	cmd := transport.Cmd("mysql", "--password=hunter2")
	cmd.Redact = []string{"hunter2"}
	cmd.SecretEnv = map[string]transport.Secret{"PW": transport.NewSecret("s3cret")}
	res := transport.Result{Host: "db1", ExitCode: 1, Stderr: []byte("denied for hunter2 / s3cret\n")}
	err := transport.ResultError(cmd, res)
	require.Error(t, err)
	ee, ok := errors.AsType[*transport.ExitError](err)
	require.True(t, ok)
	for _, s := range []string{err.Error(), ee.Cmd, string(ee.Stderr)} {
		assert.NotContains(t, s, "hunter2")
		assert.NotContains(t, s, "s3cret")
	}
	assert.Equal(t, "host db1: env PW=[REDACTED] mysql '--password=[REDACTED]': exit status 1: denied for [REDACTED] / [REDACTED]", err.Error())
	assert.NoError(t, transport.ResultError(cmd, transport.Result{}))
	assert.Error(t, transport.ResultError(cmd, transport.Result{ExitCode: -1, Signal: "TERM"}))
	code, ok := transport.ExitCode(fmt.Errorf("wrapped: %w", err))
	assert.True(t, ok)
	assert.Equal(t, 1, code)
	_, ok = transport.ExitCode(errors.New("other"))
	assert.False(t, ok)
}

func TestTypedErrors(t *testing.T) {
	t.Parallel()
	cause := errors.New("EOF")
	lost := &transport.ConnectionLostError{Host: "fe1", Started: true, Err: cause}
	assert.ErrorIs(t, lost, transport.ErrConnectionLost)
	assert.ErrorIs(t, lost, cause)
	assert.Equal(t, "host fe1: connection lost after the command may have started: EOF", lost.Error())
	assert.Equal(t, "connection lost before the command started", (&transport.ConnectionLostError{}).Error())

	to := &transport.TimeoutError{Cmd: "sleep 9", After: 5e9}
	assert.ErrorIs(t, to, transport.ErrTimeout)
	assert.ErrorIs(t, to, context.DeadlineExceeded)

	joined := errors.Join(&transport.HostError{Host: "fe1", Err: lost}, &transport.HostError{Host: "fe2", Err: to})
	assert.ErrorIs(t, joined, transport.ErrConnectionLost)
	assert.ErrorIs(t, joined, transport.ErrTimeout)
	he, ok := errors.AsType[*transport.HostError](joined)
	require.True(t, ok)
	assert.Equal(t, "fe1", he.Host)

	ce := &transport.ChecksumError{Host: "fe1", Path: "/x", Local: "aa", Remote: "bb", LocalBytes: 3, RemoteBytes: 2}
	assert.Contains(t, ce.Error(), "checksum mismatch")
}

func TestSecretNeverFormatted(t *testing.T) {
	t.Parallel()
	const v = "hunter2-value"
	s := transport.NewSecret(v)
	type config struct {
		User     string
		Password transport.Secret
		Ptr      *transport.Secret
		Map      map[string]transport.Secret
	}
	c := config{User: "oneadmin", Password: s, Ptr: &s, Map: map[string]transport.Secret{"k": s}}
	var printed []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3s", "%T"} {
		printed = append(printed, fmt.Sprintf(verb, s), fmt.Sprintf(verb, &s), fmt.Sprintf(verb, c), fmt.Sprintf(verb, []transport.Secret{s}))
	}
	printed = append(printed, fmt.Sprint(s), fmt.Sprintln(s), s.String(), s.GoString(), fmt.Errorf("e: %v", s).Error())
	for _, x := range []any{s, &s, c, map[transport.Secret]int{s: 1}} {
		b, err := json.Marshal(x)
		require.NoError(t, err)
		printed = append(printed, string(b))
	}
	core, logs := observer.New(zapcore.DebugLevel)
	zap.New(core).Info("login", zap.Any("cfg", c), zap.Stringer("pw", s), zap.Any("pw2", s))
	for _, e := range logs.All() {
		enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
		buf, err := enc.EncodeEntry(e.Entry, e.Context)
		require.NoError(t, err)
		printed = append(printed, buf.String())
	}
	for _, p := range printed {
		assert.NotContains(t, p, v)
		assert.NotContains(t, p, "hunter2")
	}
	assert.Contains(t, printed[0], "[REDACTED]")
	assert.Equal(t, v, s.Reveal())
	assert.False(t, s.IsZero())
	assert.True(t, transport.Secret{}.IsZero())
}

func TestOutputAndCheck(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := fake.New("fe1")
	f.Expect(fake.Exact("ok")).Reply("out")
	f.Expect(fake.Exact("fail")).Stdout("partial").Exit(3, "inactive\n").Times(2)
	f.Expect(fake.Exact("big")).Reply(strings.Repeat("x", 100))
	f.Expect(fake.Exact("lost")).ConnectionLost(false).Times(2)
	f.Expect(fake.Exact("ok")).Reply("again")

	out, err := transport.Output(ctx, f, transport.Cmd("ok"))
	require.NoError(t, err)
	assert.Equal(t, "out", string(out))

	out, err = transport.Output(ctx, f, transport.Cmd("fail"))
	code, ok := transport.ExitCode(err)
	assert.True(t, ok)
	assert.Equal(t, 3, code)
	assert.Equal(t, "partial", string(out), "stdout is returned with the error")
	assert.Equal(t, "host fe1: fail: exit status 3: inactive", err.Error())

	err = transport.Check(ctx, f, transport.Cmd("fail"))
	assert.Equal(t, "host fe1: fail: exit status 3: inactive", err.Error())

	big := transport.Cmd("big")
	big.MaxOutput = 10
	_, err = transport.Output(ctx, f, big)
	assert.ErrorIs(t, err, transport.ErrTruncated)

	_, err = transport.Output(ctx, f, transport.Cmd("lost"))
	assert.ErrorIs(t, err, transport.ErrConnectionLost)
	assert.ErrorIs(t, transport.Check(ctx, f, transport.Cmd("lost")), transport.ErrConnectionLost)
	_, isExit := transport.ExitCode(err)
	assert.False(t, isExit)

	assert.NoError(t, transport.Check(ctx, f, transport.Cmd("ok")))
	f.AssertExpectations(t)
}

func TestWithSecretFile(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	secret := transport.NewSecret("pa55word")
	const path = "/tmp/upgradekit-secret.AbCd1234"

	f := fake.New("db1")
	f.Expect(fake.Prefix("/bin/sh", "-c")).Reply(path + "\n").Times(2)
	f.Expect(fake.Exact("mysqldump", "--defaults-extra-file="+path))
	f.Expect(fake.Exact("rm", "-f", "--", path)).Times(2)

	err := transport.WithSecretFile(ctx, f, secret, true, func(p string) error {
		assert.Equal(t, path, p)
		return transport.Check(ctx, f, transport.Cmd("mysqldump", "--defaults-extra-file="+p))
	})
	require.NoError(t, err)

	// fn fails and ctx is already cancelled by then: the file is still removed.
	cctx, cancel := context.WithCancel(ctx)
	boom := errors.New("boom")
	err = transport.WithSecretFile(cctx, f, secret, true, func(string) error { cancel(); return boom })
	assert.ErrorIs(t, err, boom)

	calls := f.Calls()
	require.Len(t, calls, 5)
	assert.Equal(t, "pa55word", string(calls[0].Stdin), "the secret travels on stdin")
	assert.True(t, calls[0].Command.Sudo)
	assert.True(t, calls[2].Command.Sudo, "removed with sudo too")
	assert.True(t, calls[0].Command.ReadOnly, "transient file: create is ReadOnly so dry runs can use it")
	assert.True(t, calls[2].Command.ReadOnly, "transient file: remove is ReadOnly so dry runs can use it")
	assert.False(t, calls[1].Command.ReadOnly, "fn's own command keeps its own marking")
	for _, c := range calls {
		assert.NotContains(t, c.Command.String(), "pa55word")
		assert.NotContains(t, strings.Join(c.Argv(), " "), "pa55word")
	}
	f.AssertExpectations(t)

	// Creating the file fails: fn is not called, nothing to remove.
	f = fake.New("db1")
	f.Expect(fake.Prefix("/bin/sh", "-c")).Exit(1, "mktemp: failed")
	err = transport.WithSecretFile(ctx, f, secret, false, func(string) error {
		t.Error("fn called")
		return nil
	})
	assert.ErrorContains(t, err, "create secret file")
	f.AssertExpectations(t)
}
