package host

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/zone"
)

// List runs `onehost list -x` and parses it (ParseList).
func List(ctx context.Context, t transport.Transport, opts ...Option) ([]Host, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	return list(ctx, t, o)
}

func list(ctx context.Context, t transport.Transport, o *options) ([]Host, error) {
	c := o.command(transport.Query("onehost", "list", "-x"), "")
	o.log.Debug("run", zap.String("host", transport.HostName(t)), zap.Stringer("cmd", c))
	out, err := transport.Output(ctx, t, c)
	if err != nil {
		return nil, fmt.Errorf("host list: %w", zone.ClassifyError(err))
	}
	return ParseList(out)
}

// ErrNotAttempted marks hosts an action was not run on because an earlier
// host hit a refusal that applies to the whole zone (zone disabled, no
// leader, election, log replication).
var ErrNotAttempted = errors.New("not attempted")

// ActionError reports one host an action failed on.
type ActionError struct {
	HostID int
	Action string // "enable", "disable" or "offline"
	Err    error
}

func (e *ActionError) Error() string {
	return fmt.Sprintf("host %d: %s: %v", e.HostID, e.Action, e.Err)
}

func (e *ActionError) Unwrap() error { return e.Err }

// SetOffline runs `onehost offline <id>` for each ID, in order: monitoring
// stops and the capacity is zeroed (state OFFLINE); onehost sync skips
// offline hosts. It does not check for VMs on the host.
func SetOffline(ctx context.Context, t transport.Transport, ids []int, opts ...Option) error {
	return act(ctx, t, ModeOffline, ids, opts)
}

// Disable runs `onehost disable <id>` for each ID, in order (state
// DISABLED: the scheduler deploys nothing there; monitoring continues).
func Disable(ctx context.Context, t transport.Transport, ids []int, opts ...Option) error {
	return act(ctx, t, ModeDisabled, ids, opts)
}

// Enable runs `onehost enable <id>` for each ID, in order. A disabled host
// with known capacity goes to MONITORED at once, others (e.g. from
// OFFLINE) to INIT until the next monitoring message.
func Enable(ctx context.Context, t transport.Transport, ids []int, opts ...Option) error {
	return act(ctx, t, ModeEnabled, ids, opts)
}

// act runs the mode's verb on every host. A failure on one host does not
// stop the others, except for zone-wide refusals, after which the rest are
// reported as ErrNotAttempted. The error joins one *ActionError per host.
func act(ctx context.Context, t transport.Transport, m Mode, ids []int, opts []Option) error {
	o, err := newOptions(opts)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if id < 0 {
			return fmt.Errorf("host ID %d: %w", id, ErrInvalidArgument)
		}
	}
	var errs []error
	for i, id := range ids {
		err := runVerb(ctx, t, o, m, id)
		if err == nil {
			continue
		}
		errs = append(errs, &ActionError{HostID: id, Action: m.verb(), Err: err})
		if zoneWide(err) || ctx.Err() != nil {
			for _, rest := range ids[i+1:] {
				errs = append(errs, &ActionError{HostID: rest, Action: m.verb(), Err: ErrNotAttempted})
			}
			break
		}
	}
	return errors.Join(errs...)
}

