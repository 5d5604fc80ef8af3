package upgrade

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/upgradekit/upgradekit/transport"
)

// RunRecord is what the cluster itself carries of a run in flight, next
// to its lock: who runs it, which plan, how far it got, and a compact copy
// of its journal (the last record of every step and data key, and the
// service marks). A run that finds a record its journal does not know
// refuses (*RunInFlightError): a lost journal must not turn a
// half-upgraded cluster into a fresh start. RebuildJournal writes a
// journal back from the record.
type RunRecord struct {
	// Run is the last run of the record; Runs every run of its journal.
	Run  string   `json:"run"`
	Runs []string `json:"runs"`
	// Plan and Fingerprint identify the plan.
	Plan        string `json:"plan"`
	Fingerprint string `json:"fp"`
	// Holder is who ran it.
	Holder Holder `json:"holder"`
	// Point is the last step started; NoReturn says whether the point of
	// no return was passed.
	Point    string `json:"point,omitempty"`
	NoReturn bool   `json:"no_return,omitempty"`
	// Direction is "forward", or "rollback" once a rollback started.
	Direction string    `json:"direction"`
	Updated   time.Time `json:"updated"`
	// Records is the compact journal, in the order the steps started.
	Records []Record `json:"records"`
	// Where is where the record was read (not stored).
	Where string `json:"-"`
}

// Steps returns the last state of every step of the record, in order.
func (r RunRecord) Steps() (names, states []string) {
	for _, rec := range r.Records {
		if rec.Type == RecordStep {
			names, states = append(names, rec.Step), append(states, rec.State)
		}
	}
	return names, states
}

// RunRecorder keeps a RunRecord on the cluster. Lockers may implement it
// (HostLock, QuorumLock, FileLock do): the runner then writes the record
// from the first step that changes something on, and clears it when the
// run finished or rolled everything back.
type RunRecorder interface {
	// ReadRecord returns the record, or nil if there is none.
	ReadRecord(ctx context.Context) (*RunRecord, error)
	WriteRecord(ctx context.Context, r RunRecord) error
	ClearRecord(ctx context.Context) error
}

// ErrRunInFlight: the cluster records a run in flight that the journal
// does not know. See *RunInFlightError.
var ErrRunInFlight = errors.New("the cluster records a run in flight that the journal does not know")

// RunInFlightError reports the cluster's record of a run in flight
// unknown to the journal the run was given (lost, or another run's).
type RunInFlightError struct {
	Record RunRecord
}

func (e *RunInFlightError) Error() string {
	r := e.Record
	names, states := r.Steps()
	done := 0
	for _, s := range states {
		if s == StateDone {
			done++
		}
	}
	point := r.Point
	if point == "" && len(names) > 0 {
		point = names[len(names)-1]
	}
	nr := ""
	if r.NoReturn {
		nr = ", past its point of no return"
	}
	return fmt.Sprintf("%s: run %s of plan %q (fingerprint %.12s) by %s, going %s, last step %s (%d of the steps it started done%s), recorded %s at %s",
		ErrRunInFlight, r.Run, r.Plan, r.Fingerprint, r.Holder, r.Direction, point, done, nr, r.Updated.UTC().Format(time.RFC3339), r.Where)
}

// Is makes errors.Is(err, ErrRunInFlight) true.
func (e *RunInFlightError) Is(target error) bool { return target == ErrRunInFlight }

// RebuildJournal appends the records of r to s (an empty journal): a
// journal from which a run resumes the recorded one. Steps the record has
// in progress stay in progress (the resume confirms them by their Check,
// or needs WithForce), as after any interrupted run.
func RebuildJournal(ctx context.Context, s Store, r RunRecord) error {
	recs, err := s.Load(ctx)
	if err != nil {
		return err
	}
	if len(recs) > 0 {
		return fmt.Errorf("rebuild journal: the journal has %d records: rebuild into an empty one", len(recs))
	}
	now := time.Now().UTC()
	head := []Record{
		{Type: RecordRun, Run: r.Run, State: StateStarted, Reason: "journal rebuilt from the cluster's run record"},
		{Type: RecordPlan, Run: r.Run, Plan: r.Plan, Fingerprint: r.Fingerprint},
	}
	for _, rec := range append(head, r.Records...) {
		rec.V = JournalVersion
		if rec.Time.IsZero() {
			rec.Time = now
		}
		if err := s.Append(ctx, rec); err != nil {
			return fmt.Errorf("rebuild journal: %w", err)
		}
	}
	return nil
}

// runRecord keeps the run's RunRecord up to date on the cluster.
type runRecord struct {
	rr     RunRecorder
	mu     sync.Mutex
	rec    RunRecord
	index  map[string]int // record key → index in rec.Records
	active bool           // written at least once (or found)
	wmu    sync.Mutex     // orders the remote writes
}

func recordKey(r Record) string {
	switch r.Type {
	case RecordStep:
		return "s\x00" + r.Step
	case RecordData:
		return "d\x00" + r.Key
	}
	return ""
}

