package onedconf

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/upgradekit/upgradekit/transport"
)

// DefaultPath is where OpenNebula packages install oned.conf.
const DefaultPath = "/etc/one/oned.conf"

// Defaults for a file WriteRemote creates (oned.conf as packaged:
// root:oneadmin 0640).
const (
	DefaultMode  fs.FileMode = 0o640
	DefaultOwner             = "root"
	DefaultGroup             = "oneadmin"
)

// Option configures ReadRemote, WriteRemote, Update and SetServerID.
type Option interface{ apply(*options) error }

type options struct {
	logger *zap.Logger
	sudo   bool
	path   string
}

type optionFunc func(*options) error

func (f optionFunc) apply(o *options) error { return f(o) }

// WithLogger logs what is read and written; the default logs nothing.
func WithLogger(l *zap.Logger) Option {
	return optionFunc(func(o *options) error {
		if l == nil {
			return errors.New("onedconf: nil logger")
		}
		o.logger = l
		return nil
	})
}

// WithSudo sets whether files are read and written as root through sudo
// (the default, since oned.conf is root:oneadmin 0640).
func WithSudo(sudo bool) Option {
	return optionFunc(func(o *options) error { o.sudo = sudo; return nil })
}

// WithPath sets the file SetServerID edits; the default is DefaultPath.
func WithPath(path string) Option {
	return optionFunc(func(o *options) error {
		if !strings.HasPrefix(path, "/") {
			return fmt.Errorf("onedconf: path %q is not absolute", path)
		}
		o.path = path
		return nil
	})
}

func newOptions(opts []Option) (options, error) {
	o := options{logger: zap.NewNop(), sudo: true, path: DefaultPath}
	for _, opt := range opts {
		if err := opt.apply(&o); err != nil {
			return o, err
		}
	}
	return o, nil
}

// ReadRemote downloads and parses the file at path on the host behind t
// (SHA-256 checked on both ends by transport.Download).
func ReadRemote(ctx context.Context, t transport.Transport, path string, opts ...Option) (*File, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := transport.Download(ctx, t, path, &buf, transport.FileOptions{Sudo: o.sudo}); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	f, err := Parse(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	o.logger.Debug("read oned.conf", zap.String("host", transport.HostName(t)), zap.String("path", path), zap.Int("bytes", buf.Len()))
	return f, nil
}

// FileMeta is a remote file's permission bits and numeric owner.
type FileMeta struct {
	Mode       fs.FileMode
	UID, GID   string
	NotPresent bool
}

// ParseStat parses the output of `stat -c '%a %u %g'`.
func ParseStat(out []byte) (FileMeta, error) {
	fields := strings.Fields(string(out))
	if len(fields) != 3 {
		return FileMeta{}, fmt.Errorf("unexpected stat output %q", out)
	}
	mode, err := strconv.ParseUint(fields[0], 8, 32)
	if err != nil || mode > 0o7777 {
		return FileMeta{}, fmt.Errorf("unexpected stat mode %q", fields[0])
	}
	for _, id := range fields[1:] {
		if _, err := strconv.ParseUint(id, 10, 32); err != nil {
			return FileMeta{}, fmt.Errorf("unexpected stat owner %q", id)
		}
	}
	return FileMeta{Mode: fs.FileMode(mode).Perm(), UID: fields[1], GID: fields[2]}, nil
}

// Stat returns the mode and numeric owner of path on the host behind t;
// NotPresent is set when the file does not exist.
func Stat(ctx context.Context, t transport.Transport, path string, sudo bool) (FileMeta, error) {
	cmd := transport.Query("stat", "-c", "%a %u %g", "--", path)
	cmd.Sudo = sudo
	res, err := t.Run(ctx, cmd)
	if err != nil {
		return FileMeta{}, fmt.Errorf("stat %s: %w", path, err)
	}
	if !res.Success() {
		if bytes.Contains(res.Stderr, []byte("No such file")) {
			return FileMeta{NotPresent: true}, nil
		}
		return FileMeta{}, fmt.Errorf("stat %s: %w", path, transport.ResultError(cmd, res))
	}
	m, err := ParseStat(res.Stdout)
	if err != nil {
		return FileMeta{}, fmt.Errorf("stat %s: %w", path, err)
	}
	return m, nil
}

// WriteRemote uploads f to path on the host behind t, keeping the current
// file's mode and owner (DefaultMode, DefaultOwner:DefaultGroup for a new
// file). The upload goes to a temporary file that is checksummed and then
// renamed into place, so readers never see a partial oned.conf.
func WriteRemote(ctx context.Context, t transport.Transport, path string, f *File, opts ...Option) error {
	o, err := newOptions(opts)
	if err != nil {
		return err
	}
	m, err := Stat(ctx, t, path, o.sudo)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	fo := transport.FileOptions{Mode: m.Mode, Owner: m.UID, Group: m.GID, Sudo: o.sudo}
	if m.NotPresent {
		fo = transport.FileOptions{Mode: DefaultMode, Owner: DefaultOwner, Group: DefaultGroup, Sudo: o.sudo}
	}
	tr, err := transport.Upload(ctx, t, path, bytes.NewReader(f.src), fo)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	o.logger.Info("wrote oned.conf", zap.String("host", transport.HostName(t)), zap.String("path", path),
		zap.Int64("bytes", tr.Bytes), zap.String("sha256", tr.SHA256))
	return nil
}

// Update reads path, calls edit on it and writes it back only if edit
// changed its bytes. changed reports whether a write happened; an edit
// that leaves the file as it was is a result, not an error.
func Update(ctx context.Context, t transport.Transport, path string, edit func(*File) error, opts ...Option) (changed bool, err error) {
	f, err := ReadRemote(ctx, t, path, opts...)
	if err != nil {
		return false, err
	}
	before := f.Bytes()
	if err := edit(f); err != nil {
		return false, fmt.Errorf("edit %s: %w", path, err)
	}
	if bytes.Equal(before, f.src) {
		return false, nil
	}
	if err := WriteRemote(ctx, t, path, f, opts...); err != nil {
		return false, err
	}
	return true, nil
}

// SetServerID sets FEDERATION/SERVER_ID in oned.conf (DefaultPath unless
// WithPath) on the host behind t, as needed after copying /etc/one from
// the leader to a follower. It reports whether the file changed.
func SetServerID(ctx context.Context, t transport.Transport, id int, opts ...Option) (bool, error) {
	o, err := newOptions(opts)
	if err != nil {
		return false, err
	}
	want := strconv.Itoa(id)
	return Update(ctx, t, o.path, func(f *File) error {
		if cur, err := f.Get("FEDERATION/SERVER_ID"); err == nil && strings.TrimSpace(cur) == want {
			return nil
		}
		return f.Set("FEDERATION/SERVER_ID", want)
	}, opts...)
}
