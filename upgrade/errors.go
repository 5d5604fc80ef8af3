package upgrade

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Conditions callers branch on; test with errors.Is.
var (
	// ErrInvalidPlan: the plan or the run options are inconsistent
	// (duplicate names, unknown skip/only names, missing or late
	// dependencies). Nothing ran.
	ErrInvalidPlan = errors.New("invalid plan")
	// ErrLockHeld: another run holds the lock. See *LockHeldError.
	ErrLockHeld = errors.New("lock held by another run")
	// ErrLockLost: the lock was taken over while the run held it.
	ErrLockLost = errors.New("lock lost")
	// ErrDirtyStep: the journal shows a step that started and never
	// finished, the step has no Checker and it was not forced. See
	// *DirtyStepError.
	ErrDirtyStep = errors.New("step left in progress")
	// ErrPlanMismatch: the journal was written by a different plan.
	ErrPlanMismatch = errors.New("journal belongs to a different plan")
	// ErrPointOfNoReturn: rollback was refused because the plan's point
	// of no return had been passed.
	ErrPointOfNoReturn = errors.New("point of no return passed")
	// ErrPreflight: a preflight check failed; nothing changed.
	ErrPreflight = errors.New("preflight failed")
	// ErrUnknownHost: a step asked for a host missing from the inventory.
	ErrUnknownHost = errors.New("unknown host")
	// ErrJournalCorrupt: the journal has a malformed record before its
	// last line.
	ErrJournalCorrupt = errors.New("journal corrupt")
	// ErrJournalVersion: the journal has a record of a format newer than
	// this program's. See *JournalVersionError.
	ErrJournalVersion = errors.New("journal format too new")
	// ErrRollbackResumed: the run went backward (see WithDirection): it
	// finished the rollback of an earlier run and ran nothing forward.
	// It is the Err of the run's *PartialError; RollbackErr says whether
	// every step was undone.
	ErrRollbackResumed = errors.New("went backward: finished the rollback of an earlier run")
	// ErrAlreadyRun: Runner.Run was called twice.
	ErrAlreadyRun = errors.New("runner already ran")
)

// SkipError is returned by a step's Run (directly or wrapped) to say that
// the step skipped itself: it found nothing to do, or something it needs
// is not configured, and it made no change. The runner recognises it with
// errors.As: the step is journaled and reported as skipped with Reason,
// an EventStepSkipped carries Reason, the step is not retried, not
// counted as failed and not rolled back. Build it with Skip.
type SkipError struct {
	Reason string
}

func (e *SkipError) Error() string { return "step skipped: " + e.Reason }

// Skip returns a *SkipError with reason, for a step to return from Run:
//
//	if cfg.DB == nil {
//		return upgrade.Skip("no database connection configured")
//	}
func Skip(reason string) error { return &SkipError{Reason: reason} }

// StepError is the failure of one step (on one host, for PerHost steps).
type StepError struct {
	Step string
	Host string
	Err  error
}

func (e *StepError) Error() string {
	if e.Host != "" {
		return "step " + e.Step + " (host " + e.Host + "): " + e.Err.Error()
	}
	return "step " + e.Step + ": " + e.Err.Error()
}

func (e *StepError) Unwrap() error { return e.Err }

// PartialError is returned by a run that changed something and then
// failed: which steps completed, which failed, which never ran, and how
// the rollback went. Err and RollbackErr stay reachable with errors.Is and
// errors.As.
type PartialError struct {
	// Completed lists the steps done (in this or an earlier run), in plan
	// order.
	Completed []string
	// Failed lists the steps that failed.
	Failed []string
	// Pending lists the steps that did not run.
	Pending []string
	// RolledBack lists the steps rolled back, in rollback order.
	RolledBack []string
	// RollbackFailed lists the steps whose rollback failed, in rollback
	// order: their changes may still be in effect. The rollback went on
	// with the other steps; the report's HostStates say where each host
	// stands, and a resume goes backward to retry these.
	RollbackFailed []string
	// Err is the failure (a join of *StepError, or a context error).
	Err error
	// RollbackErr is nil when rollback succeeded or had nothing to do;
	// it matches ErrPointOfNoReturn when rollback was refused.
	RollbackErr error
}

