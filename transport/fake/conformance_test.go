package fake_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/interp"
	"mvdan.cc/sh/v3/syntax"

	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/transport/fake"
	"github.com/upgradekit/upgradekit/transport/transporttest"
)

// TestConformance runs the shared suite against the fake. Its one
// expectation hands every command to emulate, an in-process POSIX shell
// (mvdan.cc/sh's interpreter) whose only external programs, cat and
// sleep, are done in Go. So the suite checks the fake's own plumbing
// (stdin, streaming writers, bounded capture, Timeout, cancel, concurrent
// calls, Close, file transfers) without a host. /proc and a real
// filesystem do not exist here: Config says so.
func TestConformance(t *testing.T) {
	transporttest.Run(t, func(t *testing.T) transport.Transport {
		f := fake.New("emulated")
		f.Expect(fake.Func(func(transport.Command) bool { return true })).Any().Handle(emulate)
		t.Cleanup(func() { f.AssertExpectations(t) })
		return f
	}, transporttest.Config{
		LargeFileBytes: 16 << 20, // held in memory by the fake
		SkipProc:       true,
		SkipFiles:      true,
		Stat: func(tr transport.Transport, p string) (transporttest.FileInfo, error) {
			file, ok := tr.(*fake.Transport).File(p)
			if !ok {
				return transporttest.FileInfo{}, fmt.Errorf("no file %s", p)
			}
			return transporttest.FileInfo{Mode: file.Mode, Owner: file.Owner, Group: file.Group}, nil
		},
	})
}

// emulate runs c's argv with the interpreter, as the script "$@" with the
// argv as positional parameters, so values are never re-parsed (quoting
// is tested in package transport against a real /bin/sh).
func emulate(ctx context.Context, c transport.Command) (transport.Result, error) {
	env := []string{"PATH=/usr/bin:/bin", "HOME=/root"}
	for k, v := range c.Env {
		env = append(env, k+"="+v)
	}
	for k, v := range c.SecretEnv {
		env = append(env, k+"="+v.Reveal())
	}
	dir := c.Dir
	if dir == "" {
		dir = "/"
	}
	// The interpreter wants an *os.File for stdin. Its own copying
	// goroutine would outlive the handler, so feed a pipe from one owned
	// here and wait for it.
	pr, pw, err := os.Pipe()
	if err != nil {
		return transport.Result{}, err
	}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		if c.Stdin != nil {
			_, _ = io.Copy(pw, c.Stdin)
		}
		_ = pw.Close()
	}()
	defer func() {
		_ = pr.Close() // a copy still writing fails with EPIPE
		<-copied
	}()
	code, err := interpret(ctx, `"$@"`, c.Argv(), dir, expand.ListEnviron(env...), pr, c.Stdout, c.Stderr)
	return transport.Result{ExitCode: code}, err
}

func interpret(ctx context.Context, script string, params []string, dir string, env expand.Environ, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	file, err := syntax.NewParser(syntax.Variant(syntax.LangPOSIX)).Parse(strings.NewReader(script), "")
	if err != nil {
		_, _ = fmt.Fprintln(stderr, "sh:", err)
		return 2, nil
	}
	opts := []interp.RunnerOption{
		interp.StdIO(stdin, stdout, stderr),
		interp.Dir(dir),
		interp.Env(env),
		interp.ExecHandlers(externals),
	}
	if params != nil {
		opts = append(opts, interp.Params(append([]string{"--"}, params...)...))
	}
	r, err := interp.New(opts...)
	if err != nil {
		return 0, err
	}
	err = r.Run(ctx, file)
	if err == nil {
		return 0, nil
	}
	if ctx.Err() != nil {
		return 0, ctx.Err()
	}
	if status, ok := errors.AsType[interp.ExitStatus](err); ok {
		return int(status), nil
	}
	return 0, err
}

// externals implements the few programs the suite runs that are not
// shell builtins; anything else is "not found".
func externals(next interp.ExecHandlerFunc) interp.ExecHandlerFunc {
	return func(ctx context.Context, args []string) error {
		hc := interp.HandlerCtx(ctx)
		switch path.Base(args[0]) {
		case "sh":
			if len(args) < 3 || args[1] != "-c" {
				break
			}
			var params []string
			if len(args) > 4 {
				params = args[4:]
			}
			code, err := interpret(ctx, args[2], params, hc.Dir, exported(hc.Env), hc.Stdin, hc.Stdout, hc.Stderr)
			if err != nil || code == 0 {
				return err
			}
			return interp.ExitStatus(code)
		case "cat":
			if len(args) != 1 {
				break
			}
			if hc.Stdin != nil {
				if _, err := io.Copy(hc.Stdout, hc.Stdin); err != nil {
					return interp.ExitStatus(1)
				}
			}
			return nil
		case "sleep":
			secs, err := strconv.ParseFloat(args[len(args)-1], 64)
			if err != nil {
				return interp.ExitStatus(1)
			}
			timer := time.NewTimer(time.Duration(secs * float64(time.Second)))
			defer timer.Stop()
			select {
			case <-timer.C:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		_, _ = fmt.Fprintf(hc.Stderr, "%s: not found\n", args[0])
		return interp.ExitStatus(127)
	}
}

func exported(env expand.Environ) expand.Environ {
	var kv []string
	env.Each(func(name string, vr expand.Variable) bool {
		if vr.Exported {
			kv = append(kv, name+"="+vr.String())
		}
		return true
	})
	return expand.ListEnviron(kv...)
}

func TestEmulateQuoting(t *testing.T) {
	t.Parallel()
	// The emulation itself must be right, or the conformance run above
	// proves nothing.
	args := transporttest.HostileArgs()
	c := transport.Shell(`printf '%s\0' "$@"`, args...)
	var out, errb strings.Builder
	c.Stdout, c.Stderr = &out, &errb
	res, err := emulate(t.Context(), c)
	require.NoError(t, err)
	require.Zero(t, res.ExitCode, errb.String())
	require.Equal(t, strings.Join(args, "\x00")+"\x00", out.String())
}
