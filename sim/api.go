package sim

import (
	"fmt"
	"io/fs"
	"maps"
	"slices"
)

// ReadFile returns the content of path on node.
func (c *Cloud) ReadFile(node, path string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.st.Nodes[node]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownNode, node)
	}
	return n.FS.ReadFile(path)
}

// WriteFile writes path on node (parents are created), owned by root.
func (c *Cloud) WriteFile(node, path string, data []byte, mode fs.FileMode) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.st.Nodes[node]
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownNode, node)
	}
	now := c.clock.Now()
	if err := n.FS.MkdirAll(parentDir(path), "root", "root", now); err != nil {
		return err
	}
	return n.FS.WriteFile(path, data, mode, "root", "root", now)
}

func parentDir(p string) string {
	for i := len(p) - 1; i > 0; i-- {
		if p[i] == '/' {
			return p[:i]
		}
	}
	return "/"
}

// Exists reports whether path exists on node.
func (c *Cloud) Exists(node, path string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.st.Nodes[node]
	return ok && n.FS.Exists(path)
}

// TableChecksums returns a checksum per table of front-end node's
// database (the in-memory analogue of CHECKSUM TABLE): equal maps mean
// equal databases.
func (c *Cloud) TableChecksums(node string) (map[string]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.st.Nodes[node]
	if !ok || n.DB == nil {
		return nil, fmt.Errorf("%w: front-end %s", ErrUnknownNode, node)
	}
	return tableChecksums(n.DB), nil
}

// AddVM adds vm to every front-end database of zone (ID assigned, next
// free). With SettleIn set the VM reaches SettleState/SettleLCM after that
// much virtual time.
func (c *Cloud) AddVM(zone int, vm VM) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.zone(zone) == nil {
		return fmt.Errorf("%w: no zone %d", ErrBadSpec, zone)
	}
	next := 0
	var dbs []*database
	for _, name := range c.sortedNodes() {
		n := c.st.Nodes[name]
		if n.Hypervisor || n.Zone != zone || n.DB == nil {
			continue
		}
		dbs = append(dbs, n.DB)
		for _, v := range n.DB.vms() {
			next = max(next, v.ID+1)
		}
	}
	vm.ID = next
	if vm.UName == "" {
		vm.UName = "oneadmin"
	}
	if vm.SettleIn > 0 {
		vm.SettleAt = c.clock.Now().Add(vm.SettleIn)
		vm.SettleIn = 0
	}
	for _, db := range dbs {
		if vm.HostName != "" {
			if h, ok := findHost(db.hosts(), vm.HostName); ok {
				vm.HostID = h.ID
			}
		}
		db.putVM(vm)
	}
	return nil
}

// NodeStatus is a summary of one front-end as the model sees it.
type NodeStatus struct {
	Name          string
	Zone          int
	Version       string // installed opennebula package
	ConfigVersion string // /etc/onecfg.conf
	DBShared      string
	DBLocal       string
	// Raft (meaningful while oned runs).
	Role     int
	Term     int64
	LogIndex int64
	// Units maps unit name to active, inactive or failed.
	Units map[string]string
}

// Status returns node's summary.
func (c *Cloud) Status(node string) (NodeStatus, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.st.Nodes[node]
	if !ok {
		return NodeStatus{}, fmt.Errorf("%w: %s", ErrUnknownNode, node)
	}
	s := NodeStatus{Name: n.Name, Zone: n.Zone, Version: n.version(), Role: n.Role, Units: map[string]string{}}
	if n.Hypervisor {
		s.Version = n.Pkgs["opennebula-node-kvm"]
	} else {
		s.ConfigVersion = n.configVersion()
	}
	if n.DB != nil {
		s.DBShared, s.DBLocal, s.Term, s.LogIndex = n.DB.shared().Version, n.DB.local().Version, n.DB.Term, n.DB.LogIndex
	}
	for _, k := range slices.Sorted(maps.Keys(n.Units)) {
		st, _ := unitState(n.Units[k])
		s.Units[k] = st
	}
	return s, nil
}
