package upgrade

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
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
	// Kind is "" for a command, "upload" for a file upload (recorded,
	// never done), "download" for a file download (done: reading is
	// read-only) and "dial" for a network connection opened through the
	// host (done, for read-only database probes).
	Kind string `json:"kind,omitempty"`
}

// Kinds of RecordedCommand other than commands.
const (
	KindUpload   = "upload"
	KindDownload = "download"
	KindDial     = "dial"
)

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
// "run " for read-only probes that ran and "would run " for the rest;
// uploads read "would upload <n> bytes to <path> (mode, owner)",
// downloads and dials that were done read "did download ..." and
// "did dial ...".
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
		switch {
		case c.Kind == KindUpload:
			verb = "would"
		case c.Kind != "":
			verb = "did"
		case c.ReadOnly:
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
//
// The wrapper implements transport.Namer, transport.Uploader and
// transport.Downloader, and transport.Dialer exactly when t does:
//
//   - Download runs for real, since reading a file changes nothing: through
//     t's own Downloader, or transport.StreamDownload over t (a read-only
//     command). It is recorded as one "download" entry.
//   - Upload changes nothing: it reads r to the end (so a producer
//     writing into a pipe is never blocked), records "upload <n> bytes to
//     <path> (mode, owner)" and returns a successful Transfer with the
//     content's size and SHA-256.
//   - DialContext passes through to t and is recorded as a "dial" entry.
//     Opening a TCP connection through the host changes nothing by
//     itself; what is sent over it is up to the caller, which in a dry run
//     must only read (the database probes of onedb — versions, table
//     checksums — only run SELECTs). The dry run cannot see or stop
//     writes sent over a dialled connection.
func DryRun(t transport.Transport, host string, rec *Recorder) transport.Transport {
	if n := transport.HostName(t); n != "" {
		host = n
	}
	d := &dryRunTransport{t: t, host: host, rec: rec}
	if dl, ok := t.(transport.Dialer); ok {
		return &dryRunDialer{dryRunTransport: d, dialer: dl}
	}
	return d
}

type dryRunTransport struct {
	t    transport.Transport
	host string
	rec  *Recorder
}

var (
	_ transport.Transport  = (*dryRunTransport)(nil)
	_ transport.Namer      = (*dryRunTransport)(nil)
	_ transport.Uploader   = (*dryRunTransport)(nil)
	_ transport.Downloader = (*dryRunTransport)(nil)
	_ transport.Dialer     = (*dryRunDialer)(nil)
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

// Upload records the upload and reads r to the end without writing
// anything on the host.
func (d *dryRunTransport) Upload(ctx context.Context, dst string, r io.Reader, opts transport.FileOptions) (transport.Transfer, error) {
	if err := ctx.Err(); err != nil {
		return transport.Transfer{}, err
	}
	h := sha256.New()
	n, err := io.Copy(h, ctxReader{ctx, r})
	if err != nil {
		return transport.Transfer{}, fmt.Errorf("dry run: upload %s: %w", dst, err)
	}
	mode := opts.Mode.Perm()
	if mode == 0 {
		mode = 0o644
	}
	owner := opts.Owner
	if opts.Group != "" {
		owner += ":" + opts.Group
	}
	if owner == "" {
		owner = "unchanged"
	}
	text := fmt.Sprintf("upload %d bytes to %s (mode %04o, owner %s", n, dst, uint32(mode), owner)
	if opts.Sudo {
		text += ", sudo"
	}
	text += ")"
	d.rec.record(RecordedCommand{Host: d.host, Step: stepFrom(ctx).step, Cmd: text, Kind: KindUpload})
	return transport.Transfer{Bytes: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// Download reads src for real (through t's Downloader, or a read-only
// streaming command) and records it.
func (d *dryRunTransport) Download(ctx context.Context, src string, w io.Writer, opts transport.FileOptions) (transport.Transfer, error) {
	text := "download " + src
	if opts.Sudo {
		text += " (sudo)"
	}
	d.rec.record(RecordedCommand{Host: d.host, Step: stepFrom(ctx).step, Cmd: text, ReadOnly: true, Kind: KindDownload})
	return transport.Download(ctx, d.t, src, w, opts)
}

// Close does not close the wrapped transport: the caller owns it.
func (d *dryRunTransport) Close() error { return nil }

// dryRunDialer is the dry-run wrapper of a transport that can dial.
type dryRunDialer struct {
	*dryRunTransport
	dialer transport.Dialer
}

// DialContext opens the connection through the wrapped transport: see
// DryRun for why that is allowed.
func (d *dryRunDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d.rec.record(RecordedCommand{Host: d.host, Step: stepFrom(ctx).step, Cmd: "dial " + network + " " + addr, ReadOnly: true, Kind: KindDial})
	return d.dialer.DialContext(ctx, network, addr)
}

// ctxReader stops reading when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
