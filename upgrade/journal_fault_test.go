package upgrade_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/upgrade"
)

// fsFault is how faultFS fails its failAt-th operation (a write or an
// fsync, counted from 1).
type fsFault int

const (
	// faultShortENOSPC: half the bytes reach the file, then ENOSPC (a
	// disk full for a moment).
	faultShortENOSPC fsFault = iota
	// faultShortEIO: a third of the bytes, then EIO.
	faultShortEIO
	// faultFsync: the write succeeds, the fsync after it fails with EIO.
	faultFsync
	// faultDiskFull: from the failAt-th operation on, every write puts
	// half its bytes and fails with ENOSPC, until the run ends.
	faultDiskFull
)

func (f fsFault) String() string {
	return [...]string{"short-enospc", "short-eio", "fsync-eio", "disk-full"}[f]
}

// faultFS is the operating system's file system with one injected fault.
type faultFS struct {
	mu     sync.Mutex
	failAt int // 0: never
	kind   fsFault
	ops    int
	fired  bool
}

func (fs *faultFS) ReadFile(path string) ([]byte, error) { return os.ReadFile(path) }

func (fs *faultFS) OpenAppend(path string) (upgrade.JournalFile, bool, error) {
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, false, err
	}
	return &faultFile{File: f, fs: fs}, errors.Is(statErr, os.ErrNotExist), nil
}

func (fs *faultFS) SyncDir(dir string) error { return nil }

// next counts an operation and says whether it fails.
func (fs *faultFS) next(isSync bool) (fail bool, kind fsFault) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.ops++
	switch {
	case fs.failAt == 0:
		return false, 0
	case fs.kind == faultDiskFull:
		fail = fs.ops >= fs.failAt && !isSync
	case fs.kind == faultFsync:
		fail = fs.ops == fs.failAt && isSync
		if isSync && fs.ops > fs.failAt && !fs.fired {
			fail = true // the failAt-th op was a write: fail the next fsync
		}
	default:
		fail = fs.ops >= fs.failAt && !isSync && !fs.fired
	}
	if fail {
		fs.fired = true
	}
	return fail, fs.kind
}

type faultFile struct {
	*os.File
	fs *faultFS
}

func (f *faultFile) Write(p []byte) (int, error) {
	fail, kind := f.fs.next(false)
	if !fail {
		return f.File.Write(p)
	}
	n, errno := len(p)/2, syscall.ENOSPC
	if kind == faultShortEIO {
		n, errno = len(p)/3, syscall.EIO
	}
	w, err := f.File.Write(p[:n])
	if err != nil {
		return w, err
	}
	return w, &os.PathError{Op: "write", Path: f.Name(), Err: errno}
}

func (f *faultFile) Sync() error {
	if fail, _ := f.fs.next(true); fail {
		return &os.PathError{Op: "fsync", Path: f.Name(), Err: syscall.EIO}
	}
	return f.File.Sync()
}

// effectPlan is six idempotent steps, each setting its effect, checking
// it and undoing it on rollback.
func effectPlan(mu *sync.Mutex, effects map[string]int) *upgrade.Plan {
	var nodes []upgrade.Node
	for _, name := range []string{"a", "b", "c", "d", "e", "f"} {
		nodes = append(nodes, upgrade.Func(name, func(ctx context.Context, s *upgrade.State) error {
			mu.Lock()
			defer mu.Unlock()
			effects[name] = 1
			return nil
		}).CheckWith(func(ctx context.Context, s *upgrade.State) (bool, error) {
			mu.Lock()
			defer mu.Unlock()
			return effects[name] == 1, nil
		}).RollbackWith(func(ctx context.Context, s *upgrade.State) error {
			mu.Lock()
			defer mu.Unlock()
			effects[name] = 0
			return nil
		}))
	}
	return upgrade.NewPlan("fs-faults", nodes...)
}

// TestJournalFileSystemFaults injects a fault into every write and fsync
// of the journal in turn (a short write with ENOSPC or EIO, a failed
// fsync, a disk that stays full) and checks that the journal always
// reads back and that a resume on a healthy disk finishes the upgrade
// with every step's effect in place.
func TestJournalFileSystemFaults(t *testing.T) {
	t.Parallel()
	// Operations of a clean run.
	clean := &faultFS{}
	var mu sync.Mutex
	r, err := upgrade.NewRunner(effectPlan(&mu, map[string]int{}), upgrade.WithJournal(
		upgrade.NewFileStore(filepath.Join(t.TempDir(), "journal"), upgrade.WithFileSystem(clean))))
	require.NoError(t, err)
	_, err = r.Run(t.Context())
	require.NoError(t, err)
	ops := clean.ops
	require.Greater(t, ops, 10)

	for _, kind := range []fsFault{faultShortENOSPC, faultShortEIO, faultFsync, faultDiskFull} {
		for at := 1; at <= ops; at++ {
			t.Run(fmt.Sprintf("%s-%02d", kind, at), func(t *testing.T) {
				t.Parallel()
				path := filepath.Join(t.TempDir(), "journal")
				var mu sync.Mutex
				effects := map[string]int{}
				ffs := &faultFS{failAt: at, kind: kind}
				store := upgrade.NewFileStore(path, upgrade.WithFileSystem(ffs))
				r, err := upgrade.NewRunner(effectPlan(&mu, effects), upgrade.WithJournal(store))
				require.NoError(t, err)
				_, runErr := r.Run(t.Context())
				_ = store.Close()
				ffs.mu.Lock()
				fired := ffs.fired
				ffs.mu.Unlock()
				if fired {
					require.Error(t, runErr, "a journal write failed and the run did not say so")
				}
				_, err = upgrade.ReadJournal(path)
				require.NoError(t, err, "journal after the fault (run error: %v)", runErr)

				// Resume on a healthy disk.
				store = upgrade.NewFileStore(path)
				r, err = upgrade.NewRunner(effectPlan(&mu, effects), upgrade.WithJournal(store))
				require.NoError(t, err)
				_, err = r.Run(t.Context())
				require.NoError(t, store.Close())
				require.NoError(t, err, "resume after the fault (run error: %v)", runErr)
				recs, err := upgrade.ReadJournal(path)
				require.NoError(t, err)
				last := recs[len(recs)-1]
				assert.Equal(t, upgrade.RecordRun+" "+upgrade.StateFinished, last.Type+" "+last.State)
				mu.Lock()
				defer mu.Unlock()
				for _, name := range []string{"a", "b", "c", "d", "e", "f"} {
					assert.Equal(t, 1, effects[name], "effect of %s", name)
				}
			})
		}
	}
}
