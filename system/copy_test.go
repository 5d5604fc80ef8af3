package system

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/transport/local"
)

func newLocal(t *testing.T, name string) transport.Transport {
	t.Helper()
	l, err := local.New(local.WithHostName(name))
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func isRoot() bool { return os.Geteuid() == 0 }

// flipper corrupts one byte of a command's stdin (what a host receives)
// or stdout (what it sends) at a given offset. It only implements Run, so
// transport.Upload and Download fall back to streaming over Run.
type flipper struct {
	transport.Transport
	stdin, stdout bool
	only          string // command path to corrupt; "" for any
	at            int64
}

func (f *flipper) Run(ctx context.Context, c transport.Command) (transport.Result, error) {
	if f.only == "" || c.Path == f.only {
		if f.stdin && c.Stdin != nil {
			c.Stdin = &flipReader{r: c.Stdin, at: f.at}
		}
		if f.stdout && c.Stdout != nil {
			c.Stdout = &flipWriter{w: c.Stdout, at: f.at}
		}
	}
	return f.Transport.Run(ctx, c)
}

type flipReader struct {
	r   io.Reader
	at  int64
	off int64
}

func (f *flipReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if f.at >= f.off && f.at < f.off+int64(n) {
		p[f.at-f.off] ^= 0x20
	}
	f.off += int64(n)
	return n, err
}

type flipWriter struct {
	w   io.Writer
	at  int64
	off int64
}

func (f *flipWriter) Write(p []byte) (int, error) {
	q := p
	if f.at >= f.off && f.at < f.off+int64(len(p)) {
		q = bytes.Clone(p)
		q[f.at-f.off] ^= 0x20
	}
	f.off += int64(len(p))
	return f.w.Write(q)
}

func write(t *testing.T, p, data string, mode os.FileMode) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte(data), mode))
	require.NoError(t, os.Chmod(p, mode))
}

// tree builds a source directory shaped like /etc/one.
func tree(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "one")
	write(t, filepath.Join(dir, "oned.conf"), "FEDERATION = [ SERVER_ID = 0 ]\n", 0o640)
	write(t, filepath.Join(dir, "monitord.conf"), "NETWORK = [ MONITOR_ADDRESS = \"10.0.0.10\" ]\n", 0o640)
	write(t, filepath.Join(dir, "auth", "certificates", "ca.pem"), "-----BEGIN CERT-----\n", 0o600)
	write(t, filepath.Join(dir, "odd name\nwith newline"), "odd\n", 0o644)
	write(t, filepath.Join(dir, `back\slash`), "bs\n", 0o644)
	write(t, filepath.Join(dir, "big.bin"), strings.Repeat("0123456789abcdef", 4096), 0o644)
	write(t, filepath.Join(dir, "own.conf"), "leader's own\n", 0o644)
	require.NoError(t, os.Chmod(filepath.Join(dir, "auth"), 0o750))
	require.NoError(t, os.Symlink("oned.conf", filepath.Join(dir, "link.conf")))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "empty"), 0o700))
	if isRoot() {
		require.NoError(t, os.Lchown(filepath.Join(dir, "oned.conf"), 0, 9869))
		require.NoError(t, os.Lchown(filepath.Join(dir, "auth"), 9869, 9869))
		require.NoError(t, os.Lchown(filepath.Join(dir, "link.conf"), 9869, 9869))
	}
	return dir
}

