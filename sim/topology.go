package sim

import (
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"github.com/upgradekit/upgradekit/sim/internal/vfs"
)

// Spec describes a cloud to simulate. HA, Solo and Federation build the
// usual ones.
type Spec struct {
	// Version is the OpenNebula release installed everywhere (default 7.2.0).
	Version string
	// Family is the package family of every node: "deb" (default, apt),
	// "rpm" (dnf/yum) or "suse" (zypper).
	Family string
	Zones  []ZoneSpec
}

// ZoneSpec describes one zone.
type ZoneSpec struct {
	ID   int
	Name string
	// Mode is the oned.conf FEDERATION/MODE: STANDALONE (default), MASTER
	// or SLAVE.
	Mode string
	// VIP is the floating address the zone endpoint points at (held by
	// the Raft leader). Empty for a solo zone, whose endpoint is Endpoint.
	VIP string
	// Endpoint overrides the zone's TEMPLATE/ENDPOINT.
	Endpoint string
	// Frontends are the zone's front-ends; with more than one (or HA
	// set) they form a Raft cluster with SERVER_IDs 0, 1, ...
	Frontends []NodeSpec
	HA        bool
	// Leader is the index in Frontends of the initial leader.
	Leader int
	// GRPC adds the 7.2+ fresh-install ENDPOINT_GRPC attributes.
	GRPC bool
	// Template adds zone template attributes (e.g. ONEFLOW_ENDPOINT).
	Template map[string]string
	// EndpointFile writes the zone endpoint (the VIP) into
	// /var/lib/one/.one/one_endpoint on every front-end, as many HA
	// deployments do; onedb restore then refuses to run on a follower
	// unless ONE_XMLRPC points at localhost.
	EndpointFile bool
	// Raft indexes of the initial state.
	Term, LogIndex, FedLogIndex int64
	// Hypervisors of the zone, each with a few VMs.
	Hypervisors []HostSpec
}

// NodeSpec names a front-end.
type NodeSpec struct{ Name, Address string }

// HostSpec describes a hypervisor host.
type HostSpec struct {
	Name, Address string
	// State is the host state (default HostMonitored).
	State int
	// VMs on the host; nil gives one running VM.
	VMs []VM
}

// HA returns a zone-0 HA cluster of n front-ends fe1..feN (10.0.0.11...,
// VIP 10.0.0.10) running version, leader fe1, with three hypervisors
// kvm1..kvm3 (kvm3 disabled) and settled VMs.
func HA(n int, version string, opts ...Option) (*Cloud, error) {
	z := ZoneSpec{ID: 0, Name: "OpenNebula", VIP: "10.0.0.10", HA: true, GRPC: true, EndpointFile: true,
		Term: 4, LogIndex: 184233, FedLogIndex: -1}
	for i := 1; i <= n; i++ {
		z.Frontends = append(z.Frontends, NodeSpec{Name: fmt.Sprintf("fe%d", i), Address: fmt.Sprintf("10.0.0.%d", 10+i)})
	}
	z.Hypervisors = defaultHosts("kvm", "10.0.1.", 3, opts)
	return New(Spec{Version: version, Zones: []ZoneSpec{z}}, opts...)
}

// Solo returns a single front-end fe1 (SERVER_ID -1) with two hypervisors.
func Solo(version string, opts ...Option) (*Cloud, error) {
	z := ZoneSpec{ID: 0, Name: "OpenNebula", Endpoint: "http://localhost:2633/RPC2", GRPC: true, FedLogIndex: -1,
		Frontends: []NodeSpec{{Name: "fe1", Address: "10.0.0.11"}}, Hypervisors: defaultHosts("kvm", "10.0.1.", 2, opts)}
	return New(Spec{Version: version, Zones: []ZoneSpec{z}}, opts...)
}

