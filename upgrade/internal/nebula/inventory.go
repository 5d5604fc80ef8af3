package nebula

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/upgradekit/upgradekit/onedb"
	"github.com/upgradekit/upgradekit/system"
	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/upgrade/path"
)

// ErrInvalidInventory: the inventory is incomplete or inconsistent.
// Nothing ran.
var ErrInvalidInventory = errors.New("invalid inventory")

// Inventory describes the cloud to upgrade: its zones (each with its
// front-ends and hypervisors), the release to reach, where the packages
// come from and, optionally, how to reach the front-ends' databases for the
// final checksum comparison.
type Inventory struct {
	// Zones lists the zones; the HA procedure uses exactly one, the
	// federation procedure the master first.
	Zones []Zone
	// Target is the OpenNebula release to install, X.Y.Z (e.g. "7.4.1").
	Target string
	// Repository is where the target's packages come from.
	Repository Repository
	// DB, when set, is how each front-end reaches its own database (the
	// same parameters on every front-end, resolved on that front-end):
	// the followers' table checksums are compared with the leader's
	// through the transport's Dialer. Without it the comparison step is
	// skipped, with the reason recorded.
	DB *onedb.Conn
}

// Zone is one OpenNebula zone.
type Zone struct {
	// ID is the zone ID (0 for the local zone, 100+ for federation slaves).
	ID int
	// Name is informational.
	Name string
	// Endpoint is the zone's XML-RPC endpoint (the VIP in HA). Empty: the
	// CLI's default on each front-end.
	Endpoint string
	// Frontends are the zone's front-ends; one without HA.
	Frontends []Frontend
	// Hypervisors are the zone's hosts.
	Hypervisors []Hypervisor
}

// Frontend is one front-end (an HA server) of a zone.
type Frontend struct {
	// Name is the host name in the plan and the runner's inventory; it
	// should be the server's NAME in `onezone show`.
	Name string
	// Address is how to reach it over SSH (host or host:port).
	Address string
	// ServerID is FEDERATION/SERVER_ID in its oned.conf (-1 for a solo
	// front-end). It is kept when /etc/one is synced from the leader.
	ServerID int
}

// Hypervisor is one hypervisor host.
type Hypervisor struct {
	// Name is the host's NAME in `onehost list` and its name in the plan.
	Name string
	// Address is how to reach it over SSH.
	Address string
	// Kind is "kvm" (default) or "lxc": the node package is
	// opennebula-node-<kind>.
	Kind string
}

// Repository describes the OpenNebula package repository of the target
// release. URL may contain "{series}", replaced by the target's X.Y
// ("https://downloads.opennebula.io/repo/{series}/Ubuntu/24.04").
type Repository struct {
	// Name is the repository file's name (default "opennebula").
	Name string
	URL  string
	// Token is the Enterprise Edition token; it never reaches argv.
	Token transport.Secret
	// Suite and Components are apt's (defaults "stable", ["opennebula"]).
	Suite      string
	Components []string
	// KeyURL is the signing key's URL (optional: the key installed for
	// the current release usually signs the next one too).
	KeyURL string
	// Deb822 writes apt's .sources format.
	Deb822 bool
}

// Validate reports every problem of the inventory, joined; each matches
// ErrInvalidInventory.
func (inv Inventory) Validate() error {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: %s", ErrInvalidInventory, fmt.Sprintf(format, a...)))
	}
	if _, err := path.Parse(inv.Target); err != nil {
		bad("target: %v", err)
	}
	if inv.Repository.URL == "" {
		bad("repository URL is empty")
	} else if strings.Contains(inv.Repository.URL, "@") {
		bad("repository URL must not carry credentials: put the token in Repository.Token")
	} else if strings.ContainsAny(inv.Repository.URL, "?#") {
		// A token in a query string (?token=...) would reach the
		// repository file, apt's output and the logs.
		bad("repository URL must not carry a query string or fragment: put the token in Repository.Token")
	}
	if len(inv.Zones) == 0 {
		bad("no zone")
	}
	names := map[string]bool{}
	// Two front-ends (or two hypervisors) at one address would be one
	// machine upgraded, stopped and counted twice. A front-end may also
	// be a hypervisor (a converged node).
	feAddrs, hvAddrs := map[string]string{}, map[string]string{} // address -> host name
	sameAddr := func(addrs map[string]string, what, name, addr string) {
		if addr == "" {
			return
		}
		key := strings.ToLower(addr)
		if h, p, err := net.SplitHostPort(addr); err == nil {
			key = net.JoinHostPort(strings.ToLower(h), p)
		}
		if other, ok := addrs[key]; ok {
			bad("%s %s and %s have the same address %s", what, other, name, addr)
			return
		}
		addrs[key] = name
	}
	zoneIDs := map[int]bool{}
	for _, z := range inv.Zones {
		if zoneIDs[z.ID] {
			bad("zone %d listed twice", z.ID)
		}
		zoneIDs[z.ID] = true
		if len(z.Frontends) == 0 {
			bad("zone %d has no front-end", z.ID)
		}
		ids := map[int]bool{}
		for _, f := range z.Frontends {
			if f.Name == "" {
				bad("zone %d: a front-end has no name", z.ID)
			}
			if names[f.Name] {
				bad("host name %q used twice", f.Name)
			}
			names[f.Name] = true
			sameAddr(feAddrs, "front-ends", f.Name, f.Address)
			if len(z.Frontends) > 1 && f.ServerID < 0 {
				bad("front-end %s: HA member needs SERVER_ID >= 0", f.Name)
			}
			if ids[f.ServerID] {
				bad("zone %d: SERVER_ID %d used twice", z.ID, f.ServerID)
			}
			ids[f.ServerID] = true
		}
		for _, h := range z.Hypervisors {
			if h.Name == "" {
				bad("zone %d: a hypervisor has no name", z.ID)
			}
			if names[h.Name] {
				bad("host name %q used twice", h.Name)
			}
			names[h.Name] = true
			sameAddr(hvAddrs, "hypervisors", h.Name, h.Address)
			if k := h.Kind; k != "" && k != "kvm" && k != "lxc" {
				bad("hypervisor %s: kind %q is not kvm or lxc", h.Name, k)
			}
		}
	}
	return errors.Join(errs...)
}

