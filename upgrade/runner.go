package upgrade

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/user"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/upgradekit/upgradekit/transport"
)

// Runner runs a plan once. Build it with NewRunner.
type Runner struct {
	plan *Plan
	o    options
	ran  atomic.Bool
}

// NewRunner validates plan and the options against it (unknown skip,
// only, force and preflight-skip names, PerHost hosts missing from the
// inventory) and returns a runner. Errors match ErrInvalidPlan.
func NewRunner(plan *Plan, opts ...Option) (*Runner, error) {
	if plan == nil {
		return nil, invalid("nil plan")
	}
	o := options{log: zap.NewNop(), now: time.Now, concurrency: 10,
		rollbackTimeout: 30 * time.Minute, unlockTimeout: time.Minute}
	for _, op := range opts {
		if err := op.apply(&o); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidPlan, err)
		}
	}
	var errs []error
	if err := plan.Validate(); err != nil {
		errs = append(errs, err)
	}
	for _, list := range []struct {
		what  string
		names []string
	}{{"skip", o.skip}, {"only", o.only}, {"force", o.force}, {"mark done", o.markDone}} {
		for _, n := range list.names {
			if _, ok := plan.units[n]; !ok {
				errs = append(errs, invalid("%s: unknown step %q", list.what, n))
			}
		}
	}
	for n := range o.preflightSkip {
		_, isStep := plan.units[n]
		isCheck := slices.ContainsFunc(plan.checks, func(c PreflightCheck) bool { return c.Name == n })
		if !isStep && !isCheck {
			errs = append(errs, invalid("preflight skip: unknown check %q", n))
		}
	}
	plan.walk(plan.root, func(u *unit) {
		if u.kind == kindHost {
			if _, ok := o.hosts[u.host]; !ok {
				errs = append(errs, invalid("PerHost %q: host %q is not in the inventory (WithHosts)", u.parent.name, u.host))
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Runner{plan: plan, o: o}, nil
}

// run is the state of one Run.
type run struct {
	r       *Runner
	p       *Plan
	o       *options
	id      string
	fp      string
	now     func() time.Time
	log     *zap.Logger
	red     *Redactor
	events  *fanout
	store   Store
	rs      *runState
	view    journalView
	recBase int

	skip, only, force, markDone map[string]bool

	startMu  sync.Mutex // orders step starts as their journal records
	mu       sync.Mutex
	steps    map[string]*StepReport
	hosts    map[string]*HostReport // key node + "\x00" + host
	seq      map[string]int         // start order for rollback
	seqNext  int
	marks    []Record // service marks, journal and this run
	noReturn bool     // point of no return started
	lease    Lease    // the run's lock, if any
	record   *runRecord
}

// Run runs the plan: lock, journal replay, preflight, steps, and on
// failure rollback. The error is nil on success; a failure after
// something changed is a *PartialError; failures before (invalid resume,
// lock held, preflight) are returned as they are. The report is filled in
// either case.
func (r *Runner) Run(ctx context.Context) (Report, error) {
	if r.ran.Swap(true) {
		return Report{}, ErrAlreadyRun
	}
	o := &r.o
	id := o.runID
	if id == "" {
		id = randomToken()
	}
	red := NewRedactor(append(slices.Clone(r.plan.secrets), o.secrets...)...)
	x := &run{r: r, p: r.plan, o: o, id: id, fp: r.plan.Fingerprint(), now: o.now, red: red,
		log:    red.Logger(o.log).With(zap.String("run", id), zap.String("plan", r.plan.name)),
		events: &fanout{obs: o.observers, now: o.now},
		skip:   set(o.skip), only: set(o.only), force: set(o.force), markDone: set(o.markDone),
		steps: map[string]*StepReport{}, hosts: map[string]*HostReport{}, seq: map[string]int{}}
	return x.run(ctx)
}

func set(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

func (x *run) emit(e Event) {
	e = x.red.Event(e)
	x.events.emit(e)
	level := zap.DebugLevel
	if e.Err != nil {
		level = zap.WarnLevel
	}
	if ce := x.log.Check(level, "upgrade: "+string(e.Kind)); ce != nil {
		fields := []zap.Field{zap.String("step", e.Step)}
		if e.Host != "" {
			fields = append(fields, zap.String("host", e.Host))
		}
		if e.Dur != 0 {
			fields = append(fields, zap.Duration("dur", e.Dur))
		}
		if e.Reason != "" {
			fields = append(fields, zap.String("reason", e.Reason))
		}
		if e.Cmd != "" {
			fields = append(fields, zap.String("cmd", e.Cmd)) // already redacted
		}
		if e.Err != nil {
			fields = append(fields, zap.Error(e.Err))
		}
		ce.Write(fields...)
	}
}

func (x *run) journal(ctx context.Context, rec Record) error {
	rec = x.red.Record(rec)
	rec.V = JournalVersion
	rec.Time = x.now().UTC()
	rec.Run = x.id
	if rec.Type == RecordServiceDown || rec.Type == RecordServiceUp {
		x.mu.Lock()
		x.marks = append(x.marks, rec)
		x.mu.Unlock()
	}
	if err := x.store.Append(context.WithoutCancel(ctx), rec); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return x.recordJournaled(ctx, rec)
}

// journalLazy writes a record that closes a step; the next durable
// record (the next step's in_progress, at the latest the run's final
// record) makes it durable. See LazyAppender.
func (x *run) journalLazy(ctx context.Context, rec Record) error {
	la, ok := x.store.(LazyAppender)
	if !ok {
		return x.journal(ctx, rec)
	}
	rec = x.red.Record(rec)
	rec.V = JournalVersion
	rec.Time = x.now().UTC()
	rec.Run = x.id
	if err := la.AppendLazy(context.WithoutCancel(ctx), rec); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	x.recordLazy(rec)
	return nil
}

func (x *run) run(ctx context.Context) (rep Report, err error) {
	start := x.now()
	rep = Report{Plan: x.p.name, RunID: x.id, Fingerprint: x.fp, DryRun: x.o.dryRun != nil, Start: start}
	x.emit(Event{Kind: EventPlanStarted, Step: x.p.name, Total: len(x.p.top)})
	defer func() {
		end := x.now()
		err = x.red.Error(err)
		x.fillReport(&rep, end)
		x.red.Report(&rep)
		if err != nil {
			rep.Err = err.Error()
		}
		x.emit(Event{Kind: EventPlanFinished, Step: x.p.name, Dur: end.Sub(start), Err: err})
	}()

	// Hosts, wrapped for dry-run.
	hosts := make(map[string]transport.Transport, len(x.o.hosts))
	for name, t := range x.o.hosts {
		if x.o.dryRun != nil {
			t = DryRun(t, name, x.o.dryRun)
		} else if x.o.marks != "" {
			t = newMarkTransport(t, x.o.marks, x.id)
		}
		hosts[name] = x.red.Transport(t)
	}
	if x.o.dryRun != nil {
		x.o.dryRun.mu.Lock()
		x.o.dryRun.notify = func(c RecordedCommand) {
			x.emit(Event{Kind: EventDryRunCommand, Step: c.Step, Host: c.Host, Cmd: c.Cmd})
		}
		x.o.dryRun.mu.Unlock()
	}

	// Lock.
	if x.o.locker != nil && x.o.dryRun == nil {
		lease, err := x.o.locker.Lock(ctx, x.holder(start), x.emit)
		if err != nil {
			return rep, err
		}
		if lease == nil {
			return rep, errors.New("upgrade: Locker returned a nil Lease")
		}
		x.lease = lease
		var cancel context.CancelCauseFunc
		ctx, cancel = context.WithCancelCause(ctx)
		watchDone := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-lease.Lost():
				cancel(ErrLockLost)
			case <-watchDone:
			}
		}()
		defer func() {
			close(watchDone)
			wg.Wait()
			cancel(nil)
			uctx, ucancel := context.WithTimeout(context.WithoutCancel(ctx), x.o.unlockTimeout)
			defer ucancel()
			if uerr := lease.Unlock(uctx); uerr != nil {
				x.log.Warn("unlock", zap.Error(uerr))
				err = errors.Join(err, fmt.Errorf("unlock: %w", uerr))
			}
		}()
	}

	// Journal.
	var recs []Record
	if x.o.store != nil {
		recs, err = x.o.store.Load(ctx)
		if err != nil {
			return rep, err
		}
		if n, ok := x.o.store.(Noter); ok {
			for _, note := range n.Notes() {
				rep.Notes = append(rep.Notes, note)
				x.log.Warn(note)
			}
		}
	}
	if x.o.dryRun != nil || x.o.store == nil {
		x.store = &MemoryStore{}
	} else {
		x.store = x.o.store
	}
	x.view = replay(recs)
	x.recBase = len(recs)
	maps.Copy(x.seq, x.view.seq)
	for _, rec := range recs {
		if rec.Type == RecordServiceDown || rec.Type == RecordServiceUp {
			x.marks = append(x.marks, rec)
		}
	}
	x.seqNext = len(recs) + 1
	if x.view.fingerprint != "" && x.view.fingerprint != x.fp && !x.o.allowPlanChange {
		return rep, &PlanMismatchError{Journal: x.view.fingerprint, Plan: x.fp}
	}
	if err := x.startRecord(ctx, recs); err != nil {
		return rep, err
	}
	if u, ok := x.p.units[x.p.noReturn]; ok && x.p.noReturn != "" {
		if _, started := x.seq[u.name]; started {
			x.noReturn = true
		}
	}
	x.rs = &runState{values: map[string]any{}, raw: x.view.data, hosts: hosts, dryRun: x.o.dryRun != nil,
		log: x.log, emit: x.emit, journal: func(rec Record) error { return x.journal(ctx, rec) },
		touched: map[string]map[string]bool{}}
	// Direction: the operator's choice, else the journal's (backward
	// while its last rollback has not finished).
	dir := x.o.direction
	if dir == "" {
		dir = x.view.dir
	}
	if dir == "" {
		dir = DirForward
	}
	rep.Direction = dir
	if dir == DirBackward && x.view.dir == DirBackward {
		note := "journal: the last run was rolling back and did not finish; this run finishes the rollback (WithDirection forward to go forward instead)"
		if x.o.direction != "" {
			note = "journal: the last run was rolling back and did not finish; going backward as asked"
		}
		rep.Notes = append(rep.Notes, note)
	}
	if dir == DirForward && x.view.dir == DirBackward {
		rep.Notes = append(rep.Notes, "journal: the last run was rolling back and did not finish; going forward as asked: steps the rollback passed run again")
	}
	if err := x.journal(ctx, Record{Type: RecordRun, State: StateStarted, Dir: dir}); err != nil {
		return rep, err
	}
	if err := x.journal(ctx, Record{Type: RecordPlan, Plan: x.p.name, Fingerprint: x.fp}); err != nil {
		return rep, err
	}
	if dir == DirBackward {
		return x.runBackward(ctx, rep)
	}

	// Dependencies against the selection and the journal.
	if err := x.checkSelection(); err != nil {
		return rep, err
	}

	if err := x.waitLeftovers(ctx, hosts); err != nil {
		return rep, err
	}

	// Preflight.
	if err := x.preflight(ctx, &rep); err != nil {
		_ = x.journal(ctx, Record{Type: RecordRun, State: StateFailed, Error: err.Error()})
		return rep, err
	}

	// Steps.
	var runErr error
	for _, u := range x.p.root.children {
		if runErr = x.runNode(ctx, u); runErr != nil {
			break
		}
	}
	if runErr == nil {
		if err := x.journal(ctx, Record{Type: RecordRun, State: StateFinished}); err != nil {
			return rep, err
		}
		return rep, x.endRecord(ctx, true)
	}
	if errors.Is(runErr, ErrDirtyStep) && !x.changedThisRun() {
		_ = x.journal(ctx, Record{Type: RecordRun, State: StateFailed, Error: runErr.Error()})
		return rep, runErr
	}
	if cause := context.Cause(ctx); cause != nil && !errors.Is(runErr, cause) {
		runErr = fmt.Errorf("%w (%w)", runErr, cause)
	}
	pe := &PartialError{Err: runErr}
	if !x.o.noRollback && x.o.dryRun == nil && !errors.Is(runErr, ErrLockLost) {
		pe.RolledBack, pe.RollbackFailed, pe.RollbackErr = x.rollback(ctx)
	}
	x.classify(pe)
	_ = x.journal(ctx, Record{Type: RecordRun, State: StateFailed, Error: pe.Error()})
	settled := pe.RollbackErr == nil && !x.noReturn && !x.o.noRollback && x.o.dryRun == nil && !errors.Is(runErr, ErrLockLost)
	if err := x.endRecord(ctx, settled); err != nil {
		return rep, errors.Join(pe, err)
	}
	return rep, pe
}

// runBackward finishes the rollback of an earlier run that was
// interrupted while rolling back (or, asked with WithDirection, rolls an
// earlier run back).
func (x *run) runBackward(ctx context.Context, rep Report) (Report, error) {
	pe := &PartialError{Err: ErrRollbackResumed}
	pe.RolledBack, pe.RollbackFailed, pe.RollbackErr = x.rollback(ctx)
	x.classify(pe)
	_ = x.journal(ctx, Record{Type: RecordRun, State: StateFailed, Error: pe.Error()})
	return rep, pe
}

func (x *run) changedThisRun() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, s := range x.seq {
		if s > x.recBase {
			return true
		}
	}
	return false
}

func (x *run) holder(t time.Time) Holder {
	h := Holder{PID: os.Getpid(), RunID: x.id, Time: t.UTC()}
	h.Host, _ = os.Hostname()
	if u, err := user.Current(); err == nil {
		h.User = u.Username
	} else {
		h.User = strconv.Itoa(os.Getuid())
	}
	return h
}

func (x *run) selected(u *unit) bool {
	if len(x.only) > 0 && !u.inSet(x.only) {
		return false
	}
	return !u.inSet(x.skip)
}

func (x *run) doneInJournal(u *unit) bool {
	return x.view.steps[u.name].State == StateDone
}

// checkSelection refuses a run where a step that will run depends on a
// step that is skipped and not done in the journal.
func (x *run) checkSelection() error {
	var errs []error
	x.p.walk(x.p.root, func(u *unit) {
		if len(u.deps) == 0 {
			return
		}
		runs := false
		u.leaves(func(l *unit) { runs = runs || (x.selected(l) && !x.doneInJournal(l)) })
		if !runs {
			return
		}
		for _, d := range u.deps {
			x.p.units[d].leaves(func(l *unit) {
				if !x.selected(l) && !x.doneInJournal(l) {
					errs = append(errs, invalid("%q depends on %q, which is skipped and not done", u.name, l.name))
				}
			})
		}
	})
	return errors.Join(errs...)
}

// preflight runs the plan's checks and the prechecks of the steps that
// will run; every failure is reported.
func (x *run) preflight(ctx context.Context, rep *Report) error {
	type job struct {
		name string
		fn   func(ctx context.Context, s *State) error
		st   *State
		cr   CheckReport
		err  error // check failure or journal error
	}
	var jobs []*job
	for _, c := range x.p.checks {
		jobs = append(jobs, &job{name: c.Name, fn: c.Run, st: x.rs.state("", "")})
	}
	global := len(jobs)
	x.p.walk(x.p.root, func(u *unit) {
		if u.kind != kindLeaf || !x.selected(u) || x.doneInJournal(u) {
			return
		}
		if pc, ok := asPrechecker(u.step); ok {
			jobs = append(jobs, &job{name: u.name, fn: pc.Precheck, st: x.rs.state(u.name, u.host)})
		}
	})
	do := func(j *job) {
		if reason, ok := x.o.preflightSkip[j.name]; ok {
			j.cr = CheckReport{Name: j.name, Status: StateSkipped, Reason: reason}
			x.emit(Event{Kind: EventPreflightSkipped, Step: j.name, Host: j.st.host, Reason: reason})
			j.err = x.journal(ctx, Record{Type: RecordPreflight, Check: j.name, Host: j.st.host, State: StateSkipped, Reason: reason})
			return
		}
		err := x.red.Error(j.fn(withStep(ctx, j.st.step, j.st.host), j.st))
		j.cr = CheckReport{Name: j.name, Status: StatePassed}
		rec := Record{Type: RecordPreflight, Check: j.name, Host: j.st.host, State: StatePassed}
		if err != nil {
			j.cr.Status, j.cr.Err = StateFailed, err.Error()
			rec.State, rec.Error = StateFailed, err.Error()
			x.emit(Event{Kind: EventPreflightFailed, Step: j.name, Host: j.st.host, Err: err})
		} else {
			x.emit(Event{Kind: EventPreflightPassed, Step: j.name, Host: j.st.host})
		}
		j.err = errors.Join(err, x.journal(ctx, rec))
		if err != nil {
			j.err = fmt.Errorf("%s: %w", j.name, j.err)
		}
	}
	// The plan's own checks in order, then the steps' prechecks with the
	// runner's concurrency (hosts of a PerHost are checked in parallel).
	for _, j := range jobs[:global] {
		do(j)
	}
	sem := make(chan struct{}, x.o.concurrency)
	var wg sync.WaitGroup
	for _, j := range jobs[global:] {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			do(j)
		}()
	}
	wg.Wait()
	var errs []error
	for _, j := range jobs {
		rep.Preflight = append(rep.Preflight, j.cr)
		if j.err != nil {
			errs = append(errs, j.err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrPreflight, errors.Join(errs...))
	}
	return nil
}

func (x *run) runNode(ctx context.Context, u *unit) error {
	switch u.kind {
	case kindLeaf:
		return x.runLeaf(ctx, u)
	case kindHosts:
		return x.runHosts(ctx, u)
	default:
		for _, c := range u.children {
			if err := x.runNode(ctx, c); err != nil {
				return err
			}
		}
		return nil
	}
}

func (x *run) setStep(u *unit, fn func(*StepReport)) {
	x.mu.Lock()
	defer x.mu.Unlock()
	s := x.steps[u.name]
	if s == nil {
		s = &StepReport{Name: u.name, Host: u.host}
		x.steps[u.name] = s
	}
	fn(s)
}

func (x *run) skipLeaf(ctx context.Context, u *unit, reason string, journal bool) error {
	x.setStep(u, func(s *StepReport) { s.Status, s.Reason = StatusSkipped, reason })
	x.emit(Event{Kind: EventStepSkipped, Step: u.name, Host: u.host, Index: u.index, Total: x.total(u), Reason: reason})
	if journal {
		return x.journalLazy(ctx, Record{Type: RecordStep, Step: u.name, Host: u.host, State: StateSkipped, Reason: reason})
	}
	return nil
}

func (x *run) total(u *unit) int {
	if u.index == 0 {
		return 0
	}
	return len(x.p.top)
}

func (x *run) runLeaf(ctx context.Context, u *unit) error {
	st := x.rs.tracked(u.name, u.host)
	sctx := withStep(ctx, u.name, u.host)
	prev := x.view.steps[u.name]
	if prev.State == StateDone {
		x.setStep(u, func(s *StepReport) { s.Status, s.Reason = StatusDone, "done in an earlier run" })
		x.emit(Event{Kind: EventStepSkipped, Step: u.name, Host: u.host, Index: u.index, Total: x.total(u), Reason: "done in an earlier run"})
		return nil
	}
	if x.markDone[u.name] {
		const reason = "marked done by the operator"
		x.setStep(u, func(s *StepReport) { s.Status, s.Reason = StatusDone, reason })
		x.emit(Event{Kind: EventStepSkipped, Step: u.name, Host: u.host, Index: u.index, Total: x.total(u), Reason: reason})
		return x.journal(ctx, Record{Type: RecordStep, Step: u.name, Host: u.host, State: StateDone, Reason: reason})
	}
	if !x.selected(u) {
		return x.skipLeaf(ctx, u, "not selected (skip/only)", true)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	checker, hasCheck := asChecker(u.step)
	dirty := prev.State == StateInProgress || prev.State == StateRollingBack || prev.State == StateRollbackFailed
	if dirty && !x.force[u.name] && !hasCheck {
		return &DirtyStepError{Step: u.name}
	}
	if hasCheck && !(dirty && x.force[u.name]) {
		done, err := checker.Check(sctx, st)
		if err != nil {
			err = x.red.Error(err)
			err = &StepError{Step: u.name, Host: u.host, Err: fmt.Errorf("check: %w", err)}
			x.setStep(u, func(s *StepReport) { s.Status, s.Err = StatusFailed, err.Error() })
			return err
		}
		if done {
			if dirty {
				// Started by an earlier run and confirmed done: it is done.
				x.setStep(u, func(s *StepReport) {
					s.Status, s.Reason = StatusDone, "confirmed done by its check after an interrupted run"
				})
				x.emit(Event{Kind: EventStepSkipped, Step: u.name, Host: u.host, Index: u.index, Total: x.total(u), Reason: "confirmed done by check"})
				return x.journal(ctx, Record{Type: RecordStep, Step: u.name, Host: u.host, State: StateDone, Reason: "confirmed done by check"})
			}
			return x.skipLeaf(ctx, u, "already done (check)", true)
		}
	}
	if d, ok := u.step.(Describer); ok && x.o.dryRun != nil {
		if text := d.Describe(); text != "" {
			x.o.dryRun.describe(Intent{Step: u.name, Host: u.host, Text: text})
		}
	}

	if err := x.fence(ctx); err != nil {
		err = &StepError{Step: u.name, Host: u.host, Err: err}
		x.setStep(u, func(s *StepReport) { s.Status, s.Err = StatusFailed, err.Error() })
		return err
	}
	// Write-ahead: in_progress is durable before the step runs.
	if err := x.startStep(ctx, u); err != nil {
		return &StepError{Step: u.name, Host: u.host, Err: err}
	}
	start := x.now()
	x.setStep(u, func(s *StepReport) { s.Status, s.Start, s.Reason = StatusRunning, start, "" })
	x.emit(Event{Kind: EventStepStarted, Step: u.name, Host: u.host, Index: u.index, Total: x.total(u)})
	attempts, err := x.attempt(sctx, u, st)
	err = x.red.Error(err)
	dur := x.now().Sub(start)
	if skip, ok := errors.AsType[*SkipError](err); ok {
		return x.selfSkipped(ctx, u, skip.Reason, dur, attempts)
	}
	rec := Record{Type: RecordStep, Step: u.name, Host: u.host, State: StateDone, DurMS: ms(dur)}
	if err != nil {
		err = &StepError{Step: u.name, Host: u.host, Err: err}
		rec.State, rec.Error = StateFailed, err.Error()
	}
	jerr := x.journalLazy(ctx, rec)
	x.setStep(u, func(s *StepReport) {
		s.Dur, s.Attempts = dur, attempts
		s.Status = StatusDone
		if err != nil {
			s.Status, s.Err = StatusFailed, err.Error()
		}
	})
	x.emit(Event{Kind: EventStepFinished, Step: u.name, Host: u.host, Index: u.index, Total: x.total(u), Dur: dur, Err: err})
	if err == nil && jerr != nil {
		return &StepError{Step: u.name, Host: u.host, Err: jerr}
	}
	return err
}

// startStep journals u's in_progress record durably and gives u its
// start order. The order is the records' order in the journal (the write
// and the order are taken under startMu), so a rollback undoes steps in
// the order a replay of the journal sees them started, which is what
// tells a replay which steps a killed rollback had passed. With a store
// that can write lazily and sync, concurrent starts still share an fsync.
func (x *run) startStep(ctx context.Context, u *unit) error {
	rec := Record{Type: RecordStep, Step: u.name, Host: u.host, State: StateInProgress}
	la, lazy := x.store.(LazyAppender)
	sy, syncs := x.store.(Syncer)
	lazy = lazy && syncs
	x.startMu.Lock()
	var err error
	if lazy {
		rec = x.red.Record(rec)
		rec.V, rec.Time, rec.Run = JournalVersion, x.now().UTC(), x.id
		if err = la.AppendLazy(context.WithoutCancel(ctx), rec); err != nil {
			err = fmt.Errorf("journal: %w", err)
		}
	} else {
		err = x.journal(ctx, rec)
	}
	if err == nil {
		x.mu.Lock()
		x.seq[u.name] = x.seqNext
		x.seqNext++
		x.mu.Unlock()
	}
	x.startMu.Unlock()
	if err == nil && lazy {
		if err = sy.Sync(context.WithoutCancel(ctx)); err != nil {
			err = fmt.Errorf("journal: %w", err)
		} else {
			// Durable now: the cluster's record of the run follows
			// (x.journal does this for the other records).
			err = x.recordJournaled(ctx, rec)
		}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if err != nil {
		delete(x.seq, u.name)
		return err
	}
	if u.name == x.p.noReturn {
		x.noReturn = true
	}
	return nil
}

// selfSkipped records a step whose Run returned a *SkipError: journaled
// skipped with the reason (after its in_progress record), reported skipped,
// and no longer a rollback candidate since it changed nothing.
func (x *run) selfSkipped(ctx context.Context, u *unit, reason string, dur time.Duration, attempts int) error {
	jerr := x.journalLazy(ctx, Record{Type: RecordStep, Step: u.name, Host: u.host, State: StateSkipped, Reason: reason, DurMS: ms(dur)})
	x.mu.Lock()
	delete(x.seq, u.name)
	x.mu.Unlock()
	x.setStep(u, func(s *StepReport) {
		s.Status, s.Reason, s.Dur, s.Attempts = StatusSkipped, reason, dur, attempts
	})
	x.emit(Event{Kind: EventStepSkipped, Step: u.name, Host: u.host, Index: u.index, Total: x.total(u), Dur: dur, Reason: reason})
	if jerr != nil {
		return &StepError{Step: u.name, Host: u.host, Err: jerr}
	}
	return nil
}

// runHosts runs a PerHost node: bounded concurrency, optional canary,
// failure budget. Host errors are joined *transport.HostError.
func (x *run) runHosts(ctx context.Context, u *unit) error {
	pol := u.hosts.policy
	limit := pol.Concurrency
	if limit == 0 {
		limit = x.o.concurrency
	}
	budget := pol.FailureBudget
	if budget == 0 {
		budget = 1
	}
	hus := u.children
	n := len(hus)
	start := x.now()
	x.emit(Event{Kind: EventStepStarted, Step: u.name, Index: u.index, Total: x.total(u), Hosts: n})
	errs := make([]error, n)
	var failures atomic.Int32
	runOne := func(i int) {
		hu := hus[i]
		hs := x.now()
		x.emit(Event{Kind: EventHostStarted, Step: u.name, Host: hu.host})
		err := x.runNode(ctx, hu)
		d := x.now().Sub(hs)
		hr := &HostReport{Node: u.name, Host: hu.host, Status: StatusDone, Dur: d}
		if err != nil {
			failures.Add(1)
			errs[i] = &transport.HostError{Host: hu.host, Err: err}
			hr.Status, hr.Err = StatusFailed, err.Error()
		}
		x.mu.Lock()
		x.hosts[u.name+"\x00"+hu.host] = hr
		x.mu.Unlock()
		x.emit(Event{Kind: EventHostFinished, Step: u.name, Host: hu.host, Dur: d, Err: err})
	}
	skipHost := func(i int, reason string) {
		hu := hus[i]
		x.mu.Lock()
		x.hosts[u.name+"\x00"+hu.host] = &HostReport{Node: u.name, Host: hu.host, Status: StatusSkipped, Reason: reason}
		x.mu.Unlock()
		x.emit(Event{Kind: EventHostSkipped, Step: u.name, Host: hu.host, Reason: reason})
	}
	first := 0
	if pol.Canary && n > 0 {
		runOne(0)
		first = 1
		if errs[0] != nil {
			for i := 1; i < n; i++ {
				skipHost(i, "canary "+hus[0].host+" failed")
			}
		}
	}
	if first == 0 || errs[0] == nil {
		sem := make(chan struct{}, limit)
		var wg sync.WaitGroup
	schedule:
		for i := first; i < n; i++ {
			acquired := false
			select {
			case sem <- struct{}{}:
				acquired = true
			case <-ctx.Done():
			}
			var reason string
			switch {
			case ctx.Err() != nil:
				reason = "cancelled"
			case int(failures.Load()) >= budget:
				reason = fmt.Sprintf("failure budget of %d exhausted", budget)
			}
			if reason != "" {
				if acquired {
					<-sem
				}
				for j := i; j < n; j++ {
					skipHost(j, reason)
				}
				break schedule
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				runOne(i)
			}()
		}
		wg.Wait()
	}
	err := errors.Join(errs...)
	x.emit(Event{Kind: EventStepFinished, Step: u.name, Index: u.index, Total: x.total(u), Hosts: n, Dur: x.now().Sub(start), Err: err})
	return err
}

// rollback undoes attempted steps in reverse start order, this run's
// and those of earlier runs the journal shows started and not rolled
// back. A step whose rollback fails is journaled rollback_failed and the
// rollback goes on with the others; a journal that cannot be written
// stops it (what is not journaled must not be undone). It returns the
// steps rolled back and those that could not be, in rollback order.
func (x *run) rollback(ctx context.Context) (rolled, failed []string, err error) {
	if x.noReturn {
		return nil, nil, &NoReturnError{Step: x.p.noReturn}
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), x.o.rollbackTimeout)
	defer cancel()
	type cand struct {
		u   *unit
		seq int
	}
	var cands []cand
	x.mu.Lock()
	for name, seq := range x.seq {
		u := x.p.units[name]
		if u == nil || u.kind != kindLeaf {
			continue
		}
		cands = append(cands, cand{u, seq})
	}
	x.mu.Unlock()
	slices.SortFunc(cands, func(a, b cand) int { return b.seq - a.seq })
	if err := x.journal(rctx, Record{Type: RecordRollback, State: StateStarted}); err != nil {
		return nil, nil, err
	}
	x.emit(Event{Kind: EventRollbackStarted})
	var errs []error
	defer func() { x.emit(Event{Kind: EventRollbackFinished, Err: err}) }()
	// A step without an undo of its own that the rollback passed (one
	// started after a step it undid) counts as undone, as a replay of the
	// journal sees it: it runs again on resume.
	passed := func(seq int) {
		x.mu.Lock()
		defer x.mu.Unlock()
		for _, c := range cands {
			if _, ok := asRollbacker(c.u.step); ok || c.seq <= seq {
				continue
			}
			const reason = "passed by the rollback (no undo of its own): runs again on resume"
			s := x.steps[c.u.name]
			switch {
			case s != nil && (s.Status == StatusDone || s.Status == StatusFailed):
				s.Status, s.Reason = StatusRolledBack, reason
			case s == nil && (x.view.steps[c.u.name].State == StateDone || x.view.steps[c.u.name].State == StateFailed):
				// Done by an earlier run, passed by this run's rollback.
				x.steps[c.u.name] = &StepReport{Name: c.u.name, Host: c.u.host, Status: StatusRolledBack, Reason: reason}
			}
		}
	}
	for _, c := range cands {
		u := c.u
		rb, ok := asRollbacker(u.step)
		if !ok {
			continue
		}
		st := x.rs.tracked(u.name, u.host)
		if err := x.journal(rctx, Record{Type: RecordStep, Step: u.name, Host: u.host, State: StateRollingBack}); err != nil {
			return rolled, failed, errors.Join(append(errs, err)...)
		}
		passed(c.seq)
		x.emit(Event{Kind: EventRollbackStarted, Step: u.name, Host: u.host})
		start := x.now()
		rerr := x.red.Error(rb.Rollback(withStep(rctx, u.name, u.host), st))
		d := x.now().Sub(start)
		x.emit(Event{Kind: EventRollbackFinished, Step: u.name, Host: u.host, Dur: d, Err: rerr})
		if rerr != nil {
			serr := &StepError{Step: u.name, Host: u.host, Err: fmt.Errorf("rollback: %w", rerr)}
			x.setStep(u, func(s *StepReport) { s.RollbackErr, s.RollbackHosts = rerr.Error(), errorHosts(rerr) })
			failed = append(failed, u.name)
			errs = append(errs, serr)
			if err := x.journal(rctx, Record{Type: RecordStep, Step: u.name, Host: u.host, State: StateRollbackFailed, Error: serr.Error(), DurMS: ms(d)}); err != nil {
				return rolled, failed, errors.Join(append(errs, err)...)
			}
			continue
		}
		x.setStep(u, func(s *StepReport) { s.Status = StatusRolledBack })
		if err := x.journal(rctx, Record{Type: RecordStep, Step: u.name, Host: u.host, State: StateRolledBack, DurMS: ms(d)}); err != nil {
			return rolled, failed, errors.Join(append(errs, err)...)
		}
		rolled = append(rolled, u.name)
	}
	end := StateFinished
	if len(errs) > 0 {
		end = StateFailed
	}
	err = errors.Join(errs...)
	if jerr := x.journal(rctx, Record{Type: RecordRollback, State: end}); jerr != nil {
		err = errors.Join(err, jerr)
	}
	return rolled, failed, err
}

// classify fills Completed, Failed and Pending in plan order.
func (x *run) classify(pe *PartialError) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, name := range x.p.Steps() {
		s := x.steps[name]
		switch {
		case s == nil && x.view.steps[name].State == StateDone:
			pe.Completed = append(pe.Completed, name)
		case s == nil:
			pe.Pending = append(pe.Pending, name)
		case s.Status == StatusFailed || s.Err != "" || s.RollbackErr != "":
			pe.Failed = append(pe.Failed, name)
		case s.Status == StatusDone || s.Status == StatusRolledBack:
			pe.Completed = append(pe.Completed, name)
		case s.Status == StatusSkipped:
		default:
			pe.Pending = append(pe.Pending, name)
		}
	}
}

func (x *run) fillReport(rep *Report, end time.Time) {
	rep.End = end
	rep.Dur = end.Sub(rep.Start)
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, name := range x.p.Steps() {
		u := x.p.units[name]
		if s := x.steps[name]; s != nil {
			sr := *s
			if d, ok := u.step.(Describer); ok {
				sr.Description = d.Describe()
			}
			rep.Steps = append(rep.Steps, sr)
			continue
		}
		sr := StepReport{Name: name, Host: u.host, Status: StatusPending}
		if prev := x.view.steps[name]; prev.State == StateDone {
			sr.Status, sr.Reason = StatusDone, "done in an earlier run"
		}
		rep.Steps = append(rep.Steps, sr)
	}
	x.p.walk(x.p.root, func(u *unit) {
		if u.kind != kindHost {
			return
		}
		if h := x.hosts[u.parent.name+"\x00"+u.host]; h != nil {
			rep.Hosts = append(rep.Hosts, *h)
		}
	})
	rep.HostStates = x.hostStates()
	open := map[string]time.Time{}
	for _, m := range x.marks {
		switch m.Type {
		case RecordServiceDown:
			if _, ok := open[m.Service]; !ok {
				open[m.Service] = m.Time
			}
		case RecordServiceUp:
			if t, ok := open[m.Service]; ok {
				rep.Downtime = append(rep.Downtime, Window{Service: m.Service, Start: t, End: m.Time, Dur: m.Time.Sub(t)})
				delete(open, m.Service)
			}
		}
	}
	for _, svc := range slices.Sorted(mapsKeys(open)) {
		t := open[svc]
		rep.Downtime = append(rep.Downtime, Window{Service: svc, Start: t, End: end, Open: true, Dur: end.Sub(t)})
	}
	rep.fillMS()
}

// hostStates sums up, per host, the outcomes of the steps that reached it
// in this run (x.mu held).
func (x *run) hostStates() []HostState {
	if x.rs == nil {
		return nil
	}
	byHost := map[string]*HostState{}
	for _, name := range x.p.Steps() {
		s := x.steps[name]
		if s == nil {
			continue
		}
		for _, h := range x.rs.hostsOf(name) {
			hs := byHost[h]
			if hs == nil {
				hs = &HostState{Host: h}
				byHost[h] = hs
			}
			switch {
			case s.RollbackErr != "" && (len(s.RollbackHosts) == 0 || slices.Contains(s.RollbackHosts, h)):
				hs.RollbackFailed = append(hs.RollbackFailed, name)
			case s.RollbackErr != "":
				hs.RolledBack = append(hs.RolledBack, name) // its undo failed on other hosts only
			case s.Status == StatusRolledBack:
				hs.RolledBack = append(hs.RolledBack, name)
			case s.Status == StatusFailed:
				hs.Failed = append(hs.Failed, name)
			case s.Status == StatusDone:
				hs.Done = append(hs.Done, name)
			}
		}
	}
	var out []HostState
	for _, h := range slices.Sorted(maps.Keys(byHost)) {
		hs := byHost[h]
		switch {
		case len(hs.RollbackFailed) > 0:
			hs.State = HostRollbackFailed
		case len(hs.Failed) > 0:
			hs.State = HostFailed
		case len(hs.RolledBack) > 0:
			hs.State = HostRolledBack
		case len(hs.Done) > 0:
			hs.State = HostChanged
		default:
			continue // only checked: nothing changed
		}
		out = append(out, *hs)
	}
	return out
}

// errorHosts returns the hosts of the *transport.HostError values in
// err's tree, sorted and without repeats.
func errorHosts(err error) []string {
	var hosts []string
	var walk func(error)
	walk = func(e error) {
		if he, ok := e.(*transport.HostError); ok && !slices.Contains(hosts, he.Host) {
			hosts = append(hosts, he.Host)
		}
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			if next := u.Unwrap(); next != nil {
				walk(next)
			}
		case interface{ Unwrap() []error }:
			for _, next := range u.Unwrap() {
				walk(next)
			}
		}
	}
	if err != nil {
		walk(err)
	}
	slices.Sort(hosts)
	return hosts
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
