package system

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/upgradekit/upgradekit/transport"
)

// CopyOptions adjusts CopyTree and CopyFile.
type CopyOptions struct {
	// Exclude lists paths relative to the source directory (CopyTree)
	// that are not copied, with everything below them; the destination's
	// own files at those paths are left alone (a follower's own file).
	Exclude []string
	// Owner and Group, when set, are applied (chown -R for a tree) to what
	// was copied; otherwise the source's numeric owner is kept, which
	// needs root on the destination.
	Owner, Group string
	// Mode, for CopyFile, sets the copy's permission bits; 0 keeps the
	// source's.
	Mode fs.FileMode
	// IgnoreOwner leaves owners out of the verification, for copies made
	// without root where ownership cannot be kept.
	IgnoreOwner bool
}

// CopyResult describes a finished copy.
type CopyResult struct {
	// Bytes is the size of the stream that crossed the controller (the
	// tar archive for CopyTree, the file for CopyFile).
	Bytes int64
	// Files is the number of regular files copied.
	Files int
	// SHA256 is the hash of that stream, equal on both ends.
	SHA256   string
	Duration time.Duration
}

func checkExcludes(ex []string) error {
	for _, e := range ex {
		if e == "" || path.IsAbs(e) || path.Clean(e) != e || e == "." || e == ".." || strings.HasPrefix(e, "../") || strings.ContainsAny(e, "\x00\n") {
			return fmt.Errorf("%w: exclude %q must be a clean relative path inside the directory", ErrInvalid, e)
		}
	}
	return nil
}

func excluded(rel string, ex []string) bool {
	for _, e := range ex {
		if rel == e || strings.HasPrefix(rel, e+"/") {
			return true
		}
	}
	return false
}

// cleanup runs fn after a cancel too, bounded by 30 s.
func cleanup(ctx context.Context, fn func(ctx context.Context)) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	fn(cctx)
}

