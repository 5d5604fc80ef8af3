package zone

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.uber.org/zap"

	"github.com/upgradekit/upgradekit/internal/onecli"
	"github.com/upgradekit/upgradekit/transport"
)

// ProblemKind says why a zone is not in sync.
type ProblemKind int

// Problem kinds.
const (
	// Unreachable: the CLI could not ask the server ("-").
	Unreachable ProblemKind = iota + 1
	// NoLeader: no server is LEADER.
	NoLeader
	// MultipleLeaders: more than one server is LEADER.
	MultipleLeaders
	// NotFollower: a server besides the leader is SOLO or CANDIDATE.
	NotFollower
	// TermMismatch: a follower's TERM differs from the leader's.
	TermMismatch
	// Behind: a follower's LOG_INDEX or COMMIT trails the leader's by more
	// than the allowed lag.
	Behind
)

func (k ProblemKind) String() string {
	switch k {
	case Unreachable:
		return "unreachable"
	case NoLeader:
		return "no leader"
	case MultipleLeaders:
		return "multiple leaders"
	case NotFollower:
		return "not follower"
	case TermMismatch:
		return "term mismatch"
	case Behind:
		return "behind"
	}
	return fmt.Sprintf("ProblemKind(%d)", int(k))
}

// Problem is one reason a zone is not in sync. Server fields are zero for
// the zone-wide kinds (NoLeader, MultipleLeaders).
type Problem struct {
	Kind     ProblemKind
	ServerID int
	Name     string
	State    RaftState
	// Term is the server's term, LeaderTerm the leader's (TermMismatch).
	Term, LeaderTerm int64
	// LogLag and CommitLag are the leader's LOG_INDEX and COMMIT minus
	// the follower's (Behind); negative means ahead.
	LogLag, CommitLag int64
	// Leaders names the leaders (MultipleLeaders).
	Leaders []string
}

func (p Problem) String() string {
	who := fmt.Sprintf("server %d (%s)", p.ServerID, p.Name)
	switch p.Kind {
	case Unreachable:
		return who + " unreachable"
	case NoLeader:
		return "no leader"
	case MultipleLeaders:
		return "multiple leaders: " + strings.Join(p.Leaders, ", ")
	case NotFollower:
		return fmt.Sprintf("%s is %s, not FOLLOWER", who, p.State)
	case TermMismatch:
		return fmt.Sprintf("%s at term %d, leader at term %d", who, p.Term, p.LeaderTerm)
	case Behind:
		return fmt.Sprintf("%s behind the leader by %d log entries and %d commits", who, p.LogLag, p.CommitLag)
	}
	return who + " " + p.Kind.String()
}

// CheckSync reports whether z is in sync and, when it is not, returns a
// *NotInSyncError listing every problem. A zone is in sync when it has no
// HA servers, or when all of these hold:
//
//   - every server is reachable (its Raft values are not "-");
//   - exactly one server is LEADER and every other one is FOLLOWER;
//   - every follower's TERM equals the leader's;
//   - for every follower, leader.LOG_INDEX - follower.LOG_INDEX <= maxLag
//     and leader.COMMIT - follower.COMMIT <= maxLag (a follower ahead of
//     the leader counts as caught up: the CLI asks the servers one after
//     the other, so a later answer can be newer).
func (z Zone) CheckSync(maxLag int64) error {
	ps := z.syncProblems(maxLag)
	if len(ps) == 0 {
		return nil
	}
	zc := z
	return &NotInSyncError{ZoneID: z.ID, Problems: ps, Last: &zc}
}

func (z Zone) syncProblems(maxLag int64) []Problem {
	if !z.HA() {
		return nil
	}
	var ps []Problem
	for _, s := range z.Servers {
		if !s.Reachable() {
			ps = append(ps, Problem{Kind: Unreachable, ServerID: s.ID, Name: s.Name, State: RaftUnknown})
		}
	}
	ps = append(ps, leaderProblems(z)...)
	l, ok := z.Leader()
	if !ok {
		return ps
	}
	for _, s := range z.Servers {
		if s.ID == l.ID || !s.Reachable() {
			continue
		}
		p := Problem{ServerID: s.ID, Name: s.Name, State: s.State(), Term: s.Raft.Term, LeaderTerm: l.Raft.Term}
		switch {
		case s.State() != RaftFollower:
			p.Kind = NotFollower
		case s.Raft.Term != l.Raft.Term:
			p.Kind = TermMismatch
		default:
			p.LogLag = l.Raft.LogIndex - s.Raft.LogIndex
			p.CommitLag = l.Raft.Commit - s.Raft.Commit
			if p.LogLag <= maxLag && p.CommitLag <= maxLag {
				continue
			}
			p.Kind = Behind
		}
		ps = append(ps, p)
	}
	return ps
}

