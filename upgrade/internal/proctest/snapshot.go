package proctest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/upgradekit/upgradekit/onedb"
	"github.com/upgradekit/upgradekit/sim"
	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/zone"
)

// LocalEndpoint is the XML-RPC endpoint the checks ask each front-end.
const LocalEndpoint = "http://localhost:2633/RPC2"

// RowTables are the tables whose rows must survive every run.
var RowTables = []string{"vm_pool", "host_pool", "user_pool"}

// Node is one node's summary in a Snapshot (Raft runtime left out: a
// rollback may elect another term).
type Node struct {
	Zone          int
	Version       string
	ConfigVersion string
	DBShared      string
	DBLocal       string
	Units         map[string]string
}

// Snapshot is what a run must preserve or change on purpose.
type Snapshot struct {
	Nodes map[string]Node
	// Checksums are the per-table checksums of each front-end's database.
	Checksums map[string]map[string]string
	// HostStates maps front-end → host name → host state, from its
	// database.
	HostStates map[string]map[string]int
	// Rows maps front-end → table (RowTables) → sorted row keys.
	Rows map[string]map[string][]string
}

// savedState is the part of sim's Save format the snapshot reads.
type savedState struct {
	Nodes map[string]struct {
		DB *struct {
			Tables map[string]map[string]string `json:"tables"`
		} `json:"db"`
	} `json:"nodes"`
}

// Take returns the snapshot of c.
func Take(c *sim.Cloud) (Snapshot, error) {
	s := Snapshot{Nodes: map[string]Node{}, Checksums: map[string]map[string]string{},
		HostStates: map[string]map[string]int{}, Rows: map[string]map[string][]string{}}
	for _, n := range append(c.Frontends(), c.Hypervisors()...) {
		st, err := c.Status(n)
		if err != nil {
			return s, err
		}
		s.Nodes[n] = Node{Zone: st.Zone, Version: st.Version, ConfigVersion: st.ConfigVersion,
			DBShared: st.DBShared, DBLocal: st.DBLocal, Units: st.Units}
	}
	var buf bytes.Buffer
	if err := c.Save(&buf); err != nil {
		return s, err
	}
	var saved savedState
	if err := json.Unmarshal(buf.Bytes(), &saved); err != nil {
		return s, fmt.Errorf("proctest: decode saved cloud: %w", err)
	}
	for _, n := range c.Frontends() {
		sums, err := c.TableChecksums(n)
		if err != nil {
			return s, err
		}
		s.Checksums[n] = sums
		db := saved.Nodes[n].DB
		if db == nil {
			return s, fmt.Errorf("proctest: front-end %s has no database", n)
		}
		rows := map[string][]string{}
		for _, t := range RowTables {
			rows[t] = slices.Sorted(maps.Keys(db.Tables[t]))
		}
		s.Rows[n] = rows
		hs := map[string]int{}
		for _, v := range db.Tables["host_pool"] {
			var h struct {
				Name  string `json:"name"`
				State int    `json:"state"`
			}
			if err := json.Unmarshal([]byte(v), &h); err != nil {
				return s, fmt.Errorf("proctest: %s: host row: %w", n, err)
			}
			hs[h.Name] = h.State
		}
		s.HostStates[n] = hs
	}
	return s, nil
}

// VolatileTables change through any run, even one rolled back: the Raft
// log and state (logdb, system_attributes), the leader's monitoring
// (host_monitoring, vm_monitoring), and host_pool, whose rows keep
// PREV_STATE from the disable/enable pair (host states and rows are
// compared on their own).
var VolatileTables = []string{"logdb", "system_attributes", "host_pool", "host_monitoring", "vm_monitoring"}

// replicatedSums drops the tables oned writes outside the Raft log
// (onedb.LocalTables) from table checksums: they differ between the
// servers of a running zone.
func replicatedSums(m map[string]string) map[string]string {
	out := maps.Clone(m)
	for _, t := range onedb.LocalTables() {
		delete(out, t)
	}
	return out
}

// StableChecksums returns the checksums of every front-end's tables but
// VolatileTables.
func (s Snapshot) StableChecksums() map[string]map[string]string {
	out := map[string]map[string]string{}
	for n, sums := range s.Checksums {
		m := maps.Clone(sums)
		for _, t := range VolatileTables {
			delete(m, t)
		}
		out[n] = m
	}
	return out
}

