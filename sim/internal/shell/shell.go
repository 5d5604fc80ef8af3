package shell

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/interp"
	"mvdan.cc/sh/v3/syntax"

	"github.com/upgradekit/upgradekit/sim/internal/vfs"
)

// FS is the part of a node's file system the interpreter uses.
type FS interface {
	Stat(p string) (vfs.File, error)
	Exists(p string) bool
	ReadFile(p string) ([]byte, error)
	WriteFile(p string, data []byte, mode fs.FileMode, owner, group string, now time.Time) error
	ReadDir(dir string) ([]string, error)
}

// Config describes what differs between simulators: the node's file
// system, the command table, the clock and the user.
type Config struct {
	FS  FS
	Now func() time.Time

	// Env ("K=V") and then Vars, sorted by name, make the environment of
	// the script; Dir is its working directory. Args are the arguments
	// after "sh -c script": $0 and then the positional parameters.
	Env  []string
	Vars map[string]string
	Dir  string
	Args []string

	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer

	// Call rewrites builtins before they run; nil keeps them. umask is
	// always a no-op.
	Call interp.CallHandlerFunc
	// ConsumesStdin reports whether argv reads its standard input.
	ConsumesStdin func(argv []string) bool
	// Exec runs an external command on the node and returns its exit
	// status. It is called with the runner's lock held.
	Exec func(env map[string]string, dir string, argv []string, stdin io.Reader, stdout, stderr io.Writer) int

	// CanRead and CanWrite check the user's access to a path; nil allows.
	CanRead  func(abs string) bool
	CanWrite func(abs string) bool
	// Owner owns files a redirection creates; Umask masks their mode.
	Owner string
	Umask fs.FileMode
	// KeepAttrs makes a redirection keep the existing mode and owner of
	// the file it writes instead of setting them again.
	KeepAttrs bool
	// DevNull makes stat of /dev/null succeed.
	DevNull bool
	// CheckExec makes an access check for execution look at the mode.
	CheckExec bool
}

// Run interprets script and returns its exit status; parse and
// interpreter errors go to Stderr with status 2.
func Run(ctx context.Context, c *Config, script string) int {
	prog, err := syntax.NewParser().Parse(strings.NewReader(script), "")
	if err != nil {
		_, _ = io.WriteString(c.Stderr, "sh: 1: Syntax error: "+err.Error()+"\n")
		return 2
	}
	env := slices.Clone(c.Env)
	for _, k := range slices.Sorted(maps.Keys(c.Vars)) {
		env = append(env, k+"="+c.Vars[k])
	}
	var params []string
	if len(c.Args) > 1 {
		params = c.Args[1:]
	}
	h := &handlers{c: c}
	call := func(ctx context.Context, args []string) ([]string, error) {
		if args[0] == "umask" {
			return []string{":"}, nil
		}
		if c.Call == nil {
			return args, nil
		}
		return c.Call(ctx, args)
	}
	r, err := interp.New(
		interp.StdIO(c.Stdin, &lockedWriter{w: c.Stdout}, &lockedWriter{w: c.Stderr}),
		interp.Env(expand.ListEnviron(env...)),
		func(r *interp.Runner) error { r.Dir = c.Dir; return nil },
		interp.Params(append([]string{"--"}, params...)...),
		interp.CallHandler(call),
		interp.ExecHandlers(func(interp.ExecHandlerFunc) interp.ExecHandlerFunc { return h.exec }),
		interp.OpenHandler(h.open),
		interp.StatHandler(h.stat),
		interp.ReadDirHandler2(h.readDir),
		interp.AccessHandler(h.access),
	)
	if err != nil {
		_, _ = io.WriteString(c.Stderr, "sh: "+err.Error()+"\n")
		return 2
	}
	err = r.Run(ctx, prog)
	if err == nil {
		return 0
	}
	if st, ok := interp.IsExitStatus(err); ok {
		return int(st)
	}
	_, _ = io.WriteString(c.Stderr, "sh: "+err.Error()+"\n")
	return 2
}

// lockedWriter serialises writes of concurrent pipeline stages.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

type handlers struct {
	c  *Config
	mu sync.Mutex // one command or file commit on the node at a time
}

func (h *handlers) canRead(a string) bool  { return h.c.CanRead == nil || h.c.CanRead(a) }
func (h *handlers) canWrite(a string) bool { return h.c.CanWrite == nil || h.c.CanWrite(a) }

func (h *handlers) exec(ctx context.Context, args []string) error {
	hc := interp.HandlerCtx(ctx)
	var in io.Reader = bytes.NewReader(nil)
	if h.c.ConsumesStdin != nil && h.c.ConsumesStdin(args) && hc.Stdin != nil {
		b, _ := io.ReadAll(hc.Stdin)
		in = bytes.NewReader(b)
	}
	var out, errb bytes.Buffer
	h.mu.Lock()
	env := map[string]string{}
	for name, v := range hc.Env.Each {
		if v.Exported && v.Kind == expand.String {
			env[name] = v.Str
		}
	}
	code := h.c.Exec(env, hc.Dir, args, in, &out, &errb)
	h.mu.Unlock()
	_, _ = hc.Stdout.Write(out.Bytes())
	_, _ = hc.Stderr.Write(errb.Bytes())
	if code != 0 {
		return interp.ExitStatus(uint8(code))
	}
	return nil
}

// vfile is an open file of the virtual file system.
type vfile struct {
	r      *bytes.Reader
	w      *bytes.Buffer
	commit func([]byte) error
}

