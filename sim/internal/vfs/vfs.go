package vfs

import (
	"errors"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"
	"sync"
	"time"
)

// File is one entry of the file system.
type File struct {
	Dir     bool        `json:"dir,omitempty"`
	Data    []byte      `json:"data,omitempty"`
	Mode    fs.FileMode `json:"mode"`
	Owner   string      `json:"owner"`
	Group   string      `json:"group"`
	ModTime time.Time   `json:"mtime"`
}

// FS is an in-memory tree keyed by clean absolute path.
type FS struct {
	mu    sync.RWMutex
	files map[string]*File
}

// New returns an FS holding only "/".
func New() *FS {
	f := &FS{files: map[string]*File{}}
	f.files["/"] = &File{Dir: true, Mode: 0o755, Owner: "root", Group: "root"}
	return f
}

// Clean returns the clean absolute form of p relative to dir.
func Clean(dir, p string) string {
	if !strings.HasPrefix(p, "/") {
		p = dir + "/" + p
	}
	return path.Clean("/" + p)
}

// Snapshot returns a deep copy of every entry, for serialisation.
func (f *FS) Snapshot() map[string]File {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make(map[string]File, len(f.files))
	for k, v := range f.files {
		c := *v
		c.Data = slices.Clone(v.Data)
		out[k] = c
	}
	return out
}

// Load replaces the content with snap.
func (f *FS) Load(snap map[string]File) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.files = make(map[string]*File, len(snap))
	for k, v := range snap {
		c := v
		f.files[k] = &c
	}
	if f.files["/"] == nil {
		f.files["/"] = &File{Dir: true, Mode: 0o755, Owner: "root", Group: "root"}
	}
}

func notExist(op, p string) error { return &fs.PathError{Op: op, Path: p, Err: fs.ErrNotExist} }

// Stat returns a copy of the entry at p (without data).
func (f *FS) Stat(p string) (File, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	e, ok := f.files[Clean("/", p)]
	if !ok {
		return File{}, notExist("stat", p)
	}
	c := *e
	c.Data = nil
	return c, nil
}

// Exists reports whether p exists.
func (f *FS) Exists(p string) bool {
	_, err := f.Stat(p)
	return err == nil
}

// ReadFile returns a copy of the content of the regular file p.
func (f *FS) ReadFile(p string) ([]byte, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	e, ok := f.files[Clean("/", p)]
	if !ok {
		return nil, notExist("open", p)
	}
	if e.Dir {
		return nil, &fs.PathError{Op: "read", Path: p, Err: errors.New("is a directory")}
	}
	return slices.Clone(e.Data), nil
}

// MkdirAll creates p and missing parents owned by owner:group.
func (f *FS) MkdirAll(p, owner, group string, now time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mkdirAll(Clean("/", p), owner, group, now)
}

func (f *FS) mkdirAll(p, owner, group string, now time.Time) error {
	if e, ok := f.files[p]; ok {
		if !e.Dir {
			return &fs.PathError{Op: "mkdir", Path: p, Err: errors.New("not a directory")}
		}
		return nil
	}
	if p != "/" {
		if err := f.mkdirAll(path.Dir(p), owner, group, now); err != nil {
			return err
		}
	}
	f.files[p] = &File{Dir: true, Mode: 0o755, Owner: owner, Group: group, ModTime: now}
	return nil
}

// Mkdir creates the single directory p; its parent must exist.
func (f *FS) Mkdir(p, owner, group string, now time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	p = Clean("/", p)
	if _, ok := f.files[p]; ok {
		return &fs.PathError{Op: "mkdir", Path: p, Err: fs.ErrExist}
	}
	if par, ok := f.files[path.Dir(p)]; !ok || !par.Dir {
		return notExist("mkdir", p)
	}
	f.files[p] = &File{Dir: true, Mode: 0o755, Owner: owner, Group: group, ModTime: now}
	return nil
}

// WriteFile writes data to p, creating it (with mode, owner, group) or
// replacing its content (keeping mode and owner). The parent must exist.
func (f *FS) WriteFile(p string, data []byte, mode fs.FileMode, owner, group string, now time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.writeFile(Clean("/", p), data, mode, owner, group, now)
}

