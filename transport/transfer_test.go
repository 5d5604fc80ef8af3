package transport_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/transport/local"
)

func newLocal(t *testing.T) transport.Transport {
	t.Helper()
	tr, err := local.New()
	require.NoError(t, err)
	t.Cleanup(func() { _ = tr.Close() })
	return runOnly{tr}
}

// runOnly hides a transport's Uploader and Downloader, so the streaming
// fallbacks over Run are what gets tested.
type runOnly struct{ t transport.Transport }

func (r runOnly) Run(ctx context.Context, c transport.Command) (transport.Result, error) {
	return r.t.Run(ctx, c)
}
func (r runOnly) Close() error { return r.t.Close() }

// corrupting flips one byte of every command's stdin or streamed stdout.
type corrupting struct {
	runOnly
	stdin bool
}

type flipReader struct {
	r    io.Reader
	done bool
}

func (f *flipReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if n > 0 && !f.done {
		p[0] ^= 0xff
		f.done = true
	}
	return n, err
}

type flipWriter struct {
	w    io.Writer
	done bool
}

func (f *flipWriter) Write(p []byte) (int, error) {
	if len(p) > 0 && !f.done {
		q := append([]byte(nil), p...)
		q[0] ^= 0xff
		f.done = true
		return f.w.Write(q)
	}
	return f.w.Write(p)
}

func (c corrupting) Run(ctx context.Context, cmd transport.Command) (transport.Result, error) {
	if c.stdin && cmd.Stdin != nil {
		cmd.Stdin = &flipReader{r: cmd.Stdin}
	}
	if !c.stdin && cmd.Stdout != nil {
		cmd.Stdout = &flipWriter{w: cmd.Stdout}
	}
	return c.runOnly.Run(ctx, cmd)
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestStreamUploadDownload(t *testing.T) {
	t.Parallel()
	tr := newLocal(t)
	ctx := t.Context()
	dir := t.TempDir()
	dst := filepath.Join(dir, "oned conf $(id)")
	data := bytes.Repeat([]byte("OpenNebula\x00\xff\n"), 100000)
	sum := sha256.Sum256(data)

	up, err := transport.StreamUpload(ctx, tr, dst, bytes.NewReader(data), transport.FileOptions{Mode: 0o640})
	require.NoError(t, err)
	assert.Equal(t, int64(len(data)), up.Bytes)
	assert.Equal(t, hex.EncodeToString(sum[:]), up.SHA256)
	got, err := os.ReadFile(dst)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data, got))
	fi, err := os.Stat(dst)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), fi.Mode().Perm())
	assert.Equal(t, []string{"oned conf $(id)"}, listDir(t, dir), "no temp file left")

	var buf bytes.Buffer
	down, err := transport.StreamDownload(ctx, tr, dst, &buf, transport.FileOptions{})
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data, buf.Bytes()))
	assert.Equal(t, up.SHA256, down.SHA256)
	assert.Equal(t, int64(len(data)), down.Bytes)

	_, err = transport.StreamDownload(ctx, tr, filepath.Join(dir, "missing"), io.Discard, transport.FileOptions{})
	assert.Error(t, err, "a missing file is not an empty one")
	_, err = transport.StreamDownload(ctx, tr, dir, io.Discard, transport.FileOptions{})
	assert.Error(t, err, "a directory is not an empty file")
}

func TestStreamUploadChecksumMismatchLeavesDestination(t *testing.T) {
	t.Parallel()
	tr := corrupting{runOnly: newLocal(t).(runOnly), stdin: true}
	dir := t.TempDir()
	dst := filepath.Join(dir, "dst")
	require.NoError(t, os.WriteFile(dst, []byte("old"), 0o600))

	_, err := transport.StreamUpload(t.Context(), tr, dst, strings.NewReader("new content"), transport.FileOptions{})
	ce, ok := errors.AsType[*transport.ChecksumError](err)
	require.True(t, ok, "got %v", err)
	assert.NotEqual(t, ce.Local, ce.Remote)
	got, err := os.ReadFile(dst)
	require.NoError(t, err)
	assert.Equal(t, "old", string(got), "destination untouched")
	assert.Equal(t, []string{"dst"}, listDir(t, dir), "temp file removed")
}

func TestStreamDownloadChecksumMismatch(t *testing.T) {
	t.Parallel()
	tr := corrupting{runOnly: newLocal(t).(runOnly)}
	src := filepath.Join(t.TempDir(), "src")
	require.NoError(t, os.WriteFile(src, []byte("payload"), 0o600))
	_, err := transport.StreamDownload(t.Context(), tr, src, io.Discard, transport.FileOptions{})
	_, ok := errors.AsType[*transport.ChecksumError](err)
	assert.True(t, ok, "got %v", err)
}

func TestStreamUploadNotWritable(t *testing.T) {
	t.Parallel()
	tr := newLocal(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "file"), nil, 0o600))
	_, err := transport.StreamUpload(t.Context(), tr, filepath.Join(dir, "file", "x"), strings.NewReader("x"), transport.FileOptions{})
	assert.Error(t, err)
	assert.Equal(t, []string{"file"}, listDir(t, dir))
}
