package upgrade

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// EventKind names a state change.
type EventKind string

// Event kinds.
const (
	EventPlanStarted       EventKind = "plan_started"
	EventPlanFinished      EventKind = "plan_finished"
	EventPreflightPassed   EventKind = "preflight_passed"
	EventPreflightFailed   EventKind = "preflight_failed"
	EventPreflightSkipped  EventKind = "preflight_skipped"
	EventStepStarted       EventKind = "step_started"
	EventStepFinished      EventKind = "step_finished"
	EventStepSkipped       EventKind = "step_skipped"
	EventHostStarted       EventKind = "host_started"
	EventHostFinished      EventKind = "host_finished"
	EventHostSkipped       EventKind = "host_skipped"
	EventRetrying          EventKind = "retrying"
	EventOutput            EventKind = "output"
	EventRollbackStarted   EventKind = "rollback_started"
	EventRollbackFinished  EventKind = "rollback_finished"
	EventLockAcquired      EventKind = "lock_acquired"
	EventLockReleased      EventKind = "lock_released"
	EventLockHeartbeatFail EventKind = "lock_heartbeat_failed"
	EventLockBroken        EventKind = "lock_broken"
	EventServiceDown       EventKind = "service_down"
	EventServiceUp         EventKind = "service_up"
	EventDryRunCommand     EventKind = "dry_run_command"
)

// Event is one state change of a run. Fields not meaningful for a kind are
// zero. Observers receive events one at a time, in order, from the
// runner's goroutines (never concurrently); they must not block for long.
type Event struct {
	Kind EventKind
	Time time.Time
	// Step is the full step name (for host events, the PerHost node's
	// name); Host the host, if any.
	Step string
	Host string
	// Index and Total place a step in the plan: step Index of Total
	// (top-level units: a PerHost node counts once).
	Index, Total int
	// Hosts is the number of hosts of a PerHost node (step events).
	Hosts int
	// Dur is the duration of what finished.
	Dur time.Duration
	// Err is the failure, if any.
	Err error
	// Reason explains a skip.
	Reason string
	// Attempt and Wait describe a retry: attempt Attempt failed with Err,
	// the next starts after Wait.
	Attempt int
	Wait    time.Duration
	// Stream ("stdout", "stderr") and Line carry output.
	Stream, Line string
	// Service names the service of a down/up mark.
	Service string
	// Cmd is the command a dry run recorded.
	Cmd string
}