func (f *FS) writeFile(p string, data []byte, mode fs.FileMode, owner, group string, now time.Time) error {
	if par, ok := f.files[path.Dir(p)]; !ok || !par.Dir {
		return notExist("open", p)
	}
	if e, ok := f.files[p]; ok {
		if e.Dir {
			return &fs.PathError{Op: "open", Path: p, Err: errors.New("is a directory")}
		}
		e.Data = slices.Clone(data)
		e.ModTime = now
		return nil
	}
	f.files[p] = &File{Data: slices.Clone(data), Mode: mode, Owner: owner, Group: group, ModTime: now}
	return nil
}

// AppendFile appends data to p, creating it when missing.
func (f *FS) AppendFile(p string, data []byte, owner, group string, now time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	p = Clean("/", p)
	if e, ok := f.files[p]; ok && !e.Dir {
		e.Data = append(e.Data, data...)
		e.ModTime = now
		return nil
	}
	return f.writeFile(p, data, 0o644, owner, group, now)
}

// Remove removes p; recursive removes a directory tree.
func (f *FS) Remove(p string, recursive bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	p = Clean("/", p)
	e, ok := f.files[p]
	if !ok {
		return notExist("remove", p)
	}
	if e.Dir {
		kids := f.children(p)
		if len(kids) > 0 && !recursive {
			return &fs.PathError{Op: "remove", Path: p, Err: errors.New("directory not empty")}
		}
		for k := range f.files {
			if strings.HasPrefix(k, p+"/") {
				delete(f.files, k)
			}
		}
	}
	if p != "/" {
		delete(f.files, p)
	}
	return nil
}

func (f *FS) children(dir string) []string {
	prefix := dir + "/"
	if dir == "/" {
		prefix = "/"
	}
	var out []string
	for k := range f.files {
		if k != dir && strings.HasPrefix(k, prefix) && !strings.Contains(k[len(prefix):], "/") {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// ReadDir lists the direct children of dir, sorted.
func (f *FS) ReadDir(dir string) ([]string, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	dir = Clean("/", dir)
	e, ok := f.files[dir]
	if !ok {
		return nil, notExist("open", dir)
	}
	if !e.Dir {
		return nil, &fs.PathError{Op: "readdir", Path: dir, Err: errors.New("not a directory")}
	}
	return f.children(dir), nil
}

// Walk returns p and every path below it, sorted.
func (f *FS) Walk(p string) []string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	p = Clean("/", p)
	if _, ok := f.files[p]; !ok {
		return nil
	}
	out := []string{p}
	prefix := p + "/"
	if p == "/" {
		prefix = "/"
	}
	for k := range f.files {
		if k != p && strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// Set replaces or creates the entry at p with e (parents must exist).
func (f *FS) Set(p string, e File) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	p = Clean("/", p)
	if p != "/" {
		if par, ok := f.files[path.Dir(p)]; !ok || !par.Dir {
			return notExist("open", p)
		}
	}
	e.Data = slices.Clone(e.Data)
	f.files[p] = &e
	return nil
}

// Chmod sets the permission bits of p.
func (f *FS) Chmod(p string, mode fs.FileMode) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.files[Clean("/", p)]
	if !ok {
		return notExist("chmod", p)
	}
	e.Mode = mode.Perm()
	return nil
}

// Chown sets owner and/or group of p (empty keeps the current value).
func (f *FS) Chown(p, owner, group string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.files[Clean("/", p)]
	if !ok {
		return notExist("chown", p)
	}
	if owner != "" {
		e.Owner = owner
	}
	if group != "" {
		e.Group = group
	}
	return nil
}

// Rename moves old (and its subtree) to new, replacing a file at new.
func (f *FS) Rename(oldp, newp string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	oldp, newp = Clean("/", oldp), Clean("/", newp)
	e, ok := f.files[oldp]
	if !ok {
		return notExist("rename", oldp)
	}
	if par, ok := f.files[path.Dir(newp)]; !ok || !par.Dir {
		return notExist("rename", newp)
	}
	if e.Dir {
		moved := map[string]*File{}
		for k, v := range f.files {
			if strings.HasPrefix(k, oldp+"/") {
				moved[newp+k[len(oldp):]] = v
				delete(f.files, k)
			}
		}
		maps.Copy(f.files, moved)
	}
	delete(f.files, oldp)
	f.files[newp] = e
	return nil
}

// Clone returns a deep copy of f.
func (f *FS) Clone() *FS {
	n := &FS{}
	n.Load(f.Snapshot())
	return n
}
