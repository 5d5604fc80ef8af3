package system

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.uber.org/zap"

	"github.com/upgradekit/upgradekit/transport"
)

// State is a unit's ACTIVE state as `systemctl is-active` prints it.
type State string

// Unit states (systemd's UnitActiveState) plus StateNotFound.
const (
	StateActive       State = "active"
	StateReloading    State = "reloading"
	StateRefreshing   State = "refreshing"
	StateInactive     State = "inactive"
	StateFailed       State = "failed"
	StateActivating   State = "activating"
	StateDeactivating State = "deactivating"
	StateMaintenance  State = "maintenance"
	// StateUnknown is printed when systemctl cannot tell.
	StateUnknown State = "unknown"
	// StateNotFound is IsActive's answer when systemd ≥ 253 says the unit
	// does not exist (exit 4). Older systemd prints "inactive" and exits 3
	// for a unit that does not exist, so it is reported as StateInactive.
	StateNotFound State = "not-found"
)

func knownState(s string) bool {
	switch State(s) {
	case StateActive, StateReloading, StateRefreshing, StateInactive, StateFailed,
		StateActivating, StateDeactivating, StateMaintenance, StateUnknown:
		return true
	}
	return false
}

// Stopped reports whether the unit has no running processes: inactive,
// failed or not found. Unknown is not stopped: it cannot be verified.
func (s State) Stopped() bool {
	return s == StateInactive || s == StateFailed || s == StateNotFound
}

// Exit codes of `systemctl is-active` relied on (systemctl(1), "Exit
// status"): 0 at least one named unit is active (or reloading); 3 none is
// active — inactive, failed, activating, deactivating, or, up to systemd
// 252, not found; 4 (systemd ≥ 253, PR #25689) no such unit. Anything else
// (1 "Failed to connect to bus", say) is a failure of systemctl itself.
const (
	isActiveOK       = 0
	isActiveNotRun   = 3
	isActiveNotFound = 4
)

func checkUnits(units []string) error {
	if len(units) == 0 {
		return fmt.Errorf("%w: no units given", ErrInvalid)
	}
	for _, u := range units {
		if u == "" || strings.HasPrefix(u, "-") || strings.ContainsFunc(u, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return fmt.Errorf("%w: unit name %q", ErrInvalid, u)
		}
	}
	return nil
}

func (s *System) systemctl(ctx context.Context, t transport.Transport, verb string, units ...string) error {
	if err := checkUnits(units); err != nil {
		return err
	}
	cmd := s.root(transport.Cmd("systemctl", append([]string{verb, "--"}, units...)...))
	s.log().Info("systemctl "+verb, hostField(t), zap.Strings("units", units))
	if err := transport.Check(ctx, t, cmd); err != nil {
		return fmt.Errorf("%s %s: %w", verb, strings.Join(units, " "), err)
	}
	return nil
}

// Stop runs `systemctl stop -- UNITS...`. Stopping an inactive unit
// succeeds; a unit that does not exist makes systemctl exit 5 ("Unit ...
// not loaded"), returned as a *transport.ExitError. Stopping opennebula
// does not stop the other OpenNebula services (share/pkgs/services/systemd/ in OpenNebula/one): name each.
func (s *System) Stop(ctx context.Context, t transport.Transport, units ...string) error {
	return s.systemctl(ctx, t, "stop", units...)
}

// Start runs `systemctl start -- UNITS...`.
func (s *System) Start(ctx context.Context, t transport.Transport, units ...string) error {
	return s.systemctl(ctx, t, "start", units...)
}

// Restart runs `systemctl restart -- UNITS...`.
func (s *System) Restart(ctx context.Context, t transport.Transport, units ...string) error {
	return s.systemctl(ctx, t, "restart", units...)
}

// DaemonReload runs `systemctl daemon-reload` (after packages changed
// unit files).
func (s *System) DaemonReload(ctx context.Context, t transport.Transport) error {
	cmd := s.root(transport.Cmd("systemctl", "daemon-reload"))
	s.log().Info("systemctl daemon-reload", hostField(t))
	if err := transport.Check(ctx, t, cmd); err != nil {
		return fmt.Errorf("daemon-reload: %w", err)
	}
	return nil
}

