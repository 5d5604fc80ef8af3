package cli

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/upgradekit/upgradekit/onedb"
	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/upgrade/ha"
)

// File is the inventory file an operator writes: the cloud, the target,
// the repository and how to log in. Example:
//
//	target: 7.4.1
//	repository:
//	  url: https://downloads.opennebula.io/repo/{series}/Ubuntu/24.04
//	  # token_file: /root/.one-ee-token   (Enterprise Edition)
//	ssh:
//	  user: root
//	  identity_files: [~/.ssh/id_ed25519]
//	  known_hosts: [~/.ssh/known_hosts]
//	zone:
//	  id: 0
//	  frontends:
//	    - {name: fe1, address: 10.0.0.11, server_id: 0}
//	    - {name: fe2, address: 10.0.0.12, server_id: 1}
//	    - {name: fe3, address: 10.0.0.13, server_id: 2}
//	  hypervisors:
//	    - {name: kvm1, address: 10.0.1.1}
//	    - {name: kvm2, address: 10.0.1.2, kind: lxc}
//
// Secrets are never in the file itself: token_file/token_env and
// password_file/password_env name where they are.
type File struct {
	Target     string     `yaml:"target"`
	Repository RepoFile   `yaml:"repository"`
	SSH        SSHFile    `yaml:"ssh"`
	Database   *DBFile    `yaml:"database"`
	Zone       *ZoneFile  `yaml:"zone"`
	Zones      []ZoneFile `yaml:"zones"`
}

// RepoFile is the repository section.
type RepoFile struct {
	Name       string   `yaml:"name"`
	URL        string   `yaml:"url"`
	TokenFile  string   `yaml:"token_file"`
	TokenEnv   string   `yaml:"token_env"`
	Suite      string   `yaml:"suite"`
	Components []string `yaml:"components"`
	KeyURL     string   `yaml:"key_url"`
	Deb822     bool     `yaml:"deb822"`
}

// SSHFile is the ssh section, shared by every host.
type SSHFile struct {
	User          string   `yaml:"user"`
	Port          int      `yaml:"port"`
	IdentityFiles []string `yaml:"identity_files"`
	KnownHosts    []string `yaml:"known_hosts"`
	UseAgent      bool     `yaml:"use_agent"`
	ConfigFile    string   `yaml:"config_file"`
	ProxyJump     string   `yaml:"proxy_jump"`
	// Sudo: run root commands through sudo (default true; set false when
	// logging in as root on hosts without sudo).
	Sudo *bool `yaml:"sudo"`
	// CLIUser runs onezone/onehost/onevm through sudo as this user (e.g.
	// oneadmin) when the login user cannot read oneadmin's credentials.
	CLIUser string `yaml:"cli_user"`
}

// DBFile is the optional database section (for the checksum comparison).
type DBFile struct {
	Server       string `yaml:"server"`
	Port         int    `yaml:"port"`
	User         string `yaml:"user"`
	Name         string `yaml:"name"`
	PasswordFile string `yaml:"password_file"`
	PasswordEnv  string `yaml:"password_env"`
}

// ZoneFile is one zone.
type ZoneFile struct {
	ID        int    `yaml:"id"`
	Name      string `yaml:"name"`
	Endpoint  string `yaml:"endpoint"`
	Leader    string `yaml:"leader"`
	Frontends []struct {
		Name     string `yaml:"name"`
		Address  string `yaml:"address"`
		ServerID *int   `yaml:"server_id"`
	} `yaml:"frontends"`
	Hypervisors []struct {
		Name    string `yaml:"name"`
		Address string `yaml:"address"`
		Kind    string `yaml:"kind"`
	} `yaml:"hypervisors"`
}

// LoadFile reads and decodes an inventory file; unknown keys are errors.
func LoadFile(path string) (File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return File{}, err
	}
	return ParseFile(data)
}

// ParseFile decodes an inventory; unknown keys are errors.
func ParseFile(data []byte) (File, error) {
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return File{}, fmt.Errorf("inventory: %w", err)
	}
	if f.Zone != nil {
		if len(f.Zones) > 0 {
			return File{}, errors.New("inventory: give either zone or zones, not both")
		}
		f.Zones = []ZoneFile{*f.Zone}
		f.Zone = nil
	}
	return f, nil
}

// secret reads a secret from a file (trailing newline dropped) or from an
// environment variable.
func secret(file, env, what string) (transport.Secret, error) {
	switch {
	case file != "" && env != "":
		return transport.Secret{}, fmt.Errorf("inventory: %s: give a file or an environment variable, not both", what)
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return transport.Secret{}, fmt.Errorf("inventory: %s: %w", what, err)
		}
		return transport.NewSecret(strings.TrimRight(string(b), "\r\n")), nil
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok {
			return transport.Secret{}, fmt.Errorf("inventory: %s: $%s is not set", what, env)
		}
		return transport.NewSecret(v), nil
	}
	return transport.Secret{}, nil
}

// Inventory converts the file into the procedures' inventory. Front-ends
// without server_id get 0, 1, 2... in file order (-1 for a lone one).
// Every host needs an address (an IP or a DNS name, with an optional
// port): a host's name is never looked up in its place. Errors match
// ha.ErrInvalidInventory, and come before any host is contacted.
func (f File) Inventory() (ha.Inventory, error) {
	tok, err := secret(f.Repository.TokenFile, f.Repository.TokenEnv, "repository token")
	if err != nil {
		return ha.Inventory{}, err
	}
	inv := ha.Inventory{
		Target: f.Target,
		Repository: ha.Repository{Name: f.Repository.Name, URL: f.Repository.URL, Token: tok, Suite: f.Repository.Suite,
			Components: f.Repository.Components, KeyURL: f.Repository.KeyURL, Deb822: f.Repository.Deb822},
	}
	if d := f.Database; d != nil {
		pw, err := secret(d.PasswordFile, d.PasswordEnv, "database password")
		if err != nil {
			return ha.Inventory{}, err
		}
		inv.DB = &onedb.Conn{Backend: onedb.MySQL, Server: d.Server, Port: d.Port, User: d.User, DBName: d.Name, Password: pw}
	}
	var noAddr []error
	for _, zf := range f.Zones {
		z := ha.Zone{ID: zf.ID, Name: zf.Name, Endpoint: zf.Endpoint}
		for i, fe := range zf.Frontends {
			id := i
			if len(zf.Frontends) == 1 {
				id = -1
			}
			if fe.ServerID != nil {
				id = *fe.ServerID
			}
			if fe.Address == "" {
				noAddr = append(noAddr, fmt.Errorf("%w: zone %d: front-end %q has no address", ha.ErrInvalidInventory, zf.ID, fe.Name))
			}
			z.Frontends = append(z.Frontends, ha.Frontend{Name: fe.Name, Address: fe.Address, ServerID: id})
		}
		for _, h := range zf.Hypervisors {
			if h.Address == "" {
				noAddr = append(noAddr, fmt.Errorf("%w: zone %d: hypervisor %q has no address", ha.ErrInvalidInventory, zf.ID, h.Name))
			}
			z.Hypervisors = append(z.Hypervisors, ha.Hypervisor{Name: h.Name, Address: h.Address, Kind: h.Kind})
		}
		inv.Zones = append(inv.Zones, z)
	}
	return inv, errors.Join(append(noAddr, inv.Validate())...)
}

// Sudo reports whether root commands go through sudo (default true).
func (f File) Sudo() bool { return f.SSH.Sudo == nil || *f.SSH.Sudo }
