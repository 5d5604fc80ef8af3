package sim

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"time"
)

// EventKind classifies an Event.
type EventKind string

// Event kinds.
const (
	EventCommand   EventKind = "command"    // a command or file transfer reached a node
	EventUnitStart EventKind = "unit-start" // a systemd unit became active
	EventUnitStop  EventKind = "unit-stop"  // a systemd unit stopped
	EventUnitFail  EventKind = "unit-failed"
	EventLeader    EventKind = "leader"     // a server became leader (Detail: term)
	EventAPIUp     EventKind = "api-up"     // the zone endpoint answers again
	EventAPIDown   EventKind = "api-down"   // the zone endpoint stopped answering
	EventWriteUp   EventKind = "write-up"   // the zone accepts writes again
	EventWriteDown EventKind = "write-down" // writes are refused or cannot commit
	EventPackage   EventKind = "package"    // a package changed version
	EventFault     EventKind = "fault"      // an injected fault fired
	// EventLogApplied: a leader applied a log record that had failed to
	// commit (a write its client was told had failed).
	EventLogApplied EventKind = "log-applied"
	// EventStaleApply: such a record's SQL was written for another
	// database version than the one it was applied to.
	EventStaleApply EventKind = "stale-apply"
)

// Event is something the simulated cloud saw, at a virtual time.
type Event struct {
	At     time.Time `json:"at"`
	Node   string    `json:"node,omitempty"`
	Zone   int       `json:"zone"`
	Kind   EventKind `json:"kind"`
	Detail string    `json:"detail,omitempty"`
}

// maxEvents bounds the event log (oldest commands are dropped first).
const maxEvents = 100000

func (c *Cloud) event(at time.Time, node string, kind EventKind, detail string) {
	z := -1
	if n := c.st.Nodes[node]; n != nil {
		z = n.Zone
	}
	c.st.Events = append(c.st.Events, Event{At: at, Node: node, Zone: z, Kind: kind, Detail: detail})
	if len(c.st.Events) > maxEvents {
		c.st.Events = slices.Delete(c.st.Events, 0, len(c.st.Events)-maxEvents)
	}
}

func (c *Cloud) zoneEvent(at time.Time, zone int, kind EventKind, detail string) {
	c.st.Events = append(c.st.Events, Event{At: at, Zone: zone, Kind: kind, Detail: detail})
}

// Events returns a copy of the event log, in order.
func (c *Cloud) Events() []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.st.Events)
}

// Commands returns the command lines node received, in order.
func (c *Cloud) Commands(node string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, e := range c.st.Events {
		if e.Kind == EventCommand && e.Node == node {
			out = append(out, e.Detail)
		}
	}
	return out
}

// Window is a span of virtual time; To is zero while it is still open.
type Window struct {
	From, To time.Time
}

// Duration returns To-From, or 0 for an open window.
func (w Window) Duration() time.Duration {
	if w.To.IsZero() {
		return 0
	}
	return w.To.Sub(w.From)
}

func (c *Cloud) windows(zone int, down, up EventKind) []Window {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Window
	open := false
	for _, e := range c.st.Events {
		if e.Zone != zone || e.Node != "" {
			continue
		}
		switch e.Kind {
		case down:
			if !open {
				out = append(out, Window{From: e.At})
				open = true
			}
		case up:
			if open {
				out[len(out)-1].To = e.At
				open = false
			}
		}
	}
	return out
}

// APIWindows returns the spans during which zone's endpoint (the VIP held
// by the leader, or the solo front-end) did not answer.
func (c *Cloud) APIWindows(zone int) []Window { return c.windows(zone, EventAPIDown, EventAPIUp) }

// WriteWindows returns the spans during which zone refused or could not
// commit writes (no leader, no majority, zone disabled, API down).
func (c *Cloud) WriteWindows(zone int) []Window { return c.windows(zone, EventWriteDown, EventWriteUp) }

// APIDowntime sums APIWindows; an open window counts up to now.
func (c *Cloud) APIDowntime(zone int) time.Duration { return c.sum(c.APIWindows(zone)) }

// WriteDowntime sums WriteWindows; an open window counts up to now.
func (c *Cloud) WriteDowntime(zone int) time.Duration { return c.sum(c.WriteWindows(zone)) }

func (c *Cloud) sum(ws []Window) time.Duration {
	var d time.Duration
	now := c.clock.Now()
	for _, w := range ws {
		if w.To.IsZero() {
			d += now.Sub(w.From)
		} else {
			d += w.To.Sub(w.From)
		}
	}
	return d
}

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
