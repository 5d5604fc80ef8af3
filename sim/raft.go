package sim

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Raft timing (FACTS 1.1): a freshly started oned waits 15 s before its
// heartbeat timer may fire, then ELECTION_TIMEOUT_MS (5 s).
const (
	warmUp          = 15 * time.Second
	electionTimeout = 5 * time.Second
	catchUpDelay    = 2 * time.Second
)

func (c *Cloud) zone(id int) *zone {
	for _, z := range c.st.Zones {
		if z.ID == id {
			return z
		}
	}
	return nil
}

// members returns the running HA members of zone z.
func (c *Cloud) members(z *zone) []*node {
	var out []*node
	for _, name := range c.sortedNodes() {
		n := c.st.Nodes[name]
		if n.Hypervisor || !n.onedUp() || n.OnedZone != z.ID || n.SID < 0 || z.server(n.SID) == nil {
			continue
		}
		out = append(out, n)
	}
	return out
}

func (c *Cloud) soloNode(z *zone) *node {
	for _, name := range c.sortedNodes() {
		n := c.st.Nodes[name]
		if !n.Hypervisor && n.onedUp() && n.OnedZone == z.ID && n.SID < 0 {
			return n
		}
	}
	return nil
}

func leaderOf(ms []*node) *node {
	for _, m := range ms {
		if m.Role == RaftLeader {
			return m
		}
	}
	return nil
}

// zoneLeader returns the node that answers at zone z's endpoint: the Raft
// leader, or the running solo front-end.
func (c *Cloud) zoneLeader(z *zone) *node {
	if l := leaderOf(c.members(z)); l != nil {
		return l
	}
	if len(z.Servers) == 0 {
		return c.soloNode(z)
	}
	return nil
}

// tick advances every zone's Raft model to time now: elections whose time
// has come, followers catching up, VMs settling.
func (c *Cloud) tick(now time.Time) {
	for _, z := range c.st.Zones {
		c.tickZone(z, now)
	}
	for _, n := range c.st.Nodes {
		if n.DB != nil && n.DB.Pending {
			c.settle(n.DB, now)
		}
	}
	c.st.Now = now
}

func (c *Cloud) tickZone(z *zone, now time.Time) {
	ms := c.members(z)
	leader := leaderOf(ms)
	if leader == nil && len(ms) >= z.majority() && len(z.Servers) > 0 {
		minElect := ms[0].ElectAt
		for _, m := range ms[1:] {
			if m.ElectAt.Before(minElect) {
				minElect = m.ElectAt
			}
		}
		at := minElect
		if z.MembersChangedAt.After(at) {
			at = z.MembersChangedAt
		}
		if !at.After(now) {
			leader = c.elect(z, ms, at)
		}
	}
	if leader == nil {
		for _, m := range ms {
			if m.Role == RaftFollower && !m.ElectAt.After(now) {
				m.Role = RaftCandidate
				m.DB.Term++
				m.DB.VotedFor = int64(m.SID)
				c.onedLog(m, "RRM", "E", "Failed to get heartbeat from leader. Starting election proccess")
			}
		}
	} else {
		for _, m := range ms {
			if m != leader {
				c.catchUp(leader, m, now)
			}
		}
	}
	c.observe(z, now)
}

// elect makes the member with the most complete log leader at time at.
func (c *Cloud) elect(z *zone, ms []*node, at time.Time) *node {
	win := ms[0]
	var term int64
	for _, m := range ms {
		term = max(term, m.DB.Term)
		if m.DB.LogIndex > win.DB.LogIndex || (m.DB.LogIndex == win.DB.LogIndex && m.ElectAt.Before(win.ElectAt)) {
			win = m
		}
	}
	term++
	win.Role = RaftLeader
	win.DB.Term, win.DB.VotedFor = term, int64(win.SID)
	c.onedLogAt(win, at, "RCM", "I", fmt.Sprintf("Got majority of votes"))
	c.onedLogAt(win, at, "RCM", "I", fmt.Sprintf("Becoming leader of the zone. Last log record: %d last applied record: %d", win.DB.LogIndex, win.DB.Commit))
	c.onedLogAt(win, at, "RCM", "I", "oned is now the leader of the zone")
	for _, m := range ms {
		m.NeedsReset = false
		if m == win {
			continue
		}
		m.Role = RaftFollower
		m.DB.Term, m.DB.VotedFor = term, int64(win.SID)
		if m.CatchUpAt.Before(at.Add(catchUpDelay)) {
			m.CatchUpAt = at.Add(catchUpDelay)
		}
		c.onedLogAt(m, at, "ReM", "I", fmt.Sprintf("New term (%d) discovered from leader %d", term, win.SID))
	}
	c.event(at, win.Name, EventLeader, fmt.Sprintf("zone %d server %d term %d", z.ID, win.SID, term))
	c.observe(z, at)
	return win
}