// Federation returns a master zone 0 (M-EU-FR, HA fr-fe1..3, VIP
// 192.168.150.1) and two slave zones: 100 (S-EU-GE, HA ge-fe1..3, VIP .2,
// leader ge-fe2) and 101 (S-US-CA, solo us-fe1 behind .3). Each zone has
// two hypervisors.
func Federation(version string, opts ...Option) (*Cloud, error) {
	master := ZoneSpec{ID: 0, Name: "M-EU-FR", Mode: "MASTER", VIP: "192.168.150.1", HA: true, EndpointFile: true,
		Term: 7, LogIndex: 512000, FedLogIndex: 715438}
	slave := ZoneSpec{ID: 100, Name: "S-EU-GE", Mode: "SLAVE", VIP: "192.168.150.2", HA: true, GRPC: false, EndpointFile: true,
		Term: 12, LogIndex: 930211, FedLogIndex: 715438, Leader: 1,
		Template: map[string]string{"ONEFLOW_ENDPOINT": "http://192.168.150.2:2474/"}}
	solo := ZoneSpec{ID: 101, Name: "S-US-CA", Mode: "SLAVE", VIP: "192.168.150.3", FedLogIndex: 715438,
		Frontends: []NodeSpec{{Name: "us-fe1", Address: "192.168.150.3"}}}
	for i := 1; i <= 3; i++ {
		master.Frontends = append(master.Frontends, NodeSpec{Name: fmt.Sprintf("fr-fe%d", i), Address: fmt.Sprintf("192.168.150.%d", 10+i)})
		slave.Frontends = append(slave.Frontends, NodeSpec{Name: fmt.Sprintf("ge-fe%d", i), Address: fmt.Sprintf("192.168.150.%d", 20+i)})
	}
	master.Hypervisors = defaultHosts("fr-kvm", "192.168.151.", 2, opts)
	slave.Hypervisors = defaultHosts("ge-kvm", "192.168.152.", 2, opts)
	solo.Hypervisors = defaultHosts("us-kvm", "192.168.153.", 2, opts)
	return New(Spec{Version: version, Zones: []ZoneSpec{master, slave, solo}}, opts...)
}

func defaultHosts(prefix, net string, n int, opts []Option) []HostSpec {
	vms := -1
	if cfg, err := newConfig(opts); err == nil { // New reports option errors
		if cfg.hosts >= 0 {
			n = cfg.hosts
		}
		vms = cfg.vms
	}
	var hs []HostSpec
	for i := 1; i <= n; i++ {
		h := HostSpec{Name: fmt.Sprintf("%s%d", prefix, i), Address: fmt.Sprintf("%s%d", net, i)}
		if i == 3 {
			h.State = HostDisabled
		}
		if vms >= 0 {
			h.VMs = []VM{}
			for j := 1; j <= vms; j++ {
				h.VMs = append(h.VMs, VM{Name: fmt.Sprintf("vm-%s-%d", h.Name, j), State: 3, LCMState: 3})
			}
		}
		hs = append(hs, h)
	}
	return hs
}