func TestCopyTreeReal(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, err := New(WithSudo(false))
	require.NoError(t, err)
	src, dst := newLocal(t, "leader"), newLocal(t, "follower")
	srcDir := tree(t)
	dstDir := filepath.Join(t.TempDir(), "etc", "one")
	write(t, filepath.Join(dstDir, "own.conf"), "follower's own\n", 0o600)
	write(t, filepath.Join(dstDir, "extra.txt"), "only here\n", 0o644)

	res, err := s.CopyTree(ctx, src, srcDir, dst, dstDir, CopyOptions{Exclude: []string{"own.conf"}, IgnoreOwner: !isRoot()})
	require.NoError(t, err)
	assert.Equal(t, 6, res.Files) // oned, monitord, ca.pem, odd, backslash, big
	assert.Greater(t, res.Bytes, int64(65536))
	assert.Len(t, res.SHA256, 64)

	want, err := s.Manifest(ctx, src, srcDir)
	require.NoError(t, err)
	got, err := s.Manifest(ctx, dst, dstDir)
	require.NoError(t, err)
	delete(want, "own.conf")
	own, extra := got["own.conf"], got["extra.txt"]
	delete(got, "own.conf")
	delete(got, "extra.txt")
	assert.Equal(t, want, got, "the destination must equal the source, owners and modes included")
	assert.Equal(t, "600", own.Mode, "the excluded file keeps the follower's version")
	b, err := os.ReadFile(filepath.Join(dstDir, "own.conf"))
	require.NoError(t, err)
	assert.Equal(t, "follower's own\n", string(b))
	assert.Equal(t, byte('f'), extra.Type, "files only the destination has are kept")
	if isRoot() {
		assert.Equal(t, "9869", got["oned.conf"].GID)
		assert.Equal(t, "9869", got["auth"].UID)
	}
	assert.Equal(t, "oned.conf", got["link.conf"].Target)
	assert.Equal(t, "750", got["auth"].Mode)
	// No staging left behind.
	entries, err := os.ReadDir(filepath.Dir(dstDir))
	require.NoError(t, err)
	for _, e := range entries {
		assert.False(t, strings.HasPrefix(e.Name(), ".upgradekit"), e.Name())
	}

	// Copying again changes nothing and still verifies.
	_, err = s.CopyTree(ctx, src, srcDir, dst, dstDir, CopyOptions{Exclude: []string{"own.conf"}, IgnoreOwner: !isRoot()})
	require.NoError(t, err)
}

func TestCopyTreeChown(t *testing.T) {
	t.Parallel()
	if !isRoot() {
		t.Skip("chown to another owner needs root")
	}
	s, err := New(WithSudo(false))
	require.NoError(t, err)
	src, dst := newLocal(t, "leader"), newLocal(t, "follower")
	srcDir := tree(t)
	dstDir := filepath.Join(t.TempDir(), "one")
	_, err = s.CopyTree(t.Context(), src, srcDir, dst, dstDir, CopyOptions{Owner: "4242", Group: "4343"})
	require.NoError(t, err)
	got, err := s.Manifest(t.Context(), dst, dstDir)
	require.NoError(t, err)
	for p, e := range got {
		assert.Equal(t, "4242", e.UID, p)
		assert.Equal(t, "4343", e.GID, p)
	}
}

func TestCopyTreeWithSudo(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("sudo"); err != nil || exec.Command("sudo", "-n", "true").Run() != nil {
		t.Skip("no passwordless sudo here")
	}
	s, err := New() // default: as root through sudo -n
	require.NoError(t, err)
	src, dst := newLocal(t, "leader"), newLocal(t, "follower")
	srcDir := tree(t)
	dstDir := filepath.Join(t.TempDir(), "one")
	res, err := s.CopyTree(t.Context(), src, srcDir, dst, dstDir, CopyOptions{})
	require.NoError(t, err)
	assert.Equal(t, 7, res.Files)
}

func TestCopyTreeCorruptedStream(t *testing.T) {
	t.Parallel()
	s, err := New(WithSudo(false))
	require.NoError(t, err)
	tests := []struct {
		name  string
		src   func(transport.Transport) transport.Transport
		dst   func(transport.Transport) transport.Transport
		check func(t *testing.T, err error)
	}{
		{
			// The source sends a bad byte: both ends agree on the stream,
			// but the per-file manifests catch it.
			name: "source corrupts file data",
			src: func(tr transport.Transport) transport.Transport {
				return &flipper{Transport: tr, stdout: true, only: "tar", at: 40000}
			},
			dst: func(tr transport.Transport) transport.Transport { return tr },
			check: func(t *testing.T, err error) {
				mm, ok := errors.AsType[*ManifestMismatchError](err)
				require.True(t, ok, "%v", err)
				require.Len(t, mm.Differ, 1)
				assert.Contains(t, mm.Differ[0], "big.bin (content)")
			},
		},
		{
			// The byte flips on the way into the destination: the stream
			// hash catches it.
			name: "destination receives a bad byte",
			src:  func(tr transport.Transport) transport.Transport { return tr },
			dst: func(tr transport.Transport) transport.Transport {
				return &flipper{Transport: tr, stdin: true, at: 3000}
			},
			check: func(t *testing.T, err error) {
				ce, ok := errors.AsType[*transport.ChecksumError](err)
				require.True(t, ok, "%v", err)
				assert.NotEqual(t, ce.Local, ce.Remote)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srcDir := tree(t)
			dstDir := filepath.Join(t.TempDir(), "one")
			write(t, filepath.Join(dstDir, "oned.conf"), "untouched\n", 0o640)
			_, err := s.CopyTree(t.Context(), tt.src(newLocal(t, "a")), srcDir, tt.dst(newLocal(t, "b")), dstDir, CopyOptions{IgnoreOwner: !isRoot()})
			require.Error(t, err)
			tt.check(t, err)
			entries, err := os.ReadDir(dstDir)
			require.NoError(t, err)
			assert.Len(t, entries, 1, "nothing may be installed from a corrupted copy")
			b, _ := os.ReadFile(filepath.Join(dstDir, "oned.conf"))
			assert.Equal(t, "untouched\n", string(b))
			entries, err = os.ReadDir(filepath.Dir(dstDir))
			require.NoError(t, err)
			assert.Len(t, entries, 1, "staging must be removed")
		})
	}
}