// isActiveCmd is the read-only probe for units' states.
func (s *System) isActiveCmd(units []string) transport.Command {
	return s.root(transport.Query("systemctl", append([]string{"is-active", "--"}, units...)...))
}

// IsActive returns unit's state from `systemctl is-active -- UNIT`. A
// non-zero exit is data here: 3 means not active, 4 means no such unit
// (StateNotFound); only other codes are errors.
func (s *System) IsActive(ctx context.Context, t transport.Transport, unit string) (State, error) {
	states, code, err := s.states(ctx, t, []string{unit})
	if err != nil {
		return "", err
	}
	if code == isActiveNotFound {
		return StateNotFound, nil
	}
	return states[0], nil
}

// states runs one is-active for all units and returns their states in
// order, with the exit code.
func (s *System) states(ctx context.Context, t transport.Transport, units []string) ([]State, int, error) {
	if err := checkUnits(units); err != nil {
		return nil, 0, err
	}
	cmd := s.isActiveCmd(units)
	res, err := t.Run(ctx, cmd)
	if err != nil {
		return nil, 0, fmt.Errorf("is-active: %w", err)
	}
	switch res.ExitCode {
	case isActiveOK, isActiveNotRun, isActiveNotFound:
	default:
		return nil, 0, fmt.Errorf("is-active: %w", transport.ResultError(cmd, res))
	}
	if res.Signal != "" {
		return nil, 0, fmt.Errorf("is-active: %w", transport.ResultError(cmd, res))
	}
	states, err := ParseIsActive(res.Stdout, len(units))
	if err != nil {
		return nil, 0, err
	}
	anyActive := false
	for _, st := range states {
		anyActive = anyActive || st == StateActive || st == StateReloading || st == StateRefreshing
	}
	// Before systemd 229 (CentOS 7 has 219) several units gave a non-zero
	// exit as soon as one was not active, so only a single unit's exit
	// code is checked against its state.
	if len(units) == 1 && anyActive != (res.ExitCode == isActiveOK) {
		return nil, 0, &ParseError{What: "systemctl is-active", Reason: fmt.Sprintf("exit code %d contradicts the states printed", res.ExitCode)}
	}
	return states, res.ExitCode, nil
}

// ParseIsActive parses `systemctl is-active` output: one state per unit,
// in the order the units were given.
func ParseIsActive(out []byte, units int) ([]State, error) {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) == 1 && lines[0] == "" {
		lines = nil
	}
	if len(lines) != units {
		return nil, &ParseError{What: "systemctl is-active", Reason: fmt.Sprintf("%d lines for %d units", len(lines), units)}
	}
	states := make([]State, len(lines))
	for i, l := range lines {
		l = strings.TrimSpace(l)
		if !knownState(l) {
			return nil, &ParseError{What: "systemctl is-active", Line: l, Reason: "unknown state"}
		}
		states[i] = State(l)
	}
	return states, nil
}

// stillRunning returns the units in units that are not stopped.
func stillRunning(units []string, states []State) map[string]State {
	var m map[string]State
	for i, st := range states {
		if !st.Stopped() {
			if m == nil {
				m = map[string]State{}
			}
			m[units[i]] = st
		}
	}
	return m
}

// VerifyStopped checks once that none of units is running, and returns a
// *StillActiveError (errors.Is ErrStillActive) naming those that are.
func (s *System) VerifyStopped(ctx context.Context, t transport.Transport, units ...string) error {
	states, _, err := s.states(ctx, t, units)
	if err != nil {
		return err
	}
	if m := stillRunning(units, states); m != nil {
		return &StillActiveError{Host: transport.HostName(t), Units: m}
	}
	return nil
}

