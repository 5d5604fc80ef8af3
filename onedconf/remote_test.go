package onedconf

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/transport/fake"
	"github.com/upgradekit/upgradekit/transport/local"
)

func TestSetServerIDFake(t *testing.T) {
	t.Parallel()
	src := fixture(t)
	fe := fake.New("fe2")
	fe.SetFile(DefaultPath, src)
	fe.Expect(fake.Exact("stat", "-c", "%a %u %g", "--", DefaultPath)).Reply("640 0 9869\n")
	changed, err := SetServerID(t.Context(), fe, 2)
	require.NoError(t, err)
	assert.True(t, changed)
	fe.AssertExpectations(t)
	f, ok := fe.File(DefaultPath)
	require.True(t, ok)
	assert.Equal(t, fs.FileMode(0o640), f.Mode)
	assert.Equal(t, "0", f.Owner)
	assert.Equal(t, "9869", f.Group)
	assert.True(t, f.Sudo, "oned.conf is written as root")
	want := strings.Replace(string(src), "SERVER_ID        = -1,", "SERVER_ID        = 2,", 1)
	assert.Equal(t, want, string(f.Data))
	assert.True(t, fe.Calls()[0].Command.ReadOnly)

	// Already set: nothing is written (no stat expected either).
	changed, err = SetServerID(t.Context(), fe, 2)
	require.NoError(t, err)
	assert.False(t, changed)
	fe.AssertExpectations(t)
}

func TestReadRemoteErrors(t *testing.T) {
	t.Parallel()
	fe := fake.New("fe1")
	_, err := ReadRemote(t.Context(), fe, DefaultPath)
	assert.ErrorIs(t, err, fs.ErrNotExist)
	fe.SetFile(DefaultPath, []byte("FEDERATION = [ MODE = \"STANDALONE\""))
	_, err = ReadRemote(t.Context(), fe, DefaultPath)
	assert.ErrorIs(t, err, ErrSyntax)
	_, err = SetServerID(t.Context(), fe, 1, WithPath("relative"))
	assert.Error(t, err)
}

// Real files through transport/local: bytes, mode and owner kept.
func TestRemoteReal(t *testing.T) {
	t.Parallel()
	l, err := local.New(local.WithHostName("fe1"))
	require.NoError(t, err)
	defer l.Close()
	path := filepath.Join(t.TempDir(), "oned.conf")
	src := fixture(t)
	require.NoError(t, os.WriteFile(path, src, 0o640))
	require.NoError(t, os.Chmod(path, 0o640))
	root := os.Geteuid() == 0
	if root {
		require.NoError(t, os.Chown(path, 0, 9869))
	}

	f, err := ReadRemote(t.Context(), l, path, WithSudo(false))
	require.NoError(t, err)
	assert.Equal(t, src, f.Bytes())

	changed, err := SetServerID(t.Context(), l, 1, WithSudo(false), WithPath(path))
	require.NoError(t, err)
	assert.True(t, changed)
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, strings.Replace(string(src), "SERVER_ID        = -1,", "SERVER_ID        = 1,", 1), string(got))
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o640), st.Mode().Perm())
	if root {
		m, err := Stat(t.Context(), l, path, false)
		require.NoError(t, err)
		assert.Equal(t, FileMeta{Mode: 0o640, UID: "0", GID: "9869"}, m)
	}
	changed, err = SetServerID(t.Context(), l, 1, WithSudo(false), WithPath(path))
	require.NoError(t, err)
	assert.False(t, changed)

	// A new file gets the packaged defaults' mode and owner.
	t.Run("new file", func(t *testing.T) {
		if !root {
			t.Skip("chown to root:oneadmin needs root")
		}
		fresh := filepath.Join(t.TempDir(), "new.conf")
		nf, _ := Parse([]byte("PORT = 2633\n"))
		err := WriteRemote(t.Context(), l, fresh, nf, WithSudo(false))
		if err != nil && strings.Contains(err.Error(), "oneadmin") {
			t.Skip("no oneadmin group on this machine")
		}
		require.NoError(t, err)
		st, err := os.Stat(fresh)
		require.NoError(t, err)
		assert.Equal(t, DefaultMode, st.Mode().Perm())
	})
}