// New builds a cloud from spec.
func New(spec Spec, opts ...Option) (*Cloud, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	if spec.Version == "" {
		spec.Version = "7.2.0"
	}
	if spec.Family == "" {
		spec.Family = "deb"
	}
	switch spec.Family {
	case "deb", "rpm", "suse":
	default:
		return nil, fmt.Errorf("%w: package family %q", ErrBadSpec, spec.Family)
	}
	if len(spec.Zones) == 0 {
		return nil, fmt.Errorf("%w: no zones", ErrBadSpec)
	}
	st := &state{Now: cfg.start, Nodes: map[string]*node{}, Repo: cfg.repo, Seed: cfg.seed}
	c := &Cloud{st: st}
	c.init(cfg)
	vmID := 0
	for _, zs := range spec.Zones {
		if err := c.addZone(spec, zs, &vmID); err != nil {
			return nil, err
		}
	}
	if err := c.attachMirrors(cfg.mirrors); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Cloud) addZone(spec Spec, zs ZoneSpec, vmID *int) error {
	if c.zone(zs.ID) != nil {
		return fmt.Errorf("%w: duplicate zone %d", ErrBadSpec, zs.ID)
	}
	if len(zs.Frontends) == 0 {
		return fmt.Errorf("%w: zone %d has no front-end", ErrBadSpec, zs.ID)
	}
	if zs.Mode == "" {
		zs.Mode = "STANDALONE"
	}
	ha := zs.HA || len(zs.Frontends) > 1
	if zs.Leader < 0 || zs.Leader >= len(zs.Frontends) {
		return fmt.Errorf("%w: zone %d leader index %d", ErrBadSpec, zs.ID, zs.Leader)
	}
	now := c.st.Now
	z := &zone{ID: zs.ID, Name: zs.Name, Mode: zs.Mode, VIP: zs.VIP}
	ep := zs.Endpoint
	if ep == "" {
		host := zs.VIP
		if host == "" {
			host = zs.Frontends[0].Address
			z.VIP = host
		}
		ep = "http://" + host + ":2633/RPC2"
	}
	z.Template = append(z.Template, kv{"ENDPOINT", ep})
	if zs.GRPC {
		z.Template = append(z.Template, kv{"ENDPOINT_GRPC", "localhost:2634"})
	}
	for k, v := range zs.Template {
		z.Template = append(z.Template, kv{k, v})
	}
	if ha {
		for i, f := range zs.Frontends {
			s := &server{ID: i, Name: f.Name, Endpoint: "http://" + f.Address + ":2633/RPC2"}
			if zs.GRPC || zs.Mode == "SLAVE" {
				empty := ""
				s.GRPC = &empty
			}
			z.Servers = append(z.Servers, s)
		}
	}
	c.st.Zones = append(c.st.Zones, z)

	db := &database{Name: "opennebula", Bootstrapped: true, Term: zs.Term, VotedFor: -1, LogIndex: zs.LogIndex, Commit: zs.LogIndex,
		FedLogIndex: zs.FedLogIndex, Tables: map[string]map[string]string{}}
	if !ha {
		db.Term, db.LogIndex, db.Commit = 0, 0, 0
	} else {
		// The records so far: one history per zone.
		db.LogBase, db.BaseTerm = db.LogIndex, db.Term
		db.VotedFor = int64(zs.Leader)
	}
	dv := dbVersion(spec.Version)
	hist := func(slave bool) []verRow {
		rows := []verRow{{OID: 0, Version: dv, Timestamp: now.Add(-90 * 24 * time.Hour), Comment: fmt.Sprintf("OpenNebula %s (%s) daemon bootstrap", spec.Version, gitID(spec.Version)), IsSlave: slave}}
		if prev, ok := prevDB(dv); ok {
			rows[0].Version = prev
			rows[0].Comment = fmt.Sprintf("OpenNebula %s (%s) daemon bootstrap", prev, gitID(prev))
			rows = append(rows, verRow{OID: 1, Version: dv, Timestamp: now.Add(-30 * 24 * time.Hour),
				Comment: fmt.Sprintf("Database migrated from %s to %s (OpenNebula %s) by onedb command.", prev, dv, dv), IsSlave: slave})
		}
		return rows
	}
	db.Shared, db.Local = hist(false), hist(zs.Mode == "SLAVE")
	seedTables(db, zs.ID)
	hostID := 0
	for _, hs := range zs.Hypervisors {
		if c.st.Nodes[hs.Name] != nil {
			return fmt.Errorf("%w: duplicate node %s", ErrBadSpec, hs.Name)
		}
		state := hs.State
		if state == 0 {
			state = HostMonitored
		}
		h := Host{ID: hostID, Name: hs.Name, State: state, PrevState: HostMonitored, Version: spec.Version, Capacity: state != HostOffline}
		vms := hs.VMs
		if vms == nil {
			vms = []VM{{Name: fmt.Sprintf("vm-%s", hs.Name), State: 3, LCMState: 3}}
		}
		for _, vm := range vms {
			vm.ID = *vmID
			*vmID++
			if vm.UName == "" {
				vm.UName = "oneadmin"
			}
			vm.HostID, vm.HostName = hostID, hs.Name
			h.VMs = append(h.VMs, vm.ID)
			db.putVM(vm)
		}
		h.Threads = len(h.VMs)
		db.putHost(h)
		hostID++
		hn := &node{Name: hs.Name, Address: hs.Address, Hypervisor: true, Zone: zs.ID, Family: spec.Family, FS: vfs.New(),
			Pkgs:  map[string]string{"opennebula-node-kvm": spec.Version, "opennebula-common": spec.Version, "opennebula-common-onecfg": spec.Version},
			Units: map[string]*unit{"libvirtd": {Active: true, Since: now}}}
		c.hypervisorFiles(hn, spec.Version, now)
		c.st.Nodes[hn.Name] = hn
	}
	for i, f := range zs.Frontends {
		if c.st.Nodes[f.Name] != nil {
			return fmt.Errorf("%w: duplicate node %s", ErrBadSpec, f.Name)
		}
		n := &node{Name: f.Name, Address: f.Address, Zone: zs.ID, OnedZone: zs.ID, Family: spec.Family, FS: vfs.New(),
			Pkgs: frontendPkgs(spec.Version), Units: map[string]*unit{}, DB: db.clone(), DBUser: "oneadmin", DBPassword: "oneadmin", SID: -1}
		for _, u := range []string{"opennebula", "opennebula-hem", "opennebula-flow", "opennebula-gate", "opennebula-fireedge",
			"opennebula-guacd", "opennebula-ssh-agent", "opennebula-ssh-socks-cleaner.timer", "opennebula-showback.timer", "mariadb"} {
			n.Units[u] = &unit{Active: true, Since: now, Timer: strings.HasSuffix(u, ".timer")}
		}
		if cmpVersion(spec.Version, "7.2.0") >= 0 {
			n.Units["opennebula-form"] = &unit{}
		}
		if cmpVersion(spec.Version, "7.4.0") >= 0 {
			n.Units["opennebula-ks"] = &unit{}
		}
		if cmpVersion(spec.Version, "7.0.0") < 0 {
			n.Units["opennebula-scheduler"] = &unit{Active: true, Since: now}
		}
		sid := -1
		if ha {
			sid = i
			n.SID = i
			n.Role = RaftFollower
			if i == zs.Leader {
				n.Role = RaftLeader
				for _, sv := range z.Servers {
					if sv.ID != i {
						n.setNext(sv.ID, db.LogIndex+1)
					}
				}
			}
		} else {
			n.Role = RaftSolo
		}
		n.CatchUpAt, n.ElectAt = now, now.Add(-time.Hour) // long past its warm-up
		c.frontendFiles(n, spec, zs, ep, sid, now)
		c.st.Nodes[n.Name] = n
	}
	z.APIUp, z.WriteUp = true, true
	z.MembersChangedAt = now
	return nil
}