func zoneWide(err error) bool {
	for _, e := range []error{zone.ErrZoneDisabled, zone.ErrNoLeader, zone.ErrElectionMode, zone.ErrReplicatingLog, zone.ErrForwardGRPC} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func runVerb(ctx context.Context, t transport.Transport, o *options, m Mode, id int) error {
	c := o.command(transport.Cmd("onehost", m.verb(), strconv.Itoa(id)), "")
	o.log.Debug("run", zap.String("host", transport.HostName(t)), zap.Stringer("cmd", c))
	return zone.ClassifyError(transport.Check(ctx, t, c))
}

// Sync runs `onehost sync` as SyncUser (oneadmin) through sudo; WithUser
// or AsLoginUser change that. Options: WithSyncHosts (`<id>,<id>`),
// WithSyncCluster (`--cluster <id>`), WithSyncForce (`--force`),
// WithSyncSSH (`--ssh`). The output is parsed with ParseSync; a host
// failure is a *SyncError wrapping the *transport.ExitError.
//
// onehost sync records each host's new VERSION with an API write that
// fails silently while the zone is disabled: enable the zone first.
func Sync(ctx context.Context, t transport.Transport, opts ...Option) (SyncResult, error) {
	o, err := newOptions(opts)
	if err != nil {
		return SyncResult{}, err
	}
	args := []string{"sync"}
	if len(o.syncHosts) > 0 {
		ids := make([]string, len(o.syncHosts))
		for i, id := range o.syncHosts {
			ids[i] = strconv.Itoa(id)
		}
		args = append(args, strings.Join(ids, ","))
	}
	if o.cluster >= 0 {
		args = append(args, "--cluster", strconv.Itoa(o.cluster))
	}
	if o.force {
		args = append(args, "--force")
	}
	if o.ssh {
		args = append(args, "--ssh")
	}
	c := o.command(transport.Cmd("onehost", args...), SyncUser)
	o.log.Debug("run", zap.String("host", transport.HostName(t)), zap.Stringer("cmd", c))
	res, err := t.Run(ctx, c)
	if err != nil {
		return SyncResult{}, fmt.Errorf("host sync: %w", err)
	}
	if res.StdoutTruncated || res.StderrTruncated {
		return SyncResult{}, fmt.Errorf("host sync: %w", transport.ErrTruncated)
	}
	r, perr := ParseSync(res.Stdout, res.Stderr, res.ExitCode)
	exitErr := transport.ResultError(c, res)
	switch se, isSync := errors.AsType[*SyncError](perr); {
	case perr == nil:
		return r, nil
	case exitErr == nil:
		return SyncResult{}, fmt.Errorf("host sync: %w", perr)
	case isSync:
		se.Err = exitErr
		return SyncResult{}, fmt.Errorf("host sync: %w", se)
	default:
		return SyncResult{}, fmt.Errorf("host sync: %w: %w", perr, zone.ClassifyError(exitErr))
	}
}

// Snapshot is every host's state at one moment, for Restore.
type Snapshot struct {
	Taken time.Time
	Hosts []HostState
}

// HostState is one host in a Snapshot.
type HostState struct {
	ID    int
	Name  string
	State State
}

// TakeSnapshot runs `onehost list -x` and records every host's state
// (the type Snapshot has the name Snapshot would have had).
func TakeSnapshot(ctx context.Context, t transport.Transport, opts ...Option) (Snapshot, error) {
	o, err := newOptions(opts)
	if err != nil {
		return Snapshot{}, err
	}
	hosts, err := list(ctx, t, o)
	if err != nil {
		return Snapshot{}, err
	}
	s := Snapshot{Taken: o.now(), Hosts: make([]HostState, len(hosts))}
	for i, h := range hosts {
		s.Hosts[i] = HostState{ID: h.ID, Name: h.Name, State: h.State}
	}
	return s, nil
}

// RestoreAction is what Restore did, or skipped, for one host.
type RestoreAction struct {
	HostID int
	Name   string
	// Was is the host's state in the snapshot, Found its state before
	// Restore acted.
	Was, Found State
	// Action is the onehost verb run ("enable", "disable", "offline"),
	// "" when the host already was in its snapshot mode.
	Action string
	// Err is the action's error, nil on success.
	Err error
}

// RestoreReport lists what Restore did, in ascending host ID order.
type RestoreReport struct {
	// Actions has one entry per host of the snapshot that still exists.
	Actions []RestoreAction
	// Missing are snapshot hosts no longer in the pool (not an error).
	Missing []HostState
	// Unknown are hosts in the pool that were not in the snapshot; they
	// are left alone.
	Unknown []HostState
}

// Changed returns the actions that ran a command.
func (r RestoreReport) Changed() []RestoreAction {
	var out []RestoreAction
	for _, a := range r.Actions {
		if a.Action != "" {
			out = append(out, a)
		}
	}
	return out
}

// Restore brings every host of snap back to the mode it had: a host that
// was MONITORED, ERROR or INIT (enabled) is enabled, DISABLED is disabled,
// OFFLINE is set offline. It runs `onehost list -x`, then one `onehost
// enable|disable|offline <id>` per host whose current mode differs, in
// ascending host ID order; hosts already in their mode are skipped. (Which
// of MONITORED, ERROR or INIT an enabled host reaches is up to
// monitoring.) The report says what was done; the error joins one
// *ActionError per failed host.
func Restore(ctx context.Context, t transport.Transport, snap Snapshot, opts ...Option) (RestoreReport, error) {
	o, err := newOptions(opts)
	if err != nil {
		return RestoreReport{}, err
	}
	for _, h := range snap.Hosts {
		if h.State.Mode() == ModeUnknown {
			return RestoreReport{}, fmt.Errorf("host restore: host %d: snapshot state %d: %w", h.ID, int(h.State), ErrInvalidArgument)
		}
	}
	hosts, err := list(ctx, t, o)
	if err != nil {
		return RestoreReport{}, fmt.Errorf("host restore: %w", err)
	}
	current := map[int]Host{}
	for _, h := range hosts {
		current[h.ID] = h
	}
	want := slices.Clone(snap.Hosts)
	slices.SortFunc(want, func(a, b HostState) int { return a.ID - b.ID })
	var rep RestoreReport
	inSnap := map[int]bool{}
	var errs []error
	stopped := error(nil)
	for _, w := range want {
		inSnap[w.ID] = true
		h, ok := current[w.ID]
		if !ok {
			rep.Missing = append(rep.Missing, w)
			continue
		}
		a := RestoreAction{HostID: w.ID, Name: h.Name, Was: w.State, Found: h.State}
		if h.State.Mode() != w.State.Mode() {
			a.Action = w.State.Mode().verb()
			if stopped != nil {
				a.Err = ErrNotAttempted
			} else {
				a.Err = runVerb(ctx, t, o, w.State.Mode(), w.ID)
				if a.Err != nil && (zoneWide(a.Err) || ctx.Err() != nil) {
					stopped = a.Err
				}
			}
			if a.Err != nil {
				errs = append(errs, &ActionError{HostID: w.ID, Action: a.Action, Err: a.Err})
			}
		}
		rep.Actions = append(rep.Actions, a)
	}
	for _, h := range hosts {
		if !inSnap[h.ID] {
			rep.Unknown = append(rep.Unknown, HostState{ID: h.ID, Name: h.Name, State: h.State})
		}
	}
	o.log.Debug("restored host states", zap.Int("changed", len(rep.Changed())), zap.Int("hosts", len(rep.Actions)))
	return rep, errors.Join(errs...)
}