// add folds journal record r into the record; it reports whether r is
// one the record keeps.
func (x *runRecord) add(r Record) bool {
	switch r.Type {
	case RecordStep, RecordData:
		k := recordKey(r)
		if i, ok := x.index[k]; ok {
			x.rec.Records[i] = r
		} else {
			x.index[k] = len(x.rec.Records)
			x.rec.Records = append(x.rec.Records, r)
		}
		if r.Type == RecordStep {
			switch r.State {
			case StateInProgress:
				x.rec.Point = r.Step
			case StateRollingBack:
				x.rec.Direction = "rollback"
			}
		}
		return true
	case RecordServiceDown, RecordServiceUp:
		x.rec.Records = append(x.rec.Records, r)
		return true
	}
	return false
}

// newRunRecord starts the record of run x from the journal's records
// and checks the cluster's record against them.
func (x *run) startRecord(ctx context.Context, recs []Record) error {
	rr, ok := x.o.locker.(RunRecorder)
	if !ok || x.o.dryRun != nil {
		return nil
	}
	found, err := rr.ReadRecord(ctx)
	if err != nil {
		return fmt.Errorf("read the cluster's run record: %w", err)
	}
	runs := []string{}
	for _, r := range recs {
		if r.Run != "" && !slices.Contains(runs, r.Run) {
			runs = append(runs, r.Run)
		}
	}
	if found != nil {
		known := slices.ContainsFunc(found.Runs, func(id string) bool { return slices.Contains(runs, id) })
		if !known || found.Fingerprint != x.fp && !x.o.allowPlanChange {
			return &RunInFlightError{Record: *found}
		}
	}
	rec := &runRecord{rr: rr, index: map[string]int{}, active: found != nil,
		rec: RunRecord{Run: x.id, Runs: append(runs, x.id), Plan: x.p.name, Fingerprint: x.fp,
			Holder: x.holder(x.now()), Direction: "forward"}}
	for _, r := range recs {
		rec.add(r)
	}
	x.record = rec
	return nil
}

// recordJournaled folds a durable journal record into the cluster's
// record and writes it there: from the first step that starts on (a run
// that changed nothing leaves no record).
func (x *run) recordJournaled(ctx context.Context, r Record) error {
	rec := x.record
	if rec == nil {
		return nil
	}
	rec.mu.Lock()
	// The run's last record writes what the lazily closed steps left in
	// memory.
	flush := r.Type == RecordRun && (r.State == StateFailed || r.State == StateFinished)
	if !rec.add(r) && !flush {
		rec.mu.Unlock()
		return nil
	}
	if !rec.active && !(r.Type == RecordStep && r.State == StateInProgress) {
		rec.mu.Unlock()
		return nil
	}
	rec.active = true
	rec.rec.NoReturn = x.noReturn || (r.Type == RecordStep && r.State == StateInProgress && r.Step == x.p.noReturn)
	rec.rec.Updated = x.now().UTC()
	snap := rec.rec
	snap.Records = slices.Clone(rec.rec.Records)
	rec.mu.Unlock()
	rec.wmu.Lock()
	defer rec.wmu.Unlock()
	if err := rec.rr.WriteRecord(context.WithoutCancel(ctx), snap); err != nil {
		return fmt.Errorf("write the cluster's run record: %w", err)
	}
	return nil
}

// recordLazy folds a record written lazily (a step's closing record) in
// memory; the next durable one writes it.
func (x *run) recordLazy(r Record) {
	if rec := x.record; rec != nil {
		rec.mu.Lock()
		rec.add(r)
		rec.mu.Unlock()
	}
}

// endRecord clears the cluster's record when the cluster needs no
// resume: the run finished, or rolled back everything it changed.
func (x *run) endRecord(ctx context.Context, settled bool) error {
	rec := x.record
	if rec == nil || !settled {
		return nil
	}
	rec.mu.Lock()
	active := rec.active
	rec.mu.Unlock()
	if !active {
		return nil
	}
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), x.o.unlockTimeout)
	defer cancel()
	if err := rec.rr.ClearRecord(uctx); err != nil {
		return fmt.Errorf("clear the cluster's run record: %w", err)
	}
	return nil
}

// Record scripts: $1 is the record's path.
const (
	recordScriptRead  = `[ -e "$1" ] || exit 4; cat -- "$1"`
	recordScriptWrite = `printf '%s\n' "$2" > "$1.tmp" && mv -f -- "$1.tmp" "$1"`
)

// recordPath is where HostLock keeps the run record: next to the lock
// directory (same parent, so /var/lock is a tmpfs on many systems: a
// rebooted front-end forgets it; the others keep it).
func (l *HostLock) recordPath() string { return l.dir + ".run" }

// RecordPlace says where the record is.
func (l *HostLock) RecordPlace() string { return l.host + ":" + l.recordPath() }

