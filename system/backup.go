package system

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"path"
	"strings"

	"go.uber.org/zap"

	"github.com/upgradekit/upgradekit/transport"
)

// BackupTimeFormat is the suffix BackupDir appends: DIR.2006-01-02_150405.
const BackupTimeFormat = "2006-01-02_150405"

func checkAbs(p string) error {
	if !path.IsAbs(p) || path.Clean(p) != p || p == "/" || strings.ContainsAny(p, "\x00\n") {
		return fmt.Errorf("%w: path %q must be absolute, clean and not /", ErrInvalid, p)
	}
	return nil
}

// exists runs `test -OP -- path` (as root) and reports the answer; exit 1
// is "no", anything else but 0 an error.
func (s *System) test(ctx context.Context, t transport.Transport, op, p string) (bool, error) {
	cmd := s.root(transport.Query("test", op, p))
	res, err := t.Run(ctx, cmd)
	if err != nil {
		return false, err
	}
	switch {
	case res.Success():
		return true, nil
	case res.ExitCode == 1 && res.Signal == "":
		return false, nil
	}
	return false, transport.ResultError(cmd, res)
}

// BackupDir copies dir to DIR.YYYY-MM-DD_HHMMSS on the same host with
// `cp -a -T` (ownership, modes, links and times kept), timestamped with
// the System's clock, and returns the backup's path. It never
// overwrites: an existing backup of that name is ErrBackupExists, a
// missing dir ErrNotFound.
func (s *System) BackupDir(ctx context.Context, t transport.Transport, dir string) (string, error) {
	if err := checkAbs(dir); err != nil {
		return "", err
	}
	backup := dir + "." + s.clock().Format(BackupTimeFormat)
	ok, err := s.test(ctx, t, "-d", dir)
	if err != nil {
		return "", fmt.Errorf("backup %s: %w", dir, err)
	}
	if !ok {
		return "", fmt.Errorf("backup %s: %w", dir, ErrNotFound)
	}
	if ok, err = s.test(ctx, t, "-e", backup); err != nil {
		return "", fmt.Errorf("backup %s: %w", dir, err)
	} else if ok {
		return "", fmt.Errorf("backup %s: %s: %w", dir, backup, ErrBackupExists)
	}
	s.log().Info("backup directory", hostField(t), zap.String("dir", dir), zap.String("backup", backup))
	if err := transport.Check(ctx, t, s.root(transport.Cmd("cp", "-a", "-T", "--", dir, backup))); err != nil {
		return "", fmt.Errorf("backup %s: %w", dir, err)
	}
	return backup, nil
}

// restoreScript makes the contents of $2 a copy of $1's. It moves entries,
// never $2 itself: $2 may be a mount point (a volume at /etc/one in a
// container), which rename(2) and rmdir(2) refuse with EBUSY. The copy is
// built inside $2 (same file system, so each move is a rename), the old
// entries are moved aside next to it, the new ones moved in, then $2's
// own owner, mode and times are set from $1 and the old entries removed.
// Temporary directories a killed restore left are removed first; $1 is
// never touched, so running the restore again finishes it.
// Exit 3: $1 is not a directory.
const restoreScript = `set -e
[ -d "$1" ] || { echo "no such directory: $1" >&2; exit 3; }
if [ -L "$2" ] || { [ -e "$2" ] && [ ! -d "$2" ]; }; then rm -f -- "$2"; fi
[ -d "$2" ] || mkdir -- "$2"
for e in "$2"/.upgradekit-restore.*; do if [ -e "$e" ]; then rm -rf -- "$e"; fi; done
new=$(mktemp -d -- "$2/.upgradekit-restore.XXXXXXXX")
old=$(mktemp -d -- "$2/.upgradekit-restore.XXXXXXXX")
trap 'rm -rf -- "$new" "$old"' EXIT
cp -a -T -- "$1" "$new"
for e in "$2"/* "$2"/.[!.]* "$2"/..?*; do
	case $e in "$2"/.upgradekit-restore.*) continue ;; esac
	if [ -e "$e" ] || [ -L "$e" ]; then mv -- "$e" "$old/"; fi
done
for e in "$new"/* "$new"/.[!.]* "$new"/..?*; do
	if [ -e "$e" ] || [ -L "$e" ]; then mv -- "$e" "$2/"; fi
done
chown -- "$(stat -c %u:%g -- "$1")" "$2"
chmod -- "$(stat -c %a -- "$1")" "$2"
rm -rf -- "$new" "$old"
trap - EXIT
touch -r "$1" -- "$2"`

