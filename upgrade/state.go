package upgrade

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"

	"go.uber.org/zap"

	"github.com/upgradekit/upgradekit/transport"
)

// Key names a typed value shared between steps through the State. Keys
// are compared by name; declare each one once, as a package-level value
// of the procedure (it is immutable).
type Key[T any] struct {
	name    string
	persist bool
}

// NewKey returns a key for values of type T that live for one run.
func NewKey[T any](name string) Key[T] { return Key[T]{name: name} }

// NewPersistentKey returns a key whose values are also written to the
// journal (as JSON), so that a resumed run sees what a step of an earlier
// run produced (a backup path, a version read before the upgrade). T must
// round-trip through encoding/json.
func NewPersistentKey[T any](name string) Key[T] { return Key[T]{name: name, persist: true} }

// Name returns the key's name.
func (k Key[T]) Name() string { return k.name }

// Get returns the value stored under k and whether there was one of type
// T.
func (k Key[T]) Get(s *State) (T, bool) {
	var zero T
	r := s.run
	r.mu.Lock()
	defer r.mu.Unlock()
	if v, ok := r.values[k.name]; ok {
		t, ok := v.(T)
		return t, ok
	}
	if raw, ok := r.raw[k.name]; ok {
		var t T
		if err := json.Unmarshal(raw, &t); err != nil {
			return zero, false
		}
		r.values[k.name] = t
		return t, true
	}
	return zero, false
}

// Set stores v under k. For a persistent key the value is journaled
// before Set returns; the error reports a value that cannot be encoded or
// a journal that cannot be written.
func (k Key[T]) Set(s *State, v T) error {
	r := s.run
	if k.persist {
		raw, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("upgrade: key %s: %w", k.name, err)
		}
		if err := r.journal(Record{Type: RecordData, Step: s.step, Host: s.host, Key: k.name, Value: raw}); err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.values[k.name] = v
	delete(r.raw, k.name)
	return nil
}

// State is what a step sees of the run: typed shared values (Key), the
// hosts' transports (wrapped for dry-run), the step's name and host, and
// ways to report output and service downtime. It is safe for concurrent
// use by the hosts of a PerHost step.
type State struct {
	run   *runState
	step  string
	host  string
	track bool // record the hosts the step reaches (runState.touched)
}

type runState struct {
	mu      sync.Mutex
	values  map[string]any
	raw     map[string]json.RawMessage
	hosts   map[string]transport.Transport
	dryRun  bool
	log     *zap.Logger
	emit    func(Event)
	journal func(Record) error
	// touched: the hosts each step reached (its own, HostTransport) while
	// running or rolling back in this run, for the report's host states.
	touched map[string]map[string]bool
}

func (r *runState) state(step, host string) *State {
	return &State{run: r, step: step, host: host}
}

// tracked returns the state of a step that runs or rolls back: the hosts
// it reaches are recorded.
func (r *runState) tracked(step, host string) *State {
	s := &State{run: r, step: step, host: host, track: true}
	if host != "" {
		s.touch(host)
	}
	return s
}

func (s *State) touch(host string) {
	if !s.track {
		return
	}
	r := s.run
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.touched[s.step] == nil {
		r.touched[s.step] = map[string]bool{}
	}
	r.touched[s.step][host] = true
}

func (r *runState) hostsOf(step string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Sorted(maps.Keys(r.touched[step]))
}

// Step returns the full name of the running step.
func (s *State) Step() string { return s.step }

// Host returns the host of a step inside PerHost, or "".
func (s *State) Host() string { return s.host }

// DryRun reports whether this is a dry run. Steps should not need it —
// their transports record mutating commands instead of running them —
// except to skip local side effects.
func (s *State) DryRun() bool { return s.run.dryRun }

// Logger returns the run's logger with the step and host as fields.
func (s *State) Logger() *zap.Logger {
	l := s.run.log.With(zap.String("step", s.step))
	if s.host != "" {
		l = l.With(zap.String("host", s.host))
	}
	return l
}

// Transport returns the transport of the step's host (State.Host), or
// nil outside PerHost.
func (s *State) Transport() transport.Transport {
	if s.host == "" {
		return nil
	}
	return s.run.hosts[s.host]
}

// HostTransport returns the transport of the named host from the
// runner's inventory (WithHosts).
func (s *State) HostTransport(host string) (transport.Transport, error) {
	t, ok := s.run.hosts[host]
	if !ok {
		return nil, fmt.Errorf("upgrade: step %s: %w: %q", s.step, ErrUnknownHost, host)
	}
	s.touch(host)
	return t, nil
}

// Hosts returns the inventory's host names, sorted.
func (s *State) Hosts() []string {
	names := make([]string, 0, len(s.run.hosts))
	for h := range s.run.hosts {
		names = append(names, h)
	}
	slices.Sort(names)
	return names
}

// Output reports one line of command output (or any progress text) as an
// EventOutput.
func (s *State) Output(stream, line string) {
	s.run.emit(Event{Kind: EventOutput, Step: s.step, Host: s.host, Stream: stream, Line: line})
}

// OutputWriter returns a writer that turns what it is given into
// EventOutput lines; use it as Command.Stdout or Stderr. Close flushes a
// last unterminated line.
func (s *State) OutputWriter(stream string) *LineWriter {
	return &LineWriter{emit: func(line string) { s.Output(stream, line) }}
}

// ServiceDown records that service stops serving now. The report measures
// downtime windows from ServiceDown to the matching ServiceUp. The mark is
// journaled, so a window survives a crash and resume.
func (s *State) ServiceDown(service string) error {
	return s.service(EventServiceDown, service)
}

// ServiceUp records that service serves again.
func (s *State) ServiceUp(service string) error {
	return s.service(EventServiceUp, service)
}

func (s *State) service(kind EventKind, service string) error {
	rt := RecordServiceDown
	if kind == EventServiceUp {
		rt = RecordServiceUp
	}
	if err := s.run.journal(Record{Type: rt, Step: s.step, Host: s.host, Service: service}); err != nil {
		return err
	}
	s.run.emit(Event{Kind: kind, Step: s.step, Host: s.host, Service: service})
	return nil
}

// LineWriter splits written bytes into lines. It is safe for concurrent
// use.
type LineWriter struct {
	mu   sync.Mutex
	buf  []byte
	emit func(string)
}

// Write implements io.Writer.
func (w *LineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.emit(string(bytes.TrimSuffix(w.buf[:i], []byte("\r"))))
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

// Close emits a last unterminated line, if any.
func (w *LineWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.emit(string(w.buf))
		w.buf = nil
	}
	return nil
}

type ctxKey struct{}

type stepCtx struct{ step, host string }

func withStep(ctx context.Context, step, host string) context.Context {
	return context.WithValue(ctx, ctxKey{}, stepCtx{step, host})
}

func stepFrom(ctx context.Context) stepCtx {
	v, _ := ctx.Value(ctxKey{}).(stepCtx)
	return v
}
