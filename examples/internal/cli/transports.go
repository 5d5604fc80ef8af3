package cli

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"

	"github.com/upgradekit/upgradekit/onedb"
	"github.com/upgradekit/upgradekit/onedconf"
	"github.com/upgradekit/upgradekit/sim"
	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/transport/ssh"
	"github.com/upgradekit/upgradekit/upgrade"
	"github.com/upgradekit/upgradekit/upgrade/ha"
	"github.com/upgradekit/upgradekit/zone"
)

// SSHHosts opens (lazily) an SSH client per host of inv with the file's
// ssh section. Host keys are checked strictly against known_hosts: an
// unknown host is refused (add it with ssh-keyscan after checking its
// fingerprint). Close the pool when done.
func SSHHosts(f File, inv ha.Inventory) (map[string]transport.Transport, *ssh.Pool, error) {
	base := ssh.Config{
		User: f.SSH.User, Port: f.SSH.Port, IdentityFiles: f.SSH.IdentityFiles, KnownHostsFiles: f.SSH.KnownHosts,
		UseAgent: f.SSH.UseAgent, ConfigFile: f.SSH.ConfigFile, ProxyJump: f.SSH.ProxyJump,
	}
	pool, err := ssh.NewPool(base, ssh.WithHostKeyPolicy(ssh.Strict()))
	if err != nil {
		return nil, nil, err
	}
	hosts := map[string]transport.Transport{}
	add := func(name, addr string) error {
		cfg := base
		cfg.Host, cfg.Name = addr, name
		if err := pool.Add(name, cfg); err != nil {
			return err
		}
		c, err := pool.Get(name)
		if err != nil {
			return err
		}
		hosts[name] = c
		return nil
	}
	for _, z := range inv.Zones {
		for _, fe := range z.Frontends {
			if err := add(fe.Name, fe.Address); err != nil {
				return nil, nil, errors.Join(err, pool.Close())
			}
		}
		for _, h := range z.Hypervisors {
			if err := add(h.Name, h.Address); err != nil {
				return nil, nil, errors.Join(err, pool.Close())
			}
		}
	}
	return hosts, pool, nil
}

// FindLeader asks the zone's front-ends, in order, for the Raft leader
// and returns its name; a zone without HA returns its only front-end.
func FindLeader(ctx context.Context, z ha.Zone, hosts map[string]transport.Transport) (string, error) {
	if len(z.Frontends) == 1 {
		return z.Frontends[0].Name, nil
	}
	var errs []error
	for _, fe := range z.Frontends {
		s, err := zone.Leader(ctx, hosts[fe.Name], z.ID, zone.WithEndpoint("http://localhost:2633/RPC2"))
		if err == nil {
			return s.Name, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", fe.Name, err))
	}
	return "", fmt.Errorf("no leader found: %w", errors.Join(errs...))
}

// Simulation is an embedded simulated cloud and what it takes to run a
// procedure on it.
type Simulation struct {
	Cloud     *sim.Cloud
	Inventory ha.Inventory
	Hosts     map[string]transport.Transport
	// PlanOptions put the procedure on the simulator's virtual clock and
	// take database checksums from the model.
	PlanOptions []ha.Option
	// RunnerOptions: hosts and the virtual clock.
	RunnerOptions []upgrade.Option
}

// SimRepoURL is the repository URL template the simulator answers.
const SimRepoURL = "https://downloads.opennebula.io/repo/{series}/Ubuntu/24.04"

// Simulate builds a simulated HA cloud of n front-ends at version, with
// three hypervisors, to be upgraded to target.
func Simulate(n int, version, target string) (*Simulation, error) {
	c, err := sim.HA(n, version)
	if err != nil {
		return nil, err
	}
	inv := ha.Inventory{Target: target, Repository: ha.Repository{URL: SimRepoURL}}
	z := ha.Zone{ID: 0, Name: "OpenNebula"}
	for _, name := range c.Frontends() {
		conf, err := c.ReadFile(name, "/etc/one/oned.conf")
		if err != nil {
			return nil, err
		}
		f, err := onedconf.Parse(conf)
		if err != nil {
			return nil, err
		}
		fed, err := f.Federation()
		if err != nil {
			return nil, err
		}
		z.Frontends = append(z.Frontends, ha.Frontend{Name: name, Address: name, ServerID: fed.ServerID})
	}
	slices.SortFunc(z.Frontends, func(a, b ha.Frontend) int { return a.ServerID - b.ServerID })
	for _, h := range c.Hypervisors() {
		z.Hypervisors = append(z.Hypervisors, ha.Hypervisor{Name: h, Address: h, Kind: "kvm"})
	}
	inv.Zones = []ha.Zone{z}
	hosts := c.Transports()
	checksums := func(_ context.Context, node string, _ transport.Transport) (onedb.TableChecksums, error) {
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
	return &Simulation{
		Cloud: c, Inventory: inv, Hosts: hosts,
		PlanOptions:   []ha.Option{ha.WithClock(c.Now), ha.WithTimer(c.Clock().NewTimer), ha.WithChecksums(checksums)},
		RunnerOptions: []upgrade.Option{upgrade.WithHosts(hosts), upgrade.WithClock(c.Now)},
	}, nil
}
