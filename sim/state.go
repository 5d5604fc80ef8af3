package sim

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/upgradekit/upgradekit/sim/internal/vfs"
)

// Raft server states, as oned reports them.
const (
	RaftSolo      = 0
	RaftCandidate = 1
	RaftFollower  = 2
	RaftLeader    = 3
)

// state is everything the simulated cloud remembers; it is serialised as
// JSON by the multi-call binary.
type state struct {
	Now    time.Time        `json:"now"`
	Zones  []*zone          `json:"zones"`
	Nodes  map[string]*node `json:"nodes"`
	Repo   []string         `json:"repo"`
	Events []Event          `json:"events"`
	Faults []*Fault         `json:"faults"`
	Seq    int              `json:"seq"`
	// Seed and Draws make the cloud's randomness reproducible and
	// persistent: draw i is a function of (Seed, i) only.
	Seed  uint64 `json:"seed"`
	Draws uint64 `json:"draws"`
	// Mirrors are the real MariaDB databases mirroring front-ends.
	Mirrors map[string]*mirrorState `json:"mirrors,omitempty"`
}

type kv struct {
	K string `json:"k"`
	V string `json:"v"`
}

type zone struct {
	ID       int       `json:"id"`
	Name     string    `json:"name"`
	State    int       `json:"state"`
	Mode     string    `json:"mode"` // STANDALONE, MASTER, SLAVE
	VIP      string    `json:"vip"`
	Template []kv      `json:"template"`
	Servers  []*server `json:"servers"`
	// MembersChangedAt is when the set of running oneds last changed.
	MembersChangedAt time.Time `json:"members_changed_at"`
	APIUp            bool      `json:"api_up"`
	WriteUp          bool      `json:"write_up"`
}

type server struct {
	ID       int     `json:"id"`
	Name     string  `json:"name"`
	Endpoint string  `json:"endpoint"`
	GRPC     *string `json:"grpc,omitempty"`
}

func (z *zone) endpoint() string {
	for _, t := range z.Template {
		if t.K == "ENDPOINT" {
			return t.V
		}
	}
	return ""
}

func (z *zone) server(id int) *server {
	for _, s := range z.Servers {
		if s.ID == id {
			return s
		}
	}
	return nil
}

func (z *zone) majority() int { return len(z.Servers)/2 + 1 }

type unit struct {
	Timer  bool      `json:"timer,omitempty"`
	Active bool      `json:"active"`
	Failed bool      `json:"failed,omitempty"`
	Since  time.Time `json:"since"`
}

// node is a front-end or a hypervisor.
type node struct {
	Name       string              `json:"name"`
	Address    string              `json:"address"`
	Hypervisor bool                `json:"hypervisor,omitempty"`
	Zone       int                 `json:"zone"`
	Family     string              `json:"family"` // deb, rpm, suse
	Pkgs       map[string]string   `json:"pkgs"`
	Units      map[string]*unit    `json:"units"`
	Files      map[string]vfs.File `json:"files"`
	DB         *database           `json:"db,omitempty"`
	DBUser     string              `json:"db_user,omitempty"`
	DBPassword string              `json:"db_password,omitempty"`
	FS         fileSystem          `json:"-"`
	// UnitsChanged is set by a package upgrade until daemon-reload.
	UnitsChanged bool `json:"units_changed,omitempty"`

	// Raft runtime (meaningful while oned runs).
	Role      int       `json:"role"`
	SID       int       `json:"sid"`         // SERVER_ID oned started with
	OnedZone  int       `json:"oned_zone"`   // ZONE_ID oned started with
	ElectAt   time.Time `json:"elect_at"`    // when it times out without a leader
	CatchUpAt time.Time `json:"catch_up_at"` // when it has caught up with the leader
	// Next is, on a leader, the index of the next record it sends to each
	// server (see nextIndex).
	Next map[int]int64 `json:"next,omitempty"`
	// Removed: oned runs with a server ID its zone no longer has; it was
	// deleted while running and campaigns with the member list it kept
	// (see campaignRemoved).
	Removed bool `json:"removed,omitempty"`
	// When its monitor daemon last wrote host and VM monitoring.
	HostsMonitoredAt time.Time `json:"hosts_monitored_at,omitzero"`
	VMsMonitoredAt   time.Time `json:"vms_monitored_at,omitzero"`

	Unreachable bool `json:"unreachable,omitempty"`
	// Materialized: the node's files were copied to the real file system.
	Materialized bool  `json:"materialized,omitempty"`
	Stuck        bool  `json:"stuck,omitempty"`
	FsckErrors   int   `json:"fsck_errors,omitempty"`
	DiskFreeKB   int64 `json:"disk_free_kb,omitempty"`
	// Mounts are directories that are mount points (SetMountPoint):
	// rename(2) and rmdir(2) refuse them with EBUSY.
	Mounts []string `json:"mounts,omitempty"`

	// Fetched is the package manager's cache: package -> version
	// downloaded but not installed yet.
	Fetched map[string]string `json:"fetched,omitempty"`
}

