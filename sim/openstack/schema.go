package ossim

import (
	"fmt"
	"slices"
	"strconv"
)

func (d *schemaDef) table() string {
	if d.kind == migrateRepo {
		return "migrate_version"
	}
	return "alembic_version"
}

// branch returns the revisions of one branch in order ("" = all).
func (d *schemaDef) branch(b string) []rev {
	var out []rev
	for _, r := range d.revs {
		if b == "" || r.branch == b {
			out = append(out, r)
		}
	}
	return out
}

// known reports whether a tool of release rel knows id.
func (d *schemaDef) known(rel int, id string) bool {
	if id == d.base {
		return true
	}
	for _, r := range d.revs {
		if r.id == id {
			return r.release <= rel
		}
	}
	return false
}

// head returns the last revision of branch b a tool of release rel knows
// (the base when none).
func (d *schemaDef) head(rel int, b string) string {
	h := d.base
	for _, r := range d.branch(b) {
		if r.release <= rel {
			h = r.id
		}
	}
	return h
}

// schemaState is where a database stands.
type schemaState struct {
	exists bool
	// pos is the index of the applied head in each branch ("" for
	// linear and migrate), -1 at the base.
	pos map[string]int
}

func (d *schemaDef) branches() []string {
	if d.kind == expandContract {
		return []string{"expand", "contract"}
	}
	return []string{""}
}

// state reads db's version table.
func (d *schemaDef) state(db *database) (schemaState, error) {
	st := schemaState{pos: map[string]int{}}
	t, ok := db.Tables[d.table()]
	if !ok {
		return st, nil
	}
	st.exists = true
	for _, b := range d.branches() {
		st.pos[b] = -1
	}
	col := len(t.Cols) - 1
	for _, row := range t.Rows {
		id := row[col]
		if d.kind == migrateRepo {
			v, err := strconv.Atoi(id)
			if err != nil {
				return st, fmt.Errorf("bad migrate version %q", id)
			}
			base, _ := strconv.Atoi(d.base)
			st.pos[""] = v - base - 1
			continue
		}
		if id == d.base {
			continue
		}
		found := false
		for _, b := range d.branches() {
			if i := slices.IndexFunc(d.branch(b), func(r rev) bool { return r.id == id }); i >= 0 {
				st.pos[b] = max(st.pos[b], i)
				found = true
			}
		}
		if !found {
			return st, fmt.Errorf("unknown revision %q", id)
		}
	}
	return st, nil
}

// write stores st in db's version table.
func (d *schemaDef) write(db *database, st schemaState) {
	if d.kind == migrateRepo {
		base, _ := strconv.Atoi(d.base)
		db.Tables["migrate_version"] = &table{Cols: []string{"repository_id", "repository_path", "version"},
			Rows: [][]string{{"heat", "/usr/lib/python3/dist-packages/heat/db/sqlalchemy/migrate_repo", strconv.Itoa(base + 1 + st.pos[""])}}}
		return
	}
	t := &table{Cols: []string{"version_num"}}
	for _, b := range d.branches() {
		p := st.pos[b]
		if p >= 0 {
			t.Rows = append(t.Rows, []string{d.branch(b)[p].id})
		}
	}
	if len(t.Rows) == 0 {
		t.Rows = [][]string{{d.base}}
	}
	slices.SortFunc(t.Rows, func(a, b []string) int {
		if a[0] < b[0] {
			return -1
		}
		if a[0] > b[0] {
			return 1
		}
		return 0
	})
	db.Tables["alembic_version"] = t
}

// target is the index a tool of release rel moves branch b to.
func (d *schemaDef) target(rel int, b string) int {
	i := -1
	for j, r := range d.branch(b) {
		if r.release <= rel {
			i = j
		}
	}
	return i
}

// upgrade applies the migrations of branch b up to rel's head, creating
// a table per applied script (the schema change), and returns their ids.
func (d *schemaDef) upgrade(db *database, rel int, b string) ([]string, error) {
	st, err := d.state(db)
	if err != nil {
		return nil, err
	}
	if !st.exists {
		st = schemaState{exists: true, pos: map[string]int{}}
		for _, x := range d.branches() {
			st.pos[x] = -1
		}
	}
	var applied []string
	revs := d.branch(b)
	for i := st.pos[b] + 1; i <= d.target(rel, b); i++ {
		applied = append(applied, revs[i].id)
		name := "sim_" + revs[i].id
		if _, ok := db.Tables[name]; !ok {
			db.Tables[name] = &table{Cols: []string{"id", "migration"}, Rows: [][]string{{"1", revs[i].id}}}
		}
		st.pos[b] = i
	}
	d.write(db, st)
	return applied, nil
}

// atHead reports whether branch b is at rel's head.
func (d *schemaDef) atHead(st schemaState, rel int, b string) bool {
	return st.exists && st.pos[b] >= d.target(rel, b)
}

// newest returns the highest release any applied revision belongs to.
func (d *schemaDef) newest(st schemaState) int {
	n := -1
	for _, b := range d.branches() {
		if p := st.pos[b]; p >= 0 {
			n = max(n, d.branch(b)[p].release)
		}
	}
	return n
}
