package sim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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

// shell interprets script like /bin/sh -c: builtins come from
// mvdan.cc/sh, every external command and every file access goes to the
// simulated node.
func (p *proc) shell(script string, params []string) int {
	prog, err := syntax.NewParser().Parse(strings.NewReader(script), "")
	if err != nil {
		p.errf("sh: 1: Syntax error: %s\n", err)
		return 2
	}
	env := make([]string, 0, len(p.env))
	for _, k := range slices.Sorted(maps.Keys(p.env)) {
		env = append(env, k+"="+p.env[k])
	}
	var posArgs []string
	if len(params) > 1 {
		posArgs = params[1:]
	}
	run := &sync.Mutex{}
	out := &lockedWriter{w: p.stdout}
	errw := &lockedWriter{w: p.stderr}
	opts := []interp.RunnerOption{
		interp.StdIO(p.stdin, out, errw),
		interp.Env(expand.ListEnviron(env...)),
		func(r *interp.Runner) error { r.Dir = p.dir; return nil },
		interp.Params(append([]string{"--"}, posArgs...)...),
		interp.CallHandler(p.callHandler),
		interp.ExecHandlers(func(interp.ExecHandlerFunc) interp.ExecHandlerFunc { return p.execHandler(run) }),
		interp.OpenHandler(p.openHandler(run)),
		interp.StatHandler(p.statHandler),
		interp.ReadDirHandler2(p.readDirHandler),
		interp.AccessHandler(p.accessHandler),
	}
	r, err := interp.New(opts...)
	if err != nil {
		p.errf("sh: %s\n", err)
		return 2
	}
	err = r.Run(p.ctx, prog)
	if err == nil {
		return 0
	}
	if st, ok := interp.IsExitStatus(err); ok {
		return int(st)
	}
	p.errf("sh: %s\n", err)
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

// callHandler rewrites the few builtins the interpreter lacks or would
// answer from the real machine.
func (p *proc) callHandler(ctx context.Context, args []string) ([]string, error) {
	switch args[0] {
	case "umask":
		return []string{":"}, nil
	case "command", "type", "which":
		if len(args) >= 3 && (args[1] == "-v" || args[1] == "-V") || args[0] != "command" && len(args) >= 2 {
			name := args[len(args)-1]
			if _, ok := p.c.cmds[path.Base(name)]; ok && !(p.n.Hypervisor && frontendOnly[path.Base(name)]) {
				return []string{"echo", "/usr/bin/" + path.Base(name)}, nil
			}
			if interp.IsBuiltin(name) {
				return []string{"echo", name}, nil
			}
			return []string{"false"}, nil
		}
	}
	return args, nil
}

// consumesStdin reports whether argv reads its standard input.
func consumesStdin(argv []string) bool {
	name := path.Base(argv[0])
	var ops []string
	for _, a := range argv[1:] {
		if a == "-" {
			return true
		}
		if !strings.HasPrefix(a, "-") {
			ops = append(ops, a)
		}
	}
	switch name {
	case "tee":
		return true
	case "cat", "sha256sum", "wc":
		return len(ops) == 0
	case "openssl":
		return len(ops) <= 1
	case "sed", "grep":
		return len(ops) <= 1
	case "tar":
		return !slices.ContainsFunc(argv[1:], func(a string) bool { return strings.Contains(a, "f") && !strings.HasPrefix(a, "--") }) && !slices.Contains(argv, "--file")
	case "sh", "bash", "env", "sudo", "onedb":
		return true
	}
	return false
}

func (p *proc) execHandler(run *sync.Mutex) interp.ExecHandlerFunc {
	return func(ctx context.Context, args []string) error {
		hc := interp.HandlerCtx(ctx)
		var in io.Reader = bytes.NewReader(nil)
		if consumesStdin(args) && hc.Stdin != nil {
			b, _ := io.ReadAll(hc.Stdin)
			in = bytes.NewReader(b)
		}
		var out, errb bytes.Buffer
		run.Lock()
		q := *p
		q.env = map[string]string{}
		for name, v := range hc.Env.Each {
			if v.Exported && v.Kind == expand.String {
				q.env[name] = v.Str
			}
		}
		q.dir = hc.Dir
		code := q.sub(args, in, &out, &errb)
		p.cost += q.cost
		run.Unlock()
		_, _ = hc.Stdout.Write(out.Bytes())
		_, _ = hc.Stderr.Write(errb.Bytes())
		if code != 0 {
			return interp.NewExitStatus(uint8(code))
		}
		return nil
	}
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

func (p *proc) openHandler(run *sync.Mutex) interp.OpenHandlerFunc {
	return func(ctx context.Context, name string, flag int, perm os.FileMode) (io.ReadWriteCloser, error) {
		if name == "/dev/null" {
			return discard{}, nil
		}
		hc := interp.HandlerCtx(ctx)
		user := p.user
		a := vfs.Clean(hc.Dir, name)
		fsys := p.n.FS
		if flag&(os.O_WRONLY|os.O_RDWR) == 0 {
			b, err := fsys.ReadFile(a)
			if err != nil {
				return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
			}
			if !p.canRead(a) {
				return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
			}
			return &vfile{r: bytes.NewReader(b)}, nil
		}
		if !writable(p.n, a, user) {
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
		mode &^= 0o022
		if !fsys.Exists(a) {
			if err := fsys.WriteFile(a, nil, mode, user, user, p.now()); err != nil {
				return nil, err
			}
		}
		w := bytes.NewBuffer(slices.Clone(initial))
		return &vfile{w: w, commit: func(b []byte) error {
			run.Lock()
			defer run.Unlock()
			return fsys.WriteFile(a, b, mode, user, user, p.now())
		}}, nil
	}
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

func (p *proc) statHandler(ctx context.Context, name string, _ bool) (fs.FileInfo, error) {
	hc := interp.HandlerCtx(ctx)
	a := vfs.Clean(hc.Dir, name)
	if a == "/dev/null" {
		return vinfo{name: a, f: vfs.File{Mode: 0o666}}, nil
	}
	st, err := p.n.FS.Stat(a)
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
	}
	b, _ := p.n.FS.ReadFile(a)
	return vinfo{name: a, f: st, size: int64(len(b))}, nil
}

func (p *proc) readDirHandler(ctx context.Context, dir string) ([]fs.DirEntry, error) {
	hc := interp.HandlerCtx(ctx)
	names, err := p.n.FS.ReadDir(vfs.Clean(hc.Dir, dir))
	if err != nil {
		return nil, err
	}
	out := make([]fs.DirEntry, 0, len(names))
	for _, n := range names {
		st, _ := p.n.FS.Stat(n)
		out = append(out, fs.FileInfoToDirEntry(vinfo{name: n, f: st}))
	}
	return out, nil
}

func (p *proc) accessHandler(ctx context.Context, name string, mode interp.AccessMode) error {
	hc := interp.HandlerCtx(ctx)
	a := vfs.Clean(hc.Dir, name)
	if !p.n.FS.Exists(a) {
		return &fs.PathError{Op: "access", Path: name, Err: fs.ErrNotExist}
	}
	if mode&interp.AccessWrite != 0 && !writable(p.n, a, p.user) || mode&interp.AccessRead != 0 && !p.canRead(a) {
		return &fs.PathError{Op: "access", Path: name, Err: fs.ErrPermission}
	}
	return nil
}

var _ = fmt.Sprint
