package fake

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"slices"
	"time"

	"github.com/upgradekit/upgradekit/transport"
)

// File is a file in the fake's in-memory file table.
type File struct {
	Data []byte
	// Mode is the permission the file was uploaded with (0644 by default).
	Mode fs.FileMode
	// Owner and Group are as given in transport.FileOptions ("" if unset).
	Owner, Group string
	// Sudo records that the upload asked for sudo.
	Sudo bool
}

// SetFile puts data at path with mode 0644, for Download (or a handler)
// to find.
func (f *Transport) SetFile(path string, data []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.files[path] = File{Data: slices.Clone(data), Mode: 0o644}
}

// File returns the file at path and whether there is one.
func (f *Transport) File(path string) (File, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	file, ok := f.files[path]
	file.Data = slices.Clone(file.Data)
	return file, ok
}

// RemoveFile deletes path from the file table.
func (f *Transport) RemoveFile(path string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.files, path)
}

// Files returns the paths in the file table, sorted.
func (f *Transport) Files() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Sorted(maps.Keys(f.files))
}

// Upload implements transport.Uploader: it reads r to EOF and stores it
// at dst with opts' mode, owner and group. Nothing is stored if reading
// fails or ctx ends.
func (f *Transport) Upload(ctx context.Context, dst string, r io.Reader, opts transport.FileOptions) (transport.Transfer, error) {
	start := time.Now()
	if err := f.usable(ctx); err != nil {
		return transport.Transfer{}, fmt.Errorf("fake %s: upload %s: %w", f.host, dst, err)
	}
	h := sha256.New()
	data, err := io.ReadAll(io.TeeReader(ctxReader{ctx, r}, h))
	if err != nil {
		return transport.Transfer{}, fmt.Errorf("fake %s: upload %s: %w", f.host, dst, err)
	}
	mode := opts.Mode.Perm()
	if mode == 0 {
		mode = 0o644
	}
	f.mu.Lock()
	f.files[dst] = File{Data: data, Mode: mode, Owner: opts.Owner, Group: opts.Group, Sudo: opts.Sudo}
	f.mu.Unlock()
	return transport.Transfer{Bytes: int64(len(data)), SHA256: hex.EncodeToString(h.Sum(nil)), Duration: time.Since(start)}, nil
}

// Download implements transport.Downloader from the file table. A missing
// file is an error matching fs.ErrNotExist.
func (f *Transport) Download(ctx context.Context, src string, w io.Writer, _ transport.FileOptions) (transport.Transfer, error) {
	start := time.Now()
	if err := f.usable(ctx); err != nil {
		return transport.Transfer{}, fmt.Errorf("fake %s: download %s: %w", f.host, src, err)
	}
	file, ok := f.File(src)
	if !ok {
		return transport.Transfer{}, fmt.Errorf("fake %s: download %s: %w", f.host, src, fs.ErrNotExist)
	}
	sum := sha256.Sum256(file.Data)
	n, err := w.Write(file.Data)
	if err != nil {
		return transport.Transfer{}, fmt.Errorf("fake %s: download %s: %w", f.host, src, err)
	}
	return transport.Transfer{Bytes: int64(n), SHA256: hex.EncodeToString(sum[:]), Duration: time.Since(start)}, nil
}

func (f *Transport) usable(ctx context.Context) error {
	f.mu.Lock()
	closed := f.closed
	f.mu.Unlock()
	if closed {
		return transport.ErrClosed
	}
	return ctx.Err()
}

// ctxReader stops a copy once ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
