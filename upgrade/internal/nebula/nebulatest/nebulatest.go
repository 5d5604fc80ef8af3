package nebulatest

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"

	"github.com/upgradekit/upgradekit/onedb"
	"github.com/upgradekit/upgradekit/onedconf"
	"github.com/upgradekit/upgradekit/sim"
	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/upgrade"
	"github.com/upgradekit/upgradekit/upgrade/internal/nebula"
)

// RepoURL is the repository URL template the simulator understands.
const RepoURL = "https://downloads.opennebula.io/repo/{series}/Ubuntu/24.04"

// Inventory describes the zones of c as an inventory upgrading to target:
// front-ends with the SERVER_ID of their oned.conf, hypervisors (KVM).
func Inventory(c *sim.Cloud, target string) (nebula.Inventory, error) {
	inv := nebula.Inventory{Target: target, Repository: nebula.Repository{URL: RepoURL}}
	zones := map[int]*nebula.Zone{}
	var ids []int
	get := func(id int) *nebula.Zone {
		z, ok := zones[id]
		if !ok {
			z = &nebula.Zone{ID: id}
			zones[id] = z
			ids = append(ids, id)
		}
		return z
	}
	for _, n := range c.Frontends() {
		st, err := c.Status(n)
		if err != nil {
			return inv, err
		}
		conf, err := c.ReadFile(n, "/etc/one/oned.conf")
		if err != nil {
			return inv, fmt.Errorf("%s: %w", n, err)
		}
		f, err := onedconf.Parse(conf)
		if err != nil {
			return inv, fmt.Errorf("%s: %w", n, err)
		}
		fed, err := f.Federation()
		if err != nil {
			return inv, fmt.Errorf("%s: %w", n, err)
		}
		z := get(st.Zone)
		z.Frontends = append(z.Frontends, nebula.Frontend{Name: n, Address: n, ServerID: fed.ServerID})
	}
	for _, h := range c.Hypervisors() {
		st, err := c.Status(h)
		if err != nil {
			return inv, err
		}
		z := get(st.Zone)
		z.Hypervisors = append(z.Hypervisors, nebula.Hypervisor{Name: h, Address: h, Kind: "kvm"})
	}
	slices.Sort(ids)
	for _, id := range ids {
		z := zones[id]
		slices.SortFunc(z.Frontends, func(a, b nebula.Frontend) int { return a.ServerID - b.ServerID })
		inv.Zones = append(inv.Zones, *z)
	}
	return inv, nil
}

// Hosts returns the transports of every node of c, by name.
func Hosts(c *sim.Cloud) map[string]transport.Transport { return c.Transports() }

// Options returns the Kit options for c: its virtual clock and timers,
// and database checksums from the model (Cloud.TableChecksums).
func Options(c *sim.Cloud) []nebula.Option {
	return []nebula.Option{
		nebula.WithClock(c.Now),
		nebula.WithTimer(c.Clock().NewTimer),
		nebula.WithChecksums(Checksums(c)),
		nebula.WithRaftLog(RaftLog(c)),
	}
}

// RaftLog returns a RaftLogFunc answering from c's model.
func RaftLog(c *sim.Cloud) nebula.RaftLogFunc {
	return func(_ context.Context, node string, _ transport.Transport) (onedb.RaftLog, error) {
		l, err := c.RaftLog(node)
		if err != nil {
			return onedb.RaftLog{}, err
		}
		return onedb.RaftLog{LastIndex: uint64(l.LastIndex), LastApplied: uint64(l.LastApplied),
			Unapplied: int64(l.Unapplied), First: uint64(l.First), Last: uint64(l.Last)}, nil
	}
}

// RunnerOptions returns the engine options for c: the inventory's
// transports and the virtual clock.
func RunnerOptions(c *sim.Cloud) []upgrade.Option {
	return []upgrade.Option{upgrade.WithHosts(Hosts(c)), upgrade.WithClock(c.Now)}
}

// Checksums returns a ChecksumFunc answering from c's model.
func Checksums(c *sim.Cloud) nebula.ChecksumFunc {
	return func(_ context.Context, node string, _ transport.Transport) (onedb.TableChecksums, error) {
		m, err := c.TableChecksums(node)
		if err != nil {
			return onedb.TableChecksums{}, err
		}
		out := onedb.TableChecksums{Schema: "opennebula", Tables: map[string]uint64{}}
		for k, v := range m {
			h := fnv.New64a()
			h.Write([]byte(v))
			out.Tables[k] = h.Sum64()
		}
		return out, nil
	}
}

// Overlap returns an observer (upgrade.WithObserver) that makes c charge
// the branches of the named PerHost groups concurrently, each host on its
// own timeline (Cloud.BeginLanes, EndLanes), as they run on real hosts.
// Name only groups whose branches each work on their own host, or read
// from another one that nothing changes meanwhile (the followers'
// seeding copies from the leader: the copies wait for the data they
// stream and follow each other out of the leader), and run all at once
// (Concurrency of at least the number of hosts).
func Overlap(c *sim.Cloud, groups ...string) func(upgrade.Event) {
	return func(e upgrade.Event) {
		if e.Host != "" || !slices.Contains(groups, e.Step) {
			return
		}
		switch e.Kind {
		case upgrade.EventStepStarted:
			c.BeginLanes()
		case upgrade.EventStepFinished:
			c.EndLanes()
		}
	}
}