// Zone returns the zone with ID id.
func (inv Inventory) Zone(id int) (Zone, bool) {
	i := slices.IndexFunc(inv.Zones, func(z Zone) bool { return z.ID == id })
	if i < 0 {
		return Zone{}, false
	}
	return inv.Zones[i], true
}

// Hosts returns every front-end and hypervisor name, in inventory order.
func (inv Inventory) Hosts() []string {
	var out []string
	for _, z := range inv.Zones {
		out = append(out, z.FrontendNames()...)
		out = append(out, z.HypervisorNames()...)
	}
	return out
}

// FrontendNames returns the zone's front-end names in inventory order.
func (z Zone) FrontendNames() []string {
	out := make([]string, len(z.Frontends))
	for i, f := range z.Frontends {
		out[i] = f.Name
	}
	return out
}

// HypervisorNames returns the zone's hypervisor names in inventory order.
func (z Zone) HypervisorNames() []string {
	out := make([]string, len(z.Hypervisors))
	for i, h := range z.Hypervisors {
		out[i] = h.Name
	}
	return out
}

// Frontend returns the front-end named name.
func (z Zone) Frontend(name string) (Frontend, bool) {
	i := slices.IndexFunc(z.Frontends, func(f Frontend) bool { return f.Name == name })
	if i < 0 {
		return Frontend{}, false
	}
	return z.Frontends[i], true
}

// Followers returns the front-end names other than leader, in inventory
// order.
func (z Zone) Followers(leader string) []string {
	var out []string
	for _, f := range z.Frontends {
		if f.Name != leader {
			out = append(out, f.Name)
		}
	}
	return out
}

// Majority returns how many servers of the zone make a Raft majority.
func (z Zone) Majority() int { return len(z.Frontends)/2 + 1 }

// kind returns the hypervisor kind, "kvm" when unset.
func (h Hypervisor) kind() string {
	if h.Kind == "" {
		return "kvm"
	}
	return h.Kind
}

// NodePackage returns the hypervisor's node package,
// opennebula-node-<kind>.
func (h Hypervisor) NodePackage() string { return "opennebula-node-" + h.kind() }

// IsKVM reports whether the hypervisor runs KVM (libvirtd is restarted
// after its node package is upgraded).
func (h Hypervisor) IsKVM() bool { return h.kind() == "kvm" }

// Repo returns the system.Repo of the target release: "{series}" in the
// URL replaced with the target's X.Y.
func (inv Inventory) Repo() (system.Repo, error) {
	v, err := path.Parse(inv.Target)
	if err != nil {
		return system.Repo{}, fmt.Errorf("%w: target: %w", ErrInvalidInventory, err)
	}
	return inv.Repository.repo(v), nil
}

func (r Repository) repo(target path.Version) system.Repo {
	name := r.Name
	if name == "" {
		name = "opennebula"
	}
	comps := r.Components
	if len(comps) == 0 {
		comps = []string{"opennebula"}
	}
	suite := r.Suite
	if suite == "" {
		suite = "stable"
	}
	return system.Repo{
		Name:        name,
		Description: "OpenNebula " + fmt.Sprintf("%d.%d", target.Major, target.Minor),
		URL:         strings.ReplaceAll(r.URL, "{series}", fmt.Sprintf("%d.%d", target.Major, target.Minor)),
		Token:       r.Token,
		Suite:       suite,
		Components:  comps,
		KeyURL:      r.KeyURL,
		Deb822:      r.Deb822,
	}
}
