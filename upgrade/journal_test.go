package upgrade_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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

// TestVersion1JournalWithAppendedTornRecord: a journal written by the
// previous format, where a failed write left half a record and the next
// record was appended to it (the run then refused to resume: "journal
// corrupt"), is read: the whole record is kept, the torn one kept as
// evidence, and the run resumes, appending version 2 records.
func TestVersion1JournalWithAppendedTornRecord(t *testing.T) {
	t.Parallel()
	tr := &trace{}
	p := resumePlan(tr, nil)
	path := filepath.Join(t.TempDir(), "journal")
	lines := []string{
		`{"v":1,"t":"2026-01-01T00:00:00Z","type":"plan","run":"old","fp":"` + p.Fingerprint() + `"}`,
		`{"v":1,"t":"2026-01-01T00:00:01Z","type":"step","run":"old","state":"in_progress","step":"a"}`,
		`{"v":1,"t":"2026-01-01T00:00:02Z","type":"step","run":"old","state":"done","step":"a"}`,
		`{"v":1,"t":"2026-01-01T00:00:03Z","type":"step","run":"old","state":"in_prog` +
			`{"v":1,"t":"2026-01-01T00:00:04Z","type":"run","run":"old","state":"failed","error":"journal: no space left on device"}`,
	}
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600))
	recs, err := upgrade.ReadJournal(path)
	require.NoError(t, err)
	require.Len(t, recs, 5)
	assert.Equal(t, upgrade.RecordTorn, recs[3].Type)
	assert.Equal(t, upgrade.StateFailed, recs[4].State)

	r, err := upgrade.NewRunner(p, upgrade.WithJournal(upgrade.NewFileStore(path)))
	require.NoError(t, err)
	_, err = r.Run(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []string{"run b", "run c"}, tr.get(), "a stays done")
	recs, err = upgrade.ReadJournal(path)
	require.NoError(t, err)
	assert.Equal(t, upgrade.JournalVersion, recs[len(recs)-1].V)
}