func (c *Cloud) catchUp(leader, f *node, now time.Time) {
	if f.Role != RaftFollower {
		f.Role = RaftFollower
	}
	if f.Stuck || f.NeedsReset || now.Before(f.CatchUpAt) {
		if f.DB.Term < leader.DB.Term && !f.Stuck {
			f.DB.Term, f.DB.VotedFor = leader.DB.Term, leader.DB.VotedFor
		}
		return
	}
	if f.DB.LogIndex == leader.DB.LogIndex && f.DB.Term == leader.DB.Term && f.DB.Commit == leader.DB.Commit {
		return
	}
	c.replicateTo(leader, f)
}

// replicateTo makes f's database equal to leader's (Raft replication of
// every record f missed).
func (c *Cloud) replicateTo(leader, f *node) {
	f.DB = leader.DB.clone()
}

// replicateRecord applies one log record to a follower that was in step
// with the leader: the changed tables and the Raft indexes.
func (c *Cloud) replicateRecord(leader, f *node) {
	l, d := leader.DB, f.DB
	d.Name, d.Bootstrapped = l.Name, l.Bootstrapped
	d.Shared, d.Local = slices.Clone(l.Shared), slices.Clone(l.Local)
	d.Term, d.VotedFor, d.LogIndex, d.Commit, d.FedLogIndex = l.Term, l.VotedFor, l.LogIndex, l.Commit, l.FedLogIndex
	d.Pending = d.Pending || l.Pending
	for t := range l.dirty {
		d.Tables[t] = cloneRows(l.Tables[t])
	}
}

// observe records API and write availability transitions of z at time at.
func (c *Cloud) observe(z *zone, at time.Time) {
	l := c.zoneLeader(z)
	api := l != nil
	write := api && z.State == 0
	if api && len(z.Servers) > 0 && len(c.members(z)) < z.majority() {
		write = false
	}
	if api != z.APIUp {
		z.APIUp = api
		k := EventAPIDown
		if api {
			k = EventAPIUp
		}
		c.zoneEvent(at, z.ID, k, "")
	}
	if write != z.WriteUp {
		z.WriteUp = write
		k := EventWriteDown
		if write {
			k = EventWriteUp
		}
		c.zoneEvent(at, z.ID, k, "")
	}
}

// apiError is an OpenNebula API refusal: "[one.x.y] message".
type apiError struct {
	method, msg string
}

func (e *apiError) Error() string { return "[" + e.method + "] " + e.msg }

// write performs an API write received by node n: forwarded to the leader,
// refused when the zone is disabled (unless exempt) or has no leader, then
// applied to the leader's database and replicated.
func (c *Cloud) write(p *proc, n *node, method string, exempt bool, apply func(db *database) error) error {
	z := c.zone(n.OnedZone)
	if z == nil {
		return &apiError{method, "Cannot process request, no leader found"}
	}
	if z.State != 0 && !exempt {
		return &apiError{method, "Cannot process request, zone disabled"}
	}
	var leader *node
	if n.SID < 0 || len(z.Servers) == 0 {
		leader = n
	} else {
		ms := c.members(z)
		leader = leaderOf(ms)
		if leader == nil {
			if n.Role == RaftCandidate {
				return &apiError{method, "Cannot process request, oned cluster in election mode"}
			}
			return &apiError{method, "Cannot process request, no leader found"}
		}
		if len(ms) < z.majority() {
			p.spend(2 * time.Second)
			return &apiError{method, "Cannot replicate log record on followers"}
		}
	}
	before := leader.DB.LogIndex
	leader.DB.dirty = map[string]bool{}
	defer func() { leader.DB.dirty = nil }()
	if err := apply(leader.DB); err != nil {
		return err
	}
	if leader.SID >= 0 && len(z.Servers) > 0 {
		leader.DB.LogIndex++
		leader.DB.Commit = leader.DB.LogIndex
		for _, m := range c.members(z) {
			if m == leader || m.Stuck || m.NeedsReset || p.now().Before(m.CatchUpAt) {
				continue
			}
			if m.DB.LogIndex == before && m.DB.Term == leader.DB.Term {
				c.replicateRecord(leader, m)
			} else {
				c.replicateTo(leader, m)
			}
		}
	}
	return nil
}