// mounted reports whether p is one of n's mount points.
func (n *node) mounted(p string) bool { return slices.Contains(n.Mounts, p) }

func (n *node) onedUp() bool {
	u := n.Units["opennebula"]
	return u != nil && u.Active
}

func (n *node) version() string { return n.Pkgs["opennebula"] }

type verRow struct {
	OID       int       `json:"oid"`
	Version   string    `json:"version"`
	Timestamp time.Time `json:"timestamp"`
	Comment   string    `json:"comment"`
	IsSlave   bool      `json:"is_slave,omitempty"`
}

// database is the content of one front-end's OpenNebula database.
type database struct {
	Name         string   `json:"name"`
	Bootstrapped bool     `json:"bootstrapped"`
	Shared       []verRow `json:"shared"`
	Local        []verRow `json:"local"`
	Term         int64    `json:"term"`
	VotedFor     int64    `json:"voted_for"`
	LogIndex     int64    `json:"log_index"`
	Commit       int64    `json:"commit"`
	FedLogIndex  int64    `json:"fed_log_index"`
	// Log holds the Raft log records after LogBase, in order; the records
	// up to LogBase are only known to be of BaseTerm's history.
	Log      []logRecord                  `json:"log,omitempty"`
	LogBase  int64                        `json:"log_base,omitempty"`
	BaseTerm int64                        `json:"base_term,omitempty"`
	Tables   map[string]map[string]string `json:"tables"`
	// Pending: some VM is settling or some host awaits monitoring.
	Pending bool `json:"pending,omitempty"`
	// Unapplied are the logdb records written but never committed
	// (applied = 0), oldest first; LogIndex counts them.
	Unapplied []pendingRecord `json:"unapplied,omitempty"`
	// dirty lists the tables changed by the write being applied.
	dirty map[string]bool
}

// logRecord is one row of logdb (src/sql/OneDB.cc log_db_bootstrap): its
// index, the term it was written in and the tables its SQL changed.
type logRecord struct {
	Index  int64    `json:"i"`
	Term   int64    `json:"t"`
	Tables []string `json:"tables,omitempty"`
}

func (r logRecord) clone() logRecord {
	r.Tables = slices.Clone(r.Tables)
	return r
}

// localTables are written by oned with SqlDB::exec_local_wr outside the
// Raft log, so they are never replicated: the monitoring tables, which
// the leader's monitor daemon alone fills (HostMonitorManager.cc
// monitor_host/monitor_vm return unless is_leader; HostRPCPool.cc and
// VMRPCPool.cc update_monitoring use exec_local_wr), and logdb itself.
// Every other exec_local_wr in release-7.4.0 is a bootstrap CREATE TABLE.
var localTables = []string{"host_monitoring", "vm_monitoring", "logdb"}

// appendRecord writes the next log record, changing tables, in term.
func (d *database) appendRecord(term int64, tables []string) {
	var repl []string
	for _, t := range tables {
		if !slices.Contains(localTables, t) {
			repl = append(repl, t)
		}
	}
	if d.LogIndex != d.LogBase+int64(len(d.Log)) {
		d.LogBase, d.Log = d.LogIndex, nil
	}
	d.LogIndex++
	d.Log = append(d.Log, logRecord{Index: d.LogIndex, Term: term, Tables: repl})
}

// termAt returns the term of record i, false when d does not hold it.
func (d *database) termAt(i int64) (int64, bool) {
	if len(d.Log) == 0 && i <= d.LogIndex {
		return d.BaseTerm, true
	}
	if i <= d.LogBase {
		return d.BaseTerm, true
	}
	k := i - d.LogBase - 1
	if k < int64(len(d.Log)) && d.Log[k].Index == i {
		return d.Log[k].Term, true
	}
	return 0, false
}

// logRow is a row of the model's logdb: the base (Tables "-": the records
// up to Index, of history Term, and the federated index) or a record.
type logRow struct {
	Index, Term int64
	Tables      string
	Fed         int64
}

