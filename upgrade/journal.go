package upgrade

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"
)

// JournalVersion is the version of the journal record format, written in
// every record's "v" field.
//
// The journal is a sequence of JSON objects, one per line (JSON Lines),
// appended and never rewritten. Format version 2 frames each record: the
// object's last member is "crc", eight hex digits of the CRC-32C
// (Castagnoli) of the object encoded without it (the line up to the
// comma before "crc", then "}"), so a record cut short or overwritten is
// detected even when what is left parses. Version 1 records have no
// "crc" and are still read (a journal may mix both: a run resumed by a
// newer program appends version 2 records); a record of a version newer
// than this program's is refused with a *JournalVersionError. Each
// object has:
//
//	v        1 or 2
//	t        RFC 3339 time with nanoseconds (UTC)
//	type     "run" | "plan" | "step" | "preflight" | "data" | "service_down" |
//	         "service_up" | "rollback" | "torn"
//	run      the run id (every record)
//	plan     plan name              (type plan)
//	fp       plan fingerprint       (type plan)
//	dir      "forward" | "backward" (type run, state started: the
//	         direction the run went)
//	state    run: "started" | "finished" | "failed"
//	         step: "in_progress" | "done" | "failed" | "skipped" |
//	               "rolling_back" | "rolled_back" | "rollback_failed"
//	         preflight: "passed" | "failed" | "skipped"
//	         rollback: "started" | "finished" | "failed"
//	step     full step name          (step, data, service_*, torn)
//	host     host name, if any
//	check    preflight check name    (preflight)
//	reason   why skipped / how done  (optional)
//	error    error text              (optional)
//	dur_ms   duration in ms          (optional)
//	key      key name                (data)
//	value    JSON value              (data; torn: the torn bytes as a string)
//	service  service name            (service_*)
//	crc      record checksum         (version 2)
//
// A step is "in_progress" from its first record until a later one; a
// reader takes the last state record of each step. "skipped" right after
// "in_progress" means the step ran and skipped itself (upgrade.Skip): it
// changed nothing and is not rolled back. Readers must ignore unknown
// fields and record types.
//
// Rollback is journaled: a "rollback" record "started" before the first
// step is undone, each step's "rolling_back" before its Rollback runs and
// "rolled_back" or "rollback_failed" after, and "finished" (every undo
// succeeded) or "failed" at the end. A rollback undoes the steps in the
// reverse order they started; every step it has passed (rolled back, or
// without an undo of its own but started after a step it rolled back) is
// pending again, and after a finished rollback every step is. A journal
// whose last rollback did not finish goes backward: a resume finishes
// the rollback unless the run is told otherwise (WithDirection).
//
// A last line that is cut short (no newline, or a checksum that does not
// match) is a write torn by a crash or a failed write: the store truncates
// it away before its next write and keeps its bytes in a "torn" record
// naming the step it was about, when that can be read; the step counts as
// in progress, so its check (or the operator) decides whether it took
// effect. A line that holds a torn record followed by a whole one (the
// old failure of appending after a failed write) keeps the whole one. A
// bad line anywhere else is corruption (ErrJournalCorrupt).
const JournalVersion = 2

// Record types.
const (
	RecordRun         = "run"
	RecordPlan        = "plan"
	RecordStep        = "step"
	RecordPreflight   = "preflight"
	RecordData        = "data"
	RecordServiceDown = "service_down"
	RecordServiceUp   = "service_up"
	RecordRollback    = "rollback"
	RecordTorn        = "torn"
)

