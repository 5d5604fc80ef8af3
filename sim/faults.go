package sim

import (
	"fmt"
	"path"
	"slices"
	"time"
)

// Fault makes matching commands misbehave. A command matches when it runs
// on Node (any node when empty) and its argv starts with Argv (after the
// sudo/env wrappers; nested commands of a shell script match too).
type Fault struct {
	Node string   `json:"node,omitempty"`
	Argv []string `json:"argv"`
	// Nth, when positive, fires only on the Nth matching call (1-based).
	Nth int `json:"nth,omitempty"`
	// Times, when positive, limits how many times the fault fires.
	Times int `json:"times,omitempty"`
	// Exit, Stdout and Stderr replace the command's result when Exit is
	// non-zero or an output is set; the command then does not run.
	Exit   int    `json:"exit,omitempty"`
	Stdout string `json:"stdout,omitempty"`
	Stderr string `json:"stderr,omitempty"`
	// Delay adds virtual time before the command (a slow command).
	Delay time.Duration `json:"delay,omitempty"`

	Seen  int `json:"seen"`
	Fired int `json:"fired"`
}

// Inject adds a fault; it stays until Clear.
func (c *Cloud) Inject(f Fault) error {
	if len(f.Argv) == 0 {
		return fmt.Errorf("%w: fault without argv", ErrBadSpec)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if f.Node != "" && c.st.Nodes[f.Node] == nil {
		return fmt.Errorf("%w: %s", ErrUnknownNode, f.Node)
	}
	f.Argv = slices.Clone(f.Argv)
	f.Seen, f.Fired = 0, 0
	c.st.Faults = append(c.st.Faults, &f)
	return nil
}

// ClearFaults removes every injected fault.
func (c *Cloud) ClearFaults() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.st.Faults = nil
}

func (c *Cloud) matchFault(node string, argv []string) *Fault {
	for _, f := range c.st.Faults {
		if f.Node != "" && f.Node != node {
			continue
		}
		if len(argv) < len(f.Argv) || !slices.Equal(argv[1:len(f.Argv)], f.Argv[1:]) ||
			(argv[0] != f.Argv[0] && path.Base(argv[0]) != f.Argv[0]) {
			continue
		}
		f.Seen++
		if f.Nth > 0 && f.Seen != f.Nth {
			continue
		}
		if f.Times > 0 && f.Fired >= f.Times {
			continue
		}
		f.Fired++
		c.event(c.clock.Now(), node, EventFault, fmt.Sprintf("%q exit %d delay %s", argv, f.Exit, f.Delay))
		return f
	}
	return nil
}

// SetUnreachable makes node unreachable (Run and file transfers fail with
// a *transport.ConnectionLostError that says the command did not start)
// or reachable again. Its services keep their state.
func (c *Cloud) SetUnreachable(name string, down bool) error {
	return c.withNode(name, func(n *node) { n.Unreachable = down })
}

// SetStuck makes front-end node a follower that never catches up: its
// LOG_INDEX stays where it is.
func (c *Cloud) SetStuck(name string, stuck bool) error {
	return c.withNode(name, func(n *node) { n.Stuck = stuck })
}

// SetMountPoint makes dir on node a mount point (a volume mounted at
// /etc/one, as in containers) or an ordinary directory again. As on
// Linux, mv of a mount point (or onto one) fails with "Device or
// resource busy" (rename(2) EBUSY), and rm -r of one empties it but
// cannot remove it. dir must be an existing directory.
func (c *Cloud) SetMountPoint(name, dir string, mounted bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.st.Nodes[name]
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownNode, name)
	}
	dir = path.Clean(dir)
	if st, err := n.FS.Stat(dir); mounted && (err != nil || !st.Dir) {
		return fmt.Errorf("%w: mount point %s on %s is not a directory", ErrBadSpec, dir, name)
	}
	n.Mounts = slices.DeleteFunc(n.Mounts, func(m string) bool { return m == dir })
	if mounted {
		n.Mounts = append(n.Mounts, dir)
	}
	return nil
}

// SetFsckErrors sets how many (repairable) errors `onedb fsck` finds on node.
func (c *Cloud) SetFsckErrors(name string, errs int) error {
	return c.withNode(name, func(n *node) { n.FsckErrors = errs })
}

// FailPackageUpgrade makes the package manager fail on node (apt-get,
// dnf, yum and zypper exit 100/1 without changing anything).
func (c *Cloud) FailPackageUpgrade(name string) error {
	for _, pm := range [][]string{{"apt-get", "install"}, {"apt", "install"}, {"dnf", "upgrade"}, {"dnf", "-y", "upgrade"}, {"yum", "upgrade"}, {"yum", "-y", "upgrade"}, {"zypper"}} {
		msg := "E: Sub-process /usr/bin/dpkg returned an error code (1)\n"
		code := 100
		if pm[0] != "apt-get" && pm[0] != "apt" {
			msg, code = "Error: Transaction test error: file conflicts\n", 1
		}
		if err := c.Inject(Fault{Node: name, Argv: pm, Exit: code, Stderr: msg}); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cloud) withNode(name string, f func(*node)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.st.Nodes[name]
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownNode, name)
	}
	f(n)
	c.tick(c.clock.Now())
	return nil
}

// SetDiskFree sets the free space df reports on node, in KiB (0 restores
// the default of about 63 GiB).
func (c *Cloud) SetDiskFree(name string, kib int64) error {
	return c.withNode(name, func(n *node) { n.DiskFreeKB = kib })
}
