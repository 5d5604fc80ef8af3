package upgrade

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// Step statuses in a Report.
const (
	StatusDone       = "done"
	StatusFailed     = "failed"
	StatusSkipped    = "skipped"
	StatusPending    = "pending"
	StatusRolledBack = "rolled_back"
	StatusRunning    = "in_progress"
)

// Report is the outcome of a run: per-step and per-host durations, what
// was skipped and why, preflight results and measured downtime.
type Report struct {
	Plan        string        `json:"plan"`
	RunID       string        `json:"run"`
	Fingerprint string        `json:"fingerprint"`
	DryRun      bool          `json:"dry_run"`
	Start       time.Time     `json:"start"`
	End         time.Time     `json:"end"`
	Dur         time.Duration `json:"-"`
	DurMS       float64       `json:"dur_ms"`
	Preflight   []CheckReport `json:"preflight"`
	Steps       []StepReport  `json:"steps"`
	Hosts       []HostReport  `json:"hosts"`
	// Direction is the way the run went: DirForward, or DirBackward when
	// it finished the rollback of an earlier run (WithDirection).
	Direction string `json:"direction,omitempty"`
	// HostStates says where each host a step reached in this run (its
	// PerHost host, or one it asked State.HostTransport for) stands at
	// the end, from those steps' outcomes; sorted by host.
	HostStates []HostState `json:"host_states,omitempty"`
	Downtime   []Window    `json:"downtime"`
	// ServiceDowntime is the downtime of each service that had a window,
	// sorted by service: the length of the union of that service's windows.
	ServiceDowntime []ServiceDowntime `json:"service_downtime,omitempty"`
	// TotalDowntime is the length of the union of all windows of all
	// services: time during which at least one service was down. Windows
	// that overlap (the API down while writes are down) count once.
	TotalDowntime   time.Duration `json:"-"`
	TotalDowntimeMS float64       `json:"total_downtime_ms"`
	Notes           []string      `json:"notes,omitempty"`
	Err             string        `json:"error,omitempty"`
}

// CheckReport is one preflight check or step precheck.
type CheckReport struct {
	Name   string `json:"name"`
	Status string `json:"status"` // passed, failed, skipped
	Reason string `json:"reason,omitempty"`
	Err    string `json:"error,omitempty"`
}

// StepReport is one step.
type StepReport struct {
	Name        string        `json:"name"`
	Host        string        `json:"host,omitempty"`
	Status      string        `json:"status"`
	Reason      string        `json:"reason,omitempty"`
	Start       time.Time     `json:"start,omitzero"`
	Dur         time.Duration `json:"-"`
	DurMS       float64       `json:"dur_ms"`
	Attempts    int           `json:"attempts,omitempty"`
	Err         string        `json:"error,omitempty"`
	RollbackErr string        `json:"rollback_error,omitempty"`
	// RollbackHosts are the hosts a failed rollback of a step of several
	// hosts names (each a *transport.HostError in its error): the others
	// were rolled back. Empty when the error names none: the step failed
	// to roll back on every host it reached.
	RollbackHosts []string `json:"rollback_failed_hosts,omitempty"`
	Description   string   `json:"description,omitempty"`
}

// HostReport is one host of a PerHost node.
type HostReport struct {
	Node   string        `json:"node"`
	Host   string        `json:"host"`
	Status string        `json:"status"`
	Reason string        `json:"reason,omitempty"`
	Dur    time.Duration `json:"-"`
	DurMS  float64       `json:"dur_ms"`
	Err    string        `json:"error,omitempty"`
}

// Host states in a HostState.
const (
	// HostChanged: steps that reached the host are done and no rollback
	// undid them: their changes are in effect.
	HostChanged = "changed"
	// HostRolledBack: the steps that reached the host were rolled back;
	// those left done (Done) started before anything the rollback undid
	// and have no undo of their own (checks, mostly).
	HostRolledBack = "rolled_back"
	// HostFailed: a step that reached the host failed and was not rolled
	// back (past the point of no return, or without a rollback): it may
	// be partly changed.
	HostFailed = "failed"
	// HostRollbackFailed: the rollback of a step that reached the host
	// failed; that step's changes may still be in effect.
	HostRollbackFailed = "rollback_failed"
)

// HostState is where one host stands at the end of a run: the steps of
// this run that reached it, by outcome (in plan order), and a summary.
// A step that reached several hosts (one asking another for a change)
// is listed under each.
type HostState struct {
	Host string `json:"host"`
	// State is the first that applies of: HostRollbackFailed,
	// HostFailed, HostRolledBack, HostChanged.
	State string `json:"state"`
	// Done lists the steps done and not undone.
	Done           []string `json:"done,omitempty"`
	Failed         []string `json:"failed,omitempty"`
	RolledBack     []string `json:"rolled_back,omitempty"`
	RollbackFailed []string `json:"rollback_failed,omitempty"`
}

// Window is a measured downtime window of a service. Open windows (no
// ServiceUp before the run ended) end at the report's end.
type Window struct {
	Service string        `json:"service"`
	Start   time.Time     `json:"start"`
	End     time.Time     `json:"end"`
	Open    bool          `json:"open,omitempty"`
	Dur     time.Duration `json:"-"`
	DurMS   float64       `json:"dur_ms"`
}

// ServiceDowntime is the total downtime of one service: the length of the
// union of its windows.
type ServiceDowntime struct {
	Service string        `json:"service"`
	Dur     time.Duration `json:"-"`
	DurMS   float64       `json:"dur_ms"`
}

