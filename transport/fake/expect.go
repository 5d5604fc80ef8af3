package fake

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/upgradekit/upgradekit/transport"
)

// Matcher decides whether an expectation applies to a command.
type Matcher interface {
	Match(c transport.Command) bool
	// String describes the matcher in failure messages.
	String() string
}

type argvMatcher struct {
	argv   []string
	prefix bool
}

// Exact matches a command whose Command.Argv (path and arguments; not
// sudo, env or dir) equals argv.
func Exact(argv ...string) Matcher {
	return argvMatcher{argv: slices.Clone(argv)}
}

// Prefix matches a command whose Command.Argv starts with argv.
func Prefix(argv ...string) Matcher {
	return argvMatcher{argv: slices.Clone(argv), prefix: true}
}

func (m argvMatcher) Match(c transport.Command) bool {
	got := c.Argv()
	if m.prefix {
		return len(got) >= len(m.argv) && slices.Equal(got[:len(m.argv)], m.argv)
	}
	return slices.Equal(got, m.argv)
}

func (m argvMatcher) String() string {
	if m.prefix {
		return "prefix [" + transport.Join(m.argv) + " ...]"
	}
	return "[" + transport.Join(m.argv) + "]"
}

type funcMatcher func(transport.Command) bool

// Func matches the commands for which fn returns true. Use it to match on
// more than argv (Sudo, Env, Dir, Stdin being set). fn must not block.
func Func(fn func(c transport.Command) bool) Matcher { return funcMatcher(fn) }

func (m funcMatcher) Match(c transport.Command) bool { return m(c) }

func (m funcMatcher) String() string { return "func matcher" }

// HandlerFunc computes the reply to a command. The command it receives
// always has Stdin, Stdout and Stderr set: Stdin is the caller's input
// (recorded in Call.Stdin as it is read), and Stdout and Stderr are the
// caller's writers or the fake's bounded capture. A handler may write
// output there, return it in Result.Stdout and Result.Stderr, or both
// (the returned bytes come after what was written). ctx carries the
// command's Timeout. A handler must not call t.Fatal or require: return an
// error instead, and it becomes Run's error.
type HandlerFunc func(ctx context.Context, c transport.Command) (transport.Result, error)

const (
	lostNone = iota
	lostBefore
	lostAfter
)

// script is what an expectation does; the Transport's mutex guards it.
type script struct {
	stdout, stderr []byte
	code           int
	delay          time.Duration
	hang           bool
	lost           int
	truncate       int
	handler        HandlerFunc
}

// Expectation is one scripted command. Its methods configure it and
// return it, so they chain; each call replaces earlier settings of the
// same kind. By default it matches once and replies exit 0 with no
// output.
type Expectation struct {
	f       *Transport
	matcher Matcher
	where   string
	// Guarded by f.mu.
	script
	min, max int
	count    int
}

// Expect registers an expectation for the commands m matches.
func (f *Transport) Expect(m Matcher) *Expectation {
	where := "?"
	if _, file, line, ok := runtime.Caller(1); ok {
		where = fmt.Sprintf("%s:%d", filepath.Base(file), line)
	}
	e := &Expectation{f: f, matcher: m, where: where, min: 1, max: 1}
	e.truncate = -1
	f.mu.Lock()
	f.exps = append(f.exps, e)
	f.mu.Unlock()
	return e
}

func (e *Expectation) set(fn func()) *Expectation {
	e.f.mu.Lock()
	defer e.f.mu.Unlock()
	fn()
	return e
}

// Reply makes the command exit 0 with stdout as its output.
func (e *Expectation) Reply(stdout string) *Expectation {
	return e.set(func() { e.code, e.stdout = 0, []byte(stdout) })
}

// Stdout sets the command's standard output.
func (e *Expectation) Stdout(s string) *Expectation {
	return e.set(func() { e.stdout = []byte(s) })
}

// Stderr sets the command's standard error.
func (e *Expectation) Stderr(s string) *Expectation {
	return e.set(func() { e.stderr = []byte(s) })
}

// Exit sets the exit code and, when given, the standard error (the
// strings concatenated).
func (e *Expectation) Exit(code int, stderr ...string) *Expectation {
	return e.set(func() {
		e.code = code
		if len(stderr) > 0 {
			e.stderr = []byte(strings.Join(stderr, ""))
		}
	})
}

// Times makes the expectation match exactly n commands; after that it is
// used up and later commands fall through to the next expectation. n
// must be at least 1.
func (e *Expectation) Times(n int) *Expectation {
	if n < 1 {
		panic(fmt.Sprintf("fake: Times(%d) at %s: n must be at least 1", n, e.where))
	}
	return e.set(func() { e.min, e.max = n, n })
}

// Any makes the expectation match any number of commands, including
// none; it is never used up and never reported as unmet.
func (e *Expectation) Any() *Expectation {
	return e.set(func() { e.min, e.max = 0, 0 })
}

// Delay makes the command take d before replying. If the context or the
// command's Timeout ends first, Run returns that error instead.
func (e *Expectation) Delay(d time.Duration) *Expectation {
	return e.set(func() { e.delay = d })
}

// Hang makes the command block until its context ends (the caller's
// cancel or the command's Timeout) and return that error.
func (e *Expectation) Hang() *Expectation {
	return e.set(func() { e.hang = true })
}

// ConnectionLost makes Run fail with a *transport.ConnectionLostError
// (matching transport.ErrConnectionLost). With started false the
// connection dies before the command starts: nothing ran and stdin is not
// read. With started true it dies after the command ran (a handler has
// been called and output written to the caller's writers) but before the
// exit status arrived.
func (e *Expectation) ConnectionLost(started bool) *Expectation {
	return e.set(func() {
		e.lost = lostBefore
		if started {
			e.lost = lostAfter
		}
	})
}

// Truncate cuts the command's stdout to its first n bytes, as if the
// stream ended early; the command still exits with its code. Use it to
// check that parsers reject half a document. (Output larger than
// Command.MaxOutput is truncated with Result.StdoutTruncated set, as a
// real transport does, without this.)
func (e *Expectation) Truncate(n int) *Expectation {
	if n < 0 {
		panic(fmt.Sprintf("fake: Truncate(%d) at %s: n must not be negative", n, e.where))
	}
	return e.set(func() { e.truncate = n })
}

// Handle makes fn compute the reply instead of the scripted output and
// exit code. Delay, Hang, ConnectionLost and Truncate still apply.
func (e *Expectation) Handle(fn HandlerFunc) *Expectation {
	return e.set(func() { e.handler = fn })
}

// Count returns how many commands the expectation has matched.
func (e *Expectation) Count() int {
	e.f.mu.Lock()
	defer e.f.mu.Unlock()
	return e.count
}
