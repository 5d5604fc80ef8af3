package cli

import (
	"errors"
	"net"
	"reflect"
	"strings"
	"testing"

	"github.com/upgradekit/upgradekit/upgrade/ha"
)

// inventorySeeds are FuzzInventory's seeds, each section on its own.
// They stay short: the fuzzer minimises every input that finds new
// coverage, in a number of runs that grows with the square of its length
// (go/src/internal/fuzz/minimize.go), and stops fuzzing meanwhile; with
// the 600-byte sample as a seed it stood still for 40 s of a minute.
var inventorySeeds = []string{
	"target: 7.4.1\nrepository: {url: x}\nzone: {frontends: [{name: a, address: a}]}\n",
	"target: 7.4.1\nrepository:\n  url: x\nzone:\n  frontends:\n    - name: a\n      address: a\n      server_id: 0\n",
	"target: 7.4.1\nrepository: {url: 'https://r/{series}'}\nzone: {id: 0, leader: b, frontends: [{name: a, address: h}, " +
		"{name: b, address: 'h:2', server_id: 7}], hypervisors: [{name: k, address: h, kind: lxc}]}\n",
	"target: 7.4.1\nrepository: {url: x}\nzones: [{id: 0, frontends: [{name: a, address: '[::1]:22'}]}, " +
		"{id: 100, endpoint: e, frontends: [{name: b, address: a}]}]\n",
	"repository: {url: x, name: n, suite: s, components: [c], key_url: k, deb822: true}\n" +
		"ssh: {user: u, port: 2, identity_files: [i], known_hosts: [kh], sudo: false, cli_user: c, proxy_jump: b}\n",
	"database: {server: s, port: 1, user: u, name: n}\nzone: {id: 0}\nzones: [{id: 1}]\n",
}

// maxInventorySeed bounds the seeds' length (see inventorySeeds).
const maxInventorySeed = 256

func TestInventoryFuzzSeeds(t *testing.T) {
	t.Parallel()
	accepted := 0
	for _, s := range inventorySeeds {
		if len(s) > maxInventorySeed {
			t.Errorf("seed of %d bytes stalls the fuzzer in minimisation: %.40q", len(s), s)
		}
		f, err := ParseFile([]byte(s))
		if err != nil {
			continue
		}
		if _, err := f.Inventory(); err == nil {
			accepted++
		}
	}
	if accepted < 3 {
		t.Errorf("only %d seeds make an inventory: the fuzzer would hardly reach Validate", accepted)
	}
}

// FuzzInventory loads arbitrary inventory files: decoding never panics,
// a refused file yields nothing, and an accepted one is an inventory
// every host of which has a name and an address of its own.
func FuzzInventory(f *testing.F) {
	for _, s := range inventorySeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := ParseFile(data)
		if err != nil {
			if !reflect.DeepEqual(file, File{}) {
				t.Fatalf("a file with an error: %v", err)
			}
			return
		}
		if file.Zone != nil {
			t.Fatal("zone is folded into zones")
		}
		// Secrets come from files and the environment: not from fuzzing.
		file.Repository.TokenFile, file.Repository.TokenEnv = "", ""
		if file.Database != nil {
			file.Database.PasswordFile, file.Database.PasswordEnv = "", ""
		}
		inv, err := file.Inventory()
		if err != nil {
			if !errors.Is(err, ha.ErrInvalidInventory) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		if u := inv.Repository.URL; u == "" || strings.ContainsAny(u, "@?#") {
			t.Fatalf("repository URL %q accepted", u)
		}
		names := map[string]bool{}
		for _, z := range inv.Zones {
			addrs := map[string]bool{}
			for _, fe := range z.Frontends {
				if fe.Name == "" || fe.Address == "" || names[fe.Name] {
					t.Fatalf("front-end %+v accepted", fe)
				}
				names[fe.Name] = true
				key := strings.ToLower(fe.Address)
				if h, p, err := net.SplitHostPort(fe.Address); err == nil {
					key = net.JoinHostPort(strings.ToLower(h), p)
				}
				if addrs[key] {
					t.Fatalf("two front-ends at %s accepted", fe.Address)
				}
				addrs[key] = true
			}
			for _, h := range z.Hypervisors {
				if h.Name == "" || h.Address == "" || names[h.Name] {
					t.Fatalf("hypervisor %+v accepted", h)
				}
				names[h.Name] = true
			}
		}
	})
}
