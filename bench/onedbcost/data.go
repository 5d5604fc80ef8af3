package main

import (
	"bytes"
	"compress/zlib"
	"context"
	"database/sql"
	_ "embed"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
)

//go:embed testdata/onevm-list.xml
var vmSample string

//go:embed testdata/onehost-list.xml
var hostSample string

// schema returns OpenNebula 7's layout of the tables onedb work is
// dominated by (src/onedb/database_schema.rb, the 5.7.80+ definitions).
func schema() []string {
	return []string{
		`CREATE TABLE vm_pool (oid INTEGER PRIMARY KEY, name VARCHAR(128), body MEDIUMTEXT, uid INTEGER, gid INTEGER, last_poll INTEGER, state INTEGER, lcm_state INTEGER, owner_u INTEGER, group_u INTEGER, other_u INTEGER, short_body MEDIUMTEXT, search_token MEDIUMTEXT)`,
		`CREATE TABLE history (vid INTEGER, seq INTEGER, body MEDIUMTEXT, stime INTEGER, etime INTEGER, PRIMARY KEY(vid,seq))`,
		`CREATE TABLE host_pool (oid INTEGER PRIMARY KEY, name VARCHAR(128), body MEDIUMTEXT, state INTEGER, last_mon_time INTEGER, uid INTEGER, gid INTEGER, owner_u INTEGER, group_u INTEGER, other_u INTEGER, cid INTEGER)`,
		`CREATE TABLE logdb (log_index BIGINT UNSIGNED PRIMARY KEY, term INTEGER, sqlcmd MEDIUMTEXT, timestamp INTEGER, fed_index BIGINT UNSIGNED, applied BOOLEAN)`,
		`CREATE TABLE db_versioning (oid INTEGER PRIMARY KEY, version VARCHAR(256), timestamp INTEGER, comment VARCHAR(256))`,
		`CREATE TABLE local_db_versioning (oid INTEGER PRIMARY KEY, version VARCHAR(256), timestamp INTEGER, comment VARCHAR(256), is_slave BOOLEAN)`,
		`INSERT INTO db_versioning VALUES (0, '7.4.0', 1763640000, 'OpenNebula 7.4.0 (0a1b2c3d) daemon bootstrap')`,
		`INSERT INTO local_db_versioning VALUES (0, '7.4.0', 1763640000, 'OpenNebula 7.4.0 (0a1b2c3d) daemon bootstrap', 0)`,
	}
}

// index is one of onedb's index_sql statements and how to drop it.
type index struct{ name, table, create string }

// indexes returns database_schema.rb's index_sql, which onedb upgrade
// drops before the migrators (delete_idx) and creates again after
// (create_idx).
func indexes() []index {
	return []index{
		{"state_oid_idx", "vm_pool", "CREATE INDEX state_oid_idx ON vm_pool (state, oid)"},
		{"ftidx", "vm_pool", "CREATE FULLTEXT INDEX ftidx ON vm_pool(search_token)"},
		{"applied_idx", "logdb", "CREATE INDEX applied_idx ON logdb (applied)"},
	}
}

// fedNone is logdb.fed_index of a record that is not federated (-1 as
// an unsigned 64-bit integer).
const fedNone = uint64(18446744073709551615)

var blanks = regexp.MustCompile(`>\s+<`)

// span finds the first <tag>...</tag> element of s: its start and the
// end of its content (where the closing tag begins).
func span(s, tag string) (start, content, end int, ok bool) {
	open, closing := "<"+tag+">", "</"+tag+">"
	i := strings.Index(s, open)
	if i < 0 {
		return 0, 0, 0, false
	}
	j := strings.Index(s[i:], closing)
	if j < 0 {
		return 0, 0, 0, false
	}
	return i, i + j, i + j + len(closing), true
}

// elements returns every <tag>...</tag> element of xml, compacted the way
// oned serialises bodies (no whitespace between tags).
func elements(xml, tag string) []string {
	var out []string
	for {
		i, _, end, ok := span(xml, tag)
		if !ok {
			return out
		}
		out = append(out, blanks.ReplaceAllString(xml[i:end], "><"))
		xml = xml[end:]
	}
}

// setFirst replaces the content of the first <tag> element of s, if any.
func setFirst(s, tag, val string) string {
	i, content, _, ok := span(s, tag)
	if !ok {
		return s
	}
	return s[:i+len(tag)+2] + val + s[content:]
}

func cdata(s string) string { return "<![CDATA[" + s + "]]>" }

// vmRow is one vm_pool row.
type vmRow struct {
	oid, uid, gid, state, lcm int
	lastPoll                  int64
	name, body, short, search string
}

// generator makes rows that differ per row where a real cloud's do (IDs,
// names, times, addresses, monitoring), so zlib and the dump see
// realistic redundancy.
type generator struct {
	vms, hosts []string
	rnd        *rand.Rand
	buf        bytes.Buffer
	zw         *zlib.Writer
}