// Directions of a run (the "dir" of a run record), see WithDirection.
const (
	DirForward  = "forward"
	DirBackward = "backward"
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
	Dir         string          `json:"dir,omitempty"`
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

// Syncer is implemented by stores that write lazily (LazyAppender): Sync
// makes every record written so far durable. The runner writes a step's
// in_progress record with AppendLazy and Sync, so that the order of
// concurrent step starts is the order of their records while their
// fsyncs are shared.
type Syncer interface {
	Sync(ctx context.Context) error
}

// Noter is implemented by stores that have something to tell about the
// last Load (a torn record dropped); the runner logs the notes and puts
// them in the report.
type Noter interface {
	Notes() []string
}

// FileStore is the default Store: a JSON Lines file, each record framed
// with its checksum (see JournalVersion) and written with one write(2)
// and fsync(2); the directory is fsync'd when the file is created. A
// write or fsync that fails leaves the store in need of repair: before
// its next write it re-reads the file and truncates it to its last whole
// record, so nothing is ever appended to a torn one.
type FileStore struct {
	path  string
	fsys  JournalFS
	mu    sync.Mutex // guards the fields below and writes
	f     JournalFile
	notes []string
	buf   []byte
	wrote uint64 // records written
	// truncateTo is the length of the well-formed prefix when Load found
	// a torn tail, or -1; torn is the record keeping its bytes, written
	// after the truncation.
	truncateTo int64
	torn       *Record
	// broken: a write or fsync failed; repair before the next write.
	broken bool

	syncMu sync.Mutex // serializes fsync; group commit
	synced uint64     // records known durable
}

var (
	_ Store        = (*FileStore)(nil)
	_ LazyAppender = (*FileStore)(nil)
	_ Syncer       = (*FileStore)(nil)
)

// NewFileStore returns a store for the journal at path. The file is
// created on first use.
func NewFileStore(path string, opts ...FileStoreOption) *FileStore {
	s := &FileStore{path: path, fsys: osFS{}, truncateTo: -1}
	for _, o := range opts {
		o(s)
	}
	return s
}

// FileStoreOption configures a FileStore.
type FileStoreOption func(*FileStore)

// WithFileSystem makes the store reach its file through fsys instead of
// the operating system (fault injection in tests: short writes, ENOSPC,
// EIO, a failed fsync).
func WithFileSystem(fsys JournalFS) FileStoreOption {
	return func(s *FileStore) {
		if fsys != nil {
			s.fsys = fsys
		}
	}
}

// JournalFS is what a FileStore needs of a file system.
type JournalFS interface {
	// ReadFile reads the whole file; a missing file matches
	// os.ErrNotExist.
	ReadFile(path string) ([]byte, error)
	// OpenAppend opens the file for appending, creating it (mode 0600)
	// if needed; created says whether it did.
	OpenAppend(path string) (f JournalFile, created bool, err error)
	// SyncDir makes a new directory entry in dir durable.
	SyncDir(dir string) error
}

// JournalFile is an open journal file.
type JournalFile interface {
	Write(p []byte) (int, error)
	Sync() error
	Truncate(size int64) error
	Close() error
}

// osFS is the operating system's file system.
type osFS struct{}

func (osFS) ReadFile(path string) ([]byte, error) { return os.ReadFile(path) }

func (osFS) OpenAppend(path string) (JournalFile, bool, error) {
	_, statErr := os.Stat(path)
	created := errors.Is(statErr, os.ErrNotExist)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, false, err
	}
	return f, created, nil
}

func (osFS) SyncDir(dir string) error { return syncDir(dir) }

// Path returns the journal's path.
func (s *FileStore) Path() string { return s.path }

// Notes implements Noter.
func (s *FileStore) Notes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.notes...)
}

// Load implements Store. It only reads (a dry run may call it): a
// missing file is an empty journal, and a torn last line is returned as a
// RecordTorn record, truncated away before the next write and kept in
// the journal as that record.
func (s *FileStore) Load(ctx context.Context) ([]Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	data, err := s.fsys.ReadFile(s.path)
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
		torn := recs[len(recs)-1]
		s.torn = &torn
	}
	return recs, nil
}

// ParseJournal decodes journal data. It returns the records, the length
// of the well-formed prefix, and a note when a torn last line was dropped.
// A torn record (the last line, or the torn head of a line that ends with
// a whole record) is returned as a RecordTorn record keeping its bytes
// and, when they show it, the step and state it was writing. A malformed
// line before the last one is an error matching ErrJournalCorrupt; a
// record newer than JournalVersion is a *JournalVersionError.
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
		r, perr := decodeRecord(raw)
		if ve, ok := errors.AsType[*JournalVersionError](perr); ok {
			ve.Line = line
			return nil, 0, "", ve
		}
		if perr == nil && i >= 0 {
			recs = append(recs, r)
			off += i + 1
			continue
		}
		// A torn record with a whole one appended to it on the same line.
		if j := bytes.LastIndex(raw, []byte(`{"v":`)); j > 0 && i >= 0 {
			if whole, werr := decodeRecord(raw[j:]); werr == nil {
				recs = append(recs, tornRecord(raw[:j]), whole)
				off += i + 1
				continue
			}
		}
		if last {
			recs = append(recs, tornRecord(raw))
			return recs, off, fmt.Sprintf("journal: dropped a torn last record at line %d (%d bytes), left by an interrupted write%s", line, len(raw), tornAbout(raw)), nil
		}
		return nil, 0, "", fmt.Errorf("%w: line %d: %v", ErrJournalCorrupt, line, perr)
	}
	return recs, off, "", nil
}

// crcTable is CRC-32C (Castagnoli).
var crcTable = crc32.MakeTable(crc32.Castagnoli)