func prevDB(v string) (string, bool) {
	for i, x := range dbChain {
		if x == v && i > 0 {
			return dbChain[i-1], true
		}
	}
	return "", false
}

func frontendPkgs(v string) map[string]string {
	m := map[string]string{}
	for _, p := range []string{"opennebula", "opennebula-common", "opennebula-common-onecfg", "opennebula-tools", "opennebula-libs",
		"opennebula-rubygems", "opennebula-gate", "opennebula-flow", "opennebula-fireedge", "opennebula-guacd", "python3-pyone"} {
		m[p] = v
	}
	if cmpVersion(v, "7.2.0") >= 0 {
		m["opennebula-form"] = v
	}
	return m
}

func seedTables(db *database, zoneID int) {
	put := func(t, k, v string) {
		if db.Tables[t] == nil {
			db.Tables[t] = map[string]string{}
		}
		db.Tables[t][k] = v
	}
	put("user_pool", "0", "<USER><ID>0</ID><NAME>oneadmin</NAME></USER>")
	put("user_pool", "1", "<USER><ID>1</ID><NAME>serveradmin</NAME></USER>")
	put("group_pool", "0", "<GROUP><ID>0</ID><NAME>oneadmin</NAME></GROUP>")
	put("group_pool", "1", "<GROUP><ID>1</ID><NAME>users</NAME></GROUP>")
	put("acl", "0", "@1 10 1 #0")
	put("vdc_pool", "0", "<VDC><ID>0</ID><NAME>default</NAME></VDC>")
	put("zone_pool", "0", "<ZONE><ID>0</ID></ZONE>")
	put("marketplace_pool", "0", "<MARKETPLACE><ID>0</ID><NAME>OpenNebula Public</NAME></MARKETPLACE>")
	put("marketplaceapp_pool", "0", "<MARKETPLACEAPP><ID>0</ID><NAME>Alpine Linux 3.20</NAME></MARKETPLACEAPP>")
	put("cluster_pool", "0", "<CLUSTER><ID>0</ID><NAME>default</NAME></CLUSTER>")
	put("datastore_pool", "0", "<DATASTORE><ID>0</ID><NAME>system</NAME></DATASTORE>")
	put("datastore_pool", "1", "<DATASTORE><ID>1</ID><NAME>default</NAME></DATASTORE>")
	put("image_pool", "0", "<IMAGE><ID>0</ID><NAME>ubuntu2404</NAME></IMAGE>")
	put("network_pool", "0", "<VNET><ID>0</ID><NAME>vnet-public</NAME></VNET>")
	put("local_zone", "0", strconv.Itoa(zoneID))
}