// ReadRecord implements RunRecorder.
func (l *HostLock) ReadRecord(ctx context.Context) (*RunRecord, error) {
	res, err := l.t.Run(ctx, transport.Shell(recordScriptRead, l.recordPath()).MarkReadOnly())
	if err != nil {
		return nil, err
	}
	if res.ExitCode == 4 {
		return nil, nil
	}
	if !res.Success() {
		return nil, transport.ResultError(transport.Command{Path: "read run record"}, res)
	}
	var r RunRecord
	if err := json.Unmarshal(res.Stdout, &r); err != nil {
		return nil, fmt.Errorf("run record %s: %w", l.RecordPlace(), err)
	}
	r.Where = l.RecordPlace()
	return &r, nil
}

// WriteRecord implements RunRecorder.
func (l *HostLock) WriteRecord(ctx context.Context, r RunRecord) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return transport.Check(ctx, l.t, transport.Shell(recordScriptWrite, l.recordPath(), string(b)))
}

// ClearRecord implements RunRecorder.
func (l *HostLock) ClearRecord(ctx context.Context) error {
	return transport.Check(ctx, l.t, transport.Cmd("rm", "-f", "--", l.recordPath()))
}

// ReadRecord implements RunRecorder: the latest record of the hosts that
// answer (an error only if none does).
func (q *QuorumLock) ReadRecord(ctx context.Context) (*RunRecord, error) {
	var (
		best  *RunRecord
		errs  []error
		where []string
		n     int
	)
	for _, l := range q.locks {
		rr, ok := l.(RunRecorder)
		if !ok {
			continue
		}
		n++
		r, err := rr.ReadRecord(ctx)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if r != nil && (best == nil || r.Updated.After(best.Updated)) {
			best = r
		}
		if r != nil {
			where = append(where, r.Where)
		}
	}
	if n > 0 && len(errs) == n {
		return nil, errors.Join(errs...)
	}
	if best != nil {
		best.Where = strings.Join(where, ", ")
	}
	return best, nil
}

// WriteRecord implements RunRecorder: on every host that answers; an
// error only if none does.
func (q *QuorumLock) WriteRecord(ctx context.Context, r RunRecord) error {
	return q.each(ctx, func(ctx context.Context, rr RunRecorder) error { return rr.WriteRecord(ctx, r) })
}

// ClearRecord implements RunRecorder: on every host that answers.
func (q *QuorumLock) ClearRecord(ctx context.Context) error {
	return q.each(ctx, func(ctx context.Context, rr RunRecorder) error { return rr.ClearRecord(ctx) })
}

// each runs fn on every host's recorder at once, each bounded by
// recordTimeout; a host whose last write failed is left out for
// recordRetry (a frozen front-end must not slow every step down). It
// fails only if no host succeeded.
func (q *QuorumLock) each(ctx context.Context, fn func(ctx context.Context, rr RunRecorder) error) error {
	errs := make([]error, len(q.locks))
	tried, recorders := 0, 0
	var (
		wg sync.WaitGroup
		ok atomic.Int32
	)
	for i, l := range q.locks {
		rr, isRR := l.(RunRecorder)
		if !isRR {
			continue
		}
		recorders++
		q.mu.Lock()
		skip := time.Since(q.failed[i]) < recordRetry
		q.mu.Unlock()
		if skip {
			errs[i] = errors.New("left out after a recent failure")
			continue
		}
		tried++
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, recordTimeout)
			defer cancel()
			errs[i] = fn(cctx, rr)
			if errs[i] == nil {
				ok.Add(1)
			}
			q.mu.Lock()
			if errs[i] != nil {
				q.failed[i] = time.Now()
			} else {
				delete(q.failed, i)
			}
			q.mu.Unlock()
		})
	}
	wg.Wait()
	if recorders == 0 || ok.Load() > 0 {
		return nil
	}
	if tried == 0 {
		// Every host failed recently: try them all again.
		q.mu.Lock()
		clear(q.failed)
		q.mu.Unlock()
		return q.each(ctx, fn)
	}
	return errors.Join(errs...)
}

// The record's write bounds (QuorumLock).
const (
	recordTimeout = 30 * time.Second
	recordRetry   = time.Minute
)

// ReadRecord implements RunRecorder (a file next to the lock file).
func (l *FileLock) ReadRecord(ctx context.Context) (*RunRecord, error) {
	b, err := readFileIfExists(l.path + ".run")
	if err != nil || b == nil {
		return nil, err
	}
	var r RunRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("run record %s.run: %w", l.path, err)
	}
	r.Where = l.RecordPlace()
	return &r, nil
}

// RecordPlace says where the record is.
func (l *FileLock) RecordPlace() string { return l.path + ".run" }

// WriteRecord implements RunRecorder.
func (l *FileLock) WriteRecord(ctx context.Context, r RunRecord) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return writeFileAtomic(l.path+".run", b)
}

// ClearRecord implements RunRecorder.
func (l *FileLock) ClearRecord(ctx context.Context) error {
	return removeIfExists(l.path + ".run")
}

func readFileIfExists(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