func newGenerator(seed uint64) (*generator, error) {
	g := &generator{vms: elements(vmSample, "VM"), hosts: elements(hostSample, "HOST"), rnd: rand.New(rand.NewPCG(seed, seed))}
	g.zw = zlib.NewWriter(&g.buf)
	if len(g.vms) == 0 || len(g.hosts) == 0 {
		return nil, fmt.Errorf("samples: %d VM and %d HOST elements", len(g.vms), len(g.hosts))
	}
	return g, nil
}

func (g *generator) uuid() string {
	b := make([]byte, 16)
	for i := range b {
		b[i] = byte(g.rnd.Uint32())
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// vm returns VM oid as oned would store it at time now.
func (g *generator) vm(oid int, now int64) vmRow {
	t := g.vms[oid%len(g.vms)]
	name := fmt.Sprintf("vm-%d-%s", oid, g.uuid()[:8])
	ip := fmt.Sprintf("172.16.%d.%d", oid/250%250, oid%250+2)
	mac := fmt.Sprintf("02:00:ac:10:%02x:%02x", oid/250%250, oid%250+2)
	id := strconv.Itoa(oid)
	b := setFirst(t, "ID", id)
	b = setFirst(b, "NAME", name)
	b = setFirst(b, "LAST_POLL", strconv.FormatInt(now, 10))
	b = setFirst(b, "STIME", strconv.FormatInt(now-g.rnd.Int64N(86400*30), 10))
	b = setFirst(b, "DEPLOY_ID", g.uuid())
	b = setFirst(b, "IP", cdata(ip))
	b = setFirst(b, "MAC", cdata(mac))
	b = setFirst(b, "OID", id)
	if strings.Contains(b, "<MONITORING><") {
		b = setFirst(b, "MONITORING", fmt.Sprintf("<CPU>%s</CPU><MEMORY>%s</MEMORY><STATE>%s</STATE><TIMESTAMP>%d</TIMESTAMP>",
			cdata(strconv.FormatFloat(g.rnd.Float64()*100, 'f', 2, 64)), cdata(strconv.Itoa(g.rnd.IntN(8<<20))), cdata("a"), now))
	}
	// to_xml_short leaves out most of the template; approximate it by
	// the body without TEMPLATE.
	short := b
	if i, j := strings.Index(b, "<TEMPLATE>"), strings.Index(b, "</TEMPLATE>"); i >= 0 && j > i {
		short = b[:i] + b[j+len("</TEMPLATE>"):]
	}
	num := func(tag string) int {
		i := strings.Index(b, "<"+tag+">")
		if i < 0 {
			return 0
		}
		n, _ := strconv.Atoi(b[i+len(tag)+2 : i+len(tag)+2+strings.Index(b[i+len(tag)+2:], "<")])
		return n
	}
	return vmRow{oid: oid, uid: num("UID"), gid: num("GID"), state: num("STATE"), lcm: num("LCM_STATE"),
		lastPoll: now, name: name, body: b, short: short, search: name + " " + ip + " " + mac}
}

func (g *generator) host(oid int, now int64) []any {
	b := setFirst(g.hosts[oid%len(g.hosts)], "ID", strconv.Itoa(oid))
	name := fmt.Sprintf("kvm-node-%03d", oid)
	b = setFirst(b, "NAME", name)
	b = setFirst(b, "TIMESTAMP", strconv.FormatInt(now, 10))
	return []any{oid, name, b, 2, now, 0, 0, 1, 0, 0, 0}
}

// history returns a ~1 KiB history record body.
func (g *generator) history(vid, seq int, now int64) []any {
	b := fmt.Sprintf("<HISTORY><OID>%d</OID><SEQ>%d</SEQ><HOSTNAME>kvm-node-%03d</HOSTNAME><HID>%d</HID><CID>0</CID>"+
		"<STIME>%d</STIME><ETIME>0</ETIME><VM_MAD><![CDATA[kvm]]></VM_MAD><TM_MAD><![CDATA[shared]]></TM_MAD><DS_ID>0</DS_ID>"+
		"<PSTIME>%d</PSTIME><PETIME>%d</PETIME><RSTIME>%d</RSTIME><RETIME>0</RETIME><ESTIME>0</ESTIME><EETIME>0</EETIME>"+
		"<ACTION>0</ACTION><UID>-1</UID><GID>-1</GID><REQUEST_ID>-1</REQUEST_ID><PLAN_ID>-1</PLAN_ID><ACTION_ID>-1</ACTION_ID>"+
		"<VM><ID>%d</ID><UID>0</UID><GID>0</GID><UNAME>oneadmin</UNAME><GNAME>oneadmin</GNAME><NAME>vm-%d</NAME>"+
		"<TEMPLATE><CPU>1</CPU><MEMORY>2048</MEMORY><VCPU>2</VCPU><DEPLOY_ID>%s</DEPLOY_ID></TEMPLATE>"+
		"<MONITORING/><USER_TEMPLATE/></VM></HISTORY>",
		vid, seq, vid%10, vid%10, now, now, now+20, now+20, vid, vid, g.uuid())
	return []any{vid, seq, b, now, 0}
}

// logCmd returns a logdb.sqlcmd value: the SQL statement oned replicates
// for a VM update, zlib-compressed and base64-encoded.
func (g *generator) logCmd(index int, now int64) (string, error) {
	v := g.vm(index%5000, now)
	stmt := fmt.Sprintf("REPLACE INTO vm_pool (oid,name,body,uid,gid,last_poll,state,lcm_state,owner_u,group_u,other_u,short_body,search_token) VALUES (%d,'%s','%s',%d,%d,%d,%d,%d,1,0,0,'%s','%s')",
		v.oid, escape(v.name), escape(v.body), v.uid, v.gid, v.lastPoll, v.state, v.lcm, escape(v.short), escape(v.search))
	g.buf.Reset()
	g.zw.Reset(&g.buf)
	if _, err := g.zw.Write([]byte(stmt)); err != nil {
		return "", fmt.Errorf("compress log record: %w", err)
	}
	if err := g.zw.Close(); err != nil {
		return "", fmt.Errorf("compress log record: %w", err)
	}
	return base64.StdEncoding.EncodeToString(g.buf.Bytes()), nil
}

// escape quotes s the way mysql_real_escape_string does.
func escape(s string) string {
	return strings.NewReplacer("\\", `\\`, "'", `\'`, "\"", `\"`, "\n", `\n`, "\r", `\r`, "\x00", `\0`, "\x1a", `\Z`).Replace(s)
}

// scale is one database size.
type scale struct{ logs, vms, hosts int }

// loadStats says what was loaded.
type loadStats struct{ logBytes, vmBodyBytes int64 }

// load creates the tables and fills them for sc, then creates the indexes.
func load(ctx context.Context, db *sql.DB, sc scale) (loadStats, error) {
	var st loadStats
	for _, q := range schema() {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return st, fmt.Errorf("schema: %w", err)
		}
	}
	g, err := newGenerator(uint64(sc.logs))
	if err != nil {
		return st, err
	}
	const now = int64(1763720000)
	vms := newBatch(db, "vm_pool", 13)
	hist := newBatch(db, "history", 5)
	for i := range sc.vms {
		v := g.vm(i, now)
		st.vmBodyBytes += int64(len(v.body))
		if err := vms.add(ctx, v.oid, v.name, v.body, v.uid, v.gid, v.lastPoll, v.state, v.lcm, 1, 0, 0, v.short, v.search); err != nil {
			return st, err
		}
		for seq := range 2 {
			if err := hist.add(ctx, g.history(i, seq, now)...); err != nil {
				return st, err
			}
		}
	}
	hosts := newBatch(db, "host_pool", 11)
	for i := range sc.hosts {
		if err := hosts.add(ctx, g.host(i, now)...); err != nil {
			return st, err
		}
	}
	logs := newBatch(db, "logdb", 6)
	for i := range sc.logs {
		cmd, err := g.logCmd(i, now-int64(sc.logs-i))
		if err != nil {
			return st, err
		}
		st.logBytes += int64(len(cmd))
		if err := logs.add(ctx, i, 3, cmd, now-int64(sc.logs-i), fedNone, 1); err != nil {
			return st, err
		}
	}
	for _, b := range []*batch{vms, hist, hosts, logs} {
		if err := b.flush(ctx); err != nil {
			return st, err
		}
	}
	for _, ix := range indexes() {
		if _, err := db.ExecContext(ctx, ix.create); err != nil {
			return st, fmt.Errorf("%s: %w", ix.create, err)
		}
	}
	return st, nil
}

// batch collects rows into multi-row INSERTs of about 2 MiB.
type batch struct {
	db    *sql.DB
	table string
	cols  int
	args  []any
	size  int
}

func newBatch(db *sql.DB, table string, cols int) *batch {
	return &batch{db: db, table: table, cols: cols}
}

func (b *batch) add(ctx context.Context, vals ...any) error {
	if len(vals) != b.cols {
		return fmt.Errorf("%s: %d values for %d columns", b.table, len(vals), b.cols)
	}
	b.args = append(b.args, vals...)
	for _, v := range vals {
		if s, ok := v.(string); ok {
			b.size += len(s)
		}
	}
	if b.size > 2<<20 || len(b.args) > 30000 {
		return b.flush(ctx)
	}
	return nil
}

func (b *batch) flush(ctx context.Context) error {
	if len(b.args) == 0 {
		return nil
	}
	row := "(" + strings.TrimSuffix(strings.Repeat("?,", b.cols), ",") + ")"
	q := "INSERT INTO " + b.table + " VALUES " + strings.TrimSuffix(strings.Repeat(row+",", len(b.args)/b.cols), ",")
	if _, err := b.db.ExecContext(ctx, q, b.args...); err != nil {
		return fmt.Errorf("insert %d rows into %s: %w", len(b.args)/b.cols, b.table, err)
	}
	b.args, b.size = b.args[:0], 0
	return nil
}
