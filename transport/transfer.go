package transport

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// uploadScript streams stdin into a temp file beside $1 while hashing it
// (OpenSSL's SHA-256 is several times faster than sha256sum), then prints
// "<sha256> <bytes> <temp path>". The temp file is removed on failure.
const uploadScript = `dst=$1
tmp=$(mktemp "$(dirname -- "$dst")/.upgradekit-upload.XXXXXXXX") || exit 1
trap 'rm -f -- "$tmp"' EXIT
if command -v openssl >/dev/null 2>&1; then sum=$(tee -- "$tmp" | openssl dgst -sha256 -r) || exit 1
else sum=$(tee -- "$tmp" | sha256sum) || exit 1; fi
size=$(wc -c < "$tmp") || exit 1
trap - EXIT
printf '%s %s %s\n' "${sum%% *}" "$size" "$tmp"`

// finishScript gives the verified temp file its mode and owner and renames
// it into place: $1 temp, $2 destination, $3 mode, $4 owner[:group] or "".
const finishScript = `chmod "$3" -- "$1" && { [ -z "$4" ] || chown -- "$4" "$1"; } && mv -f -- "$1" "$2" || { rm -f -- "$1"; exit 1; }`

// downloadScript copies $1 to stdout while hashing it and prints the hash
// on stderr's last line. The file is opened first: a pipeline's status is
// its last command's, so a failed `< "$1"` on tee would otherwise pass as
// an empty file.
const downloadScript = `exec 3>&1
exec 4< "$1" || exit 1
if [ -d "$1" ]; then printf '%s: is a directory\n' "$1" >&2; exit 1; fi
if command -v openssl >/dev/null 2>&1; then sum=$(tee /dev/fd/3 <&4 | openssl dgst -sha256 -r) || exit 1
else sum=$(tee /dev/fd/3 <&4 | sha256sum) || exit 1; fi
printf 'upgradekit-sha256 %s\n' "${sum%% *}" >&2`

// Upload writes r to dst on the host behind t. It uses t's own Uploader
// when it has one; otherwise it streams r into a temp file next to dst
// through Run, compares the SHA-256 computed on both ends, and only then
// sets mode and owner and renames the file into place. On a mismatch dst
// is untouched and the error is a *ChecksumError.
func Upload(ctx context.Context, t Transport, dst string, r io.Reader, opts FileOptions) (Transfer, error) {
	if u, ok := t.(Uploader); ok {
		return u.Upload(ctx, dst, r, opts)
	}
	return StreamUpload(ctx, t, dst, r, opts)
}

// StreamUpload is Upload's implementation over Run, for transports that
// implement Uploader by delegating to it.
func StreamUpload(ctx context.Context, t Transport, dst string, r io.Reader, opts FileOptions) (Transfer, error) {
	start := time.Now()
	h := sha256.New()
	cr := &countingReader{r: io.TeeReader(r, h)}
	cmd := Shell(uploadScript, dst)
	cmd.Stdin = cr
	cmd.Sudo = opts.Sudo
	out, err := Output(ctx, t, cmd)
	if err != nil {
		return Transfer{}, fmt.Errorf("upload %s: %w", dst, err)
	}
	fields := strings.Fields(string(out))
	if len(fields) != 3 {
		return Transfer{}, fmt.Errorf("upload %s: unexpected reply %q", dst, out)
	}
	remoteSum, tmp := fields[0], fields[2]
	remoteBytes, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil {
		return Transfer{}, fmt.Errorf("upload %s: unexpected size %q", dst, fields[1])
	}
	localSum := hex.EncodeToString(h.Sum(nil))
	if remoteSum != localSum || remoteBytes != cr.n {
		rm := Cmd("rm", "-f", "--", tmp)
		rm.Sudo = opts.Sudo
		_, _ = t.Run(context.WithoutCancel(ctx), rm)
		return Transfer{}, &ChecksumError{Host: HostName(t), Path: dst, Local: localSum, Remote: remoteSum, LocalBytes: cr.n, RemoteBytes: remoteBytes}
	}
	mode := opts.Mode.Perm()
	if mode == 0 {
		mode = 0o644
	}
	owner := opts.Owner
	if opts.Group != "" {
		owner += ":" + opts.Group
	}
	fin := Shell(finishScript, tmp, dst, strconv.FormatUint(uint64(mode), 8), owner)
	fin.Sudo = opts.Sudo
	if err := Check(ctx, t, fin); err != nil {
		return Transfer{}, fmt.Errorf("upload %s: install: %w", dst, err)
	}
	return Transfer{Bytes: cr.n, SHA256: localSum, Duration: time.Since(start)}, nil
}

// Download copies src on the host behind t into w. It uses t's own
// Downloader when it has one; otherwise it streams the file through Run
// while both ends hash it. On a mismatch the error is a *ChecksumError
// (w has then received bad data: write to a temp file and discard it).
func Download(ctx context.Context, t Transport, src string, w io.Writer, opts FileOptions) (Transfer, error) {
	if d, ok := t.(Downloader); ok {
		return d.Download(ctx, src, w, opts)
	}
	return StreamDownload(ctx, t, src, w, opts)
}

// StreamDownload is Download's implementation over Run.
func StreamDownload(ctx context.Context, t Transport, src string, w io.Writer, opts FileOptions) (Transfer, error) {
	start := time.Now()
	h := sha256.New()
	cw := &countingWriter{w: io.MultiWriter(w, h)}
	cmd := Shell(downloadScript, src)
	cmd.ReadOnly = true
	cmd.Stdout = cw
	cmd.Sudo = opts.Sudo
	res, err := t.Run(ctx, cmd)
	if err != nil {
		return Transfer{}, fmt.Errorf("download %s: %w", src, err)
	}
	if err := ResultError(cmd, res); err != nil {
		return Transfer{}, fmt.Errorf("download %s: %w", src, err)
	}
	var remoteSum string
	for _, line := range strings.Split(strings.TrimSpace(string(res.Stderr)), "\n") {
		if s, ok := strings.CutPrefix(line, "upgradekit-sha256 "); ok {
			remoteSum = strings.TrimSpace(s)
		}
	}
	localSum := hex.EncodeToString(h.Sum(nil))
	if remoteSum != localSum {
		return Transfer{}, &ChecksumError{Host: HostName(t), Path: src, Local: localSum, Remote: remoteSum, LocalBytes: cw.n, RemoteBytes: -1}
	}
	return Transfer{Bytes: cw.n, SHA256: localSum, Duration: time.Since(start)}, nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