// fedWrite records a federated write on the master zone's leader and
// pushes it to every slave zone whose shared version matches.
func (c *Cloud) fedWrite(apply func(db *database)) {
	master := c.zone(0)
	if master == nil || master.Mode != "MASTER" {
		return
	}
	ml := c.zoneLeader(master)
	if ml == nil {
		return
	}
	apply(ml.DB)
	ml.DB.FedLogIndex++
	c.syncZone(master, ml)
	for _, z := range c.st.Zones {
		if z.Mode != "SLAVE" {
			continue
		}
		sl := c.zoneLeader(z)
		if sl == nil || sl.DB.shared().Version != ml.DB.shared().Version {
			continue
		}
		for _, t := range federatedTables {
			sl.DB.Tables[t] = cloneRows(ml.DB.Tables[t])
		}
		sl.DB.FedLogIndex = ml.DB.FedLogIndex
		sl.DB.LogIndex++
		sl.DB.Commit = sl.DB.LogIndex
		c.syncZone(z, sl)
	}
}

func (c *Cloud) syncZone(z *zone, leader *node) {
	now := c.clock.Now()
	for _, m := range c.members(z) {
		if m != leader && !m.Stuck && !m.NeedsReset && !now.Before(m.CatchUpAt) {
			c.replicateTo(leader, m)
		}
	}
}

