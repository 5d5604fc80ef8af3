package upgrade

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// JournalVersion is the version of the journal record format, written in
// every record's "v" field.
//
// Format version 1: the journal is a sequence of JSON objects, one per
// line (JSON Lines), appended and never rewritten. Each object has:
//
//	v        1
//	t        RFC 3339 time with nanoseconds (UTC)
//	type     "run" | "plan" | "step" | "preflight" | "data" | "service_down" | "service_up"
//	run      the run id (every record)
//	plan     plan name              (type plan)
//	fp       plan fingerprint       (type plan)
//	state    run: "started" | "finished" | "failed"
//	         step: "in_progress" | "done" | "failed" | "skipped" |
//	               "rolling_back" | "rolled_back" | "rollback_failed"
//	         preflight: "passed" | "failed" | "skipped"
//	step     full step name          (step, data, service_*)
//	host     host name, if any
//	check    preflight check name    (preflight)
//	reason   why skipped / how done  (optional)
//	error    error text              (optional)
//	dur_ms   duration in ms          (optional)
//	key      key name                (data)
//	value    JSON value              (data)
//	service  service name            (service_*)
//
// A step is "in_progress" from its first record until a later one; a
// reader takes the last state record of each step. "skipped" right after
// "in_progress" means the step ran and skipped itself (upgrade.Skip): it
// changed nothing and is not rolled back. Readers must ignore
// unknown fields and record types. A last line without its newline or
// that does not parse is a write torn by a crash and is ignored; a bad
// line before the last is corruption.
const JournalVersion = 1

// Record types.
const (
	RecordRun         = "run"
	RecordPlan        = "plan"
	RecordStep        = "step"
	RecordPreflight   = "preflight"
	RecordData        = "data"
	RecordServiceDown = "service_down"
	RecordServiceUp   = "service_up"
)

// Step states in the journal.
const (
	StateInProgress     = "in_progress"
	StateDone           = "done"
	StateFailed         = "failed"
	StateSkipped        = "skipped"
	StateRollingBack    = "rolling_back"
	StateRolledBack     = "rolled_back"
	StateRollbackFailed = "rollback_failed"
	StatePassed         = "passed"
	StateStarted        = "started"
	StateFinished       = "finished"
)

// Record is one journal entry. See JournalVersion for the format.
type Record struct {
	V           int             `json:"v"`
	Time        time.Time       `json:"t"`
	Type        string          `json:"type"`
	Run         string          `json:"run,omitempty"`
	Plan        string          `json:"plan,omitempty"`
	Fingerprint string          `json:"fp,omitempty"`
	State       string          `json:"state,omitempty"`
	Step        string          `json:"step,omitempty"`
	Host        string          `json:"host,omitempty"`
	Check       string          `json:"check,omitempty"`
	Reason      string          `json:"reason,omitempty"`
	Error       string          `json:"error,omitempty"`
	DurMS       float64         `json:"dur_ms,omitempty"`
	Key         string          `json:"key,omitempty"`
	Value       json.RawMessage `json:"value,omitempty"`
	Service     string          `json:"service,omitempty"`
}

// Store keeps the journal. Append must make the record durable before it
// returns (the runner writes "in_progress" before running a step and
// relies on it after a crash). Implementations are used by one run at a
// time (the runner holds its lock), but Append may be called from several
// goroutines.
type Store interface {
	// Load returns every record in order. A torn last record is dropped.
	Load(ctx context.Context) ([]Record, error)
	// Append adds a record durably.
	Append(ctx context.Context, r Record) error
	// Close releases the store.
	Close() error
}

// LazyAppender is implemented by stores that can write a record without
// making it durable at once: the next Append (or Close) makes it durable
// together with its own record. The runner uses it for the record that
// closes a step (done, failed, skipped), so a sequential step costs one
// fsync, not two: the in_progress record of the next step carries the
// previous step's done record to disk. A process crash (SIGKILL) loses
// nothing written; a machine crash in that short window leaves the step
// in_progress, which resume handles like any interrupted step.
type LazyAppender interface {
	AppendLazy(ctx context.Context, r Record) error
}

// Noter is implemented by stores that have something to tell about the
// last Load (a torn record dropped); the runner logs the notes and puts
// them in the report.
type Noter interface {
	Notes() []string
}

// FileStore is the default Store: a JSON Lines file, each record written
// with one write(2) and fsync(2); the directory is fsync'd when the file
// is created.
type FileStore struct {
	path  string
	mu    sync.Mutex // guards the fields below and writes
	f     *os.File
	notes []string
	buf   []byte
	wrote uint64 // records written
	// truncateTo is the length of the well-formed prefix when Load found
	// a torn tail, or -1.
	truncateTo int64

	syncMu sync.Mutex // serializes fsync; group commit
	synced uint64     // records known durable
}

var (
	_ Store        = (*FileStore)(nil)
	_ LazyAppender = (*FileStore)(nil)
)

// NewFileStore returns a store for the journal at path. The file is
// created on first use.
func NewFileStore(path string) *FileStore {
	return &FileStore{path: path, truncateTo: -1}
}

// Path returns the journal's path.
func (s *FileStore) Path() string { return s.path }

// Notes implements Noter.
func (s *FileStore) Notes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.notes...)
}

