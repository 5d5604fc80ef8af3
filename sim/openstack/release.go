package ossim

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
)

// Release is an OpenStack series the simulator can install: its name (as
// it appears in repository suites, "zed", "antelope") and the upstream
// version of every service's packages.
type Release struct {
	// Name is the series' code name in lower case.
	Name string
	// Series is the numbered name ("2023.1"), or the code name before
	// 2023.
	Series string
	// Versions maps a family ("debian", "rhel") and service to the
	// package version the tools report.
	Versions map[string]map[string]string
}

// Zed is Debian 12's OpenStack (TESTBED.md: the versions bookworm
// ships); the RHEL versions follow RDO's numbering.
func Zed() Release {
	return Release{Name: "zed", Series: "zed", Versions: map[string]map[string]string{
		"debian": {
			"keystone": "2:22.0.2-0+deb12u6", "glance": "2:25.1.0-2+deb12u5", "placement": "8.0.0-2",
			"nova": "2:26.2.2-1~deb12u5", "neutron": "2:21.0.0-7+deb12u1", "cinder": "2:21.3.1-1~deb12u1",
			"heat": "1:19.0.0-3", "horizon": "3:23.0.0-5",
		},
		"rhel": {
			"keystone": "1:22.0.2-1.el9s", "glance": "1:25.1.0-1.el9s", "placement": "1:8.0.0-1.el9s",
			"nova": "1:26.2.2-1.el9s", "neutron": "1:21.0.0-1.el9s", "cinder": "1:21.3.1-1.el9s",
			"heat": "1:19.0.0-1.el9s", "horizon": "1:23.0.0-1.el9s",
		},
	}}
}

// Antelope is 2023.1, the first SLURP release, as Debian's
// bookworm-antelope backports and RDO ship it (keystone 23, glance 26,
// placement 9, nova 27, neutron 22, cinder 22, heat 20).
func Antelope() Release {
	return Release{Name: "antelope", Series: "2023.1", Versions: map[string]map[string]string{
		"debian": {
			"keystone": "2:23.0.0-1~bpo12+1", "glance": "2:26.0.0-1~bpo12+1", "placement": "9.0.0-1~bpo12+1",
			"nova": "2:27.0.0-1~bpo12+1", "neutron": "2:22.0.0-1~bpo12+1", "cinder": "2:22.0.0-1~bpo12+1",
			"heat": "1:20.0.0-1~bpo12+1", "horizon": "3:23.1.0-1~bpo12+1",
		},
		"rhel": {
			"keystone": "1:23.0.0-1.el9s", "glance": "1:26.0.0-1.el9s", "placement": "1:9.0.0-1.el9s",
			"nova": "1:27.0.0-1.el9s", "neutron": "1:22.0.0-1.el9s", "cinder": "1:22.0.0-1.el9s",
			"heat": "1:20.0.0-1.el9s", "horizon": "1:23.1.0-1.el9s",
		},
	}}
}

// major returns the upstream major version of svc in r.
func (r Release) major(family, svc string) int {
	v := r.Versions[family][svc]
	i := 0
	for i < len(v) && v[i] != ':' {
		i++
	}
	if i < len(v) {
		v = v[i+1:]
	}
	j := 0
	for j < len(v) && v[j] >= '0' && v[j] <= '9' {
		j++
	}
	n, _ := strconv.Atoi(v[:j])
	return n
}

// schemaKind is how a database's migrations are laid out.
type schemaKind int

const (
	// expandContract: alembic with an expand and a contract branch from
	// a common base, EXPAND_HEAD/CONTRACT_HEAD files (keystone, neutron).
	expandContract schemaKind = iota
	// linear: one alembic chain (glance's expand01/contract01 pairs,
	// placement, nova, cinder).
	linear
	// migrateRepo: sqlalchemy-migrate integer versions (heat up to
	// 2023.1).
	migrateRepo
)

// rev is one migration script.
type rev struct {
	id      string
	down    string
	release int    // index in the cloud's release list
	branch  string // "expand", "contract" or ""
}

// schemaDef describes one database's migrations across the releases.
type schemaDef struct {
	kind schemaKind
	// dir is the migrations directory below the Python package.
	dir string
	// base is the revision every branch starts from (alembic).
	base string
	// revs in application order (per branch for expandContract).
	revs []rev
	// heads: write EXPAND_HEAD/CONTRACT_HEAD files.
	heads bool
}

func synthID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// schemas returns the migration layout of every database for nReleases
// releases. Release 0's heads are the real Zed ones where TESTBED.md
// recorded them (keystone, glance); later releases' identifiers are
// synthetic (stable hashes), with one expand and one contract script per
// release for keystone and neutron, glance's "<series>_expand01" and
// "_contract01" pair, one script per release for the db-sync services,
// and no schema change for heat's sqlalchemy-migrate repository after
// Zed's 086.
func schemas(rels []Release) map[string]*schemaDef {
	out := map[string]*schemaDef{}
	ec := func(svc, dir, base string, zedExpand, zedContract string) *schemaDef {
		d := &schemaDef{kind: expandContract, dir: dir, base: base, heads: true}
		pe, pc := base, base
		for i, r := range rels {
			e, c := zedExpand, zedContract
			if i > 0 || e == "" {
				e, c = synthID(svc, r.Name, "expand"), synthID(svc, r.Name, "contract")
			}
			d.revs = append(d.revs, rev{id: e, down: pe, release: i, branch: "expand"}, rev{id: c, down: pc, release: i, branch: "contract"})
			pe, pc = e, c
		}
		return d
	}
	out["keystone"] = ec("keystone", "common/sql/migrations/versions", "27e647c0fad4", "29e87d24a316", "e25ffa003242")
	out["neutron"] = ec("neutron", "db/migration/alembic_migrations/versions", "kilo", "", "")
	g := &schemaDef{kind: linear, dir: "db/sqlalchemy/alembic_migrations/versions"}
	g.base = "liberty"
	prev := g.base
	for i, r := range rels {
		series := r.Series
		if i == 0 {
			series = "wallaby"
		}
		for _, b := range []string{"expand", "contract"} {
			id := fmt.Sprintf("%s_%s01", underscore(series), b)
			g.revs = append(g.revs, rev{id: id, down: prev, release: i, branch: b})
			prev = id
		}
	}
	out["glance"] = g
	lin := func(svc, dir string) *schemaDef {
		d := &schemaDef{kind: linear, dir: dir, base: synthID(svc, "initial")}
		prev := d.base
		for i, r := range rels {
			id := synthID(svc, r.Name)
			d.revs = append(d.revs, rev{id: id, down: prev, release: i})
			prev = id
		}
		return d
	}
	out["placement"] = lin("placement", "db/sqlalchemy/alembic/versions")
	out["nova_api"] = lin("nova_api", "db/api/migrations/versions")
	out["nova"] = lin("nova", "db/main/migrations/versions")
	out["cinder"] = lin("cinder", "db/migrations/versions")
	h := &schemaDef{kind: migrateRepo, dir: "db/sqlalchemy/migrate_repo/versions", base: "72"}
	for v := 73; v <= 86; v++ {
		h.revs = append(h.revs, rev{id: strconv.Itoa(v), release: 0})
	}
	out["heat"] = h
	return out
}

func underscore(s string) string {
	b := []byte(s)
	for i := range b {
		if b[i] == '.' {
			b[i] = '_'
		}
	}
	return string(b)
}

// schemaOf names the schema definition of a database.
func schemaOf(db string) string {
	if db == "nova_cell0" {
		return "nova"
	}
	return db
}