// MarshalJSON encodes the event with durations in milliseconds, the
// error as text and empty fields omitted.
func (e Event) MarshalJSON() ([]byte, error) {
	type out struct {
		Kind    EventKind `json:"kind"`
		Time    time.Time `json:"time"`
		Step    string    `json:"step,omitempty"`
		Host    string    `json:"host,omitempty"`
		Index   int       `json:"index,omitempty"`
		Total   int       `json:"total,omitempty"`
		Hosts   int       `json:"hosts,omitempty"`
		DurMS   *float64  `json:"dur_ms,omitempty"`
		Err     string    `json:"error,omitempty"`
		Reason  string    `json:"reason,omitempty"`
		Attempt int       `json:"attempt,omitempty"`
		WaitMS  *float64  `json:"wait_ms,omitempty"`
		Stream  string    `json:"stream,omitempty"`
		Line    string    `json:"line,omitempty"`
		Service string    `json:"service,omitempty"`
		Cmd     string    `json:"cmd,omitempty"`
	}
	o := out{Kind: e.Kind, Time: e.Time.UTC(), Step: e.Step, Host: e.Host, Index: e.Index, Total: e.Total,
		Hosts: e.Hosts, Reason: e.Reason, Attempt: e.Attempt, Stream: e.Stream, Line: e.Line,
		Service: e.Service, Cmd: e.Cmd}
	if e.Dur != 0 || e.Kind == EventStepFinished || e.Kind == EventHostFinished || e.Kind == EventPlanFinished {
		ms := ms(e.Dur)
		o.DurMS = &ms
	}
	if e.Wait != 0 {
		w := ms(e.Wait)
		o.WaitMS = &w
	}
	if e.Err != nil {
		o.Err = e.Err.Error()
	}
	return json.Marshal(o)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// JSONLines returns an observer writing each event as one JSON line to w.
// Write errors are dropped; the run is not stopped by its observers.
func JSONLines(w io.Writer) func(Event) {
	var mu sync.Mutex
	enc := json.NewEncoder(w)
	return func(e Event) {
		mu.Lock()
		defer mu.Unlock()
		_ = enc.Encode(e)
	}
}

// Console renders progress as plain text lines (no colour, no cursor
// movement, so it is fit for logs and pipes): step k of n with elapsed
// time, per-host status of parallel steps, skips, retries, rollback, lock
// and downtime marks. Output lines of steps are shown when ShowOutput is
// set.
type Console struct {
	mu         sync.Mutex
	w          io.Writer
	start      time.Time
	ShowOutput bool
	hosts      map[string]*hostTally
}

type hostTally struct {
	total, running, done, failed, skipped int
}

// NewConsole returns a console renderer writing to w.
func NewConsole(w io.Writer) *Console {
	return &Console{w: w, hosts: map[string]*hostTally{}}
}

// Observe is the observer function; pass c.Observe to WithObserver.
func (c *Console) Observe(e Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.start.IsZero() || e.Kind == EventPlanStarted {
		c.start = e.Time
	}
	el := e.Time.Sub(c.start).Round(time.Millisecond)
	p := func(format string, args ...any) {
		fmt.Fprintf(c.w, "[%8s] ", el)
		fmt.Fprintf(c.w, format, args...)
		fmt.Fprintln(c.w)
	}
	prog := ""
	if e.Total > 0 {
		prog = fmt.Sprintf("(%d/%d) ", e.Index, e.Total)
	}
	onHost := ""
	if e.Host != "" {
		onHost = " on " + e.Host
	}
	switch e.Kind {
	case EventPlanStarted:
		p("plan %s: %d steps", e.Step, e.Total)
	case EventPlanFinished:
		if e.Err != nil {
			p("plan failed after %s: %v", e.Dur.Round(time.Millisecond), e.Err)
		} else {
			p("plan done in %s", e.Dur.Round(time.Millisecond))
		}
	case EventPreflightPassed:
		p("preflight %s: ok", e.Step)
	case EventPreflightFailed:
		p("preflight %s: FAILED: %v", e.Step, e.Err)
	case EventPreflightSkipped:
		p("preflight %s: skipped (%s)", e.Step, e.Reason)
	case EventStepStarted:
		if e.Hosts > 0 {
			c.hosts[e.Step] = &hostTally{total: e.Hosts}
			p("%s%s: started on %d hosts", prog, e.Step, e.Hosts)
		} else {
			p("%s%s%s: started", prog, e.Step, onHost)
		}
	case EventStepFinished:
		if t := c.hosts[e.Step]; t != nil && e.Host == "" {
			delete(c.hosts, e.Step)
			if e.Err != nil {
				p("%s%s: FAILED after %s (%s): %v", prog, e.Step, e.Dur.Round(time.Millisecond), t, e.Err)
			} else {
				p("%s%s: done in %s (%s)", prog, e.Step, e.Dur.Round(time.Millisecond), t)
			}
			return
		}
		if e.Err != nil {
			p("%s%s%s: FAILED after %s: %v", prog, e.Step, onHost, e.Dur.Round(time.Millisecond), e.Err)
		} else {
			p("%s%s%s: done in %s", prog, e.Step, onHost, e.Dur.Round(time.Millisecond))
		}
	case EventStepSkipped:
		p("%s%s%s: skipped (%s)", prog, e.Step, onHost, e.Reason)
	case EventHostStarted, EventHostFinished, EventHostSkipped:
		t := c.hosts[e.Step]
		if t == nil {
			t = &hostTally{}
			c.hosts[e.Step] = t
		}
		switch e.Kind {
		case EventHostStarted:
			t.running++
			p("%s: %s started (%s)", e.Step, e.Host, t)
		case EventHostFinished:
			t.running--
			if e.Err != nil {
				t.failed++
				p("%s: %s FAILED after %s (%s): %v", e.Step, e.Host, e.Dur.Round(time.Millisecond), t, e.Err)
			} else {
				t.done++
				p("%s: %s done in %s (%s)", e.Step, e.Host, e.Dur.Round(time.Millisecond), t)
			}
		case EventHostSkipped:
			t.skipped++
			p("%s: %s skipped (%s)", e.Step, e.Host, e.Reason)
		}
	case EventRetrying:
		p("%s%s: attempt %d failed, retrying in %s: %v", e.Step, onHost, e.Attempt, e.Wait.Round(time.Millisecond), e.Err)
	case EventOutput:
		if c.ShowOutput {
			p("%s%s | %s", e.Step, onHost, e.Line)
		}
	case EventRollbackStarted:
		if e.Step == "" {
			p("rolling back")
		} else {
			p("rollback %s%s: started", e.Step, onHost)
		}
	case EventRollbackFinished:
		switch {
		case e.Step == "" && e.Err != nil:
			p("rollback FAILED: %v", e.Err)
		case e.Step == "":
			p("rollback done")
		case e.Err != nil:
			p("rollback %s%s: FAILED: %v", e.Step, onHost, e.Err)
		default:
			p("rollback %s%s: done in %s", e.Step, onHost, e.Dur.Round(time.Millisecond))
		}
	case EventLockAcquired:
		p("lock acquired%s", onHost)
	case EventLockReleased:
		p("lock released%s", onHost)
	case EventLockBroken:
		p("stale lock broken%s: %s", onHost, e.Reason)
	case EventLockHeartbeatFail:
		p("lock heartbeat failed%s: %v", onHost, e.Err)
	case EventLeftoverWait:
		if e.Err != nil {
			p("leftover commands%s: %v", onHost, e.Err)
		} else {
			p("waiting: %s", e.Reason)
		}
	case EventServiceDown:
		p("service %s DOWN (%s)", e.Service, e.Step)
	case EventServiceUp:
		p("service %s up (%s)", e.Service, e.Step)
	case EventDryRunCommand:
		p("%s%s: would run: %s", e.Step, onHost, e.Cmd)
	}
}

func (t *hostTally) String() string {
	parts := []string{fmt.Sprintf("%d/%d done", t.done, t.total)}
	if t.running > 0 {
		parts = append(parts, fmt.Sprintf("%d running", t.running))
	}
	if t.failed > 0 {
		parts = append(parts, fmt.Sprintf("%d failed", t.failed))
	}
	if t.skipped > 0 {
		parts = append(parts, fmt.Sprintf("%d skipped", t.skipped))
	}
	return strings.Join(parts, ", ")
}

// fanout delivers events to observers one at a time.
type fanout struct {
	mu  sync.Mutex
	obs []func(Event)
	now func() time.Time
}

func (f *fanout) emit(e Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if e.Time.IsZero() {
		e.Time = f.now()
	}
	for _, o := range f.obs {
		o(e)
	}
}
