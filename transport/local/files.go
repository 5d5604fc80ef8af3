package local

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"time"

	"github.com/upgradekit/upgradekit/transport"
)

// Upload implements transport.Uploader by copying r into a temp file next
// to dst, hashing it on the way in and again from disk, and only when the
// two SHA-256 sums agree setting mode and owner and renaming it into
// place. On any failure dst is untouched and the temp file removed. With
// opts.Sudo and a non-root process it goes through `sudo -n` with
// transport.StreamUpload.
func (t *Transport) Upload(ctx context.Context, dst string, r io.Reader, opts transport.FileOptions) (transport.Transfer, error) {
	if err := t.begin(); err != nil {
		return transport.Transfer{}, fmt.Errorf("host %s: upload %s: %w", t.opts.host, dst, err)
	}
	defer t.running.Done()
	ctx, cancel := t.withBase(ctx)
	defer cancel()
	if opts.Sudo && os.Geteuid() != 0 {
		return transport.StreamUpload(ctx, t, dst, r, opts)
	}
	tr, err := t.upload(ctx, dst, r, opts)
	if err != nil {
		return transport.Transfer{}, fmt.Errorf("host %s: upload %s: %w", t.opts.host, dst, err)
	}
	return tr, nil
}

func (t *Transport) upload(ctx context.Context, dst string, r io.Reader, opts transport.FileOptions) (_ transport.Transfer, err error) {
	start := time.Now()
	uid, gid, err := lookupOwner(opts.Owner, opts.Group)
	if err != nil {
		return transport.Transfer{}, err
	}
	mode := opts.Mode.Perm()
	if mode == 0 {
		mode = 0o644
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".upgradekit-upload.*")
	if err != nil {
		return transport.Transfer{}, err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	sent := sha256.New()
	n, err := io.Copy(tmp, io.TeeReader(ctxReader{ctx, r}, sent))
	if err != nil {
		return transport.Transfer{}, err
	}
	if err := tmp.Sync(); err != nil {
		return transport.Transfer{}, err
	}
	// The "remote" end: hash what actually landed on disk.
	onDisk := sha256.New()
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return transport.Transfer{}, err
	}
	m, err := io.Copy(onDisk, ctxReader{ctx, tmp})
	if err != nil {
		return transport.Transfer{}, err
	}
	local, remote := hex.EncodeToString(sent.Sum(nil)), hex.EncodeToString(onDisk.Sum(nil))
	if local != remote || n != m {
		return transport.Transfer{}, &transport.ChecksumError{Host: t.opts.host, Path: dst, Local: local, Remote: remote, LocalBytes: n, RemoteBytes: m}
	}
	if err := tmp.Chmod(mode); err != nil {
		return transport.Transfer{}, err
	}
	if uid >= 0 || gid >= 0 {
		if err := tmp.Chown(uid, gid); err != nil {
			return transport.Transfer{}, err
		}
	}
	if err := tmp.Close(); err != nil {
		return transport.Transfer{}, err
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return transport.Transfer{}, err
	}
	return transport.Transfer{Bytes: n, SHA256: local, Duration: time.Since(start)}, nil
}

// lookupOwner resolves user and group names (or numeric ids); -1 means
// unchanged.
func lookupOwner(owner, group string) (uid, gid int, err error) {
	uid, gid = -1, -1
	if owner != "" {
		if uid, err = strconv.Atoi(owner); err != nil {
			u, lerr := user.Lookup(owner)
			if lerr != nil {
				return 0, 0, lerr
			}
			uid, _ = strconv.Atoi(u.Uid)
		}
	}
	if group != "" {
		if gid, err = strconv.Atoi(group); err != nil {
			g, lerr := user.LookupGroup(group)
			if lerr != nil {
				return 0, 0, lerr
			}
			gid, _ = strconv.Atoi(g.Gid)
		}
	}
	return uid, gid, nil
}

// Download implements transport.Downloader by copying src into w while
// hashing it. With opts.Sudo and a non-root process it goes through
// `sudo -n` with transport.StreamDownload.
func (t *Transport) Download(ctx context.Context, src string, w io.Writer, opts transport.FileOptions) (transport.Transfer, error) {
	if err := t.begin(); err != nil {
		return transport.Transfer{}, fmt.Errorf("host %s: download %s: %w", t.opts.host, src, err)
	}
	defer t.running.Done()
	ctx, cancel := t.withBase(ctx)
	defer cancel()
	if opts.Sudo && os.Geteuid() != 0 {
		return transport.StreamDownload(ctx, t, src, w, opts)
	}
	start := time.Now()
	f, err := os.Open(src)
	if err != nil {
		return transport.Transfer{}, fmt.Errorf("host %s: download: %w", t.opts.host, err)
	}
	defer f.Close()
	var h hash.Hash = sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), ctxReader{ctx, f})
	if err != nil {
		return transport.Transfer{}, fmt.Errorf("host %s: download %s: %w", t.opts.host, src, err)
	}
	return transport.Transfer{Bytes: n, SHA256: hex.EncodeToString(h.Sum(nil)), Duration: time.Since(start)}, nil
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

// withBase returns ctx, also cancelled when the transport is closed.
func (t *Transport) withBase(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(t.base, cancel)
	return ctx, func() { stop(); cancel() }
}