// WaitStopped polls until none of units is running (exponential backoff,
// WithPollInterval, bounded by WithWaitTimeout). On timeout it returns a
// *StillActiveError with each unit's last state; on a cancelled ctx the
// context's error joined with the last observation. A failing systemctl
// ends the wait at once.
func (s *System) WaitStopped(ctx context.Context, t transport.Transport, units ...string) error {
	if err := checkUnits(units); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	start := s.clock()
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval, b.MaxElapsedTime = 500*time.Millisecond, 5*time.Second, 2*time.Minute
	if s != nil && s.waitFirst > 0 {
		b.InitialInterval, b.MaxInterval = s.waitFirst, s.waitPeriod
	}
	if s != nil && s.waitMax > 0 {
		b.MaxElapsedTime = s.waitMax
	}
	var timer backoff.Timer // nil: the backoff package's real-time timer
	if s != nil && s.newTimer != nil {
		timer = s.newTimer()
		b.Clock = clockFunc(s.clock) // virtual sleeps: measure the timeout on the same clock
	}
	b.Reset()
	var last error
	op := func() error {
		states, _, err := s.states(ctx, t, units)
		if err != nil {
			var ee *transport.ExitError
			if errors.As(err, &ee) || errors.Is(err, ErrMalformed) || errors.Is(err, ErrInvalid) {
				return backoff.Permanent(err)
			}
			last = err
			return err
		}
		if m := stillRunning(units, states); m != nil {
			last = &StillActiveError{Host: transport.HostName(t), Units: m}
			return last
		}
		return nil
	}
	err := backoff.RetryNotifyWithTimer(op, backoff.WithContext(b, ctx), nil, timer)
	if err == nil {
		return nil
	}
	if sa, ok := errors.AsType[*StillActiveError](last); ok && errors.Is(err, ErrStillActive) {
		sa.Waited = s.clock().Sub(start).Round(time.Millisecond).String()
		return sa
	}
	if ctx.Err() != nil && last != nil {
		return errors.Join(ctx.Err(), last)
	}
	return err
}

// Unit is one row of `systemctl list-units`.
type Unit struct {
	Name        string
	Load        string // loaded, not-found, masked, ...
	Active      State
	Sub         string // running, exited, dead, ...
	Description string
}

// UnitFilter selects units for ListUnits; empty fields do not filter.
type UnitFilter struct {
	Types    []string // e.g. "service", "timer"
	States   []string // e.g. "active", "failed"
	Patterns []string // shell globs, e.g. "opennebula*"
}

// ListUnits runs `systemctl list-units --type=T --state=S --no-legend
// --plain --full -- PATTERNS...` and parses the rows.
func (s *System) ListUnits(ctx context.Context, t transport.Transport, f UnitFilter) ([]Unit, error) {
	args := []string{"list-units"}
	if len(f.Types) > 0 {
		args = append(args, "--type="+strings.Join(f.Types, ","))
	}
	if len(f.States) > 0 {
		args = append(args, "--state="+strings.Join(f.States, ","))
	}
	args = append(args, "--no-legend", "--plain", "--full")
	if len(f.Patterns) > 0 {
		if err := checkUnits(f.Patterns); err != nil {
			return nil, err
		}
		args = append(append(args, "--"), f.Patterns...)
	}
	out, err := transport.Output(ctx, t, s.root(transport.Query("systemctl", args...)))
	if err != nil {
		return nil, fmt.Errorf("list units: %w", err)
	}
	return ParseListUnits(out)
}

// ActiveUnits returns the names of active services matching pattern (a
// glob such as "opennebula*"; "" for all), from `systemctl list-units
// --type=service --state=active ...`. Units still activating or
// deactivating are not listed: use WaitStopped on named units to be sure
// they are down.
func (s *System) ActiveUnits(ctx context.Context, t transport.Transport, pattern string) ([]string, error) {
	f := UnitFilter{Types: []string{"service"}, States: []string{"active"}}
	if pattern != "" {
		f.Patterns = []string{pattern}
	}
	units, err := s.ListUnits(ctx, t, f)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(units))
	for _, u := range units {
		names = append(names, u.Name)
	}
	return names, nil
}