// CopyTree copies the contents of srcDir on src into dstDir on dst
// through the controller, like `rsync -a srcDir/ dstDir/` without
// --delete: files only the destination has are kept.
//
// src streams `tar -C srcDir -cpf - --numeric-owner .` (minus
// Exclude) straight into a staging file next to dstDir on dst, through
// transport.Upload, which checks the stream's SHA-256 on the controller
// against the one dst computed (*transport.ChecksumError on a mismatch).
// dst unpacks it into a staging directory (as root: same owners and
// modes), and per-file manifests — type, mode, owner, symlink target and
// SHA-256 of every entry, from find and sha256sum on each host — must
// match the source's before anything is installed
// (*ManifestMismatchError). Only then is the tree copied over dstDir with
// `cp -a -T`, and every entry's metadata checked once more. The staging area is removed in all
// cases. Owner/Group chown the copied entries.
func (s *System) CopyTree(ctx context.Context, src transport.Transport, srcDir string, dst transport.Transport, dstDir string, opts CopyOptions) (CopyResult, error) {
	start := s.clock()
	if err := checkAbs(srcDir); err != nil {
		return CopyResult{}, err
	}
	if err := checkAbs(dstDir); err != nil {
		return CopyResult{}, err
	}
	if err := checkExcludes(opts.Exclude); err != nil {
		return CopyResult{}, err
	}
	srcHost, dstHost := transport.HostName(src), transport.HostName(dst)
	wrap := func(err error) error {
		return fmt.Errorf("copy %s:%s to %s:%s: %w", srcHost, srcDir, dstHost, dstDir, err)
	}
	log := s.log().With(zap.String("src", srcHost), zap.String("dst", dstHost), zap.String("src_dir", srcDir), zap.String("dst_dir", dstDir))
	if ok, err := s.test(ctx, src, "-d", srcDir); err != nil {
		return CopyResult{}, wrap(err)
	} else if !ok {
		return CopyResult{}, wrap(fmt.Errorf("%s: %w", srcDir, ErrNotFound))
	}

	// Staging area beside dstDir (same file system, for cp -a).
	mk := s.root(transport.Shell(`mkdir -p -- "$1" && mktemp -d -- "$1/.upgradekit-copy.XXXXXXXX"`, path.Dir(dstDir)))
	out, err := transport.Output(ctx, dst, mk)
	if err != nil {
		return CopyResult{}, wrap(fmt.Errorf("staging: %w", err))
	}
	staging := strings.TrimSpace(string(out))
	if !strings.HasPrefix(staging, path.Dir(dstDir)+"/.upgradekit-copy.") || strings.Contains(staging, "\n") {
		return CopyResult{}, wrap(&ParseError{What: "mktemp", Line: staging, Reason: "unexpected path"})
	}
	defer cleanup(ctx, func(cctx context.Context) {
		_, _ = dst.Run(cctx, s.root(transport.Cmd("rm", "-rf", "--", staging)))
	})
	archive, tree := staging+"/stream.tar", staging+"/tree"

	// Stream the archive from src into the staging file on dst.
	tarArgs := []string{"-C", srcDir, "-cpf", "-", "--numeric-owner"}
	if len(opts.Exclude) > 0 {
		tarArgs = append(tarArgs, "--anchored", "--no-wildcards")
		for _, e := range opts.Exclude {
			tarArgs = append(tarArgs, "--exclude=./"+e)
		}
	}
	tarArgs = append(tarArgs, ".")
	tr, err := s.stream(ctx, src, s.root(transport.Query("tar", tarArgs...)), dst, archive)
	if err != nil {
		return CopyResult{}, wrap(err)
	}
	log.Debug("archive streamed", zap.Int64("bytes", tr.Bytes), zap.String("sha256", tr.SHA256))

	// Unpack into the staging tree.
	untar := []string{"-C", tree, "-xpf", archive, "--numeric-owner"}
	if s.sudo() {
		untar = append(untar, "--same-owner")
	}
	for _, c := range []transport.Command{
		transport.Cmd("mkdir", "--", tree),
		transport.Cmd("tar", untar...),
		transport.Cmd("rm", "-f", "--", archive),
	} {
		if err := transport.Check(ctx, dst, s.root(c)); err != nil {
			return CopyResult{}, wrap(fmt.Errorf("unpack: %w", err))
		}
	}
	if opts.Owner != "" || opts.Group != "" {
		if err := transport.Check(ctx, dst, s.root(transport.Cmd("chown", "-R", "--", chownSpec(opts.Owner, opts.Group), tree))); err != nil {
			return CopyResult{}, wrap(fmt.Errorf("chown: %w", err))
		}
	}

	// Verify the staged tree against the source before touching dstDir.
	want, err := s.Manifest(ctx, src, srcDir)
	if err != nil {
		return CopyResult{}, wrap(fmt.Errorf("source manifest: %w", err))
	}
	for p := range want {
		if excluded(p, opts.Exclude) {
			delete(want, p)
		}
	}
	cmp := compareOpts{owner: !opts.IgnoreOwner && opts.Owner == "" && opts.Group == ""}
	staged, err := s.Manifest(ctx, dst, tree)
	if err != nil {
		return CopyResult{}, wrap(fmt.Errorf("staged manifest: %w", err))
	}
	if mm := compareManifests(want, staged, cmp, true); mm != nil {
		mm.SrcHost, mm.DstHost, mm.Path = srcHost, dstHost, srcDir
		return CopyResult{}, wrap(mm)
	}

	// Install and verify the result (dstDir may hold more files).
	if err := transport.Check(ctx, dst, s.root(transport.Cmd("mkdir", "-p", "--", dstDir))); err != nil {
		return CopyResult{}, wrap(fmt.Errorf("install: %w", err))
	}
	if err := transport.Check(ctx, dst, s.root(transport.Cmd("cp", "-a", "-T", "--", tree, dstDir))); err != nil {
		return CopyResult{}, wrap(fmt.Errorf("install: %w", err))
	}
	// Contents were verified in staging and cp -a is a local copy: check
	// that every entry landed with its type, mode, owner and link target.
	final, err := s.manifest(ctx, dst, dstDir, false)
	if err != nil {
		return CopyResult{}, wrap(fmt.Errorf("destination manifest: %w", err))
	}
	metaCmp := cmp
	metaCmp.noContent = true
	if mm := compareManifests(want, final, metaCmp, false); mm != nil {
		mm.SrcHost, mm.DstHost, mm.Path = srcHost, dstHost, srcDir
		return CopyResult{}, wrap(mm)
	}
	res := CopyResult{Bytes: tr.Bytes, SHA256: tr.SHA256, Duration: s.clock().Sub(start)}
	for _, e := range want {
		if e.Type == 'f' {
			res.Files++
		}
	}
	log.Info("copied tree", zap.Int64("bytes", res.Bytes), zap.Int("files", res.Files), zap.Duration("duration", res.Duration))
	return res, nil
}