func leaderProblems(z Zone) []Problem {
	ls := z.Leaders()
	switch len(ls) {
	case 0:
		return []Problem{{Kind: NoLeader, ServerID: -1}}
	case 1:
		return nil
	}
	p := Problem{Kind: MultipleLeaders, ServerID: -1}
	for _, l := range ls {
		p.Leaders = append(p.Leaders, fmt.Sprintf("%s (%d, term %d)", l.Name, l.ID, l.Raft.Term))
	}
	return []Problem{p}
}

// NotInSyncError reports a zone that was not in sync (or had no leader,
// for WaitLeader) when the check or the wait ended.
type NotInSyncError struct {
	ZoneID int
	// Problems are from the last successful observation.
	Problems []Problem
	// Last is the last successful observation, nil if there was none.
	Last *Zone
	// Err is the error of the last attempt to observe the zone (a failed
	// or unparsable onezone show), nil if the last attempt succeeded.
	Err error
	// Cause is why the wait stopped: ErrTimeout, or the context's error.
	// Nil for a one-shot CheckSync.
	Cause error
}

func (e *NotInSyncError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "zone %d not in sync", e.ZoneID)
	if e.Cause != nil {
		b.WriteString(" (" + e.Cause.Error() + ")")
	}
	if len(e.Problems) > 0 {
		ps := make([]string, len(e.Problems))
		for i, p := range e.Problems {
			ps[i] = p.String()
		}
		b.WriteString(": " + strings.Join(ps, "; "))
	} else if e.Last == nil {
		b.WriteString(": never observed")
	}
	if e.Err != nil {
		b.WriteString("; last error: " + e.Err.Error())
	}
	return b.String()
}

