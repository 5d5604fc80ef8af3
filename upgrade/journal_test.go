package upgrade_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/upgrade"
)

func TestFileStoreConcurrentAppends(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "sub-journal")
	s := upgrade.NewFileStore(path)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				rec := upgrade.Record{V: 1, Type: upgrade.RecordStep, Step: fmt.Sprintf("g%d/s%d", g, i), State: upgrade.StateDone}
				var err error
				if i%2 == 0 {
					err = s.Append(t.Context(), rec)
				} else {
					err = s.AppendLazy(t.Context(), rec)
				}
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "double close")
	recs, err := upgrade.ReadJournal(path)
	require.NoError(t, err)
	assert.Len(t, recs, 400)
	seen := map[string]bool{}
	for _, r := range recs {
		seen[r.Step] = true
	}
	assert.Len(t, seen, 400)

	// Reopened, the store loads what was written and appends after it.
	s = upgrade.NewFileStore(path)
	got, err := s.Load(t.Context())
	require.NoError(t, err)
	assert.Len(t, got, 400)
	require.NoError(t, s.Append(t.Context(), upgrade.Record{V: 1, Type: upgrade.RecordRun, State: upgrade.StateStarted}))
	require.NoError(t, s.Close())
	recs, err = upgrade.ReadJournal(path)
	require.NoError(t, err)
	assert.Len(t, recs, 401)
	assert.Empty(t, s.Notes())
}

func TestFileStoreNewerVersionRefused(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "j")
	require.NoError(t, os.WriteFile(path, []byte(`{"v":1,"type":"run"}`+"\n"+`{"v":3,"type":"run"}`+"\n"+`{"v":1,"type":"run"}`+"\n"), 0o600))
	_, err := upgrade.NewFileStore(path).Load(t.Context())
	require.ErrorIs(t, err, upgrade.ErrJournalCorrupt)
	require.ErrorIs(t, err, upgrade.ErrJournalVersion)
	ve, ok := errors.AsType[*upgrade.JournalVersionError](err)
	require.True(t, ok)
	assert.Equal(t, 3, ve.Version)
	assert.Equal(t, 2, ve.Line)
	assert.Contains(t, err.Error(), "newer")
}
