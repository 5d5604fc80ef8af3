package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/upgradekit/upgradekit/sim/internal/vfs"
	"github.com/upgradekit/upgradekit/transport"
)

// WithRealTime makes the virtual clock follow the wall clock (it still
// jumps ahead by command costs). The multi-call binary uses it.
func WithRealTime() Option {
	return optionFunc(func(c *config) error { c.realTime = true; return nil })
}

// Save writes the whole cloud state as JSON.
func (c *Cloud) Save(w io.Writer) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.st.Now = c.clock.Now()
	for _, n := range c.st.Nodes {
		if m, ok := n.FS.(*vfs.FS); ok {
			n.Files = m.Snapshot()
		} else {
			n.Files = nil
		}
	}
	err := json.NewEncoder(w).Encode(c.st)
	for _, n := range c.st.Nodes {
		if _, ok := n.FS.(*vfs.FS); ok {
			n.Files = nil
		}
	}
	return err
}

// Load reads a cloud saved with Save.
func Load(r io.Reader, opts ...Option) (*Cloud, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	st := &state{}
	if err := json.NewDecoder(r).Decode(st); err != nil {
		return nil, fmt.Errorf("sim: load state: %w", err)
	}
	if st.Nodes == nil || len(st.Zones) == 0 {
		return nil, fmt.Errorf("sim: load state: %w: no zones", ErrBadSpec)
	}
	for _, n := range st.Nodes {
		m := vfs.New()
		m.Load(n.Files)
		n.Files = nil
		n.FS = m
		if n.Units == nil {
			n.Units = map[string]*unit{}
		}
		if n.Pkgs == nil {
			n.Pkgs = map[string]string{}
		}
	}
	c := &Cloud{st: st}
	c.init(cfg)
	return c, nil
}

// Invocation is one run of the multi-call binary on a real host: the
// command answered by node Node of the cloud whose state lives in
// StateDir (state.json, locked with flock across processes).
type Invocation struct {
	StateDir string
	Node     string
	Argv     []string
	Env      map[string]string
	// User is the user the process runs as.
	User string
	Dir  string
	// Stdin is read only by commands that consume their input.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// RealFiles answers file access (oned.conf, backups, auth files) on
	// the real file system instead of the node's saved in-memory one;
	// the saved files are copied out the first time.
	RealFiles bool
	// FilesRoot is the directory the real file system is rooted at
	// (default "/"; tests use a temporary directory).
	FilesRoot string
}

// maxSavedEvents bounds the event log the binary keeps in its state file.
const maxSavedEvents = 5000

// StateFile is the file name of the saved cloud inside a state directory.
const StateFile = "state.json"

// ErrNoState: the state directory holds no saved cloud.
var ErrNoState = errors.New("sim: no saved cloud state")

// Init saves c as the state of a multi-call binary in dir.
func Init(dir string, c *Cloud) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return withStateLock(dir, func() error { return saveFile(dir, c) })
}

func saveFile(dir string, c *Cloud) error {
	var buf bytes.Buffer
	if err := c.Save(&buf); err != nil {
		return err
	}
	tmp := filepath.Join(dir, StateFile+".tmp")
	mode := os.FileMode(0o644)
	if len(c.st.Mirrors) > 0 {
		mode = 0o600 // database passwords
	}
	if err := os.WriteFile(tmp, buf.Bytes(), mode); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, StateFile))
}

func withStateLock(dir string, fn func() error) error {
	f, err := os.OpenFile(filepath.Join(dir, "state.lock"), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("sim: lock state: %w", err)
	}
	defer func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }()
	return fn()
}

// Invoke runs inv and returns the command's exit code.
func Invoke(ctx context.Context, inv Invocation) (int, error) {
	if len(inv.Argv) == 0 {
		return 0, fmt.Errorf("sim: empty argv")
	}
	code := 0
	err := withStateLock(inv.StateDir, func() error {
		f, err := os.Open(filepath.Join(inv.StateDir, StateFile))
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w in %s", ErrNoState, inv.StateDir)
		}
		if err != nil {
			return err
		}
		c, err := Load(f, WithRealTime())
		f.Close()
		if err != nil {
			return err
		}
		n, ok := c.st.Nodes[inv.Node]
		if !ok {
			return fmt.Errorf("%w: %q", ErrUnknownNode, inv.Node)
		}
		var mem *vfs.FS
		if inv.RealFiles {
			mem = n.FS.(*vfs.FS)
			root := inv.FilesRoot
			if root == "" {
				root = "/"
			}
			real := vfs.OS{Root: root}
			if !n.Materialized {
				materialize(mem, real)
				n.Materialized = true
			}
			n.FS = real
		}
		var stdin []byte
		if inv.Stdin != nil && consumesStdin(inv.Argv) {
			stdin, _ = io.ReadAll(inv.Stdin)
		}
		dir := inv.Dir
		if !inv.RealFiles {
			dir = "" // the process's directory is not in the saved file system
		}
		cmd := transport.Command{Path: inv.Argv[0], Args: inv.Argv[1:], Env: inv.Env, Dir: dir, User: inv.User}
		out, err := c.run(ctx, inv.Node, cmd, stdin)
		if mem != nil {
			n.FS = mem
		}
		if err != nil {
			return err
		}
		code = out.code
		if inv.Stdout != nil {
			_, _ = inv.Stdout.Write(out.stdout.Bytes())
		}
		if inv.Stderr != nil {
			_, _ = inv.Stderr.Write(out.stderr.Bytes())
		}
		if len(c.st.Events) > maxSavedEvents {
			c.st.Events = c.st.Events[len(c.st.Events)-maxSavedEvents:]
		}
		return saveFile(inv.StateDir, c)
	})
	return code, err
}

// materialize copies the saved files of a node that the real file system
// lacks (first run of the binary on that host).
func materialize(mem *vfs.FS, real vfs.OS) {
	for p, f := range mem.Snapshot() {
		if p == "/" || real.Exists(p) {
			continue
		}
		if f.Dir {
			_ = real.MkdirAll(p, f.Owner, f.Group, time.Time{})
			continue
		}
		_ = real.MkdirAll(filepath.Dir(p), "", "", time.Time{})
		_ = real.Set(p, f)
	}
}
