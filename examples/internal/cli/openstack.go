package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/upgradekit/upgradekit/openstack"
	ossim "github.com/upgradekit/upgradekit/sim/openstack"
	"github.com/upgradekit/upgradekit/system"
	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/transport/ssh"
	"github.com/upgradekit/upgradekit/upgrade"
	"github.com/upgradekit/upgradekit/upgrade/controlplane"
)

// OpenStackFile is the inventory of an OpenStack control-plane upgrade.
// Example:
//
//	family: debian            # or rhel
//	repository:
//	  name: openstack-antelope
//	  url: http://osbpo.debian.net/debian
//	  suite: bookworm-antelope-backports
//	  components: [main]
//	backup_dir: /var/backups/upgradekit
//	ssh:
//	  user: root
//	  identity_files: [~/.ssh/id_ed25519]
//	  known_hosts: [~/.ssh/known_hosts]
//	controllers:
//	  - {name: ctl1, address: 10.0.0.11}
//	  - {name: ctl2, address: 10.0.0.12}
//	networks:
//	  - {name: net1, address: 10.0.0.21}
//	computes:
//	  - {name: cmp1, address: 10.0.1.1}
//	  - {name: cmp2, address: 10.0.1.2}
//
// The first controller is the primary: schema migrations, checks and
// database dumps run there. A node listed under several roles (a
// controller that is also the network node) is one host.
type OpenStackFile struct {
	Family string `yaml:"family"`
	// Target is the release series to upgrade to ("2024.1"); the
	// preflight refuses jumps the SLURP rules do not allow.
	Target      string          `yaml:"target"`
	Database    OpenStackDBFile `yaml:"database"`
	Repository  RepoFile        `yaml:"repository"`
	BackupDir   string          `yaml:"backup_dir"`
	SSH         SSHFile         `yaml:"ssh"`
	Controllers []NodeFile      `yaml:"controllers"`
	Networks    []NodeFile      `yaml:"networks"`
	Computes    []NodeFile      `yaml:"computes"`
}

// OpenStackDBFile says how the SQL client and mysqldump on the primary reach the
// database server: TLS with a CA and/or a client certificate, or
// tls: false for a server without TLS (MariaDB 11 clients otherwise
// refuse it). Paths are on the primary.
type OpenStackDBFile struct {
	TLS  *bool  `yaml:"tls"`
	CA   string `yaml:"ca"`
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// ToolOptions returns the openstack options the file asks for.
func (f OpenStackFile) ToolOptions() []openstack.Option {
	d := f.Database
	if d.TLS == nil && d.CA == "" && d.Cert == "" {
		return nil
	}
	return []openstack.Option{openstack.WithDBTLS(openstack.DBTLS{CA: d.CA, Cert: d.Cert, Key: d.Key, Disable: d.TLS != nil && !*d.TLS})}
}

// NodeFile is one node of an OpenStack inventory.
type NodeFile struct {
	Name    string `yaml:"name"`
	Address string `yaml:"address"`
}

// LoadOpenStackFile reads and decodes an OpenStack inventory; unknown
// keys are errors.
func LoadOpenStackFile(path string) (OpenStackFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return OpenStackFile{}, err
	}
	return ParseOpenStackFile(data)
}

// ParseOpenStackFile decodes an OpenStack inventory; unknown keys are
// errors.
func ParseOpenStackFile(data []byte) (OpenStackFile, error) {
	var f OpenStackFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return OpenStackFile{}, fmt.Errorf("%w: inventory: %w", ErrUsage, err)
	}
	return f, nil
}

// Sudo reports whether root commands go through sudo (default true).
func (f OpenStackFile) Sudo() bool { return f.SSH.Sudo == nil || *f.SSH.Sudo }

// Inventory converts the file into the procedure's inventory.
func (f OpenStackFile) Inventory() (controlplane.Inventory, error) {
	tok, err := secret(f.Repository.TokenFile, f.Repository.TokenEnv, "repository token")
	if err != nil {
		return controlplane.Inventory{}, err
	}
	inv := controlplane.Inventory{
		Family:    openstack.Family(strings.ToLower(f.Family)),
		BackupDir: f.BackupDir,
		Target:    f.Target,
		Repository: system.Repo{Name: f.Repository.Name, URL: f.Repository.URL, Token: tok, Suite: f.Repository.Suite,
			Components: f.Repository.Components, KeyURL: f.Repository.KeyURL, Deb822: f.Repository.Deb822},
	}
	if inv.Family == "" {
		inv.Family = openstack.Debian
	}
	seen := map[string]string{}
	add := func(dst *[]string, nodes []NodeFile) error {
		for _, n := range nodes {
			if n.Name == "" {
				return fmt.Errorf("%w: inventory: a node has no name", ErrUsage)
			}
			addr := n.Address
			if addr == "" {
				addr = n.Name
			}
			if a, ok := seen[n.Name]; ok && a != addr {
				return fmt.Errorf("%w: inventory: node %s has two addresses (%s, %s)", ErrUsage, n.Name, a, addr)
			}
			seen[n.Name] = addr
			*dst = append(*dst, n.Name)
		}
		return nil
	}
	if err := errors.Join(add(&inv.Controllers, f.Controllers), add(&inv.Networks, f.Networks), add(&inv.Computes, f.Computes)); err != nil {
		return controlplane.Inventory{}, err
	}
	if len(inv.Controllers) == 0 {
		return controlplane.Inventory{}, fmt.Errorf("%w: inventory: no controllers", ErrUsage)
	}
	return inv, nil
}

