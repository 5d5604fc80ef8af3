package sim

import (
	"context"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Clock is the simulator's virtual clock. Time only moves when a command
// costs time or somebody sleeps or waits on it, so a full upgrade runs in
// milliseconds while reporting realistic durations. It is safe for
// concurrent use.
type Clock struct {
	mu    sync.Mutex
	now   time.Time
	onAdv func(time.Time) // called (without mu) after every advance
}

func newClock(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the virtual time. It satisfies backoff.Clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d (negative d is ignored) and returns
// the new time.
func (c *Clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	if d > 0 {
		c.now = c.now.Add(d)
	}
	now, f := c.now, c.onAdv
	c.mu.Unlock()
	if f != nil {
		f(now)
	}
	return now
}

// set moves the clock to t if t is later.
func (c *Clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.now = t
	}
}

// reset moves the clock to t, backwards too (the simulator's per-node
// timelines, see lanes).
func (c *Clock) reset(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Sleep advances the clock by d and returns at once, or returns ctx's
// error if ctx is already done.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.Advance(d)
	return nil
}

// Since returns the virtual time elapsed since t.
func (c *Clock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

// NewTimer returns a backoff.Timer on virtual time: Start(d) advances the
// clock by d and fires at once. Pass it to backoff.RetryNotifyWithTimer so
// a wait loop runs on the simulator's time.
func (c *Clock) NewTimer() backoff.Timer { return &virtualTimer{clock: c} }

type virtualTimer struct {
	clock *Clock
	ch    chan time.Time
}

func (t *virtualTimer) Start(d time.Duration) {
	if t.ch == nil {
		t.ch = make(chan time.Time, 1)
	}
	now := t.clock.Advance(d)
	select {
	case t.ch <- now:
	default:
	}
}

func (t *virtualTimer) Stop() {}

func (t *virtualTimer) C() <-chan time.Time { return t.ch }

var (
	_ backoff.Clock = (*Clock)(nil)
	_ backoff.Timer = (*virtualTimer)(nil)
)
