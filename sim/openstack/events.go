package ossim

import (
	"slices"
	"time"
)

// EventKind classifies an Event.
type EventKind string

// Event kinds.
const (
	EventCommand     EventKind = "command"      // a command reached a node
	EventUnitDown    EventKind = "unit-down"    // a unit stopped or failed
	EventUnitUp      EventKind = "unit-up"      // a unit became active
	EventServiceDown EventKind = "service-down" // no API unit of a service is active
	EventServiceUp   EventKind = "service-up"   // an API unit of the service is active again
	EventMigration   EventKind = "migration"    // a schema or data migration ran
	EventViolation   EventKind = "violation"    // the procedure broke an upstream rule
	EventPackage     EventKind = "package"      // a package changed version
)

// Event is something the cloud saw, on the virtual clock.
type Event struct {
	Time    time.Time
	Kind    EventKind
	Node    string
	Unit    string
	Service string
	Detail  string
}

func (c *Cloud) event(e Event) {
	e.Time = c.clock.Now()
	c.events = append(c.events, e)
}

// Events returns every event so far.
func (c *Cloud) Events() []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.events)
}

// Commands returns the commands node received, as strings (redacted).
func (c *Cloud) Commands(node string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, e := range c.events {
		if e.Kind == EventCommand && e.Node == node {
			out = append(out, e.Detail)
		}
	}
	return out
}

// Violations returns the upstream rules the procedure broke: a newer
// nova service without the compute RPC pin while older computes run, a
// service started on code newer than its schema, neutron's contract
// with servers running, old code on a contracted schema...
func (c *Cloud) Violations() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, e := range c.events {
		if e.Kind == EventViolation {
			out = append(out, e.Node+": "+e.Detail)
		}
	}
	return out
}

// Window is a span during which a service's API answered nowhere.
type Window struct {
	Service    string
	Start, End time.Time
	// Open is true when the service was still down at the last event.
	Open bool
}

// Duration returns the window's length.
func (w Window) Duration() time.Duration { return w.End.Sub(w.Start) }

// APIWindows returns, per service, the windows during which none of its
// API units was active anywhere (virtual time).
func (c *Cloud) APIWindows() map[string][]Window {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string][]Window{}
	open := map[string]time.Time{}
	for _, e := range c.events {
		switch e.Kind {
		case EventServiceDown:
			open[e.Service] = e.Time
		case EventServiceUp:
			if s, ok := open[e.Service]; ok {
				out[e.Service] = append(out[e.Service], Window{Service: e.Service, Start: s, End: e.Time})
				delete(open, e.Service)
			}
		}
	}
	now := c.clock.Now()
	for s, t := range open {
		out[s] = append(out[s], Window{Service: s, Start: t, End: now, Open: true})
	}
	return out
}

// APIDowntime returns each service's total API downtime.
func (c *Cloud) APIDowntime() map[string]time.Duration {
	out := map[string]time.Duration{}
	for s, ws := range c.APIWindows() {
		for _, w := range ws {
			out[s] += w.Duration()
		}
	}
	return out
}