// Unwrap returns Cause and Err.
func (e *NotInSyncError) Unwrap() []error {
	var errs []error
	for _, err := range []error{e.Cause, e.Err} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// Is makes errors.Is(err, ErrNoLeader) and errors.Is(err,
// ErrMultipleLeaders) true when the problems include them.
func (e *NotInSyncError) Is(target error) bool {
	for _, p := range e.Problems {
		if (target == ErrNoLeader && p.Kind == NoLeader) || (target == ErrMultipleLeaders && p.Kind == MultipleLeaders) {
			return true
		}
	}
	return false
}

// errNotYet marks an observation that succeeded but does not satisfy the
// wait; poll retries it.
var errNotYet = errors.New("not yet")

// poll calls probe until it returns nil, a permanent error, or the wait
// ends (o.timeout, ctx). It returns nil on success, the permanent error
// unwrapped, or the cause (ErrTimeout or ctx's error) together with the
// last error probe returned.
func poll(ctx context.Context, o *options, probe func() error) (cause, last error) {
	if err := ctx.Err(); err != nil {
		return err, nil
	}
	b := onecli.BackOff(o.interval, o.maxInterval, o.timeout, o.now)
	var permanent bool
	err := backoff.RetryNotifyWithTimer(func() error {
		last = probe()
		if last != nil {
			if _, ok := errors.AsType[*backoff.PermanentError](last); ok {
				permanent = true
			}
		}
		return last
	}, backoff.WithContext(b, ctx), func(err error, d time.Duration) {
		o.log.Debug("not yet", zap.Error(err), zap.Duration("retry_in", d))
	}, o.timer())
	switch {
	case err == nil:
		return nil, nil
	case permanent:
		return err, nil
	case ctx.Err() != nil:
		return ctx.Err(), last
	}
	return ErrTimeout, last
}

// observe runs onezone show; parse errors are permanent (malformed output
// does not get better by waiting), command failures are retried.
func observeZone(ctx context.Context, t transport.Transport, o *options, zoneID int) (Zone, error) {
	z, err := show(ctx, t, o, zoneID)
	if err != nil {
		if _, ok := errors.AsType[*ParseError](err); ok {
			return Zone{}, backoff.Permanent(err)
		}
		if errors.Is(err, ErrInvalidArgument) {
			return Zone{}, backoff.Permanent(err)
		}
	}
	return z, err
}

// waitZone polls `onezone show <zoneID> -x` until problems(z) is empty.
func waitZone(ctx context.Context, t transport.Transport, o *options, zoneID int, problems func(Zone) []Problem) (Zone, error) {
	var last *Zone
	var ps []Problem
	cause, lastErr := poll(ctx, o, func() error {
		z, err := observeZone(ctx, t, o, zoneID)
		if err != nil {
			return err
		}
		last, ps = &z, problems(z)
		if len(ps) > 0 {
			return errNotYet
		}
		return nil
	})
	switch {
	case cause == nil:
		return *last, nil
	case lastErr == nil:
		// Permanent error, or ctx was already done.
		return Zone{}, cause
	}
	if errors.Is(lastErr, errNotYet) {
		lastErr = nil
	}
	return Zone{}, &NotInSyncError{ZoneID: zoneID, Problems: ps, Last: last, Err: lastErr, Cause: cause}
}

// WaitLeader polls `onezone show <zoneID> -x` until exactly one server is
// LEADER (unreachable servers are allowed) and returns it. A zone without
// HA servers fails at once with ErrNotHA. On timeout the error is a
// *NotInSyncError with the leadership problems of the last observation
// (errors.Is ErrNoLeader or ErrMultipleLeaders) and the last command
// error. Options: WithTimeout, WithPollInterval, WithEndpoint, WithUser,
// WithLogger, WithClock.
func WaitLeader(ctx context.Context, t transport.Transport, zoneID int, opts ...Option) (Server, error) {
	o, err := newOptions(opts)
	if err != nil {
		return Server{}, err
	}
	notHA := false
	z, err := waitZone(ctx, t, o, zoneID, func(z Zone) []Problem {
		if !z.HA() {
			notHA = true
			return nil
		}
		return leaderProblems(z)
	})
	if err != nil {
		return Server{}, err
	}
	if notHA {
		return Server{}, fmt.Errorf("zone %d: %w", zoneID, ErrNotHA)
	}
	return leaderOf(z)
}

// WaitInSync polls `onezone show <zoneID> -x` until the zone is in sync as
// CheckSync defines it (with WithMaxLag, default 0) and returns the last
// observation. A zone without HA servers is in sync at once. On timeout
// (WithTimeout, default DefaultTimeout) or when ctx ends, the error is a
// *NotInSyncError naming which server lagged and by how much, with the
// last observation, joined with the last underlying error and the cause.
// Unparsable output stops the wait at once with the *ParseError.
func WaitInSync(ctx context.Context, t transport.Transport, zoneID int, opts ...Option) (Zone, error) {
	o, err := newOptions(opts)
	if err != nil {
		return Zone{}, err
	}
	return waitZone(ctx, t, o, zoneID, func(z Zone) []Problem { return z.syncProblems(o.maxLag) })
}

// FederationError reports zones whose federation indexes differ or could
// not be read.
type FederationError struct {
	// Zones is the last successful `onezone list --csv`, nil if none.
	Zones []Summary
	// Err is the last error observing the zones, nil if the last attempt
	// succeeded. Cause is why a wait stopped (nil for a one-shot check).
	Err, Cause error
}

func (e *FederationError) Error() string {
	var b strings.Builder
	b.WriteString("federation not in sync")
	if e.Cause != nil {
		b.WriteString(" (" + e.Cause.Error() + ")")
	}
	if e.Zones != nil {
		b.WriteString(": " + describeFederation(e.Zones))
	} else {
		b.WriteString(": never observed")
	}
	if e.Err != nil {
		b.WriteString("; last error: " + e.Err.Error())
	}
	return b.String()
}

// Unwrap returns Cause and Err.
func (e *FederationError) Unwrap() []error {
	var errs []error
	for _, err := range []error{e.Cause, e.Err} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

func describeFederation(zs []Summary) string {
	var top uint64
	for _, z := range zs {
		if n, ok := z.FedIndex.Index(); ok && n > top {
			top = n
		}
	}
	parts := make([]string, len(zs))
	for i, z := range zs {
		s := fmt.Sprintf("zone %d (%s) at %s", z.ID, z.Name, z.FedIndex)
		switch n, ok := z.FedIndex.Index(); {
		case !z.FedIndex.Known():
			s = fmt.Sprintf("zone %d (%s) unreachable", z.ID, z.Name)
		case ok && n < top:
			s += fmt.Sprintf(", %d behind", top-n)
		}
		parts[i] = s
	}
	return strings.Join(parts, "; ")
}

// CheckFederation returns nil when every zone's FED_INDEX is known (not
// "-") and all are equal (same index, or all "no record yet", or all "not
// federated"), and a *FederationError otherwise. No zones, or one, is in
// sync.
func CheckFederation(zones []Summary) error {
	for _, z := range zones {
		if !z.FedIndex.Known() || z.FedIndex != zones[0].FedIndex {
			return &FederationError{Zones: zones}
		}
	}
	return nil
}

// FederationInSync runs `onezone list --csv` once and applies
// CheckFederation. It returns the zones it saw.
func FederationInSync(ctx context.Context, t transport.Transport, opts ...Option) ([]Summary, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	zs, err := list(ctx, t, o)
	if err != nil {
		return nil, err
	}
	return zs, CheckFederation(zs)
}

// WaitFederationInSync polls `onezone list --csv` until CheckFederation
// passes. On timeout or when ctx ends the error is a *FederationError with
// the last observation, the last error and the cause.
func WaitFederationInSync(ctx context.Context, t transport.Transport, opts ...Option) ([]Summary, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	var last []Summary
	cause, lastErr := poll(ctx, o, func() error {
		zs, err := list(ctx, t, o)
		if err != nil {
			if _, ok := errors.AsType[*ParseError](err); ok {
				return backoff.Permanent(err)
			}
			return err
		}
		last = zs
		if CheckFederation(zs) != nil {
			return errNotYet
		}
		return nil
	})
	switch {
	case cause == nil:
		return last, nil
	case lastErr == nil:
		return nil, cause
	}
	if errors.Is(lastErr, errNotYet) {
		lastErr = nil
	}
	return nil, &FederationError{Zones: last, Err: lastErr, Cause: cause}
}
