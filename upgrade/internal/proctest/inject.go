package proctest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/upgrade"
)

// FaultKind is how an Injector fails a command.
type FaultKind int

// Fault kinds.
const (
	// FaultExit: the command exits 1 with an explanatory stderr.
	FaultExit FaultKind = iota
	// FaultConnectionLost: the connection drops before the command
	// starts (*transport.ConnectionLostError{Started: false}).
	FaultConnectionLost
)

func (k FaultKind) String() string {
	if k == FaultConnectionLost {
		return "connection-lost"
	}
	return "exit-1"
}

// InjectedStderr starts the stderr of every injected exit.
const InjectedStderr = "proctest: injected failure"

// ErrInjected is wrapped by every injected connection loss.
var ErrInjected = errors.New("proctest: injected connection loss")

// Injector fails the first mutating command (Command.ReadOnly false, or
// an upload) that step Step issues, and the same command again if the
// step retries it, until the run starts rolling back. It learns which
// step issued a command from the command's context (see StepOf).
type Injector struct {
	Step string
	Kind FaultKind

	mu       sync.Mutex
	disarmed bool
	fired    bool
	host     string
	cmd      string
}

// NewInjector returns an injector for the full step name step.
func NewInjector(step string, kind FaultKind) *Injector {
	return &Injector{Step: step, Kind: kind}
}

// Observe is the run's observer: it disarms the injector when rollback
// starts (a rollback runs under the failed step's name too).
func (in *Injector) Observe(e upgrade.Event) {
	if e.Kind == upgrade.EventRollbackStarted {
		in.mu.Lock()
		in.disarmed = true
		in.mu.Unlock()
	}
}

// Fired reports whether a fault was injected, and into which command on
// which host.
func (in *Injector) Fired() (fired bool, host, cmd string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.fired, in.host, in.cmd
}

// Disarm stops the injector for good (the fault is removed).
func (in *Injector) Disarm() {
	in.mu.Lock()
	in.disarmed = true
	in.mu.Unlock()
}

// hit decides whether the command cmd on host fails.
func (in *Injector) hit(ctx context.Context, host, cmd string) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.disarmed || StepOf(ctx) != in.Step {
		return false
	}
	if !in.fired {
		in.fired, in.host, in.cmd = true, host, cmd
		return true
	}
	return host == in.host && cmd == in.cmd
}

// Wrap returns hosts with every transport wrapped by the injector.
func (in *Injector) Wrap(hosts map[string]transport.Transport) map[string]transport.Transport {
	out := make(map[string]transport.Transport, len(hosts))
	for name, t := range hosts {
		out[name] = &faultTransport{t: t, host: name, in: in}
	}
	return out
}

// StepOf returns the full name of the step whose context ctx is, or ""
// outside a step. The engine keeps the step in the context it gives the
// transports; its dry-run wrapper is the public way to read it back.
func StepOf(ctx context.Context) string {
	rec := upgrade.NewRecorder()
	_, _ = upgrade.DryRun(nopTransport{}, "probe", rec).Run(ctx, transport.Cmd("proctest-probe"))
	cs := rec.Commands(false)
	if len(cs) == 0 {
		return ""
	}
	return cs[0].Step
}

type nopTransport struct{}

func (nopTransport) Run(context.Context, transport.Command) (transport.Result, error) {
	return transport.Result{}, nil
}

func (nopTransport) Close() error { return nil }

type faultTransport struct {
	t    transport.Transport
	host string
	in   *Injector
}

var (
	_ transport.Transport  = (*faultTransport)(nil)
	_ transport.Namer      = (*faultTransport)(nil)
	_ transport.Uploader   = (*faultTransport)(nil)
	_ transport.Downloader = (*faultTransport)(nil)
)

func (f *faultTransport) Host() string { return f.host }

func (f *faultTransport) Close() error { return nil }

func (f *faultTransport) lost() error {
	return &transport.ConnectionLostError{Host: f.host, Started: false, Err: ErrInjected}
}

func (f *faultTransport) Run(ctx context.Context, c transport.Command) (transport.Result, error) {
	if c.ReadOnly || !f.in.hit(ctx, f.host, c.String()) {
		return f.t.Run(ctx, c)
	}
	res := transport.Result{Host: f.host, Cmd: c.String()}
	if f.in.Kind == FaultConnectionLost {
		return res, f.lost()
	}
	res.ExitCode = 1
	res.Stderr = fmt.Appendf(nil, "%s in step %s\n", InjectedStderr, f.in.Step)
	if c.Stderr != nil {
		_, _ = c.Stderr.Write(res.Stderr)
		res.Stderr = nil
	}
	return res, nil
}

// Upload is mutating: an injected fault drops the connection before the
// transfer (an exit status means nothing for a transfer).
func (f *faultTransport) Upload(ctx context.Context, dst string, r io.Reader, opts transport.FileOptions) (transport.Transfer, error) {
	if f.in.hit(ctx, f.host, "upload "+dst) {
		return transport.Transfer{}, f.lost()
	}
	return transport.Upload(ctx, f.t, dst, r, opts)
}

func (f *faultTransport) Download(ctx context.Context, src string, w io.Writer, opts transport.FileOptions) (transport.Transfer, error) {
	return transport.Download(ctx, f.t, src, w, opts)
}
