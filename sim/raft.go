package sim

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Raft timing, from OpenNebula's src/raft/RaftManager.cc and the RAFT
// defaults of share/etc/oned.conf (release-7.4.0): a freshly started oned
// sets its last heartbeat 15 s ahead (warm-up), a follower times out
// ELECTION_TIMEOUT_MS (5 s) after the last heartbeat, seen by a timer
// thread that wakes every timer_period_ms (50 ms); the leader sends
// heartbeats every BROADCAST_TIMEOUT_MS (500 ms); a candidate that got no
// majority sleeps a random 0..ELECTION_TIMEOUT_MS before its next
// election (request_vote). A write waits for its ReplicaRequest at most
// SyncRequest::wait's default, 90 s (include/SyncRequest.h).
const (
	warmUp           = 15 * time.Second
	electionTimeout  = 5 * time.Second
	broadcastTimeout = 500 * time.Millisecond
	timerPeriod      = 50 * time.Millisecond
	// voteLatency is how long a vote request takes to reach a follower
	// and be answered (an XML-RPC call plus the RAFT_STATE update in the
	// database on both sides): two servers that time out closer together
	// than this both become candidates of the same term and split the vote.
	voteLatency  = 10 * time.Millisecond
	writeWait    = 90 * time.Second
	catchUpDelay = 2 * time.Second
)

// random returns the cloud's next uniform draw in [0, 1): a function of
// the cloud's seed and the number of draws so far only, so that a run is
// reproducible and survives a save and load of the state.
func (c *Cloud) random() float64 {
	c.st.Draws++
	r := rand.New(rand.NewPCG(c.st.Seed, c.st.Draws))
	return r.Float64()
}

