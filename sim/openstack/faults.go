package ossim

import (
	"fmt"
	"slices"
	"strings"
)

// Fault makes matching commands fail instead of running.
type Fault struct {
	// Node is the node the fault applies to ("" = every node).
	Node string
	// Argv matches commands whose argv starts with these words; for a
	// /bin/sh -c script, the words may also match the start of the
	// script. "upload <path>" matches an Upload.
	Argv []string
	// Contains, if set, must occur in the joined argv as well.
	Contains string
	// Skip lets the first Skip matching commands through.
	Skip int
	// Times is how many matching commands fail (0 = every one).
	Times int
	// Exit and Stderr are what the failing command returns.
	Exit   int
	Stderr string
	// Unreachable cuts the node off instead (the command may have
	// started: the transport reports a lost connection).
	Unreachable bool
	// KillDatabase stops the MariaDB server just before the command
	// runs; the command then runs (and meets the dead server).
	KillDatabase bool

	seen, fired int
}

// Inject adds a fault.
func (c *Cloud) Inject(f Fault) error {
	if f.Node != "" {
		if _, ok := c.nodes[f.Node]; !ok {
			return fmt.Errorf("ossim: no node %q", f.Node)
		}
	}
	if len(f.Argv) == 0 && f.Contains == "" {
		return fmt.Errorf("ossim: fault matches nothing")
	}
	if f.Exit == 0 && !f.Unreachable && !f.KillDatabase {
		f.Exit = 1
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults = append(c.faults, &f)
	return nil
}

// ClearFaults removes every fault and makes every node reachable and the
// database server alive.
func (c *Cloud) ClearFaults() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults = nil
	c.dbDown = false
	for _, n := range c.nodes {
		n.unreachable, n.failUpgrade = false, false
	}
}

// SetUnreachable cuts node off (or reconnects it).
func (c *Cloud) SetUnreachable(node string, down bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.nodes[node]
	if !ok {
		return fmt.Errorf("ossim: no node %q", node)
	}
	n.unreachable = down
	return nil
}

// SetDatabaseDown stops (or restarts) the MariaDB server: clients fail
// with ERROR 2002, the tools with their documented codes.
func (c *Cloud) SetDatabaseDown(down bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dbDown = down
}

// FailPackageUpgrade makes node's next package upgrades fail (dpkg
// error, exit 100 for apt, 1 for dnf).
func (c *Cloud) FailPackageUpgrade(node string, fail bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.nodes[node]
	if !ok {
		return fmt.Errorf("ossim: no node %q", node)
	}
	n.failUpgrade = fail
	return nil
}

// fault returns the fault that fires for argv on node, if any.
func (c *Cloud) fault(node string, argv []string) *Fault {
	joined := strings.Join(argv, " ")
	for _, f := range c.faults {
		if f.Node != "" && f.Node != node {
			continue
		}
		if len(f.Argv) > 0 && !matchArgv(f.Argv, argv) {
			continue
		}
		if f.Contains != "" && !strings.Contains(joined, f.Contains) {
			continue
		}
		f.seen++
		if f.seen <= f.Skip {
			continue
		}
		if f.Times > 0 && f.fired >= f.Times {
			continue
		}
		f.fired++
		return f
	}
	return nil
}

func matchArgv(want, argv []string) bool {
	if len(argv) >= len(want) && slices.Equal(argv[:len(want)], want) {
		return true
	}
	if len(argv) >= 3 && argv[1] == "-c" {
		return strings.HasPrefix(argv[2], strings.Join(want, " "))
	}
	return false
}