func chownSpec(owner, group string) string {
	if group == "" {
		return owner
	}
	return owner + ":" + group
}

// stream runs producer on src with its stdout piped into
// transport.Upload of dstPath on dst.
func (s *System) stream(ctx context.Context, src transport.Transport, producer transport.Command, dst transport.Transport, dstPath string) (transport.Transfer, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	producer.Stdout = pw
	srcDone := make(chan error, 1)
	go func() {
		res, err := src.Run(ctx, producer)
		if err == nil {
			err = transport.ResultError(producer, res)
		}
		if err != nil {
			err = fmt.Errorf("read from %s: %w", transport.HostName(src), err)
		}
		_ = pw.CloseWithError(err) // nil: EOF
		srcDone <- err
	}()
	tr, upErr := transport.Upload(ctx, dst, dstPath, pr, transport.FileOptions{Mode: 0o600, Sudo: s.sudo()})
	// Unblock the producer if the upload stopped reading early.
	_ = pr.CloseWithError(errors.New("upload ended"))
	if upErr != nil {
		cancel()
	}
	srcErr := <-srcDone
	if srcErr != nil {
		// The source failing explains the upload's failure; report it.
		if upErr != nil {
			return transport.Transfer{}, errors.Join(srcErr, upErr)
		}
		return transport.Transfer{}, srcErr
	}
	if upErr != nil {
		return transport.Transfer{}, upErr
	}
	return tr, nil
}