// Addresses returns each node's SSH address by name.
func (f OpenStackFile) Addresses() map[string]string {
	out := map[string]string{}
	for _, n := range append(append(append([]NodeFile(nil), f.Controllers...), f.Networks...), f.Computes...) {
		if n.Address != "" {
			out[n.Name] = n.Address
		} else if _, ok := out[n.Name]; !ok {
			out[n.Name] = n.Name
		}
	}
	return out
}

// OpenStackSSHHosts opens (lazily) an SSH client per node of the file,
// host keys checked strictly against known_hosts. Close the pool when
// done.
func OpenStackSSHHosts(f OpenStackFile) (map[string]transport.Transport, *ssh.Pool, error) {
	base := ssh.Config{
		User: f.SSH.User, Port: f.SSH.Port, IdentityFiles: f.SSH.IdentityFiles, KnownHostsFiles: f.SSH.KnownHosts,
		UseAgent: f.SSH.UseAgent, ConfigFile: f.SSH.ConfigFile, ProxyJump: f.SSH.ProxyJump,
	}
	pool, err := ssh.NewPool(base, ssh.WithHostKeyPolicy(ssh.Strict()))
	if err != nil {
		return nil, nil, err
	}
	hosts := map[string]transport.Transport{}
	for name, addr := range f.Addresses() {
		cfg := base
		cfg.Host, cfg.Name = addr, name
		if err := pool.Add(name, cfg); err != nil {
			return nil, nil, errors.Join(err, pool.Close())
		}
		c, err := pool.Get(name)
		if err != nil {
			return nil, nil, errors.Join(err, pool.Close())
		}
		hosts[name] = c
	}
	return hosts, pool, nil
}

// OpenStackSimulation is an embedded simulated control plane and what it
// takes to run the procedure on it.
type OpenStackSimulation struct {
	Cloud     *ossim.Cloud
	Inventory controlplane.Inventory
	Hosts     map[string]transport.Transport
	// RunnerOptions: hosts, the virtual clock and an in-memory journal.
	RunnerOptions []upgrade.Option
}

// SimulateOpenStack builds a simulated Zed control plane (two
// controllers, a network node, three computes on Debian 12) to be
// upgraded to 2023.1 Antelope from the bookworm-antelope backports.
func SimulateOpenStack(opts ...ossim.Option) (*OpenStackSimulation, error) {
	top := ossim.Topology{Controllers: []string{"ctl1", "ctl2"}, Networks: []string{"net1"}, Computes: []string{"cmp1", "cmp2", "cmp3"}}
	c, err := ossim.New(top, opts...)
	if err != nil {
		return nil, err
	}
	inv := controlplane.Inventory{
		Controllers: top.Controllers, Networks: top.Networks, Computes: top.Computes, Family: openstack.Debian,
		Target: "2023.1",
		Repository: system.Repo{Name: "openstack-antelope", URL: "http://osbpo.debian.net/debian",
			Suite: "bookworm-antelope-backports", Components: []string{"main"}},
	}
	hosts := c.Transports()
	return &OpenStackSimulation{Cloud: c, Inventory: inv, Hosts: hosts,
		RunnerOptions: []upgrade.Option{upgrade.WithHosts(hosts), upgrade.WithClock(c.Now), upgrade.WithJournal(&upgrade.MemoryStore{})}}, nil
}

// PrintDowntime writes, after a blank line, how long each service's API
// was unavailable (virtual time) and the upstream rules the run broke,
// if any.
func (s *OpenStackSimulation) PrintDowntime(w io.Writer) {
	down := s.Cloud.APIDowntime()
	fmt.Fprintf(w, "\nsimulator (virtual time): API unavailable per service:")
	for _, svc := range openstack.DefaultCatalog().Names() {
		fmt.Fprintf(w, " %s %s", svc, down[svc].Round(time.Millisecond))
	}
	fmt.Fprintln(w)
	if v := s.Cloud.Violations(); len(v) > 0 {
		fmt.Fprintf(w, "simulator: upstream rules broken: %v\n", slices.Clip(v))
	}
}
