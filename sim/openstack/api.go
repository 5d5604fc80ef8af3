package ossim

import "fmt"

// Installed returns the version of pkg installed on node ("" if none).
func (c *Cloud) Installed(node, pkg string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.nodes[node]
	if !ok {
		return ""
	}
	rel, ok := n.installed[pkg]
	if !ok {
		return ""
	}
	return c.pkgVersion(pkg, rel)
}

// Packages returns the packages installed on node.
func (c *Cloud) Packages(node string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.nodes[node]
	if !ok {
		return nil
	}
	return sortedKeys(n.installed)
}

// UnitStatus is one unit as the simulator sees it.
type UnitStatus struct {
	Name    string
	Service string
	Active  bool
	// Series is the release the running code belongs to.
	Series string
	// Pin is the [upgrade_levels] compute value a nova service uses.
	Pin string
}

// Units returns node's units, sorted by name.
func (c *Cloud) Units(node string) ([]UnitStatus, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.nodes[node]
	if !ok {
		return nil, fmt.Errorf("ossim: no node %q", node)
	}
	var out []UnitStatus
	for _, name := range sortedKeys(n.units) {
		u := n.units[name]
		out = append(out, UnitStatus{Name: name, Service: u.service, Active: u.active, Series: c.releases[max(u.release, 0)].Series, Pin: u.pin})
	}
	return out, nil
}

// SchemaSeries returns, per database, the newest release whose
// migrations it has applied and whether it is at that release's heads
// (every branch).
func (c *Cloud) SchemaSeries(db string) (string, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.dbs[db]
	if !ok {
		return "", false, fmt.Errorf("ossim: no database %q", db)
	}
	def := c.schemas[schemaOf(db)]
	st, err := def.state(d)
	if err != nil {
		return "", false, err
	}
	rel := max(def.newest(st), 0)
	at := true
	for _, b := range def.branches() {
		at = at && def.atHead(st, rel, b)
	}
	return c.releases[rel].Series, at, nil
}

// PendingDataMigrations returns the rows a service's online data
// migrations still have to move.
func (c *Cloud) PendingDataMigrations(svc string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.dbs[odmDB(svc)]
	if d == nil {
		return 0
	}
	if t := d.Tables["sim_odm_pending"]; t != nil {
		return len(t.Rows)
	}
	return 0
}