func cloneRows(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

var (
	reComment = regexp.MustCompile(`(?m)^\s*#.*$`)
	reAttr    = regexp.MustCompile(`([A-Z_][A-Z0-9_]*)\s*=\s*("([^"]*)"|[^,\s\]]+)`)
	reVector  = map[string]*regexp.Regexp{
		"FEDERATION": regexp.MustCompile(`(?s)(?:^|\n)\s*FEDERATION\s*=\s*\[(.*?)\]`),
		"DB":         regexp.MustCompile(`(?s)(?:^|\n)\s*DB\s*=\s*\[(.*?)\]`),
	}
)

// confVector returns the attributes of vector name (e.g. FEDERATION) in
// oned.conf text.
func confVector(conf, name string) map[string]string {
	text := reComment.ReplaceAllString(conf, "")
	re := reVector[name]
	if re == nil {
		return nil
	}
	m := re.FindStringSubmatch(text)
	if m == nil {
		return nil
	}
	out := map[string]string{}
	for _, a := range reAttr.FindAllStringSubmatch(m[1], -1) {
		v := a[2]
		if strings.HasPrefix(v, `"`) {
			v = a[3]
		}
		out[strings.ToUpper(a[1])] = v
	}
	return out
}

// onedConf reads node n's federation settings from /etc/one/oned.conf.
func (n *node) onedConf() (mode string, zoneID, serverID int, master string, db map[string]string, err error) {
	b, err := n.FS.ReadFile("/etc/one/oned.conf")
	if err != nil {
		return "", 0, 0, "", nil, err
	}
	fed := confVector(string(b), "FEDERATION")
	mode, zoneID, serverID = "STANDALONE", 0, -1
	if fed != nil {
		if v := fed["MODE"]; v != "" {
			mode = strings.ToUpper(v)
		}
		if v, e := strconv.Atoi(fed["ZONE_ID"]); e == nil {
			zoneID = v
		}
		if v, e := strconv.Atoi(fed["SERVER_ID"]); e == nil {
			serverID = v
		}
		master = fed["MASTER_ONED"]
	}
	if mode == "STANDALONE" {
		zoneID = 0
	}
	return mode, zoneID, serverID, master, confVector(string(b), "DB"), nil
}

// onedLog appends a line to the node's oned.log at the current time.
func (c *Cloud) onedLog(n *node, module, level, msg string) {
	c.onedLogAt(n, c.clock.Now(), module, level, msg)
}

func (c *Cloud) onedLogAt(n *node, at time.Time, module, level, msg string) {
	line := fmt.Sprintf("%s [Z%d][%s][%s]: %s\n", at.Format("Mon Jan 2 15:04:05 2006"), n.OnedZone, module, level, msg)
	_ = n.FS.AppendFile("/var/log/one/oned.log", []byte(line), "oneadmin", "oneadmin", at)
}

// startOned starts oned on n; it returns false when oned refused to start
// (the unit then becomes failed).
func (c *Cloud) startOned(n *node) bool {
	now := c.clock.Now()
	mode, zid, sid, _, _, err := n.onedConf()
	if err != nil {
		return false
	}
	n.OnedZone = zid
	_ = n.FS.Remove("/var/lock/one/one", false) // pre_cleanup
	if db := n.Units["mariadb"]; db == nil || !db.Active {
		c.onedLog(n, "ONE", "E", "Error connecting to DB: Can't connect to local server through socket '/run/mysqld/mysqld.sock' (2)")
		return false
	}
	if n.DB == nil || !n.DB.Bootstrapped {
		if mode != "STANDALONE" {
			c.onedLog(n, "ONE", "E", "Cannot start oned in a federation or HA without a bootstrapped DB")
			return false
		}
	}
	code := n.version()
	need := dbVersion(code)
	if n.DB != nil && n.DB.Bootstrapped {
		if mode == "SLAVE" && n.DB.shared().Version != need {
			c.onedLog(n, "ONE", "E", fmt.Sprintf("Database version mismatch ( db_versioning). Installed OpenNebula %s (%s) needs DB version '%s', and existing DB version is '%s'.", code, gitID(code), need, n.DB.shared().Version))
			c.onedLog(n, "ONE", "E", "Cannot join federation, oned master needs upgrade.")
			return false
		}
		if n.DB.local().Version != need {
			c.onedLog(n, "ONE", "E", fmt.Sprintf("Database version mismatch ( local_db_versioning). Installed OpenNebula %s (%s) needs DB version '%s', and existing DB version is '%s'.", code, gitID(code), need, n.DB.local().Version))
			c.onedLog(n, "ONE", "E", "Use onedb to upgrade DB.")
			return false
		}
		if n.DB.shared().Version != need {
			c.onedLog(n, "ONE", "E", fmt.Sprintf("Database version mismatch ( db_versioning). Installed OpenNebula %s (%s) needs DB version '%s', and existing DB version is '%s'.", code, gitID(code), need, n.DB.shared().Version))
			c.onedLog(n, "ONE", "E", "Use onedb to upgrade DB.")
			return false
		}
	}
	_ = n.FS.MkdirAll("/var/lock/one", "oneadmin", "oneadmin", now)
	_ = n.FS.WriteFile("/var/lock/one/one", []byte("oned\n"), 0o644, "oneadmin", "oneadmin", now)
	n.SID = sid
	z := c.zone(zid)
	if sid < 0 {
		n.Role = RaftSolo
		c.onedLog(n, "ONE", "I", "oned started in solo mode.")
	} else {
		n.Role = RaftFollower
		n.ElectAt = now.Add(warmUp + electionTimeout + time.Duration(sid)*300*time.Millisecond)
		n.CatchUpAt = now.Add(catchUpDelay)
		c.onedLog(n, "RCM", "I", "oned started in follower mode")
	}
	if z != nil {
		z.MembersChangedAt = now
	}
	return true
}

// stopOned stops oned on n: the VIP leaves with it and, when n led its
// zone, the remaining members time out and elect a new leader.
func (c *Cloud) stopOned(n *node) {
	now := c.clock.Now()
	wasLeader := n.Role == RaftLeader
	_ = n.FS.Remove("/var/lock/one/one", false)
	n.Role = RaftFollower
	z := c.zone(n.OnedZone)
	if z == nil {
		return
	}
	z.MembersChangedAt = now
	if wasLeader {
		for _, m := range c.members(z) {
			if m == n {
				continue
			}
			at := now.Add(electionTimeout + time.Duration(m.SID)*300*time.Millisecond)
			if at.After(m.ElectAt) {
				m.ElectAt = at
			}
		}
	}
}

// settle moves VMs and hosts whose time has come to their final state.
func (c *Cloud) settle(d *database, now time.Time) {
	pending := false
	for _, h := range d.hosts() {
		if h.MonitorAt.IsZero() {
			continue
		}
		if now.Before(h.MonitorAt) {
			pending = true
			continue
		}
		h.MonitorAt = time.Time{}
		if hn := c.st.Nodes[h.Name]; hn != nil && hn.Hypervisor && !hn.Unreachable {
			h.State, h.Capacity, h.Error = HostMonitored, true, ""
		} else {
			h.State = HostError
			h.Error = fmt.Sprintf("%s : Error monitoring Host %s (%d): -", now.Format("Mon Jan 2 15:04:05 2006"), h.Name, h.ID)
		}
		d.putHost(h)
	}
	for _, vm := range d.vms() {
		if vm.SettleAt.IsZero() {
			continue
		}
		if now.Before(vm.SettleAt) {
			pending = true
			continue
		}
		vm.State, vm.LCMState, vm.SettleAt = vm.SettleState, vm.SettleLCM, time.Time{}
		d.putVM(vm)
	}
	d.Pending = pending
}