// Load implements Store. It only reads (a dry run may call it): a
// missing file is an empty journal, and a torn last line is dropped here
// and truncated away before the next write, so appends start on a fresh
// line.
func (s *FileStore) Load(ctx context.Context) ([]Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	data, err := os.ReadFile(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	recs, good, note, err := ParseJournal(data)
	if err != nil {
		return nil, fmt.Errorf("journal %s: %w", s.path, err)
	}
	if note != "" {
		s.notes = append(s.notes, note)
		s.truncateTo = int64(good)
	}
	return recs, nil
}

// ParseJournal decodes journal data. It returns the records, the length
// of the well-formed prefix, and a note when a torn last line was dropped.
// A malformed line before the last one is an error matching
// ErrJournalCorrupt.
func ParseJournal(data []byte) (recs []Record, good int, note string, err error) {
	off := 0
	line := 0
	for off < len(data) {
		line++
		i := bytes.IndexByte(data[off:], '\n')
		last := i < 0
		var raw []byte
		if last {
			raw = data[off:]
		} else {
			raw = data[off : off+i]
			last = off+i+1 == len(data)
		}
		var r Record
		perr := json.Unmarshal(raw, &r)
		if perr == nil && r.V == 0 {
			perr = errors.New("no version field")
		}
		if perr == nil && r.V > JournalVersion {
			return nil, 0, "", fmt.Errorf("%w: line %d: version %d is newer than this program's %d", ErrJournalCorrupt, line, r.V, JournalVersion)
		}
		if perr != nil || i < 0 {
			if last {
				return recs, off, fmt.Sprintf("journal: dropped a torn last record at line %d (%d bytes), left by an interrupted write", line, len(raw)), nil
			}
			return nil, 0, "", fmt.Errorf("%w: line %d: %v", ErrJournalCorrupt, line, perr)
		}
		recs = append(recs, r)
		off += i + 1
	}
	return recs, off, "", nil
}

func (s *FileStore) open() error {
	if s.f != nil {
		return nil
	}
	_, statErr := os.Stat(s.path)
	created := errors.Is(statErr, os.ErrNotExist)
	f, err := os.OpenFile(s.path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if created {
		if err := syncDir(filepath.Dir(s.path)); err != nil {
			f.Close()
			return fmt.Errorf("journal: %w", err)
		}
	}
	if s.truncateTo >= 0 {
		if err := f.Truncate(s.truncateTo); err != nil {
			f.Close()
			return fmt.Errorf("journal %s: drop torn record: %w", s.path, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("journal %s: %w", s.path, err)
		}
		s.truncateTo = -1
	}
	s.f = f
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Append implements Store: one write of the whole line, then fsync.
// Concurrent appends share an fsync (group commit): each returns only
// once an fsync that started after its write has completed.
func (s *FileStore) Append(ctx context.Context, r Record) error {
	mine, f, err := s.write(r)
	if err != nil {
		return err
	}
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	if s.synced >= mine {
		return nil // an fsync that started after our write covered it
	}
	s.mu.Lock()
	upTo := s.wrote
	s.mu.Unlock()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("journal %s: fsync: %w", s.path, err)
	}
	s.synced = upTo
	return nil
}

// AppendLazy implements LazyAppender: the record is written with one
// write(2); the next Append or Close fsyncs it.
func (s *FileStore) AppendLazy(ctx context.Context, r Record) error {
	_, _, err := s.write(r)
	return err
}

func (s *FileStore) write(r Record) (uint64, *os.File, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return 0, nil, fmt.Errorf("journal: encode: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.open(); err != nil {
		return 0, nil, err
	}
	s.buf = append(append(s.buf[:0], b...), '\n')
	if _, err := s.f.Write(s.buf); err != nil {
		return 0, nil, fmt.Errorf("journal %s: %w", s.path, err)
	}
	s.wrote++
	return s.wrote, s.f, nil
}

// Close implements Store.
func (s *FileStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := errors.Join(s.f.Sync(), s.f.Close())
	s.f = nil
	return err
}

// MemoryStore is a Store in memory, for tests and dry runs.
type MemoryStore struct {
	mu   sync.Mutex
	recs []Record
}

var _ Store = (*MemoryStore)(nil)

// Load implements Store.
func (m *MemoryStore) Load(ctx context.Context) ([]Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Record(nil), m.recs...), nil
}

// Append implements Store.
func (m *MemoryStore) Append(ctx context.Context, r Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recs = append(m.recs, r)
	return nil
}

// Close implements Store.
func (m *MemoryStore) Close() error { return nil }

// Records returns a copy of the records.
func (m *MemoryStore) Records() []Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Record(nil), m.recs...)
}

// ReadJournal reads a journal file (for tools and tests).
func ReadJournal(path string) ([]Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(bufio.NewReader(f))
	if err != nil {
		return nil, err
	}
	recs, _, _, err := ParseJournal(data)
	return recs, err
}

// journalView is the replayed state of a journal.
type journalView struct {
	fingerprint string
	steps       map[string]Record // last step record per step name
	data        map[string]json.RawMessage
	downOpen    map[string]time.Time
	windows     []Window
}

func replay(recs []Record) journalView {
	v := journalView{steps: map[string]Record{}, data: map[string]json.RawMessage{}, downOpen: map[string]time.Time{}}
	for _, r := range recs {
		switch r.Type {
		case RecordPlan:
			v.fingerprint = r.Fingerprint // the last plan that ran
		case RecordStep:
			v.steps[r.Step] = r
		case RecordData:
			v.data[r.Key] = r.Value
		case RecordServiceDown:
			if _, open := v.downOpen[r.Service]; !open {
				v.downOpen[r.Service] = r.Time
			}
		case RecordServiceUp:
			if t, open := v.downOpen[r.Service]; open {
				v.windows = append(v.windows, Window{Service: r.Service, Start: t, End: r.Time, Dur: r.Time.Sub(t)})
				delete(v.downOpen, r.Service)
			}
		}
	}
	return v
}
