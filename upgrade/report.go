package upgrade

import (
	"encoding/json"
	"fmt"
	"io"
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
	Downtime    []Window      `json:"downtime"`
	// TotalDowntime sums the windows per service and over all services.
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
	Description string        `json:"description,omitempty"`
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

func (r *Report) fillMS() {
	r.DurMS = ms(r.Dur)
	for i := range r.Steps {
		r.Steps[i].DurMS = ms(r.Steps[i].Dur)
	}
	for i := range r.Hosts {
		r.Hosts[i].DurMS = ms(r.Hosts[i].Dur)
	}
	r.TotalDowntime = 0
	for i := range r.Downtime {
		r.Downtime[i].DurMS = ms(r.Downtime[i].Dur)
		r.TotalDowntime += r.Downtime[i].Dur
	}
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
	for _, d := range r.Downtime {
		open := ""
		if d.Open {
			open = " (still down at end of run)"
		}
		pf("  downtime %s: %s from %s to %s%s\n", d.Service, d.Dur.Round(time.Millisecond),
			d.Start.UTC().Format(time.RFC3339Nano), d.End.UTC().Format(time.RFC3339Nano), open)
	}
	if len(r.Downtime) > 0 {
		pf("  total downtime: %s\n", r.TotalDowntime.Round(time.Millisecond))
	}
	for _, n := range r.Notes {
		pf("  note: %s\n", n)
	}
	if r.Err != "" {
		pf("  error: %s\n", r.Err)
	}
	return err
}