func (f *vfile) Read(b []byte) (int, error) {
	if f.r == nil {
		return 0, errors.New("bad file descriptor")
	}
	return f.r.Read(b)
}

func (f *vfile) Write(b []byte) (int, error) {
	if f.w == nil {
		return 0, errors.New("bad file descriptor")
	}
	return f.w.Write(b)
}

func (f *vfile) Close() error {
	if f.commit != nil {
		c := f.commit
		f.commit = nil
		return c(f.w.Bytes())
	}
	return nil
}

type discard struct{}

func (discard) Read([]byte) (int, error)    { return 0, io.EOF }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) Close() error                { return nil }

func (h *handlers) open(ctx context.Context, name string, flag int, perm os.FileMode) (io.ReadWriteCloser, error) {
	if name == "/dev/null" {
		return discard{}, nil
	}
	c := h.c
	a := vfs.Clean(interp.HandlerCtx(ctx).Dir, name)
	fsys := c.FS
	if flag&(os.O_WRONLY|os.O_RDWR) == 0 {
		b, err := fsys.ReadFile(a)
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		}
		if !h.canRead(a) {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
		}
		return &vfile{r: bytes.NewReader(b)}, nil
	}
	if !h.canWrite(a) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
	}
	st, statErr := fsys.Stat(path.Dir(a))
	if statErr != nil || !st.Dir {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	var initial []byte
	if flag&os.O_APPEND != 0 || flag&os.O_TRUNC == 0 {
		initial, _ = fsys.ReadFile(a)
	}
	if flag&os.O_TRUNC != 0 || flag&os.O_APPEND == 0 && flag&os.O_CREATE != 0 {
		initial = nil
	}
	mode := perm.Perm()
	if mode == 0 {
		mode = 0o644
	}
	mode &^= c.Umask
	if !fsys.Exists(a) {
		if err := fsys.WriteFile(a, nil, mode, c.Owner, c.Owner, c.Now()); err != nil {
			return nil, err
		}
	}
	return &vfile{w: bytes.NewBuffer(slices.Clone(initial)), commit: func(b []byte) error {
		h.mu.Lock()
		defer h.mu.Unlock()
		if c.KeepAttrs {
			old, _ := fsys.Stat(a)
			return fsys.WriteFile(a, b, old.Mode, old.Owner, old.Group, c.Now())
		}
		return fsys.WriteFile(a, b, mode, c.Owner, c.Owner, c.Now())
	}}, nil
}

type vinfo struct {
	name string
	f    vfs.File
	size int64
}

func (i vinfo) Name() string { return path.Base(i.name) }
func (i vinfo) Size() int64  { return i.size }
func (i vinfo) Mode() fs.FileMode {
	if i.f.Dir {
		return fs.ModeDir | i.f.Mode.Perm()
	}
	return i.f.Mode.Perm()
}
func (i vinfo) ModTime() time.Time { return i.f.ModTime }
func (i vinfo) IsDir() bool        { return i.f.Dir }
func (i vinfo) Sys() any           { return nil }

func (h *handlers) stat(ctx context.Context, name string, _ bool) (fs.FileInfo, error) {
	a := vfs.Clean(interp.HandlerCtx(ctx).Dir, name)
	if h.c.DevNull && a == "/dev/null" {
		return vinfo{name: a, f: vfs.File{Mode: 0o666}}, nil
	}
	st, err := h.c.FS.Stat(a)
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
	}
	b, _ := h.c.FS.ReadFile(a)
	return vinfo{name: a, f: st, size: int64(len(b))}, nil
}

func (h *handlers) readDir(ctx context.Context, dir string) ([]fs.DirEntry, error) {
	names, err := h.c.FS.ReadDir(vfs.Clean(interp.HandlerCtx(ctx).Dir, dir))
	if err != nil {
		return nil, err
	}
	out := make([]fs.DirEntry, 0, len(names))
	for _, n := range names {
		st, _ := h.c.FS.Stat(n)
		out = append(out, fs.FileInfoToDirEntry(vinfo{name: n, f: st}))
	}
	return out, nil
}

func (h *handlers) access(ctx context.Context, name string, mode interp.AccessMode) error {
	a := vfs.Clean(interp.HandlerCtx(ctx).Dir, name)
	st, err := h.c.FS.Stat(a)
	if err != nil {
		return &fs.PathError{Op: "access", Path: name, Err: fs.ErrNotExist}
	}
	if h.c.CheckExec && mode&interp.AccessExec != 0 && st.Mode&0o111 == 0 ||
		mode&interp.AccessWrite != 0 && !h.canWrite(a) || mode&interp.AccessRead != 0 && !h.canRead(a) {
		return &fs.PathError{Op: "access", Path: name, Err: fs.ErrPermission}
	}
	return nil
}

// Lookup answers "command -v name": /usr/bin/<base> when known(base),
// the name itself for a builtin of the interpreter, else a failure.
func Lookup(name string, known func(base string) bool) []string {
	if known(path.Base(name)) {
		return []string{"echo", "/usr/bin/" + path.Base(name)}
	}
	if interp.IsBuiltin(name) {
		return []string{"echo", name}
	}
	return []string{"false"}
}

// Operands returns the operands of argv (the arguments after the name
// that are not options) and whether "-" (standard input) stands among
// them; the scan stops at "-".
func Operands(argv []string) (ops []string, stdin bool) {
	for _, a := range argv[1:] {
		if a == "-" {
			return ops, true
		}
		if !strings.HasPrefix(a, "-") {
			ops = append(ops, a)
		}
	}
	return ops, false
}