func (e *PartialError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "upgrade failed after %d completed step(s)", len(e.Completed))
	if len(e.Failed) > 0 {
		fmt.Fprintf(&b, "; failed: %s", strings.Join(e.Failed, ", "))
	}
	if len(e.Pending) > 0 {
		fmt.Fprintf(&b, "; %d pending", len(e.Pending))
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	switch {
	case len(e.RollbackFailed) > 0:
		fmt.Fprintf(&b, "; rolled back %d step(s), could not roll back %d (%s): %v", len(e.RolledBack), len(e.RollbackFailed), strings.Join(e.RollbackFailed, ", "), e.RollbackErr)
	case e.RollbackErr != nil:
		fmt.Fprintf(&b, "; rollback: %v", e.RollbackErr)
	case len(e.RolledBack) > 0:
		fmt.Fprintf(&b, "; rolled back %d step(s)", len(e.RolledBack))
	}
	return b.String()
}

func (e *PartialError) Unwrap() []error {
	var errs []error
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	if e.RollbackErr != nil {
		errs = append(errs, e.RollbackErr)
	}
	return errs
}

// DirtyStepError names a step the journal shows in progress.
type DirtyStepError struct {
	Step string
}

func (e *DirtyStepError) Error() string {
	return fmt.Sprintf("step %s was left in progress by an earlier run and has no check; verify it by hand, then resume with WithMarkDone(%q) if it took effect or WithForce(%q) to run it again", e.Step, e.Step, e.Step)
}

// Is makes errors.Is(err, ErrDirtyStep) true.
func (e *DirtyStepError) Is(target error) bool { return target == ErrDirtyStep }

// NoReturnError explains a refused rollback and how to go forward.
type NoReturnError struct {
	// Step is the point of no return that had started.
	Step string
}

func (e *NoReturnError) Error() string {
	return fmt.Sprintf("rollback refused: step %s (the point of no return) has started; fix the cause and run the same plan again to resume forward", e.Step)
}

// Is makes errors.Is(err, ErrPointOfNoReturn) true.
func (e *NoReturnError) Is(target error) bool { return target == ErrPointOfNoReturn }

// LockHeldError reports the holder of a lock the run could not take.
type LockHeldError struct {
	Holder Holder
	// Age is how long ago the holder last refreshed the lock, when known.
	Age time.Duration
}

func (e *LockHeldError) Error() string {
	msg := "lock held by " + e.Holder.String()
	if e.Age > 0 {
		msg += fmt.Sprintf(", refreshed %s ago", e.Age.Round(time.Second))
	}
	return msg
}

// Is makes errors.Is(err, ErrLockHeld) true.
func (e *LockHeldError) Is(target error) bool { return target == ErrLockHeld }

// PlanMismatchError reports a journal from another plan.
type PlanMismatchError struct {
	Journal, Plan string // fingerprints
}

func (e *PlanMismatchError) Error() string {
	return fmt.Sprintf("journal fingerprint %s does not match plan fingerprint %s (use WithAllowPlanChange to resume anyway)", short(e.Journal), short(e.Plan))
}

// Is makes errors.Is(err, ErrPlanMismatch) true.
func (e *PlanMismatchError) Is(target error) bool { return target == ErrPlanMismatch }

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// Permanent marks err as not worth retrying; it is backoff.Permanent.
func Permanent(err error) error { return backoff.Permanent(err) }

// JournalVersionError reports a journal record written by a newer
// program, in a format this one cannot read. It matches ErrJournalCorrupt
// and ErrJournalVersion.
type JournalVersionError struct {
	// Version is the record's format version; Line its line.
	Version, Line int
}

func (e *JournalVersionError) Error() string {
	return fmt.Sprintf("journal line %d: format version %d is newer than this program's %d: resume with the program that wrote it", e.Line, e.Version, JournalVersion)
}

// Is makes errors.Is(err, ErrJournalVersion) and errors.Is(err,
// ErrJournalCorrupt) true.
func (e *JournalVersionError) Is(target error) bool {
	return target == ErrJournalVersion || target == ErrJournalCorrupt
}