// crcSuffix is the framing of a version 2 record: `,"crc":"%08x"}`.
const crcSuffixLen = len(`,"crc":"00000000"}`)

// frameRecord encodes r as one version 2 line (with its newline).
func frameRecord(buf []byte, r Record) ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	buf = append(buf[:0], b[:len(b)-1]...)
	buf = fmt.Appendf(buf, `,"crc":"%08x"}`, crc32.Checksum(b, crcTable))
	return append(buf, '\n'), nil
}

// decodeRecord decodes one line without its newline.
func decodeRecord(raw []byte) (Record, error) {
	var r Record
	payload := raw
	framed := false
	if n := len(raw); n > crcSuffixLen && bytes.HasPrefix(raw[n-crcSuffixLen:], []byte(`,"crc":"`)) {
		framed = true
		hex := raw[n-crcSuffixLen+len(`,"crc":"`) : n-2]
		var want uint32
		if _, err := fmt.Sscanf(string(hex), "%08x", &want); err != nil || !bytes.HasSuffix(raw, []byte(`"}`)) {
			return r, fmt.Errorf("bad checksum field %q", hex)
		}
		payload = append(append([]byte(nil), raw[:n-crcSuffixLen]...), '}')
		if got := crc32.Checksum(payload, crcTable); got != want {
			return r, fmt.Errorf("checksum %08x, record says %08x", got, want)
		}
	}
	if err := json.Unmarshal(payload, &r); err != nil {
		return r, err
	}
	switch {
	case r.V == 0:
		return r, errors.New("no version field")
	case r.V > JournalVersion:
		return r, &JournalVersionError{Version: r.V}
	case r.V >= 2 && !framed:
		return r, fmt.Errorf("version %d record without its checksum", r.V)
	}
	return r, nil
}

var (
	tornStep  = regexp.MustCompile(`"step":"((?:[^"\\]|\\.)*)"`)
	tornState = regexp.MustCompile(`"state":"([a-z_]+)"`)
	tornType  = regexp.MustCompile(`"type":"([a-z_]+)"`)
)

// tornRecord keeps the bytes of a torn record and what they show of it.
func tornRecord(raw []byte) Record {
	v, _ := json.Marshal(string(raw))
	r := Record{V: JournalVersion, Type: RecordTorn, Value: v}
	if m := tornType.FindSubmatch(raw); m != nil && string(m[1]) == RecordStep {
		if m := tornStep.FindSubmatch(raw); m != nil {
			var name string
			if json.Unmarshal(append(append([]byte{'"'}, m[1]...), '"'), &name) == nil {
				r.Step = name
			}
		}
		if m := tornState.FindSubmatch(raw); m != nil {
			r.State = string(m[1])
		}
	}
	return r
}

func tornAbout(raw []byte) string {
	r := tornRecord(raw)
	if r.Step == "" {
		return ""
	}
	st := r.State
	if st == "" {
		st = "an unreadable state"
	}
	return fmt.Sprintf("; it recorded %s for step %s, which counts as in progress: its check, or you, decide whether it took effect", st, r.Step)
}

func (s *FileStore) open() error {
	if s.broken {
		if err := s.repair(); err != nil {
			return err
		}
	}
	if s.f != nil {
		return nil
	}
	f, created, err := s.fsys.OpenAppend(s.path)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if created {
		if err := s.fsys.SyncDir(filepath.Dir(s.path)); err != nil {
			f.Close()
			return fmt.Errorf("journal: %w", err)
		}
	}
	if s.truncateTo >= 0 {
		if err := f.Truncate(s.truncateTo); err != nil {
			f.Close()
			return fmt.Errorf("journal %s: drop torn record: %w", s.path, err)
		}
		if s.torn != nil {
			// Keep the evidence: the torn bytes, in a whole record.
			b, err := frameRecord(nil, *s.torn)
			if err == nil {
				_, err = f.Write(b)
			}
			if err != nil {
				f.Close()
				s.broken = true
				return fmt.Errorf("journal %s: keep torn record: %w", s.path, err)
			}
		}
		if err := f.Sync(); err != nil {
			f.Close()
			s.broken = true
			return fmt.Errorf("journal %s: %w", s.path, err)
		}
		s.truncateTo, s.torn = -1, nil
	}
	s.f = f
	return nil
}