// logRows returns d's logdb rows, the base first.
func (d *database) logRows() []logRow {
	base := d.LogBase
	if len(d.Log) == 0 {
		base = d.LogIndex
	}
	rows := []logRow{{Index: base, Term: d.BaseTerm, Tables: "-", Fed: d.FedLogIndex}}
	for _, r := range d.Log {
		rows = append(rows, logRow{Index: r.Index, Term: r.Term, Tables: strings.Join(r.Tables, " "), Fed: -1})
	}
	return rows
}

// loadLogRow adds a row written by logRows, in order.
func (d *database) loadLogRow(r logRow) {
	if r.Tables == "-" {
		d.LogBase, d.BaseTerm, d.FedLogIndex, d.Log = r.Index, r.Term, r.Fed, nil
	} else {
		d.Log = append(d.Log, logRecord{Index: r.Index, Term: r.Term, Tables: strings.Fields(r.Tables)})
	}
	d.LogIndex = r.Index
}

// truncateLog drops the records after index m.
func (d *database) truncateLog(m int64) {
	if len(d.Log) == 0 || m < d.LogBase {
		d.LogBase, d.Log = m, nil
		return
	}
	if k := m - d.LogBase; k < int64(len(d.Log)) {
		d.Log = d.Log[:k]
	}
}

func (d *database) touch(table string) {
	if d.dirty != nil {
		d.dirty[table] = true
	}
}

func (d *database) clone() *database {
	c := *d
	c.dirty = nil
	c.Shared = slices.Clone(d.Shared)
	c.Local = slices.Clone(d.Local)
	c.Log = make([]logRecord, len(d.Log))
	for i, r := range d.Log {
		c.Log[i] = r.clone()
	}
	c.Unapplied = slices.Clone(d.Unapplied) // records are never changed in place
	c.Tables = make(map[string]map[string]string, len(d.Tables))
	for t, rows := range d.Tables {
		m := make(map[string]string, len(rows))
		for k, v := range rows {
			m[k] = v
		}
		c.Tables[t] = m
	}
	return &c
}

func (d *database) shared() verRow {
	if len(d.Shared) == 0 {
		return verRow{}
	}
	return d.Shared[len(d.Shared)-1]
}

func (d *database) local() verRow {
	if len(d.Local) == 0 {
		return verRow{}
	}
	return d.Local[len(d.Local)-1]
}

func (d *database) isSlave() bool { return d.local().IsSlave }

// federatedTables are the tables `onedb backup --federated` dumps.
var federatedTables = []string{"group_pool", "user_pool", "acl", "zone_pool", "vdc_pool", "marketplace_pool", "marketplaceapp_pool"}

// Host is a hypervisor host as oned stores it.
type Host struct {
	ID        int    `json:"id"`
	Name      string `json:"name"`
	State     int    `json:"state"`
	PrevState int    `json:"prev_state"`
	Version   string `json:"version"`
	VMs       []int  `json:"vms"`
	// Capacity known (cleared by offline).
	Capacity bool   `json:"capacity"`
	Threads  int    `json:"threads"`
	Error    string `json:"error,omitempty"`
	// MonitorAt, when set, is when a host in INIT gets its first monitor
	// message (MONITORED, or ERROR when the hypervisor is unreachable).
	MonitorAt time.Time `json:"monitor_at,omitzero"`
}

// VM is a virtual machine as oned stores it.
type VM struct {
	ID       int    `json:"id"`
	Name     string `json:"name"`
	UID      int    `json:"uid"`
	UName    string `json:"uname"`
	State    int    `json:"state"`
	LCMState int    `json:"lcm_state"`
	HostID   int    `json:"host_id"`
	HostName string `json:"host_name"`
	// Details of `onevm list -x`; zero values print generic ones.
	GID           int           `json:"gid,omitempty"`
	GName         string        `json:"gname,omitempty"`
	LastPoll      *int64        `json:"last_poll,omitempty"`
	STime         int64         `json:"stime,omitempty"`
	DeployID      *string       `json:"deploy_id,omitempty"`
	Locked        int           `json:"locked,omitempty"`
	CPU           string        `json:"cpu,omitempty"`
	Memory        string        `json:"memory,omitempty"`
	VCPU          *string       `json:"vcpu,omitempty"`
	Disks         []VMDisk      `json:"disks,omitempty"`
	NICs          []VMNIC       `json:"nics,omitempty"`
	Graphics      *VMGraphics   `json:"graphics,omitempty"`
	Monitoring    *VMMonitoring `json:"monitoring,omitempty"`
	UserTemplate  []KV          `json:"user_template,omitempty"`
	HistorySeq    int           `json:"history_seq,omitempty"`
	HistoryAction int           `json:"history_action,omitempty"`
	// SettleIn, for AddVM, is how long from now the VM takes to reach
	// SettleState/SettleLCM.
	SettleIn time.Duration `json:"-"`
	// SettleAt, when set, is when the VM reaches SettleState/SettleLCM.
	SettleAt    time.Time `json:"settle_at,omitzero"`
	SettleState int       `json:"settle_state,omitempty"`
	SettleLCM   int       `json:"settle_lcm,omitempty"`
}