// randomDuration returns a uniform duration in [0, d), in milliseconds
// as RaftManager::request_vote computes its back-off.
func (c *Cloud) randomDuration(d time.Duration) time.Duration {
	return time.Duration(c.random()*float64(d.Milliseconds())) * time.Millisecond
}

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
	if now.Before(c.st.Now) {
		now = c.st.Now // a node's own timeline behind the others' (lanes)
	}
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
	if leader == nil && len(z.Servers) > 0 {
		leader = c.elections(z, ms, now)
	}
	if leader != nil {
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

// elections runs zone z's elections due by now, in time order, as
// RaftManager::timer_action and request_vote do (src/raft/RaftManager.cc,
// release-7.4.0), with ZoneAPI::vote deciding each vote
// (src/rm/api/ZoneAPI.cc). Each running server's ElectAt is when its
// timer next fires: a follower's heartbeat deadline, or the end of a
// candidate's random back-off. A server whose timer fires becomes
// candidate of term+1 and votes for itself; every server whose timer fires
// before its vote request arrives (voteLatency) does the same, and
// candidates of one term refuse each other. A server grants its vote to a
// candidate of a term at least its own whose log is not behind its own,
// once per term; a higher term turns a candidate back into a follower. A
// candidate without a majority sleeps a random 0..ELECTION_TIMEOUT_MS and
// tries again with the next term. It returns the new leader, or nil.
func (c *Cloud) elections(z *zone, ms []*node, now time.Time) *node {
	for range 100000 {
		var first *node
		for _, m := range ms {
			if first == nil || m.ElectAt.Before(first.ElectAt) {
				first = m
			}
		}
		if first == nil || first.ElectAt.After(now) {
			return nil
		}
		t := first.ElectAt
		if t.Before(z.MembersChangedAt) {
			// Nothing is decided before the running servers were these.
			t = z.MembersChangedAt
		}
		var cands []*node
		for _, m := range ms {
			if !m.ElectAt.After(t.Add(voteLatency)) {
				cands = append(cands, m)
			}
		}
		slices.SortStableFunc(cands, func(a, b *node) int { return a.ElectAt.Compare(b.ElectAt) })
		for _, m := range cands {
			if m.Role == RaftFollower {
				c.onedLogAt(m, m.ElectAt, "RRM", "E", "Failed to get heartbeat from leader. Starting election proccess")
			}
			m.Role = RaftCandidate
			m.DB.Term++
			m.DB.VotedFor = int64(m.SID)
		}
		for _, m := range cands {
			if m.Role != RaftCandidate {
				continue // a higher term made it a follower
			}
			votes := 1
			for _, f := range ms {
				if f == m {
					continue
				}
				if f.DB.Term > m.DB.Term {
					c.onedLogAt(m, t, "RCM", "I", fmt.Sprintf("Follower %d is in term %d current term is %d. Turning into follower", f.SID, f.DB.Term, m.DB.Term))
					m.Role, m.DB.Term, m.DB.VotedFor = RaftFollower, f.DB.Term, -1
					// Its heartbeat is long past: the timer fires again.
					m.ElectAt = t.Add(c.randomDuration(timerPeriod))
					break
				}
				if m.DB.Term > f.DB.Term {
					c.onedLogAt(f, t, "ReM", "I", fmt.Sprintf("New term (%d) discovered from candidate %d", m.DB.Term, m.SID))
					f.Role, f.DB.Term, f.DB.VotedFor = RaftFollower, m.DB.Term, -1
				}
				if f.DB.LogIndex > m.DB.LogIndex {
					continue // "Candidate's log is outdated"
				}
				if f.DB.VotedFor == -1 || f.DB.VotedFor == int64(m.SID) {
					f.DB.VotedFor = int64(m.SID)
					votes++
				}
			}
			if m.Role == RaftCandidate && votes >= z.majority() {
				return c.elect(z, ms, m, t)
			}
		}
		for _, m := range cands {
			if m.Role != RaftCandidate {
				continue
			}
			m.DB.VotedFor = -1
			wait := c.randomDuration(electionTimeout)
			m.ElectAt = t.Add(wait)
			c.onedLogAt(m, t, "RCM", "I", fmt.Sprintf("No leader found, starting new election in %dms", wait.Milliseconds()))
		}
	}
	return nil
}

// elect makes win leader of zone z at time at (RaftManager::leader): a
// leader whose log holds records it never applied applies them all first
// ("Replicating log to followers"), whatever schema their SQL was written
// for.
func (c *Cloud) elect(z *zone, ms []*node, win *node, at time.Time) *node {
	term := win.DB.Term
	win.Role = RaftLeader
	win.DB.VotedFor = int64(win.SID)
	c.onedLogAt(win, at, "RCM", "I", fmt.Sprintf("Got majority of votes"))
	c.onedLogAt(win, at, "RCM", "I", fmt.Sprintf("Becoming leader of the zone. Last log record: %d last applied record: %d", win.DB.LogIndex, win.DB.Commit))
	if len(win.DB.Unapplied) > 0 {
		c.onedLogAt(win, at, "RCM", "I", "Replicating log to followers")
		first := win.DB.Unapplied[0].Index
		tables := c.applyUnapplied(win, at)
		// A follower that already holds those records applies them as
		// the commit index passes them (RaftManager::update_commit).
		for _, m := range ms {
			if m == win || m.DB.LogIndex < first {
				continue
			}
			for _, t := range tables {
				if rows, ok := win.DB.Tables[t]; ok {
					m.DB.Tables[t] = cloneRows(rows)
				} else {
					delete(m.DB.Tables, t)
				}
			}
		}
		c.onedLogAt(win, at, "RCM", "I", "Leader log replicated")
	}
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

// pendingRecord is the content of a logdb row (log_index, term, sqlcmd,
// timestamp, fed_index, applied; src/sql/OneDB.cc) that the leader wrote
// with applied = 0 and
// could not commit: LogDB::_exec_wr inserts a record before replicating
// it and nothing removes it when replication fails (src/sql/LogDB.cc).
// Rows are the rows its SQL writes (Deleted: the rows it deletes);
// Version is the shared DB version the SQL was written for.
type pendingRecord struct {
	Index   int64                        `json:"index"`
	Term    int64                        `json:"term"`
	Method  string                       `json:"method"`
	Version string                       `json:"version"`
	Rows    map[string]map[string]string `json:"rows,omitempty"`
	Deleted map[string][]string          `json:"deleted,omitempty"`
}

// applyUnapplied applies every record of leader's log not yet applied, in
// order (LogDB::apply_log_records), and records each whose SQL was written
// for another schema than the database now has (EventStaleApply). It
// returns the tables those records changed.
func (c *Cloud) applyUnapplied(leader *node, at time.Time) []string {
	d := leader.DB
	changed := map[string]bool{}
	for _, r := range d.Unapplied {
		for t := range r.Rows {
			changed[t] = true
		}
		for t := range r.Deleted {
			changed[t] = true
		}
		for t, rows := range r.Rows {
			if d.Tables[t] == nil {
				d.Tables[t] = map[string]string{}
			}
			maps.Copy(d.Tables[t], rows)
		}
		for t, keys := range r.Deleted {
			for _, k := range keys {
				delete(d.Tables[t], k)
			}
		}
		if v := d.shared().Version; v != r.Version {
			c.event(at, leader.Name, EventStaleApply, fmt.Sprintf("log record %d (%s) written for DB version %s applied to DB version %s", r.Index, r.Method, r.Version, v))
		}
		c.event(at, leader.Name, EventLogApplied, fmt.Sprintf("log record %d (%s), term %d", r.Index, r.Method, r.Term))
	}
	d.Unapplied = nil
	d.Commit = d.LogIndex
	return slices.Sorted(maps.Keys(changed))
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
			// LogDB::_exec_wr writes the record into logdb (applied = 0)
			// before replicating it; LogDB::replicate waits for the
			// ReplicaRequest up to 90 s and fails, leaving the record for
			// the next leader or the next committed write to apply.
			if err := c.recordUnapplied(leader, method, apply); err != nil {
				return err
			}
			p.spend(writeWait)
			return &apiError{method, "Cannot replicate log record on followers"}
		}
	}
	leader.DB.dirty = map[string]bool{}
	if len(leader.DB.Unapplied) > 0 {
		// The next committed write applies every earlier record
		// (LogDB::apply_log_records from last_applied + 1); followers
		// apply them as the commit index passes them, so their tables go
		// with this write's record.
		for _, t := range c.applyUnapplied(leader, p.now()) {
			leader.DB.dirty[t] = true
		}
	}
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

// recordUnapplied appends to leader's log the record of a write that
// cannot commit: its rows are computed on a copy, the tables stay as
// they are.
func (c *Cloud) recordUnapplied(leader *node, method string, apply func(db *database) error) error {
	tmp := leader.DB.clone()
	tmp.dirty = map[string]bool{}
	if err := apply(tmp); err != nil {
		return err
	}
	d := leader.DB
	d.appendRecord(d.Term, slices.Sorted(maps.Keys(tmp.dirty)))
	r := pendingRecord{Index: d.LogIndex, Term: d.Term, Method: method, Version: d.shared().Version}
	for t := range tmp.dirty {
		for k, v := range tmp.Tables[t] {
			if old, ok := d.Tables[t][k]; !ok || old != v {
				if r.Rows == nil {
					r.Rows = map[string]map[string]string{}
				}
				if r.Rows[t] == nil {
					r.Rows[t] = map[string]string{}
				}
				r.Rows[t][k] = v
			}
		}
		for _, k := range slices.Sorted(maps.Keys(d.Tables[t])) {
			if _, ok := tmp.Tables[t][k]; !ok {
				if r.Deleted == nil {
					r.Deleted = map[string][]string{}
				}
				r.Deleted[t] = append(r.Deleted[t], k)
			}
		}
	}
	d.Unapplied = append(d.Unapplied, r)
	return nil
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
		// RaftManager's constructor sets the last heartbeat 15 s ahead;
		// the timer thread sees the deadline at its next 50 ms wake-up.
		n.ElectAt = now.Add(warmUp + electionTimeout + c.randomDuration(timerPeriod))
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
		// Every follower got the leader's last heartbeat in the same
		// broadcast round, up to BROADCAST_TIMEOUT_MS ago: they time out
		// together, each at its own timer thread's next wake-up.
		last := now.Add(-c.randomDuration(broadcastTimeout))
		for _, m := range c.members(z) {
			if m == n {
				continue
			}
			at := last.Add(electionTimeout + c.randomDuration(timerPeriod))
			if at.After(m.ElectAt) || m.Role == RaftFollower {
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