// onedConf renders /etc/one/oned.conf for a front-end.
func onedConfText(version, mode string, zoneID, serverID int, masterOned, vip string, ha bool) string {
	var b strings.Builder
	b.WriteString(`#*******************************************************************************
#                       OpenNebula Configuration file
#*******************************************************************************

LOG = [
  SYSTEM      = "file",
  DEBUG_LEVEL = 3
]

MONITORING_INTERVAL_DATASTORE = 300
MONITORING_INTERVAL_MARKET    = 600
MONITORING_INTERVAL_DB_UPDATE = 0

SCRIPTS_REMOTE_DIR=/var/tmp/one

PORT = 2633
`)
	if cmpVersion(version, "7.2.0") >= 0 {
		b.WriteString("GRPC_PORT = 2634\n")
	}
	b.WriteString(`
LISTEN_ADDRESS = "0.0.0.0"

DB = [ BACKEND = "mysql",
       SERVER  = "localhost",
       PORT    = 0,
       USER    = "oneadmin",
       PASSWD  = "oneadmin",
       DB_NAME = "opennebula",
       CONNECTIONS = 25,
       COMPARE_BINARY = "no" ]

VNC_PORTS = [
    START    = 5900,
    RESERVED = "32768:65536"
]

#*******************************************************************************
# Federation & HA configuration attributes
#*******************************************************************************

`)
	fmt.Fprintf(&b, "FEDERATION = [\n    MODE             = %q,\n    ZONE_ID          = %d,\n    SERVER_ID        = %d,\n    MASTER_ONED      = %q", mode, zoneID, serverID, masterOned)
	if cmpVersion(version, "7.2.0") >= 0 {
		b.WriteString(",\n    MASTER_ONED_GRPC = \"\"")
	}
	b.WriteString("\n]\n\n")
	b.WriteString(`RAFT = [
    LIMIT_PURGE          = 100000,
    LOG_RETENTION        = 250000,
    LOG_PURGE_TIMEOUT    = 60,
    ELECTION_TIMEOUT_MS  = 5000,
    BROADCAST_TIMEOUT_MS = 500,
    XMLRPC_TIMEOUT_MS    = 1000
]
`)
	if ha && vip != "" {
		fmt.Fprintf(&b, `
RAFT_LEADER_HOOK = [
     COMMAND = "raft/vip.sh",
     ARGUMENTS = "leader eth0 %s/24"
]
RAFT_FOLLOWER_HOOK = [
    COMMAND = "raft/vip.sh",
    ARGUMENTS = "follower eth0 %s/24"
]
`, vip, vip)
	}
	b.WriteString(`
DEFAULT_COST = [
    CPU_COST    = 0,
    MEMORY_COST = 0,
    DISK_COST   = 0
]
`)
	return b.String()
}

