package proctest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/upgrade"
)

// Token is the repository token of the procedures' inventories (HA,
// Rolling, Rejoin, Federation): a secret that must never be shown.
const Token = "tok-5ecret-9f8e7d6c"

// tokenLine is what a leaky tool prints: apt-get echoes the repository
// URL with its credentials when a fetch fails.
const tokenLine = "E: Failed to fetch https://" + Token + "@downloads.opennebula.io/repo/InRelease  401  Unauthorized"

// SecretLeaks runs p with Token printed on the standard error of every
// command of every step and every rollback (streamed to the step's output
// when the step reads it line by line), and every command that fails
// printing it too:
//
//   - a run failing at the last step before the point of no return (every
//     step before it rolled back, each rollback printing the token);
//   - the same with the first command of the rollback failing as well;
//   - with a point of no return, a run failing at the last step and its
//     resume to completion.
//
// It returns what the runs showed through every channel — errors (every
// error of their trees, ExitError stderr included), events (JSON lines
// and the text console), the runner's log, the journal file, the report
// (JSON and text) — and the test fails if Token is in any of it.
func SecretLeaks(t *testing.T, p Procedure) {
	t.Helper()
	c0, err := p.NewCloud()
	require.NoError(t, err)
	plan0, err := p.Plan(c0)
	require.NoError(t, err)
	steps := plan0.Steps()
	last := len(steps) - 1
	if p.NoReturn != "" {
		last = slices.Index(steps, p.NoReturn) - 1
	}
	require.GreaterOrEqual(t, last, 0)
	type scenario struct {
		name         string
		failStep     string
		failRollback bool
		resume       bool
	}
	cases := []scenario{
		{"rollback", steps[last], false, false},
		{"rollback-fails", steps[last], true, false},
	}
	if p.NoReturn != "" {
		cases = append(cases, scenario{"resume", steps[len(steps)-1], false, true})
	}
	for _, sc := range cases {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			// A step whose commands all read-only, or whose failure is
			// not one (a best-effort step), is no failure point: the
			// case moves to the step before it.
			for i := slices.Index(steps, sc.failStep); i >= 0; i-- {
				sc.failStep = steps[i]
				if leakCase(t, p, sc.failStep, sc.failRollback, sc.resume) {
					return
				}
			}
			t.Fatal("no step could be failed")
		})
	}
}

// leakCase runs one case of SecretLeaks; it returns false, having checked
// nothing, when failStep issued no command whose failure fails the run.
func leakCase(t *testing.T, p Procedure, failStep string, failRollback, resume bool) bool {
	ctx := context.Background()
	c, err := p.NewCloud()
	require.NoError(t, err)
	var shown LockedBuffer
	log := ShownLogger(&shown)
	journal := filepath.Join(t.TempDir(), "journal")
	store := upgrade.NewFileStore(journal)
	defer store.Close()
	lk := &leaker{step: failStep, failRollback: failRollback}
	console := upgrade.NewConsole(&shown)
	console.ShowOutput = true
	opts := []upgrade.Option{upgrade.WithObserver(lk.observe), upgrade.WithObserver(upgrade.JSONLines(&shown)),
		upgrade.WithObserver(console.Observe), upgrade.WithLogger(log)}
	rep, runErr := p.Run(ctx, c, lk.wrap(Hosts(c)), store, opts...)
	if !lk.fired() || runErr == nil {
		return false
	}
	t.Logf("failed in %s: %v", failStep, runErr)
	ShowRun(&shown, rep, runErr)
	if failRollback {
		pe, ok := errors.AsType[*upgrade.PartialError](runErr)
		require.True(t, ok, "%T: %v", runErr, runErr)
		assert.Error(t, pe.RollbackErr, "the rollback failed")
	}
	if resume {
		lk.disarm()
		rep, runErr = p.Run(ctx, c, lk.wrap(Hosts(c)), store, opts...)
		require.NoError(t, runErr, "resume")
		ShowRun(&shown, rep, runErr)
	}
	require.NoError(t, store.Close())
	b, err := os.ReadFile(journal)
	require.NoError(t, err)
	_, _ = shown.Write(b)
	require.Positive(t, lk.printed(), "the token was printed")
	NotShown(t, shown.String(), Token)
	return true
}

// ShownLogger returns a debug-level JSON logger writing to w: the runner's
// log as a leak test reads it.
func ShownLogger(w io.Writer) *zap.Logger {
	return zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewDevelopmentEncoderConfig()), zapcore.AddSync(w), zap.DebugLevel))
}

