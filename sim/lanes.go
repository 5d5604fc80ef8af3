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
// another (an upload, a command's input) carries its time: the receiving
// node's timeline does not start the upload before the sending node's
// timeline produced the data (a copy from a leader to its followers: the
// followers' restores wait for their copy). A node's own transfers and
// commands run one after the other on its timeline, so two copies out of
// the same node take twice as long, as on one shared link.
//
// Use them only around work whose hosts wait on each other through the
// data they pass, nothing else (each branch working on its own node, as
// the front-ends' package upgrades of an HA upgrade, or reading from a
// node the others do not change): within lanes, the zone model and the
// clock others read see the latest time any node reached.
type lanes struct {
	start time.Time
	at    map[string]time.Time
	// sent holds, by SHA-256 of the data, when each copy of it left its
	// node, oldest first.
	sent map[string][]time.Time
}

// BeginLanes starts per-node timelines at the current time (see lanes).
func (c *Cloud) BeginLanes() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lanes = &lanes{start: c.clock.Now(), at: map[string]time.Time{}, sent: map[string][]time.Time{}}
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

// laneSent records, within lanes (with c.mu held), that data left node at
// the time its timeline has reached.
func (c *Cloud) laneSent(node string, data []byte) {
	if c.lanes == nil || c.realTime || len(data) == 0 {
		return
	}
	at, ok := c.lanes.at[node]
	if !ok {
		at = c.lanes.start
	}
	key := sha256hex(data)
	c.lanes.sent[key] = append(c.lanes.sent[key], at)
}

// laneReceived moves node's timeline, within lanes (with c.mu held), to
// when data left the node that sent it, if that is later: the node
// cannot work on data before it exists. Each copy sent is received once,
// the oldest first.
func (c *Cloud) laneReceived(node string, data []byte) {
	if c.lanes == nil || c.realTime || len(data) == 0 {
		return
	}
	key := sha256hex(data)
	q := c.lanes.sent[key]
	if len(q) == 0 {
		return
	}
	sent := q[0]
	if len(q) == 1 {
		delete(c.lanes.sent, key)
	} else {
		c.lanes.sent[key] = q[1:]
	}
	at, ok := c.lanes.at[node]
	if !ok {
		at = c.lanes.start
	}
	if sent.After(at) {
		c.lanes.at[node] = sent
	}
}
