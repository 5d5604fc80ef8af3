package vfs

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Both implementations behave the same for the operations the simulator uses.
func TestImplementations(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	for name, fsys := range map[string]interface {
		MkdirAll(p, owner, group string, now time.Time) error
		WriteFile(p string, data []byte, mode os.FileMode, owner, group string, now time.Time) error
		AppendFile(p string, data []byte, owner, group string, now time.Time) error
		ReadFile(p string) ([]byte, error)
		Remove(p string, recursive bool) error
		Rename(o, n string) error
		Exists(p string) bool
		ReadDir(p string) ([]string, error)
		Walk(p string) []string
	}{"mem": New(), "os": OS{Root: root}} {
		t.Run(name, func(t *testing.T) {
			now := time.Now()
			require.NoError(t, fsys.MkdirAll("/a/b", "", "", now))
			require.NoError(t, fsys.WriteFile("/a/b/f", []byte("x"), 0o600, "", "", now))
			require.NoError(t, fsys.AppendFile("/a/b/f", []byte("y"), "", "", now))
			b, err := fsys.ReadFile("/a/b/f")
			require.NoError(t, err)
			assert.Equal(t, "xy", string(b))
			assert.Error(t, fsys.WriteFile("/nope/f", nil, 0o600, "", "", now))
			assert.Error(t, fsys.Remove("/a", false), "not empty")
			require.NoError(t, fsys.Rename("/a/b", "/a/c"))
			kids, err := fsys.ReadDir("/a")
			require.NoError(t, err)
			assert.Equal(t, []string{"/a/c"}, kids)
			assert.Equal(t, []string{"/a", "/a/c", "/a/c/f"}, fsys.Walk("/a"))
			require.NoError(t, fsys.Remove("/a", true))
			assert.False(t, fsys.Exists("/a/c/f"))
		})
	}
	_, err := os.Stat(filepath.Join(root, "a"))
	assert.True(t, os.IsNotExist(err))
}

func TestSnapshotLoad(t *testing.T) {
	t.Parallel()
	a := New()
	require.NoError(t, a.MkdirAll("/x", "oneadmin", "oneadmin", time.Unix(1, 0)))
	require.NoError(t, a.WriteFile("/x/y", []byte("z"), 0o644, "root", "root", time.Unix(1, 0)))
	b := a.Clone()
	require.NoError(t, a.Remove("/x", true))
	got, err := b.ReadFile("/x/y")
	require.NoError(t, err)
	assert.Equal(t, "z", string(got))
	st, err := b.Stat("/x")
	require.NoError(t, err)
	assert.Equal(t, "oneadmin", st.Owner)
}