// unionDuration returns the length of the union of the windows' intervals
// [Start, End) (End defaults to Start+Dur when zero): overlapping and nested
// windows count once. Empty or inverted windows add nothing.
func unionDuration(ws []Window) time.Duration {
	type span struct{ start, end time.Time }
	spans := make([]span, 0, len(ws))
	for _, w := range ws {
		end := w.End
		if end.IsZero() {
			end = w.Start.Add(w.Dur)
		}
		if end.After(w.Start) {
			spans = append(spans, span{w.Start, end})
		}
	}
	slices.SortFunc(spans, func(a, b span) int { return a.start.Compare(b.start) })
	var total time.Duration
	var cur span
	for i, sp := range spans {
		switch {
		case i == 0:
			cur = sp
		case !sp.start.After(cur.end): // overlaps or touches: extend
			if sp.end.After(cur.end) {
				cur.end = sp.end
			}
		default:
			total += cur.end.Sub(cur.start)
			cur = sp
		}
	}
	if len(spans) > 0 {
		total += cur.end.Sub(cur.start)
	}
	return total
}

// downtimeTotals computes ServiceDowntime and TotalDowntime from Downtime.
func (r *Report) downtimeTotals() {
	byService := map[string][]Window{}
	for _, w := range r.Downtime {
		byService[w.Service] = append(byService[w.Service], w)
	}
	r.ServiceDowntime = nil
	for _, svc := range slices.Sorted(maps.Keys(byService)) {
		d := unionDuration(byService[svc])
		r.ServiceDowntime = append(r.ServiceDowntime, ServiceDowntime{Service: svc, Dur: d, DurMS: ms(d)})
	}
	r.TotalDowntime = unionDuration(r.Downtime)
}

func (r *Report) fillMS() {
	r.DurMS = ms(r.Dur)
	for i := range r.Steps {
		r.Steps[i].DurMS = ms(r.Steps[i].Dur)
	}
	for i := range r.Hosts {
		r.Hosts[i].DurMS = ms(r.Hosts[i].Dur)
	}
	for i := range r.Downtime {
		r.Downtime[i].DurMS = ms(r.Downtime[i].Dur)
	}
	r.downtimeTotals()
	r.TotalDowntimeMS = ms(r.TotalDowntime)
}

// WriteJSON writes the report as indented JSON.
func (r Report) WriteJSON(w io.Writer) error {
	r.fillMS()
	if r.Preflight == nil {
		r.Preflight = []CheckReport{}
	}
	if r.Hosts == nil {
		r.Hosts = []HostReport{}
	}
	if r.Downtime == nil {
		r.Downtime = []Window{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the report for an operator.
func (r Report) WriteText(w io.Writer) error {
	var err error
	pf := func(format string, args ...any) {
		if err == nil {
			_, err = fmt.Fprintf(w, format, args...)
		}
	}
	mode := ""
	if r.DryRun {
		mode = " (dry run)"
	}
	if r.Direction == DirBackward {
		mode += " (backward: finishing a rollback)"
	}
	pf("plan %s%s, run %s: %s\n", r.Plan, mode, r.RunID, r.Dur.Round(time.Millisecond))
	for _, c := range r.Preflight {
		switch {
		case c.Reason != "":
			pf("  preflight %-30s %s (%s)\n", c.Name, c.Status, c.Reason)
		case c.Err != "":
			pf("  preflight %-30s %s: %s\n", c.Name, c.Status, c.Err)
		default:
			pf("  preflight %-30s %s\n", c.Name, c.Status)
		}
	}
	for _, s := range r.Steps {
		line := fmt.Sprintf("  %-40s %-12s %10s", s.Name, s.Status, s.Dur.Round(time.Millisecond))
		if s.Reason != "" {
			line += "  (" + s.Reason + ")"
		}
		if s.Err != "" {
			line += "  error: " + s.Err
		}
		if s.RollbackErr != "" {
			line += "  rollback error: " + s.RollbackErr
		}
		pf("%s\n", line)
	}
	for _, h := range r.Hosts {
		line := fmt.Sprintf("  host %-20s %-20s %-10s %10s", h.Host, h.Node, h.Status, h.Dur.Round(time.Millisecond))
		if h.Reason != "" {
			line += "  (" + h.Reason + ")"
		}
		if h.Err != "" {
			line += "  error: " + h.Err
		}
		pf("%s\n", line)
	}
	for _, h := range r.HostStates {
		line := fmt.Sprintf("  state %-20s %s", h.Host, h.State)
		for _, part := range []struct {
			what  string
			steps []string
		}{{"could not roll back", h.RollbackFailed}, {"failed", h.Failed}, {"rolled back", h.RolledBack}, {"done", h.Done}} {
			if len(part.steps) > 0 {
				line += fmt.Sprintf("; %s: %s", part.what, strings.Join(part.steps, ", "))
			}
		}
		pf("%s\n", line)
	}
	for _, d := range r.Downtime {
		open := ""
		if d.Open {
			open = " (still down at end of run)"
		}
		pf("  downtime %s: %s from %s to %s%s\n", d.Service, d.Dur.Round(time.Millisecond),
			d.Start.UTC().Format(time.RFC3339Nano), d.End.UTC().Format(time.RFC3339Nano), open)
	}
	if len(r.Downtime) > 0 {
		r.downtimeTotals()
		if len(r.ServiceDowntime) > 1 {
			for _, d := range r.ServiceDowntime {
				pf("  downtime %s total: %s\n", d.Service, d.Dur.Round(time.Millisecond))
			}
		}
		pf("  total downtime: %s (union of all windows)\n", r.TotalDowntime.Round(time.Millisecond))
	}
	for _, n := range r.Notes {
		pf("  note: %s\n", n)
	}
	if r.Err != "" {
		pf("  error: %s\n", r.Err)
	}
	return err
}
