package sim

import (
	"fmt"
	"maps"
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
	for _, z := range c.st.Zones {
		if l := c.zoneLeader(z); l != nil {
			c.monitor(l, now)
		}
	}
	c.st.Now = now
}

func (c *Cloud) tickZone(z *zone, now time.Time) {
	c.campaignRemoved(z, now)
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

// removeRunning marks the running oned of zone z with server ID sid,
// just deleted from the zone, as removed: the leader stops its heartbeat
// and replica threads at once (RaftManager::delete_server), so it hears
// nothing from now on.
func (c *Cloud) removeRunning(z *zone, sid int, now time.Time) {
	for _, n := range c.st.Nodes {
		if !n.Hypervisor && n.onedUp() && n.OnedZone == z.ID && n.SID == sid && z.server(sid) == nil {
			n.Removed = true
			n.Role = RaftFollower
			n.ElectAt = now.Add(electionTimeout)
		}
	}
}

// campaignRemoved models servers deleted from z while their oned runs.
// Such a server never gets the record that deletes it, so it keeps the
// old member list; without heartbeats it times out
// (RaftManager::timer_action) and asks for votes with a higher term
// (request_vote). Every server that hears a higher term turns follower
// (ZoneAPI::vote calls RaftManager::follower), the leader included, so
// the zone loses its leader and elects again; the removed server's log
// is behind, so it never wins, and it tries again after each election
// timeout until it is stopped. Stop a follower before deleting it.
func (c *Cloud) campaignRemoved(z *zone, now time.Time) {
	for _, name := range c.sortedNodes() {
		n := c.st.Nodes[name]
		if !n.Removed || !n.onedUp() || n.OnedZone != z.ID || z.server(n.SID) != nil {
			continue
		}
		for i := 0; i < 100 && !now.Before(n.ElectAt); i++ {
			at := n.ElectAt
			n.Role = RaftCandidate
			n.DB.Term++
			n.DB.VotedFor = int64(n.SID)
			n.ElectAt = at.Add(electionTimeout)
			c.onedLogAt(n, at, "RRM", "E", "Failed to get heartbeat from leader. Starting election proccess")
			for _, m := range c.members(z) {
				if m.DB.Term >= n.DB.Term {
					continue
				}
				m.Role = RaftFollower
				m.DB.Term, m.DB.VotedFor = n.DB.Term, -1
				if e := at.Add(electionTimeout); e.After(m.ElectAt) {
					m.ElectAt = e
				}
				c.onedLogAt(m, at, "ReM", "I", fmt.Sprintf("New term (%d) discovered from candidate %d", n.DB.Term, n.SID))
				c.observe(z, at)
			}
		}
	}
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
	win.Next = map[int]int64{}
	for _, s := range z.Servers {
		if s.ID != win.SID {
			win.setNext(s.ID, win.DB.LogIndex+1)
		}
	}
	for _, m := range ms {
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
	if f.Stuck || now.Before(f.CatchUpAt) {
		if f.DB.Term < leader.DB.Term && !f.Stuck {
			f.DB.Term, f.DB.VotedFor = leader.DB.Term, leader.DB.VotedFor
		}
		return
	}
	f.DB.Term, f.DB.VotedFor = leader.DB.Term, leader.DB.VotedFor
	if leader.DB.LogIndex < leader.nextIndex(f.SID) {
		// Nothing to send: heartbeats carry no record and no log
		// consistency check (src/raft/ReplicaThread.cc
		// HeartBeatThread::replicate sends index 0), so a follower
		// that misses records only gets them with the next write.
		return
	}
	c.replicateTo(leader, f)
}

// nextIndex is the index of the next record the leader sends to server
// sid (RaftManager's next map, src/raft/RaftManager.cc): set to the
// leader's last record + 1 when it becomes leader, when the server is
// added (add_server, called after the zone update's own record) and on
// server-reset (reset_index).
func (n *node) nextIndex(sid int) int64 {
	if v, ok := n.Next[sid]; ok {
		return v
	}
	return n.DB.LogIndex + 1
}

func (n *node) setNext(sid int, v int64) {
	if n.Next == nil {
		n.Next = map[int]int64{}
	}
	n.Next[sid] = v
}

// replicateTo brings follower f up to the leader's last record the way
// the leader's replica thread does: it sends the record at the follower's
// next index, the follower refuses it when its own record before it has
// another term ("Previous log record missmatch", src/rm/api/ZoneAPI.cc
// ZoneAPI::replicate_log), the leader steps back one record and retries
// (RaftManager::replicate_failure) until both logs match, then sends
// every later record; the follower drops its own records from the first
// conflicting one (LogDB::delete_log_records) and applies the leader's.
// SQL it applied from records it dropped is not undone. A follower that
// needs a record the leader no longer holds is never caught up
// ("Failed to load log record", ReplicaThread.cc).
func (c *Cloud) replicateTo(leader, f *node) {
	l, d := leader.DB, f.DB
	m := min(d.LogIndex, l.LogIndex)
	for ; m > 0; m-- {
		lt, ok := l.termAt(m)
		if !ok {
			return
		}
		if ft, ok := d.termAt(m); ok && ft == lt {
			break
		}
	}
	if m < l.LogBase {
		return
	}
	changed := map[string]bool{}
	for _, r := range l.Log {
		if r.Index > m {
			for _, t := range r.Tables {
				changed[t] = true
			}
		}
	}
	for t := range changed {
		if rows, ok := l.Tables[t]; ok {
			d.Tables[t] = cloneRows(rows)
		} else {
			delete(d.Tables, t)
		}
	}
	d.truncateLog(m)
	for _, r := range l.Log {
		if r.Index > m {
			d.Log = append(d.Log, r.clone())
		}
	}
	d.Name, d.Bootstrapped = l.Name, l.Bootstrapped
	d.Shared, d.Local = slices.Clone(l.Shared), slices.Clone(l.Local)
	d.Term, d.VotedFor, d.LogIndex, d.Commit, d.FedLogIndex = l.Term, l.VotedFor, l.LogIndex, l.Commit, l.FedLogIndex
	d.Pending = d.Pending || l.Pending
	leader.setNext(f.SID, l.LogIndex+1)
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
	leader.DB.dirty = map[string]bool{}
	defer func() { leader.DB.dirty = nil }()
	if err := apply(leader.DB); err != nil {
		return err
	}
	if leader.SID >= 0 && len(z.Servers) > 0 {
		leader.DB.appendRecord(leader.DB.Term, slices.Sorted(maps.Keys(leader.DB.dirty)))
		leader.DB.Commit = leader.DB.LogIndex
		c.syncZone(z, leader)
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
		sl.DB.appendRecord(sl.DB.Term, federatedTables)
		sl.DB.Commit = sl.DB.LogIndex
		c.syncZone(z, sl)
	}
}

// syncZone sends the leader's new records to every running follower of
// z that can take them. The federated index travels with the record that
// carries it.
func (c *Cloud) syncZone(z *zone, leader *node) {
	now := c.clock.Now()
	for _, m := range c.members(z) {
		if m == leader || m.Stuck || now.Before(m.CatchUpAt) {
			continue
		}
		if m.DB.LogIndex == leader.DB.LogIndex {
			m.DB.FedLogIndex = leader.DB.FedLogIndex
			continue
		}
		if leader.DB.LogIndex >= leader.nextIndex(m.SID) {
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
	n.Removed = false
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

// Monitoring periods of the monitor daemon (src/monitor/etc/monitord.conf
// PROBES_PERIOD MONITOR_HOST and MONITOR_VM).
const (
	monitorHostPeriod = 120 * time.Second
	monitorVMPeriod   = 30 * time.Second
)

// monitor writes the monitoring records the leader's (or a solo
// front-end's) monitor daemon stores: host_monitoring and vm_monitoring
// rows go to its own database only, never through the Raft log
// (HostRPCPool.cc and VMRPCPool.cc update_monitoring use exec_local_wr),
// and only the leader monitors (HostMonitorManager.cc monitor_host and
// monitor_vm return unless is_leader). Offline hosts are skipped;
// disabled ones are still monitored.
func (c *Cloud) monitor(n *node, now time.Time) {
	d := n.DB
	if d == nil || !d.Bootstrapped {
		return
	}
	row := func(table, id string) {
		if d.Tables[table] == nil {
			d.Tables[table] = map[string]string{}
		}
		d.Tables[table][id] = fmt.Sprintf("<MONITORING><ID>%s</ID><TIMESTAMP>%d</TIMESTAMP></MONITORING>", id, now.Unix())
	}
	if now.Sub(n.HostsMonitoredAt) >= monitorHostPeriod {
		n.HostsMonitoredAt = now
		for _, h := range d.hosts() {
			if hn := c.st.Nodes[h.Name]; h.State != HostOffline && hn != nil && !hn.Unreachable {
				row("host_monitoring", strconv.Itoa(h.ID))
			}
		}
	}
	if now.Sub(n.VMsMonitoredAt) >= monitorVMPeriod {
		n.VMsMonitoredAt = now
		for _, vm := range d.vms() {
			if vm.State == 3 {
				row("vm_monitoring", strconv.Itoa(vm.ID))
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