func (c *Cloud) frontendFiles(n *node, spec Spec, zs ZoneSpec, ep string, sid int, now time.Time) {
	fsys := n.FS
	dir := func(p, owner string, mode uint32) {
		_ = fsys.MkdirAll(p, owner, owner, now)
		_ = fsys.Chown(p, owner, owner)
		_ = fsys.Chmod(p, fsMode(mode))
	}
	file := func(p, content, owner, group string, mode uint32) {
		_ = fsys.WriteFile(p, []byte(content), fsMode(mode), owner, group, now)
	}
	for _, d := range []string{"/etc", "/root", "/var", "/var/lib", "/var/log", "/usr", "/usr/share", "/run", "/etc/apt", "/etc/apt/sources.list.d", "/etc/apt/keyrings", "/etc/yum.repos.d", "/etc/zypp", "/etc/zypp/repos.d", "/etc/pki", "/etc/pki/rpm-gpg"} {
		dir(d, "root", 0o755)
	}
	dir("/tmp", "root", 0o1777)
	dir("/var/tmp", "root", 0o1777)
	dir("/var/lock", "root", 0o755)
	for _, d := range []string{"/etc/one", "/etc/one/auth", "/etc/one/auth/certificates", "/etc/one/hm", "/etc/one/vmm_exec", "/etc/one/cli", "/etc/one/fireedge", "/etc/one/schedulers"} {
		dir(d, "root", 0o755)
		_ = fsys.Chown(d, "root", "oneadmin")
	}
	for _, d := range []string{"/var/lib/one", "/var/lib/one/.one", "/var/lib/one/.ssh", "/var/lib/one/remotes", "/var/lib/one/remotes/etc",
		"/var/lib/one/remotes/etc/vmm/kvm", "/var/lib/one/remotes/etc/im/kvm-probes.d", "/var/lib/one/remotes/etc/tm/ssh",
		"/var/lib/one/remotes/etc/datastore/ceph", "/var/lib/one/remotes/etc/vnm", "/var/lib/one/backups", "/var/lib/one/backups/config",
		"/var/log/one", "/var/lock/one", "/var/lib/one/datastores"} {
		dir(d, "oneadmin", 0o755)
	}
	_ = fsys.Chmod("/var/lib/one/.one", 0o700)
	mode := zs.Mode
	if mode == "" {
		mode = "STANDALONE"
	}
	master := ""
	if mode == "SLAVE" {
		master = "http://192.168.150.1:2633/RPC2"
	}
	file("/etc/one/oned.conf", onedConfText(spec.Version, mode, zs.ID, sid, master, zs.VIP, sid >= 0), "root", "oneadmin", 0o640)
	monAddr := "auto"
	if sid >= 0 {
		monAddr = zs.VIP
	}
	file("/etc/one/monitord.conf", fmt.Sprintf("NETWORK = [\n    ADDRESS         = \"0.0.0.0\",\n    PORT            = 4124,\n    MONITOR_ADDRESS = %q\n]\n", monAddr), "root", "oneadmin", 0o640)
	for _, f := range []string{"oneflow-server.conf", "onegate-server.conf", "fireedge-server.conf", "onehem-server.conf", "defaultrc", "tmrc", "guacd"} {
		file("/etc/one/"+f, "# "+f+" ("+spec.Version+")\n", "root", "oneadmin", 0o640)
	}
	file("/etc/one/hm/hmrc", "# hmrc\n", "root", "oneadmin", 0o640)
	file("/etc/one/vmm_exec/vmm_exec_kvm.conf", "EMULATOR = /usr/bin/qemu-system-x86_64\n", "root", "oneadmin", 0o640)
	file("/etc/one/auth/ldap_auth.conf", "server 1:\n    :host: localhost\n", "root", "oneadmin", 0o640)
	file("/etc/one/schedulers/rank.conf", "DEFAULT_SCHED = [ POLICY = 1 ]\n", "root", "oneadmin", 0o640)
	file("/var/lib/one/remotes/etc/vmm/kvm/kvmrc", "LIBVIRT_URI=qemu:///system\n", "oneadmin", "oneadmin", 0o644)
	file("/var/lib/one/remotes/etc/im/kvm-probes.d/probe_db.conf", ":probes: []\n", "oneadmin", "oneadmin", 0o644)
	file("/var/lib/one/remotes/etc/vnm/OpenNebulaNetwork.conf", ":validate_vlan_id: false\n", "oneadmin", "oneadmin", 0o644)
	file("/var/lib/one/remotes/VERSION", spec.Version+"\n", "oneadmin", "oneadmin", 0o644)
	zoneSecret := fmt.Sprintf("%08x", zs.ID*7919+1)
	auth := map[string]string{
		"one_auth": "oneadmin:" + zoneSecret + "a1", "oneflow_auth": "serveradmin:" + zoneSecret + "f1",
		"onegate_auth": "serveradmin:" + zoneSecret + "g1", "sunstone_auth": "serveradmin:" + zoneSecret + "s1",
		"fireedge_key": zoneSecret + "k1",
	}
	if cmpVersion(spec.Version, "7.4.0") >= 0 {
		auth["oneform_auth"] = "serveradmin:" + zoneSecret + "m1"
		auth["oneks_auth"] = "serveradmin:" + zoneSecret + "m1"
	}
	for f, v := range auth {
		file("/var/lib/one/.one/"+f, v+"\n", "oneadmin", "oneadmin", 0o600)
	}
	if zs.EndpointFile {
		file("/var/lib/one/.one/one_endpoint", ep+"\n", "oneadmin", "oneadmin", 0o644)
	}
	file("/var/lib/one/.ssh/id_rsa", "-----BEGIN OPENSSH PRIVATE KEY-----\nsim\n-----END OPENSSH PRIVATE KEY-----\n", "oneadmin", "oneadmin", 0o600)
	if cmpVersion(spec.Version, "7.0.0") >= 0 {
		// Before 7.0 the Community Edition has no `onecfg init`, so no
		// state file (see cmdOnecfg).
		n.setConfigVersion(spec.Version, now)
	}
	writeRepoFile(n, series(spec.Version), now)
	file("/var/log/one/oned.log", "", "oneadmin", "oneadmin", 0o640)
	file("/var/lock/one/one", "oned\n", "oneadmin", "oneadmin", 0o644)
}

