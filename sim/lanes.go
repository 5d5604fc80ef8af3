package sim

import "time"

// Lanes let the simulator charge work that really runs in parallel on
// several hosts concurrently: between BeginLanes and EndLanes every node
// has its own timeline, starting at BeginLanes' time, and a command on a
// node costs time on that node's timeline only. EndLanes moves the
// clock to the end of the longest timeline. Without lanes every command
// costs time on the one clock, so parallel work adds up.
//
// Use them only around work whose hosts do not wait on each other (each
// branch working on its own node, as the front-ends' package upgrades
// of an HA upgrade): within lanes, the zone model and the clock others
// read see the latest time any node reached.
type lanes struct {
	start time.Time
	at    map[string]time.Time
}

// BeginLanes starts per-node timelines at the current time (see lanes).
func (c *Cloud) BeginLanes() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lanes = &lanes{start: c.clock.Now(), at: map[string]time.Time{}}
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
