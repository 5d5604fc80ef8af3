package upgrade

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/upgradekit/upgradekit/transport"
)

// EventLeftoverWait: a command an earlier run started on Host (its
// runner killed) is still running; the run waits for it to end before it
// changes anything. Reason describes it.
const EventLeftoverWait EventKind = "leftover_wait"

// WithRemoteMarks marks, on its host, every command a step runs that
// changes something, for as long as it runs: a file in directory dir
// (an absolute path, e.g. /var/tmp/upgradekit-cmds) naming the run and
// the step, held under flock(1) by the command and everything it starts.
//
// A runner that dies (SIGKILL, its machine lost) leaves its remote
// commands running: sshd sends no signal to a session without a
// terminal, so a long onedb restore or apt-get goes on, reparented to
// init. A run started with WithRemoteMarks first looks for such
// leftovers of other runs on every host and waits until they have ended
// (EventLeftoverWait every poll) before its preflight, so a step that is
// not idempotent never runs while its earlier attempt still does; the
// resumed step then finds that attempt's effect (its Check) or runs it
// again, alone. Cancelling ctx stops the wait.
//
// Commands run through `sh` and flock(1) (util-linux); a host without
// flock runs them unmarked. Read-only commands and uploads are not
// marked. The simulator's commands die with the process that runs them:
// do not use it there.
func WithRemoteMarks(dir string, poll time.Duration) Option {
	return optionFunc(func(o *options) error {
		if !path.IsAbs(dir) || path.Clean(dir) != dir || dir == "/" {
			return fmt.Errorf("upgrade: WithRemoteMarks: %q must be a clean absolute path other than /", dir)
		}
		if poll <= 0 {
			return errors.New("upgrade: WithRemoteMarks: poll must be positive")
		}
		o.marks, o.marksPoll = dir, poll
		return nil
	})
}

// markScript runs "$@" under a mark: $1 directory, $2 run, $3 step,
// $4 the command as shown (redacted), $5 "--".
const markScript = `d=$1 r=$2 s=$3 c=$4; shift 5
command -v flock >/dev/null 2>&1 || exec "$@"
mkdir -p -m 1777 -- "$d" 2>/dev/null
m=$(mktemp "$d/cmd.XXXXXXXXXX" 2>/dev/null) || exec "$@"
chmod 644 "$m"
printf 'run=%s\nstep=%s\npid=%s\ncmd=%s\n' "$r" "$s" "$$" "$c" >"$m"
flock -- "$m" "$@"
rc=$?
rm -f -- "$m"
exit $rc`

// leftoverScript prints the marks in $1 that a command still holds
// (each after a "== path" line), and removes those nobody holds.
const leftoverScript = `[ -d "$1" ] || exit 0
command -v flock >/dev/null 2>&1 || exit 0
for m in "$1"/cmd.*; do
	[ -f "$m" ] || continue
	if flock -n -s "$m" true 2>/dev/null; then
		rm -f -- "$m" 2>/dev/null
	else
		echo "== $m"
		cat -- "$m" 2>/dev/null
	fi
done
exit 0`

// markTransport wraps the commands of steps that change something in
// markScript.
type markTransport struct {
	t   transport.Transport
	dir string
	run string
}

var (
	_ transport.Namer      = (*markTransport)(nil)
	_ transport.Uploader   = (*markTransport)(nil)
	_ transport.Downloader = (*markTransport)(nil)
)

func newMarkTransport(t transport.Transport, dir, run string) transport.Transport {
	m := &markTransport{t: t, dir: dir, run: run}
	if d, ok := t.(transport.Dialer); ok {
		return &markDialer{markTransport: m, d: d}
	}
	return m
}

func (m *markTransport) Host() string { return transport.HostName(m.t) }
func (m *markTransport) Close() error { return nil }

func (m *markTransport) Run(ctx context.Context, cmd transport.Command) (transport.Result, error) {
	step := stepFrom(ctx).step
	if cmd.ReadOnly || step == "" {
		return m.t.Run(ctx, cmd)
	}
	shown := cmd.String()
	w := cmd
	w.Path = "/bin/sh"
	w.Args = append([]string{"-c", markScript, "sh", m.dir, m.run, step, shown, "--", cmd.Path}, cmd.Args...)
	res, err := m.t.Run(ctx, w)
	res.Cmd = shown
	return res, err
}

func (m *markTransport) Upload(ctx context.Context, dst string, r io.Reader, opts transport.FileOptions) (transport.Transfer, error) {
	return transport.Upload(ctx, m.t, dst, r, opts)
}

func (m *markTransport) Download(ctx context.Context, src string, w io.Writer, opts transport.FileOptions) (transport.Transfer, error) {
	return transport.Download(ctx, m.t, src, w, opts)
}

type markDialer struct {
	*markTransport
	d transport.Dialer
}

func (m *markDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return m.d.DialContext(ctx, network, addr)
}

// leftover is a marked command still running on a host.
type leftover struct {
	host, run, step, cmd, pid string
}

func (l leftover) String() string {
	return fmt.Sprintf("%s: step %s of run %s (pid %s) still runs: %s", l.host, l.step, l.run, l.pid, l.cmd)
}

// leftovers lists the marked commands of other runs still running on the
// host behind t.
func leftovers(ctx context.Context, t transport.Transport, host, dir, self string) ([]leftover, error) {
	out, err := transport.Output(ctx, t, transport.Shell(leftoverScript, dir).MarkReadOnly())
	if err != nil {
		return nil, err
	}
	var (
		ls  []leftover
		cur *leftover
	)
	for line := range strings.Lines(string(out)) {
		line = strings.TrimRight(line, "\n")
		if strings.HasPrefix(line, "== ") {
			ls = append(ls, leftover{host: host})
			cur = &ls[len(ls)-1]
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if cur == nil || !ok {
			continue
		}
		switch k {
		case "run":
			cur.run = v
		case "step":
			cur.step = v
		case "pid":
			cur.pid = v
		case "cmd":
			cur.cmd = v
		}
	}
	return slices.DeleteFunc(ls, func(l leftover) bool { return l.run == self }), nil
}

// waitLeftovers waits, before the run changes anything, until no host
// runs a marked command of an earlier run (WithRemoteMarks).
func (x *run) waitLeftovers(ctx context.Context, hosts map[string]transport.Transport) error {
	if x.o.marks == "" || x.o.dryRun != nil {
		return nil
	}
	names := slices.Sorted(mapsKeys(hosts))
	for {
		var found []leftover
		for _, h := range names {
			ls, err := leftovers(ctx, hosts[h], h, x.o.marks, x.id)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				// An unreachable host runs nothing this run could
				// collide with before it is reachable again: its steps
				// fail first.
				x.emit(Event{Kind: EventLeftoverWait, Host: h, Err: fmt.Errorf("look for leftover commands: %w", err)})
				continue
			}
			found = append(found, ls...)
		}
		if len(found) == 0 {
			return nil
		}
		for _, l := range found {
			x.emit(Event{Kind: EventLeftoverWait, Host: l.host, Step: l.step, Reason: l.String()})
		}
		t := time.NewTimer(x.o.marksPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("waiting for commands of an earlier run to end (%s): %w", found[0], ctx.Err())
		case <-t.C:
		}
	}
}