func fsMode(m uint32) fs.FileMode { return fs.FileMode(m&0o777) | modeBits(m) }

func modeBits(m uint32) fs.FileMode {
	if m&0o1000 != 0 {
		return fs.ModeSticky
	}
	return 0
}

var osRelease = map[string]string{
	"deb":  "PRETTY_NAME=\"Ubuntu 24.04.3 LTS\"\nNAME=\"Ubuntu\"\nVERSION_ID=\"24.04\"\nID=ubuntu\nID_LIKE=debian\nVERSION_CODENAME=noble\n",
	"rpm":  "NAME=\"AlmaLinux\"\nVERSION=\"9.6 (Sage Margay)\"\nID=\"almalinux\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.6\"\nPLATFORM_ID=\"platform:el9\"\n",
	"suse": "NAME=\"SLES\"\nVERSION=\"15-SP6\"\nVERSION_ID=\"15.6\"\nID=\"sles\"\nID_LIKE=\"suse\"\n",
}

func writeRepoFile(n *node, ser string, now time.Time) {
	_ = n.FS.WriteFile("/etc/os-release", []byte(osRelease[n.Family]), 0o644, "root", "root", now)
	switch n.Family {
	case "rpm":
		_ = n.FS.WriteFile("/etc/yum.repos.d/opennebula.repo", []byte(fmt.Sprintf("[opennebula]\nname=OpenNebula Community Edition\nbaseurl=https://downloads.opennebula.io/repo/%s/AlmaLinux/9/$basearch\nenabled=1\ngpgcheck=1\n", ser)), 0o644, "root", "root", now)
	case "suse":
		_ = n.FS.WriteFile("/etc/zypp/repos.d/opennebula.repo", []byte(fmt.Sprintf("[opennebula]\nname=OpenNebula Community Edition\nbaseurl=https://downloads.opennebula.io/repo/%s/SLES/15/x86_64\nenabled=1\n", ser)), 0o644, "root", "root", now)
	default:
		_ = n.FS.WriteFile("/etc/apt/sources.list.d/opennebula.list", []byte(fmt.Sprintf("deb [signed-by=/etc/apt/keyrings/opennebula.gpg] https://downloads.opennebula.io/repo/%s/Ubuntu/24.04 stable opennebula\n", ser)), 0o644, "root", "root", now)
	}
}

func (c *Cloud) hypervisorFiles(n *node, version string, now time.Time) {
	fsys := n.FS
	for _, d := range []string{"/etc", "/root", "/var", "/var/lib", "/var/tmp", "/tmp", "/etc/apt", "/etc/apt/sources.list.d", "/etc/apt/keyrings", "/etc/yum.repos.d", "/etc/zypp", "/etc/zypp/repos.d", "/etc/pki", "/etc/pki/rpm-gpg", "/etc/libvirt"} {
		_ = fsys.MkdirAll(d, "root", "root", now)
	}
	_ = fsys.Chmod("/tmp", 0o1777)
	_ = fsys.Chmod("/var/tmp", 0o1777)
	_ = fsys.MkdirAll("/var/lib/one", "oneadmin", "oneadmin", now)
	_ = fsys.MkdirAll("/var/tmp/one", "oneadmin", "oneadmin", now)
	_ = fsys.WriteFile("/var/tmp/one/VERSION", []byte(version+"\n"), 0o644, "oneadmin", "oneadmin", now)
	_ = fsys.WriteFile("/etc/libvirt/libvirtd.conf", []byte("unix_sock_group = \"oneadmin\"\n"), 0o644, "root", "root", now)
	writeRepoFile(n, series(version), now)
}