// CopyFile copies the file srcPath on src to dstPath on dst through the
// controller: transport.Download streams into transport.Upload through a
// pipe, both checking SHA-256 against their host (*transport.ChecksumError
// on a mismatch, and then dstPath is untouched because the upload only
// renames its temp file into place after a complete, verified stream).
// The source's mode and numeric owner are kept unless opts sets them.
func (s *System) CopyFile(ctx context.Context, src transport.Transport, srcPath string, dst transport.Transport, dstPath string, opts CopyOptions) (CopyResult, error) {
	start := s.clock()
	if err := checkAbs(srcPath); err != nil {
		return CopyResult{}, err
	}
	if err := checkAbs(dstPath); err != nil {
		return CopyResult{}, err
	}
	srcHost, dstHost := transport.HostName(src), transport.HostName(dst)
	wrap := func(err error) error {
		return fmt.Errorf("copy %s:%s to %s:%s: %w", srcHost, srcPath, dstHost, dstPath, err)
	}
	meta, err := s.stat(ctx, src, srcPath)
	if err != nil {
		return CopyResult{}, wrap(err)
	}
	fo := transport.FileOptions{Mode: meta.Mode, Owner: meta.UID, Group: meta.GID, Sudo: s.sudo()}
	if opts.Mode != 0 {
		fo.Mode = opts.Mode
	}
	if opts.Owner != "" || opts.Group != "" {
		fo.Owner, fo.Group = opts.Owner, opts.Group
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	type dl struct {
		tr  transport.Transfer
		err error
	}
	done := make(chan dl, 1)
	go func() {
		tr, err := transport.Download(ctx, src, srcPath, pw, transport.FileOptions{Sudo: s.sudo()})
		// Only a verified download ends the pipe with EOF; anything else
		// fails the upload before it installs the file.
		_ = pw.CloseWithError(err)
		done <- dl{tr, err}
	}()
	up, upErr := transport.Upload(ctx, dst, dstPath, pr, fo)
	_ = pr.CloseWithError(errors.New("upload ended"))
	if upErr != nil {
		cancel()
	}
	d := <-done
	switch {
	case d.err != nil && upErr != nil:
		return CopyResult{}, wrap(errors.Join(d.err, upErr))
	case d.err != nil:
		return CopyResult{}, wrap(d.err)
	case upErr != nil:
		return CopyResult{}, wrap(upErr)
	}
	if d.tr.SHA256 != up.SHA256 || d.tr.Bytes != up.Bytes {
		return CopyResult{}, wrap(&transport.ChecksumError{Host: dstHost, Path: dstPath,
			Local: d.tr.SHA256, Remote: up.SHA256, LocalBytes: d.tr.Bytes, RemoteBytes: up.Bytes})
	}
	res := CopyResult{Bytes: up.Bytes, Files: 1, SHA256: up.SHA256, Duration: s.clock().Sub(start)}
	s.log().Info("copied file", zap.String("src", srcHost), zap.String("dst", dstHost), zap.String("path", srcPath),
		zap.Int64("bytes", res.Bytes), zap.String("sha256", res.SHA256))
	return res, nil
}

// fileMeta is a file's permission bits and numeric owner.
type fileMeta struct {
	Mode     fs.FileMode
	UID, GID string
}

func (s *System) stat(ctx context.Context, t transport.Transport, p string) (fileMeta, error) {
	cmd := s.root(transport.Query("stat", "-L", "-c", "%a %u %g", "--", p))
	res, err := t.Run(ctx, cmd)
	if err != nil {
		return fileMeta{}, fmt.Errorf("stat: %w", err)
	}
	if !res.Success() {
		if bytes.Contains(res.Stderr, []byte("No such file")) {
			return fileMeta{}, fmt.Errorf("%s: %w", p, ErrNotFound)
		}
		return fileMeta{}, fmt.Errorf("stat: %w", transport.ResultError(cmd, res))
	}
	f := strings.Fields(string(res.Stdout))
	if len(f) != 3 {
		return fileMeta{}, &ParseError{What: "stat", Line: string(res.Stdout), Reason: "want MODE UID GID"}
	}
	mode, err := strconv.ParseUint(f[0], 8, 32)
	_, e1 := strconv.ParseUint(f[1], 10, 32)
	_, e2 := strconv.ParseUint(f[2], 10, 32)
	if err != nil || e1 != nil || e2 != nil || mode > 0o7777 {
		return fileMeta{}, &ParseError{What: "stat", Line: string(res.Stdout), Reason: "want MODE UID GID"}
	}
	return fileMeta{Mode: fs.FileMode(mode).Perm(), UID: f[1], GID: f[2]}, nil
}

// Entry is one manifest entry: a file, directory or symlink under the
// manifest's root.
type Entry struct {
	Type   byte   // 'f' file, 'd' directory, 'l' symlink, others as find %y
	Mode   string // octal permission bits as find %m prints them ("644", "2750")
	UID    string
	GID    string
	Target string // symlink target
	SHA256 string // regular files only
}

// Manifest describes every entry under dir on the host behind t, keyed by
// its path relative to dir: metadata from `find DIR -mindepth 1 -printf
// '%y %m %U %G\0%P\0%l\0'` and content hashes from `find DIR -type f
// -exec sha256sum -z -- {} +`, both as root.
func (s *System) Manifest(ctx context.Context, t transport.Transport, dir string) (map[string]Entry, error) {
	return s.manifest(ctx, t, dir, true)
}

// manifest is Manifest, with content hashes only when hashes is set.
func (s *System) manifest(ctx context.Context, t transport.Transport, dir string, hashes bool) (map[string]Entry, error) {
	if err := checkAbs(dir); err != nil {
		return nil, err
	}
	meta, err := transport.Output(ctx, t, s.root(transport.Query("find", dir, "-mindepth", "1", "-printf", `%y %m %U %G\0%P\0%l\0`)))
	if err != nil {
		return nil, err
	}
	m, err := ParseFindManifest(meta)
	if err != nil {
		return nil, err
	}
	if !hashes {
		return m, nil
	}
	sums, err := transport.Output(ctx, t, s.root(transport.Query("find", dir, "-type", "f", "-exec", "sha256sum", "-z", "--", "{}", "+")))
	if err != nil {
		return nil, err
	}
	parsed, err := ParseSHA256Sums(sums, 0)
	if err != nil {
		return nil, err
	}
	for _, sum := range parsed {
		rel, ok := strings.CutPrefix(sum.Path, dir+"/")
		e, found := m[rel]
		if !ok || !found || e.Type != 'f' {
			return nil, &ParseError{What: "sha256sum", Line: sum.Path, Reason: "hash for a path the manifest does not list as a file"}
		}
		e.SHA256 = sum.SHA256
		m[rel] = e
	}
	for rel, e := range m {
		if e.Type == 'f' && e.SHA256 == "" {
			return nil, &ParseError{What: "sha256sum", Line: rel, Reason: "no hash for file"}
		}
	}
	return m, nil
}

// ParseFindManifest parses `find -printf '%y %m %U %G\0%P\0%l\0'` output.
func ParseFindManifest(out []byte) (map[string]Entry, error) {
	m := map[string]Entry{}
	if len(out) == 0 {
		return m, nil
	}
	if out[len(out)-1] != 0 {
		return nil, &ParseError{What: "find", Reason: "output does not end with NUL (truncated?)"}
	}
	fields := strings.Split(string(out[:len(out)-1]), "\x00")
	if len(fields)%3 != 0 {
		return nil, &ParseError{What: "find", Reason: fmt.Sprintf("%d fields is not a multiple of 3", len(fields))}
	}
	for i := 0; i < len(fields); i += 3 {
		meta, rel, target := fields[i], fields[i+1], fields[i+2]
		w := strings.Split(meta, " ")
		if len(w) != 4 || len(w[0]) != 1 || !strings.Contains("fdlpscbD", w[0]) {
			return nil, &ParseError{What: "find", Line: meta, Reason: "want TYPE MODE UID GID"}
		}
		if n, err := strconv.ParseUint(w[1], 8, 32); err != nil || n > 0o7777 {
			return nil, &ParseError{What: "find", Line: meta, Reason: "bad mode"}
		}
		for _, id := range w[2:] {
			if _, err := strconv.ParseUint(id, 10, 32); err != nil {
				return nil, &ParseError{What: "find", Line: meta, Reason: "bad owner"}
			}
		}
		if rel == "" || path.IsAbs(rel) || path.Clean(rel) != rel || rel == ".." || strings.HasPrefix(rel, "../") {
			return nil, &ParseError{What: "find", Line: rel, Reason: "bad relative path"}
		}
		if _, dup := m[rel]; dup {
			return nil, &ParseError{What: "find", Line: rel, Reason: "duplicate path"}
		}
		if w[0] != "l" && target != "" {
			return nil, &ParseError{What: "find", Line: rel, Reason: "link target on a non-link"}
		}
		m[rel] = Entry{Type: w[0][0], Mode: w[1], UID: w[2], GID: w[3], Target: target}
	}
	return m, nil
}

type compareOpts struct{ owner, noContent bool }

// compareManifests checks got against want. With exact, entries only got
// has are reported as extra.
func compareManifests(want, got map[string]Entry, o compareOpts, exact bool) *ManifestMismatchError {
	mm := &ManifestMismatchError{}
	capped := func(l []string, s string) []string {
		if len(l) < 20 {
			return append(l, s)
		}
		return l
	}
	for _, p := range slices.Sorted(maps.Keys(want)) {
		w := want[p]
		g, ok := got[p]
		if !ok {
			mm.Missing = capped(mm.Missing, p)
			continue
		}
		var why []string
		if g.Type != w.Type {
			why = append(why, fmt.Sprintf("type %c/%c", w.Type, g.Type))
		}
		// A symlink's own mode is meaningless on Linux.
		if g.Mode != w.Mode && w.Type != 'l' {
			why = append(why, "mode "+w.Mode+"/"+g.Mode)
		}
		if o.owner && (g.UID != w.UID || g.GID != w.GID) {
			why = append(why, "owner "+w.UID+":"+w.GID+"/"+g.UID+":"+g.GID)
		}
		if g.Target != w.Target {
			why = append(why, "link target")
		}
		if !o.noContent && g.SHA256 != w.SHA256 {
			why = append(why, "content")
		}
		if len(why) > 0 {
			mm.Differ = capped(mm.Differ, p+" ("+strings.Join(why, ", ")+")")
		}
	}
	if exact {
		for _, p := range slices.Sorted(maps.Keys(got)) {
			if _, ok := want[p]; !ok {
				mm.Extra = capped(mm.Extra, p)
			}
		}
	}
	if len(mm.Missing)+len(mm.Extra)+len(mm.Differ) == 0 {
		return nil
	}
	return mm
}

// Package-level shortcuts.

// CopyTree copies a directory tree with the default System.
func CopyTree(ctx context.Context, src transport.Transport, srcDir string, dst transport.Transport, dstDir string, opts CopyOptions) (CopyResult, error) {
	return (*System)(nil).CopyTree(ctx, src, srcDir, dst, dstDir, opts)
}

// CopyFile copies a file with the default System.
func CopyFile(ctx context.Context, src transport.Transport, srcPath string, dst transport.Transport, dstPath string, opts CopyOptions) (CopyResult, error) {
	return (*System)(nil).CopyFile(ctx, src, srcPath, dst, dstPath, opts)
}
