package upgrade

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/upgradekit/upgradekit/transport"
)

// Recorder collects what a dry run did and would do: every command per
// host, in order, marked as run (read-only) or recorded (mutating), and
// the steps' descriptions. It is safe for concurrent use.
type Recorder struct {
	mu     sync.Mutex
	seq    map[string]int
	cmds   []RecordedCommand
	intent []Intent
	notify func(RecordedCommand)
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder { return &Recorder{} }

// RecordedCommand is one command seen by a dry-run transport.
type RecordedCommand struct {
	// Seq is the command's position among all commands of its host.
	Seq  int    `json:"seq"`
	Host string `json:"host"`
	Step string `json:"step,omitempty"`
	// Cmd is the redacted command line.
	Cmd string `json:"cmd"`
	// ReadOnly commands ran for real; the others were only recorded.
	ReadOnly bool `json:"read_only"`
}

// Intent is a step's description of what it would do.
type Intent struct {
	Step string `json:"step"`
	Host string `json:"host,omitempty"`
	Text string `json:"text"`
}

func (r *Recorder) record(c RecordedCommand) {
	r.mu.Lock()
	if r.seq == nil {
		r.seq = map[string]int{}
	}
	r.seq[c.Host]++
	c.Seq = r.seq[c.Host]
	r.cmds = append(r.cmds, c)
	notify := r.notify
	r.mu.Unlock()
	if notify != nil && !c.ReadOnly {
		notify(c)
	}
}

func (r *Recorder) describe(i Intent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.intent = append(r.intent, i)
}

// Commands returns the recorded commands grouped by host (hosts sorted by
// name), each host's in execution order. With mutatingOnly, read-only
// probes are left out: what remains is what a real run would change.
func (r *Recorder) Commands(mutatingOnly bool) []RecordedCommand {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]RecordedCommand, 0, len(r.cmds))
	for _, c := range r.cmds {
		if !mutatingOnly || !c.ReadOnly {
			out = append(out, c)
		}
	}
	slices.SortStableFunc(out, func(a, b RecordedCommand) int {
		if a.Host != b.Host {
			if a.Host < b.Host {
				return -1
			}
			return 1
		}
		return a.Seq - b.Seq
	})
	return out
}

// Intents returns the step descriptions in the order steps ran.
func (r *Recorder) Intents() []Intent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.intent)
}

// DryRunOutput is the JSON form of a dry run.
type DryRunOutput struct {
	Version  int                          `json:"v"`
	Intents  []Intent                     `json:"intents"`
	Commands map[string][]RecordedCommand `json:"commands"` // by host
}

// Output returns the dry run as a structure for JSON encoding (stable:
// hosts as map keys are sorted by encoding/json).
func (r *Recorder) Output() DryRunOutput {
	out := DryRunOutput{Version: 1, Intents: r.Intents(), Commands: map[string][]RecordedCommand{}}
	if out.Intents == nil {
		out.Intents = []Intent{}
	}
	for _, c := range r.Commands(false) {
		out.Commands[c.Host] = append(out.Commands[c.Host], c)
	}
	return out
}

// WriteJSON writes the dry run as indented JSON.
func (r *Recorder) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r.Output())
}

// WriteText writes the dry run for an operator to review or diff: the
// intents, then per host (sorted) each command in order, prefixed with
// "run " for read-only probes that ran and "would run " for the rest.
func (r *Recorder) WriteText(w io.Writer) error {
	var err error
	pf := func(format string, args ...any) {
		if err == nil {
			_, err = fmt.Fprintf(w, format, args...)
		}
	}
	if in := r.Intents(); len(in) > 0 {
		pf("intent:\n")
		for _, i := range in {
			if i.Host != "" {
				pf("  %s (%s): %s\n", i.Step, i.Host, i.Text)
			} else {
				pf("  %s: %s\n", i.Step, i.Text)
			}
		}
	}
	host := "\x00"
	for _, c := range r.Commands(false) {
		if c.Host != host {
			host = c.Host
			name := host
			if name == "" {
				name = "(unnamed host)"
			}
			pf("host %s:\n", name)
		}
		verb := "would run"
		if c.ReadOnly {
			verb = "run"
		}
		pf("  %3d %-9s %s  [%s]\n", c.Seq, verb, c.Cmd, c.Step)
	}
	return err
}

// DryRun wraps t: read-only commands (Command.ReadOnly) run on t, the
// others are recorded in rec and succeed with exit 0 and no output.
// host names the host in the record when t does not implement
// transport.Namer.
func DryRun(t transport.Transport, host string, rec *Recorder) transport.Transport {
	if n := transport.HostName(t); n != "" {
		host = n
	}
	return &dryRunTransport{t: t, host: host, rec: rec}
}

type dryRunTransport struct {
	t    transport.Transport
	host string
	rec  *Recorder
}

var (
	_ transport.Transport = (*dryRunTransport)(nil)
	_ transport.Namer     = (*dryRunTransport)(nil)
)

func (d *dryRunTransport) Host() string { return d.host }

func (d *dryRunTransport) Run(ctx context.Context, cmd transport.Command) (transport.Result, error) {
	sc := stepFrom(ctx)
	d.rec.record(RecordedCommand{Host: d.host, Step: sc.step, Cmd: cmd.String(), ReadOnly: cmd.ReadOnly})
	if cmd.ReadOnly {
		return d.t.Run(ctx, cmd)
	}
	if err := ctx.Err(); err != nil {
		return transport.Result{}, err
	}
	return transport.Result{Host: d.host, Cmd: cmd.String()}, nil
}

// Close does not close the wrapped transport: the caller owns it.
func (d *dryRunTransport) Close() error { return nil }