// repair follows a failed write or fsync: the file is read back and cut
// to its last whole record (what the failed write left is dropped: its
// Append returned the error), and made durable.
func (s *FileStore) repair() error {
	if s.f != nil {
		_ = s.f.Close()
		s.f = nil
	}
	data, err := s.fsys.ReadFile(s.path)
	if err != nil {
		return fmt.Errorf("journal %s: repair after a failed write: %w", s.path, err)
	}
	_, good, _, err := ParseJournal(data)
	if err != nil {
		return fmt.Errorf("journal %s: repair after a failed write: %w", s.path, err)
	}
	f, _, err := s.fsys.OpenAppend(s.path)
	if err != nil {
		return fmt.Errorf("journal %s: repair after a failed write: %w", s.path, err)
	}
	if good < len(data) {
		if err := f.Truncate(int64(good)); err != nil {
			f.Close()
			return fmt.Errorf("journal %s: repair after a failed write: %w", s.path, err)
		}
		s.notes = append(s.notes, fmt.Sprintf("journal: cut %d bytes of a failed write", len(data)-good))
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("journal %s: repair after a failed write: %w", s.path, err)
	}
	s.f, s.broken = f, false
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
	return s.syncUpTo(mine, f)
}

// Sync implements Syncer: every record written so far is durable when it
// returns nil.
func (s *FileStore) Sync(ctx context.Context) error {
	s.mu.Lock()
	mine, f, broken := s.wrote, s.f, s.broken
	s.mu.Unlock()
	if broken {
		return fmt.Errorf("journal %s: an earlier write failed", s.path)
	}
	if f == nil {
		return nil
	}
	return s.syncUpTo(mine, f)
}

// syncUpTo returns once record mine (written to f) is durable.
func (s *FileStore) syncUpTo(mine uint64, f JournalFile) error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	if s.synced >= mine {
		return nil // an fsync that started after our write covered it
	}
	s.mu.Lock()
	upTo := s.wrote
	s.mu.Unlock()
	if err := f.Sync(); err != nil {
		s.mu.Lock()
		s.broken = true
		s.mu.Unlock()
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

func (s *FileStore) write(r Record) (uint64, JournalFile, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := frameRecord(s.buf, r)
	if err != nil {
		return 0, nil, fmt.Errorf("journal: encode: %w", err)
	}
	s.buf = b
	if err := s.open(); err != nil {
		return 0, nil, err
	}
	if _, err := s.f.Write(b); err != nil {
		s.broken = true
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
	if err != nil {
		s.broken = true
	}
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
	steps       map[string]Record // last step record per step name, less what rollbacks reset
	// seq is the start order (record index + 1) of each step started and
	// not yet passed by a rollback: the candidates of the next rollback.
	seq      map[string]int
	data     map[string]json.RawMessage
	downOpen map[string]time.Time
	windows  []Window
	// dir is DirBackward when the last rollback did not finish and no
	// run chose forward since.
	dir string
}

func replay(recs []Record) journalView {
	v := journalView{steps: map[string]Record{}, seq: map[string]int{}, data: map[string]json.RawMessage{}, downOpen: map[string]time.Time{}}
	// pass resets every step started after step name: a rollback undoes
	// in the reverse start order, so it has passed them.
	pass := func(name string) {
		s, ok := v.seq[name]
		if !ok {
			return
		}
		for other, o := range v.seq {
			if o > s && v.steps[other].State != StateRollbackFailed {
				delete(v.seq, other)
				delete(v.steps, other)
			}
		}
	}
	for i, r := range recs {
		switch r.Type {
		case RecordPlan:
			v.fingerprint = r.Fingerprint // the last plan that ran
		case RecordRun:
			if r.State == StateStarted && r.Dir != "" {
				v.dir = r.Dir
			}
		case RecordRollback:
			switch r.State {
			case StateStarted, StateFailed:
				v.dir = DirBackward
			case StateFinished:
				// Everything is undone: every step is pending again.
				v.dir = DirForward
				clear(v.steps)
				clear(v.seq)
			}
		case RecordTorn:
			// The torn record may have been the step's start or its end:
			// the step counts as in progress, for its check to decide.
			if r.Step != "" {
				if _, ok := v.seq[r.Step]; !ok {
					v.seq[r.Step] = i + 1
				}
				v.steps[r.Step] = Record{V: r.V, Time: r.Time, Type: RecordStep, Run: r.Run, Step: r.Step, State: StateInProgress, Reason: "torn record"}
			}
		case RecordStep:
			prev := v.steps[r.Step].State
			switch r.State {
			case StateInProgress:
				v.seq[r.Step] = i + 1
			case StateSkipped:
				if prev == StateInProgress {
					delete(v.seq, r.Step) // the step skipped itself: nothing to roll back
				}
			case StateRollingBack:
				pass(r.Step)
			case StateRolledBack:
				pass(r.Step)
				delete(v.seq, r.Step)
				delete(v.steps, r.Step)
				continue
			}
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