func TestCopyTreeErrors(t *testing.T) {
	t.Parallel()
	s, err := New(WithSudo(false))
	require.NoError(t, err)
	l := newLocal(t, "h")
	_, err = s.CopyTree(t.Context(), l, filepath.Join(t.TempDir(), "nope"), l, filepath.Join(t.TempDir(), "x"), CopyOptions{})
	assert.ErrorIs(t, err, ErrNotFound)
	for _, ex := range []string{"/abs", "../up", "a/../../b", "", "."} {
		_, err = s.CopyTree(t.Context(), l, "/etc", l, "/tmp/x", CopyOptions{Exclude: []string{ex}})
		assert.ErrorIs(t, err, ErrInvalid, ex)
	}
	_, err = s.CopyTree(t.Context(), l, "relative", l, "/tmp/x", CopyOptions{})
	assert.ErrorIs(t, err, ErrInvalid)
}

func TestCopyFileReal(t *testing.T) {
	t.Parallel()
	s, err := New(WithSudo(false))
	require.NoError(t, err)
	srcDir := tree(t)
	dstPath := filepath.Join(t.TempDir(), "oned.conf")
	res, err := s.CopyFile(t.Context(), newLocal(t, "a"), filepath.Join(srcDir, "oned.conf"), newLocal(t, "b"), dstPath, CopyOptions{})
	require.NoError(t, err)
	assert.Equal(t, int64(len("FEDERATION = [ SERVER_ID = 0 ]\n")), res.Bytes)
	assert.Equal(t, 1, res.Files)
	st, err := os.Stat(dstPath)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), st.Mode().Perm())
	sum, err := s.Checksum(t.Context(), newLocal(t, "b"), dstPath)
	require.NoError(t, err)
	assert.Equal(t, res.SHA256, sum)

	// Mode override, through the Run fallbacks on both sides.
	dst2 := filepath.Join(t.TempDir(), "big.bin")
	res, err = s.CopyFile(t.Context(), &flipper{Transport: newLocal(t, "a")}, filepath.Join(srcDir, "big.bin"),
		&flipper{Transport: newLocal(t, "b")}, dst2, CopyOptions{Mode: 0o600})
	require.NoError(t, err)
	assert.Equal(t, int64(65536), res.Bytes)
	st, err = os.Stat(dst2)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
}

func TestCopyFileCorrupted(t *testing.T) {
	t.Parallel()
	s, err := New(WithSudo(false))
	require.NoError(t, err)
	for _, tt := range []struct {
		name     string
		src, dst func(transport.Transport) transport.Transport
	}{
		{"download corrupted", func(tr transport.Transport) transport.Transport {
			return &flipper{Transport: tr, stdout: true, at: 100}
		}, func(tr transport.Transport) transport.Transport { return tr }},
		{"upload corrupted", func(tr transport.Transport) transport.Transport { return tr },
			func(tr transport.Transport) transport.Transport {
				return &flipper{Transport: tr, stdin: true, at: 100}
			}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srcDir := tree(t)
			dstPath := filepath.Join(t.TempDir(), "big.bin")
			_, err := s.CopyFile(t.Context(), tt.src(newLocal(t, "a")), filepath.Join(srcDir, "big.bin"), tt.dst(newLocal(t, "b")), dstPath, CopyOptions{})
			_, ok := errors.AsType[*transport.ChecksumError](err)
			require.True(t, ok, "want a ChecksumError, got %v", err)
			_, err = os.Stat(dstPath)
			assert.True(t, os.IsNotExist(err), "a corrupted copy must not be installed")
			entries, _ := os.ReadDir(filepath.Dir(dstPath))
			assert.Empty(t, entries, "no temp files left")
		})
	}
}