// ServiceChanges lists how after's nodes differ from before's: release,
// configuration or database version, and units whose state changed. A
// unit after has that before had not (a unit file a newer package left
// behind) counts only if it is not inactive.
func ServiceChanges(before, after Snapshot) []string {
	var out []string
	for _, n := range slices.Sorted(maps.Keys(before.Nodes)) {
		b, a := before.Nodes[n], after.Nodes[n]
		if b.Version != a.Version || b.ConfigVersion != a.ConfigVersion || b.DBShared != a.DBShared || b.DBLocal != a.DBLocal {
			out = append(out, fmt.Sprintf("%s: release/config/db %s/%s/%s/%s, was %s/%s/%s/%s", n,
				a.Version, a.ConfigVersion, a.DBShared, a.DBLocal, b.Version, b.ConfigVersion, b.DBShared, b.DBLocal))
		}
		for _, u := range slices.Sorted(maps.Keys(b.Units)) {
			if b.Units[u] != a.Units[u] {
				out = append(out, fmt.Sprintf("%s: unit %s %s, was %s", n, u, a.Units[u], b.Units[u]))
			}
		}
		for _, u := range slices.Sorted(maps.Keys(a.Units)) {
			if _, ok := b.Units[u]; !ok && a.Units[u] != "inactive" {
				out = append(out, fmt.Sprintf("%s: new unit %s %s", n, u, a.Units[u]))
			}
		}
	}
	return out
}

// MissingRows returns the rows of before missing from after, as
// "front-end table key".
func MissingRows(before, after Snapshot) []string {
	var out []string
	for _, n := range slices.Sorted(maps.Keys(before.Rows)) {
		for _, t := range RowTables {
			have := after.Rows[n][t]
			for _, k := range before.Rows[n][t] {
				if !slices.Contains(have, k) {
					out = append(out, fmt.Sprintf("%s %s %s", n, t, k))
				}
			}
		}
	}
	return out
}

// Zones returns the zone IDs of c's front-ends with their front-ends.
func Zones(c *sim.Cloud) (map[int][]string, error) {
	out := map[int][]string{}
	for _, n := range c.Frontends() {
		st, err := c.Status(n)
		if err != nil {
			return nil, err
		}
		out[st.Zone] = append(out[st.Zone], n)
	}
	return out, nil
}

// InSync waits (up to two virtual minutes) until every zone of c has
// exactly one leader and every follower caught up, asking each zone's
// front-ends in turn; it returns each zone's leader (for a solo zone, its
// only front-end).
func InSync(ctx context.Context, c *sim.Cloud) (map[int]string, error) {
	zones, err := Zones(c)
	if err != nil {
		return nil, err
	}
	leaders := map[int]string{}
	for _, id := range slices.Sorted(maps.Keys(zones)) {
		var last error
		for range 60 {
			var l string
			if l, last = zoneLeader(ctx, c, id, zones[id]); last == nil {
				leaders[id] = l
				break
			}
			if err := c.Clock().Sleep(ctx, 2*time.Second); err != nil {
				return nil, err
			}
		}
		if last != nil {
			return nil, last
		}
	}
	return leaders, nil
}

func zoneLeader(ctx context.Context, c *sim.Cloud, id int, nodes []string) (string, error) {
	last := fmt.Errorf("zone %d: no front-end", id)
	for _, n := range nodes {
		var t transport.Transport = c.MustFrontend(n)
		z, err := zone.Show(ctx, t, id, zone.WithEndpoint(LocalEndpoint))
		if err != nil {
			last = fmt.Errorf("zone %d via %s: %w", id, n, err)
			continue
		}
		if !z.HA() {
			return n, nil
		}
		if err := z.CheckSync(0); err != nil {
			return "", fmt.Errorf("zone %d via %s: %w", id, n, err)
		}
		if ls := z.Leaders(); len(ls) != 1 {
			return "", fmt.Errorf("zone %d via %s: %d leaders", id, n, len(ls))
		}
		l, _ := z.Leader()
		return l.Name, nil
	}
	return "", last
}