// NotShown fails t if secret is anywhere in out (what the runs showed),
// quoting the first place, and unless out shows it masked as [REDACTED].
func NotShown(t *testing.T, out, secret string) {
	t.Helper()
	if i := strings.Index(out, secret); i >= 0 {
		t.Errorf("the token leaked (%d times), first here:\n%s", strings.Count(out, secret), out[max(0, i-600):min(len(out), i+200)])
	}
	assert.Contains(t, out, "[REDACTED]", "the token was masked where the output was shown")
}

// ShowRun writes what a run shows: the report as JSON and text, and the
// text of its error and of every error in that error's tree.
func ShowRun(w io.Writer, rep upgrade.Report, err error) {
	_ = rep.WriteJSON(w)
	_ = rep.WriteText(w)
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		fmt.Fprintf(w, "%s\n%+v\n", err, err)
		if ee, ok := err.(*transport.ExitError); ok {
			fmt.Fprintf(w, "%s\n%s\n", ee.Cmd, ee.Stderr)
		}
		if pe, ok := err.(*upgrade.PartialError); ok {
			walk(pe.RollbackErr)
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		}
	}
	walk(err)
}

// LockedBuffer is a bytes.Buffer that many goroutines may write: what the
// runs show through every channel.
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// leaker prints tokenLine on the standard error of every command, fails
// the first mutating command of step with it, and (failRollback) the
// first mutating command of the rollback.
type leaker struct {
	step         string
	failRollback bool

	mu          sync.Mutex
	disarmed    bool
	rollingBack bool
	hit, rbHit  string
	n           int
}

func (l *leaker) observe(e upgrade.Event) {
	if e.Kind == upgrade.EventRollbackStarted {
		l.mu.Lock()
		l.rollingBack = true
		l.mu.Unlock()
	}
}

func (l *leaker) disarm() {
	l.mu.Lock()
	l.disarmed = true
	l.mu.Unlock()
}

func (l *leaker) fired() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.hit != ""
}

func (l *leaker) printed() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// fail decides whether cmd on host fails.
func (l *leaker) fail(ctx context.Context, host string, c transport.Command) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n++
	if l.disarmed || c.ReadOnly {
		return false
	}
	key := host + ": " + c.String()
	switch {
	case l.rollingBack && l.failRollback:
		if l.rbHit == "" {
			l.rbHit = key
		}
		return key == l.rbHit
	case l.rollingBack:
		return false
	case StepOf(ctx) == l.step:
		if l.hit == "" {
			l.hit = key
		}
		return key == l.hit
	}
	return false
}

func (l *leaker) wrap(hosts map[string]transport.Transport) map[string]transport.Transport {
	out := make(map[string]transport.Transport, len(hosts))
	for name, t := range hosts {
		out[name] = &leakTransport{t: t, host: name, l: l}
	}
	return out
}

type leakTransport struct {
	t    transport.Transport
	host string
	l    *leaker
}

var (
	_ transport.Namer      = (*leakTransport)(nil)
	_ transport.Uploader   = (*leakTransport)(nil)
	_ transport.Downloader = (*leakTransport)(nil)
)

func (t *leakTransport) Host() string { return t.host }
func (t *leakTransport) Close() error { return nil }

func (t *leakTransport) Run(ctx context.Context, c transport.Command) (transport.Result, error) {
	if t.l.fail(ctx, t.host, c) {
		res := transport.Result{Host: t.host, Cmd: c.String(), ExitCode: 100, Stderr: []byte(tokenLine + "\n")}
		if c.Stderr != nil {
			_, _ = c.Stderr.Write(res.Stderr)
			res.Stderr = nil
		}
		return res, nil
	}
	res, err := t.t.Run(ctx, c)
	if c.Stderr != nil {
		_, _ = io.WriteString(c.Stderr, tokenLine+"\n")
	} else {
		res.Stderr = append(res.Stderr, tokenLine+"\n"...)
	}
	return res, err
}

func (t *leakTransport) Upload(ctx context.Context, dst string, r io.Reader, opts transport.FileOptions) (transport.Transfer, error) {
	return transport.Upload(ctx, t.t, dst, r, opts)
}

func (t *leakTransport) Download(ctx context.Context, src string, w io.Writer, opts transport.FileOptions) (transport.Transfer, error) {
	return transport.Download(ctx, t.t, src, w, opts)
}