func TestBackupRestoreReal(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	now := time.Date(2026, 11, 21, 9, 5, 7, 0, time.UTC)
	s, err := New(WithSudo(false), WithClock(func() time.Time { return now }))
	require.NoError(t, err)
	l := newLocal(t, "fe1")
	dir := tree(t)
	before, err := s.Manifest(ctx, l, dir)
	require.NoError(t, err)

	backup, err := s.BackupDir(ctx, l, dir)
	require.NoError(t, err)
	assert.Equal(t, dir+".2026-11-21_090507", backup)
	copied, err := s.Manifest(ctx, l, backup)
	require.NoError(t, err)
	assert.Equal(t, before, copied)

	_, err = s.BackupDir(ctx, l, dir)
	assert.ErrorIs(t, err, ErrBackupExists, "never overwrite a backup")

	// Damage the directory, then restore.
	write(t, filepath.Join(dir, "oned.conf"), "broken", 0o600)
	write(t, filepath.Join(dir, "new-file"), "x", 0o644)
	require.NoError(t, os.RemoveAll(filepath.Join(dir, "auth")))
	require.NoError(t, s.RestoreDir(ctx, l, backup, dir))
	after, err := s.Manifest(ctx, l, dir)
	require.NoError(t, err)
	assert.Equal(t, before, after)
	_, err = os.Stat(backup)
	assert.NoError(t, err, "the backup stays")
	entries, err := os.ReadDir(filepath.Dir(dir))
	require.NoError(t, err)
	assert.Len(t, entries, 2, "only the directory and its backup: %v", entries)

	_, err = s.BackupDir(ctx, l, filepath.Join(t.TempDir(), "missing"))
	assert.ErrorIs(t, err, ErrNotFound)
	err = s.RestoreDir(ctx, l, filepath.Join(t.TempDir(), "missing"), dir)
	assert.ErrorIs(t, err, ErrNotFound)
	_, err = s.BackupDir(ctx, l, "/")
	assert.ErrorIs(t, err, ErrInvalid)
}

func TestChecksumReal(t *testing.T) {
	t.Parallel()
	s, err := New(WithSudo(false))
	require.NoError(t, err)
	l := newLocal(t, "h")
	dir := t.TempDir()
	write(t, filepath.Join(dir, "-dash"), "abc", 0o644)
	sum, err := s.Checksum(t.Context(), l, filepath.Join(dir, "-dash"))
	require.NoError(t, err)
	assert.Equal(t, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", sum)
	name := filepath.Join(dir, "new\nline")
	write(t, name, "abc", 0o644)
	sum, err = s.Checksum(t.Context(), l, name)
	require.NoError(t, err)
	assert.Equal(t, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", sum)
	_, err = s.Checksum(t.Context(), l, filepath.Join(dir, "missing"))
	assert.ErrorIs(t, err, ErrNotFound)
}

func benchTree(b *testing.B, files, size int) string {
	dir := filepath.Join(b.TempDir(), "src")
	chunk := strings.Repeat("x", size)
	for i := range files {
		p := filepath.Join(dir, "d"+strconv.Itoa(i%10), "f"+strconv.Itoa(i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(chunk), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return dir
}

// BenchmarkCopyTree copies 200 files of 160 KiB (32 MiB) between two
// local transports: tar stream, staging, two manifests, install, verify.
func BenchmarkCopyTree(b *testing.B) {
	s, _ := New(WithSudo(false))
	src := benchTree(b, 200, 160<<10)
	l, _ := local.New()
	defer l.Close()
	b.SetBytes(200 * 160 << 10)
	for i := 0; b.Loop(); i++ {
		dst := filepath.Join(b.TempDir(), "dst")
		if _, err := s.CopyTree(b.Context(), l, src, l, dst, CopyOptions{IgnoreOwner: !isRoot()}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCopyFile copies one 32 MiB file through the streaming
// Download/Upload fallbacks over Run (what SSH transports use).
func BenchmarkCopyFile(b *testing.B) {
	s, _ := New(WithSudo(false))
	dir := b.TempDir()
	src := filepath.Join(dir, "big")
	if err := os.WriteFile(src, bytes.Repeat([]byte("0123456789abcdef"), 2<<20), 0o644); err != nil {
		b.Fatal(err)
	}
	l, _ := local.New()
	defer l.Close()
	w := &flipper{Transport: l, at: -1}
	b.SetBytes(32 << 20)
	for b.Loop() {
		if _, err := s.CopyFile(b.Context(), w, src, w, filepath.Join(dir, "copy"), CopyOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