// VMDisk is a DISK of a VM template.
type VMDisk struct {
	ID, DatastoreID, ImageID, Size int
	Datastore, Image               string
}

// VMNIC is a NIC of a VM template.
type VMNIC struct {
	ID, NetworkID    int
	IP, MAC, Network string
}

// VMGraphics is the GRAPHICS section of a VM template.
type VMGraphics struct {
	Listen, Type string
	Port         int
}

// VMMonitoring is the short monitoring record of a VM.
type VMMonitoring struct {
	CPU, Memory, State string
}

// KV is an ordered template attribute.
type KV struct{ Key, Value string }

// Host states (include/Host.h).
const (
	HostInit      = 0
	HostMonitored = 2
	HostError     = 3
	HostDisabled  = 4
	HostOffline   = 8
)

func (d *database) hosts() []Host {
	var hs []Host
	for _, v := range d.Tables["host_pool"] {
		var h Host
		if json.Unmarshal([]byte(v), &h) == nil {
			hs = append(hs, h)
		}
	}
	slices.SortFunc(hs, func(a, b Host) int { return a.ID - b.ID })
	return hs
}

func (d *database) putHost(h Host) {
	b, _ := json.Marshal(h)
	if d.Tables["host_pool"] == nil {
		d.Tables["host_pool"] = map[string]string{}
	}
	d.Tables["host_pool"][strconv.Itoa(h.ID)] = string(b)
	d.touch("host_pool")
	if !h.MonitorAt.IsZero() {
		d.Pending = true
	}
}

func (d *database) vms() []VM {
	var vs []VM
	for _, v := range d.Tables["vm_pool"] {
		var m VM
		if json.Unmarshal([]byte(v), &m) == nil {
			vs = append(vs, m)
		}
	}
	slices.SortFunc(vs, func(a, b VM) int { return a.ID - b.ID })
	return vs
}

func (d *database) putVM(m VM) {
	b, _ := json.Marshal(m)
	if d.Tables["vm_pool"] == nil {
		d.Tables["vm_pool"] = map[string]string{}
	}
	d.Tables["vm_pool"][strconv.Itoa(m.ID)] = string(b)
	d.touch("vm_pool")
	if !m.SettleAt.IsZero() {
		d.Pending = true
	}
}

// dbVersion maps a release to the DB schema version it needs.
func dbVersion(release string) string {
	p := strings.Split(release, ".")
	if len(p) < 2 {
		return release
	}
	return p[0] + "." + p[1] + ".0"
}

// cmpVersion compares dotted versions numerically.
func cmpVersion(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(pa), len(pb)); i++ {
		var x, y int
		if i < len(pa) {
			x, _ = strconv.Atoi(pa[i])
		}
		if i < len(pb) {
			y, _ = strconv.Atoi(pb[i])
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

// series returns "7.4" for "7.4.1".
func series(v string) string {
	p := strings.Split(v, ".")
	if len(p) < 2 {
		return v
	}
	return p[0] + "." + p[1]
}

// gitID returns the build id oned prints for a release.
func gitID(v string) string {
	if v == "7.4.0" {
		return "fe684f0c"
	}
	h := uint32(2166136261)
	for i := 0; i < len(v); i++ {
		h = (h ^ uint32(v[i])) * 16777619
	}
	return fmt.Sprintf("%08x", h)
}

// fileSystem is a node's files: in memory (vfs.FS) or, for the multi-call
// binary on real hosts, the real file system (vfs.OS).
type fileSystem interface {
	Stat(p string) (vfs.File, error)
	Exists(p string) bool
	ReadFile(p string) ([]byte, error)
	MkdirAll(p, owner, group string, now time.Time) error
	Mkdir(p, owner, group string, now time.Time) error
	WriteFile(p string, data []byte, mode fs.FileMode, owner, group string, now time.Time) error
	AppendFile(p string, data []byte, owner, group string, now time.Time) error
	Remove(p string, recursive bool) error
	ReadDir(dir string) ([]string, error)
	Walk(p string) []string
	Set(p string, e vfs.File) error
	Chmod(p string, mode fs.FileMode) error
	Chown(p, owner, group string) error
	Rename(oldp, newp string) error
}

var (
	_ fileSystem = (*vfs.FS)(nil)
	_ fileSystem = vfs.OS{}
)