// RestoreDir makes dir an exact copy of backup (a directory BackupDir
// made). It restores contents, not the directory entry, so dir may be a
// mount point: the copy is built inside dir, then the old entries are
// swapped for the new ones by renames, and dir's own owner, mode and
// times are set from backup. dir is incomplete only during those renames;
// a restore interrupted there is finished by running it again (its
// temporary directories, dir/.upgradekit-restore.*, are removed first).
// backup stays.
func (s *System) RestoreDir(ctx context.Context, t transport.Transport, backup, dir string) error {
	if err := checkAbs(backup); err != nil {
		return err
	}
	if err := checkAbs(dir); err != nil {
		return err
	}
	s.log().Info("restore directory", hostField(t), zap.String("dir", dir), zap.String("backup", backup))
	cmd := s.root(transport.Shell(restoreScript, backup, dir))
	res, err := t.Run(ctx, cmd)
	if err != nil {
		return fmt.Errorf("restore %s from %s: %w", dir, backup, err)
	}
	if res.ExitCode == 3 {
		return fmt.Errorf("restore %s: %s: %w", dir, backup, ErrNotFound)
	}
	if err := transport.ResultError(cmd, res); err != nil {
		return fmt.Errorf("restore %s from %s: %w", dir, backup, err)
	}
	return nil
}

// Checksum returns the lower-case hex SHA-256 of the file at p on the
// host behind t, from `sha256sum -- P` (as root). ErrNotFound if there is
// no such file.
func (s *System) Checksum(ctx context.Context, t transport.Transport, p string) (string, error) {
	cmd := s.root(transport.Query("sha256sum", "--", p))
	res, err := t.Run(ctx, cmd)
	if err != nil {
		return "", fmt.Errorf("checksum %s: %w", p, err)
	}
	if !res.Success() {
		if bytes.Contains(res.Stderr, []byte("No such file")) {
			return "", fmt.Errorf("checksum %s: %w", p, ErrNotFound)
		}
		return "", fmt.Errorf("checksum %s: %w", p, transport.ResultError(cmd, res))
	}
	sums, err := ParseSHA256Sums(res.Stdout, '\n')
	if err != nil {
		return "", fmt.Errorf("checksum %s: %w", p, err)
	}
	if len(sums) != 1 {
		return "", fmt.Errorf("checksum %s: %w", p, &ParseError{What: "sha256sum", Reason: fmt.Sprintf("%d lines for one file", len(sums))})
	}
	return sums[0].SHA256, nil
}

// Sum is one line of sha256sum output.
type Sum struct {
	SHA256 string
	Path   string
}

// ParseSHA256Sums parses sha256sum output: records "HASH  NAME" (or
// "HASH *NAME") ended by sep — '\n' for plain output, where a name with a
// backslash or newline is escaped and the line starts with '\', or 0 for
// `sha256sum -z`, which does not escape.
func ParseSHA256Sums(out []byte, sep byte) ([]Sum, error) {
	if len(out) == 0 {
		return nil, nil
	}
	if out[len(out)-1] != sep {
		return nil, &ParseError{What: "sha256sum", Reason: "output does not end with a record separator (truncated?)"}
	}
	recs := bytes.Split(out[:len(out)-1], []byte{sep})
	sums := make([]Sum, 0, len(recs))
	for _, r := range recs {
		rec := string(r)
		escaped := false
		if sep == '\n' && strings.HasPrefix(rec, `\`) {
			escaped, rec = true, rec[1:]
		}
		if len(rec) < 67 || (rec[64] != ' ') || (rec[65] != ' ' && rec[65] != '*') {
			return nil, &ParseError{What: "sha256sum", Line: string(r), Reason: "want HASH  NAME"}
		}
		h := rec[:64]
		if _, err := hex.DecodeString(h); err != nil || strings.ToLower(h) != h {
			return nil, &ParseError{What: "sha256sum", Line: string(r), Reason: "bad hash"}
		}
		name := rec[66:]
		if escaped {
			var err error
			if name, err = unescapeSumName(name); err != nil {
				return nil, &ParseError{What: "sha256sum", Line: string(r), Reason: err.Error()}
			}
		}
		sums = append(sums, Sum{SHA256: h, Path: name})
	}
	return sums, nil
}

// unescapeSumName undoes coreutils' escaping of \\, \n (and \r in 9.x).
func unescapeSumName(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 >= len(s) {
			return "", fmt.Errorf("dangling backslash in name")
		}
		i++
		switch s[i] {
		case '\\':
			b.WriteByte('\\')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		default:
			return "", fmt.Errorf("unknown escape \\%c in name", s[i])
		}
	}
	return b.String(), nil
}

// Package-level shortcuts.

// BackupDir backs dir up with the default System (clock time.Now).
func BackupDir(ctx context.Context, t transport.Transport, dir string) (string, error) {
	return (*System)(nil).BackupDir(ctx, t, dir)
}

// RestoreDir restores dir from backup with the default System.
func RestoreDir(ctx context.Context, t transport.Transport, backup, dir string) error {
	return (*System)(nil).RestoreDir(ctx, t, backup, dir)
}

// Checksum returns a file's SHA-256 with the default System.
func Checksum(ctx context.Context, t transport.Transport, p string) (string, error) {
	return (*System)(nil).Checksum(ctx, t, p)
}
