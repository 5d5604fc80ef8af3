package sim

import "time"

// Lanes let the simulator charge work that really runs in parallel on
// several hosts concurrently: between BeginLanes and EndLanes every node
// has its own timeline, starting at BeginLanes' time, and a command on a
// node costs time on that node's timeline only. EndLanes moves the
// clock to the end of the longest timeline. Without lanes every command
// costs time on the one clock, so parallel work adds up.
//
// Data that leaves a node (a download, a command's output) and reaches
// another (an upload, a command's input) carries its time: system's
// copies stream it (CopyFile and CopyTree pipe the download or the tar
// into the upload as it comes, system/copy.go), so the receiving node's
// upload starts no earlier than the sending started and ends no earlier
// than the sending ended (a copy from a leader to its followers: the
// followers' restores wait for their copy). A node's own transfers and
// commands run one after the other on its timeline, so two copies out of
// the same node take twice as long, as on one shared link. Outside lanes
// the download and the upload add up on the one clock.
//
// Use them only around work whose hosts wait on each other through the
// data they pass, nothing else (each branch working on its own node, as
// the front-ends' package upgrades of an HA upgrade, or reading from a
// node the others do not change): within lanes, the zone model and the
// clock others read see the latest time any node reached.
type lanes struct {
	start time.Time
	at    map[string]time.Time
	// sent holds, by SHA-256 of the data, when each copy of it was sent
	// from its node, oldest first.
	sent map[string][]span
}

// span is when a node sent data: from the start to the end of the
// command or download.
type span struct{ from, to time.Time }

// BeginLanes starts per-node timelines at the current time (see lanes).
func (c *Cloud) BeginLanes() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lanes = &lanes{start: c.clock.Now(), at: map[string]time.Time{}, sent: map[string][]span{}}
}

// EndLanes ends the per-node timelines: the clock moves to the latest
// time any node reached.
func (c *Cloud) EndLanes() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lanes == nil {
		return
	}
	end := c.clock.Now()
	for _, t := range c.lanes.at {
		if t.After(end) {
			end = t
		}
	}
	c.lanes = nil
	c.clock.set(end)
	c.tick(end)
}

// enterLane moves the clock to node's own timeline for one command (with
// c.mu held) and returns the function that records where the command
// left it and moves the clock back to the latest time reached.
func (c *Cloud) enterLane(node string) func() {
	if c.lanes == nil || c.realTime {
		return func() {}
	}
	latest := c.clock.Now()
	at, ok := c.lanes.at[node]
	if !ok {
		at = c.lanes.start
	}
	c.clock.reset(at)
	return func() {
		end := c.clock.Now()
		c.lanes.at[node] = end
		if end.After(latest) {
			latest = end
		}
		c.clock.reset(latest)
	}
}

// laneSent records, within lanes (with c.mu held), that node sent data
// from from until the time its timeline has reached.
func (c *Cloud) laneSent(node string, from time.Time, data []byte) {
	if c.lanes == nil || c.realTime || len(data) == 0 {
		return
	}
	key := sha256hex(data)
	c.lanes.sent[key] = append(c.lanes.sent[key], span{from, c.laneAt(node)})
}

// laneAt is where node's timeline is (with c.mu held, within lanes).
func (c *Cloud) laneAt(node string) time.Time {
	if at, ok := c.lanes.at[node]; ok {
		return at
	}
	return c.lanes.start
}

// laneReceived moves node's timeline, within lanes (with c.mu held), to
// when the sending of data started, if that is later, and returns when
// it ended: node cannot finish receiving data before that. Each copy
// sent is received once, the oldest first. Outside lanes, or for data
// no node sent, it returns the zero time.
func (c *Cloud) laneReceived(node string, data []byte) time.Time {
	if c.lanes == nil || c.realTime || len(data) == 0 {
		return time.Time{}
	}
	key := sha256hex(data)
	q := c.lanes.sent[key]
	if len(q) == 0 {
		return time.Time{}
	}
	sent := q[0]
	if len(q) == 1 {
		delete(c.lanes.sent, key)
	} else {
		c.lanes.sent[key] = q[1:]
	}
	if sent.from.After(c.laneAt(node)) {
		c.lanes.at[node] = sent.from
	}
	return sent.to
}

// laneWait advances the clock, on a node's timeline, to until if it is
// behind (with c.mu held).
func (c *Cloud) laneWait(until time.Time) {
	if now := c.clock.Now(); until.After(now) {
		c.clock.Advance(until.Sub(now))
	}
}