var loadStates = map[string]bool{
	"loaded": true, "not-found": true, "bad-setting": true, "error": true,
	"merged": true, "masked": true, "stub": true,
}

var unitSuffixes = []string{".service", ".socket", ".target", ".device", ".mount", ".automount",
	".swap", ".timer", ".path", ".slice", ".scope"}

// ParseListUnits parses `systemctl list-units --no-legend` rows: UNIT
// LOAD ACTIVE SUB DESCRIPTION. It tolerates the status bullets printed
// without --plain ("●", "*"), blank lines and the legend's summary lines,
// and rejects anything else.
func ParseListUnits(out []byte) ([]Unit, error) {
	var units []Unit
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if strings.HasSuffix(line, "loaded units listed.") || strings.HasPrefix(line, "0 loaded units listed") ||
			strings.HasPrefix(line, "To show all installed unit files") {
			continue
		}
		for _, bullet := range []string{"●", "*", "×"} {
			if rest, ok := strings.CutPrefix(line, bullet); ok {
				line = strings.TrimSpace(rest)
				break
			}
		}
		fields := strings.Fields(line)
		// Legend lines (without --no-legend): the header and the
		// "LOAD   = Reflects whether ..." explanations.
		if len(fields) >= 2 && (fields[0] == "UNIT" && fields[1] == "LOAD" || fields[1] == "=") {
			continue
		}
		if len(fields) < 4 {
			return nil, &ParseError{What: "systemctl list-units", Line: line, Reason: "fewer than 4 columns"}
		}
		name := fields[0]
		okSuffix := false
		for _, suf := range unitSuffixes {
			if strings.HasSuffix(name, suf) && len(name) > len(suf) {
				okSuffix = true
				break
			}
		}
		if !okSuffix || strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			return nil, &ParseError{What: "systemctl list-units", Line: line, Reason: "not a unit name"}
		}
		if !loadStates[fields[1]] {
			return nil, &ParseError{What: "systemctl list-units", Line: line, Reason: "unknown load state"}
		}
		if !knownState(fields[2]) {
			return nil, &ParseError{What: "systemctl list-units", Line: line, Reason: "unknown active state"}
		}
		units = append(units, Unit{
			Name: name, Load: fields[1], Active: State(fields[2]), Sub: fields[3],
			Description: strings.Join(fields[4:], " "),
		})
	}
	return units, nil
}

// Package-level shortcuts with the default configuration (sudo, no log).

// Stop stops units with the default System.
func Stop(ctx context.Context, t transport.Transport, units ...string) error {
	return (*System)(nil).Stop(ctx, t, units...)
}

// Start starts units with the default System.
func Start(ctx context.Context, t transport.Transport, units ...string) error {
	return (*System)(nil).Start(ctx, t, units...)
}

// Restart restarts units with the default System.
func Restart(ctx context.Context, t transport.Transport, units ...string) error {
	return (*System)(nil).Restart(ctx, t, units...)
}

// DaemonReload reloads systemd with the default System.
func DaemonReload(ctx context.Context, t transport.Transport) error {
	return (*System)(nil).DaemonReload(ctx, t)
}

// IsActive returns unit's state with the default System.
func IsActive(ctx context.Context, t transport.Transport, unit string) (State, error) {
	return (*System)(nil).IsActive(ctx, t, unit)
}

// ActiveUnits lists active services matching pattern with the default System.
func ActiveUnits(ctx context.Context, t transport.Transport, pattern string) ([]string, error) {
	return (*System)(nil).ActiveUnits(ctx, t, pattern)
}

// VerifyStopped checks units are stopped with the default System.
func VerifyStopped(ctx context.Context, t transport.Transport, units ...string) error {
	return (*System)(nil).VerifyStopped(ctx, t, units...)
}

// WaitStopped waits for units to stop with the default System.
func WaitStopped(ctx context.Context, t transport.Transport, units ...string) error {
	return (*System)(nil).WaitStopped(ctx, t, units...)
}

// clockFunc adapts a func to backoff.Clock.
type clockFunc func() time.Time

func (c clockFunc) Now() time.Time { return c() }
