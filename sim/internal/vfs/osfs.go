package vfs

import (
	"errors"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"
)

// OS is the real file system under Root (usually "/"), with the same
// methods as FS. Ownership changes that the process may not make are
// ignored.
type OS struct{ Root string }

func (o OS) real(p string) string { return filepath.Join(o.Root, Clean("/", p)) }

func ownerName(uid uint32) string {
	if u, err := user.LookupId(strconv.Itoa(int(uid))); err == nil {
		return u.Username
	}
	return strconv.Itoa(int(uid))
}

func groupName(gid uint32) string {
	if g, err := user.LookupGroupId(strconv.Itoa(int(gid))); err == nil {
		return g.Name
	}
	return strconv.Itoa(int(gid))
}

// Stat returns the entry at p (without data).
func (o OS) Stat(p string) (File, error) {
	fi, err := os.Stat(o.real(p))
	if err != nil {
		return File{}, err
	}
	f := File{Dir: fi.IsDir(), Mode: fi.Mode().Perm(), ModTime: fi.ModTime()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		f.Owner, f.Group = ownerName(st.Uid), groupName(st.Gid)
	}
	return f, nil
}

// Exists reports whether p exists.
func (o OS) Exists(p string) bool { _, err := os.Stat(o.real(p)); return err == nil }

// ReadFile reads p.
func (o OS) ReadFile(p string) ([]byte, error) { return os.ReadFile(o.real(p)) }

func (o OS) chown(p, owner, group string) {
	uid, gid := -1, -1
	if owner != "" {
		if u, err := user.Lookup(owner); err == nil {
			uid, _ = strconv.Atoi(u.Uid)
		}
	}
	if group != "" {
		if g, err := user.LookupGroup(group); err == nil {
			gid, _ = strconv.Atoi(g.Gid)
		}
	}
	if uid >= 0 || gid >= 0 {
		_ = os.Lchown(o.real(p), uid, gid)
	}
}

// MkdirAll creates p and its parents.
func (o OS) MkdirAll(p, owner, group string, _ time.Time) error {
	if err := os.MkdirAll(o.real(p), 0o755); err != nil {
		return err
	}
	o.chown(p, owner, group)
	return nil
}

// Mkdir creates p.
func (o OS) Mkdir(p, owner, group string, _ time.Time) error {
	if err := os.Mkdir(o.real(p), 0o755); err != nil {
		return err
	}
	o.chown(p, owner, group)
	return nil
}

// WriteFile writes p, creating it with mode and owner when missing.
func (o OS) WriteFile(p string, data []byte, mode fs.FileMode, owner, group string, _ time.Time) error {
	_, statErr := os.Stat(o.real(p))
	if err := os.WriteFile(o.real(p), data, mode); err != nil {
		return err
	}
	if statErr != nil {
		o.chown(p, owner, group)
	}
	return nil
}

// AppendFile appends to p.
func (o OS) AppendFile(p string, data []byte, owner, group string, now time.Time) error {
	f, err := os.OpenFile(o.real(p), os.O_WRONLY|os.O_APPEND, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return o.WriteFile(p, data, 0o644, owner, group, now)
	}
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Remove removes p (recursively when asked).
func (o OS) Remove(p string, recursive bool) error {
	if recursive {
		if !o.Exists(p) {
			return &fs.PathError{Op: "remove", Path: p, Err: fs.ErrNotExist}
		}
		return os.RemoveAll(o.real(p))
	}
	return os.Remove(o.real(p))
}

// ReadDir lists dir's children as absolute paths.
func (o OS) ReadDir(dir string) ([]string, error) {
	es, err := os.ReadDir(o.real(dir))
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(es))
	for _, e := range es {
		out = append(out, Clean(dir, e.Name()))
	}
	return out, nil
}

// Walk returns p and everything below it.
func (o OS) Walk(p string) []string {
	var out []string
	root := o.real(p)
	_ = filepath.WalkDir(root, func(rp string, _ fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(root, rp)
		out = append(out, Clean(p, rel))
		return nil
	})
	slices.Sort(out)
	return out
}

// Set writes the entry e at p.
func (o OS) Set(p string, e File) error {
	if e.Dir {
		if err := os.MkdirAll(o.real(p), e.Mode.Perm()|0o700); err != nil {
			return err
		}
	} else if err := os.WriteFile(o.real(p), e.Data, e.Mode.Perm()); err != nil {
		return err
	}
	_ = os.Chmod(o.real(p), e.Mode.Perm())
	o.chown(p, e.Owner, e.Group)
	return nil
}

// Chmod sets p's permissions.
func (o OS) Chmod(p string, mode fs.FileMode) error { return os.Chmod(o.real(p), mode.Perm()) }

// Chown sets p's owner and group.
func (o OS) Chown(p, owner, group string) error {
	if !o.Exists(p) {
		return &fs.PathError{Op: "chown", Path: p, Err: fs.ErrNotExist}
	}
	o.chown(p, owner, group)
	return nil
}

// Rename moves oldp to newp.
func (o OS) Rename(oldp, newp string) error { return os.Rename(o.real(oldp), o.real(newp)) }
