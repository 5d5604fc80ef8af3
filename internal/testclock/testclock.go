package testclock

import (
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Clock is a virtual clock; pass Now to WithClock and NewTimer to
// WithTimer.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	waits  []time.Duration
	timers int
}

// New returns a Clock set to 2026-01-01 00:00 UTC.
func New() *Clock { return &Clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

// Now returns the virtual time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer returns a timer on c.
func (c *Clock) NewTimer() backoff.Timer {
	c.mu.Lock()
	c.timers++
	c.mu.Unlock()
	return &timer{c: c, ch: make(chan time.Time, 1)}
}

// Recorded returns how many timers were made and every wait started on
// them, in order.
func (c *Clock) Recorded() (timers int, waits []time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.timers, append([]time.Duration(nil), c.waits...)
}

type timer struct {
	c  *Clock
	ch chan time.Time
}

// Start advances the clock by d and fires.
func (t *timer) Start(d time.Duration) {
	t.c.mu.Lock()
	t.c.now = t.c.now.Add(d)
	t.c.waits = append(t.c.waits, d)
	now := t.c.now
	t.c.mu.Unlock()
	select {
	case t.ch <- now:
	default:
	}
}

func (t *timer) Stop()               {}
func (t *timer) C() <-chan time.Time { return t.ch }
