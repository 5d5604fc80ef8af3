package vm

import (
	"sync"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/transport/fake"
)

// vclock is a virtual clock whose timers advance it and fire at once,
// recording every wait: the waits must never sleep in real time with it.
type vclock struct {
	mu    sync.Mutex
	now   time.Time
	waits []time.Duration
}

func newVClock() *vclock { return &vclock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *vclock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *vclock) NewTimer() backoff.Timer { return &vtimer{c: c, ch: make(chan time.Time, 1)} }

func (c *vclock) recorded() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}

type vtimer struct {
	c  *vclock
	ch chan time.Time
}

func (t *vtimer) Start(d time.Duration) {
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
func (t *vtimer) Stop()               {}
func (t *vtimer) C() <-chan time.Time { return t.ch }

// Not in a synctest bubble: a real-time wait would take an hour here.
func TestWaitSettledUsesInjectedTimer(t *testing.T) {
	t.Parallel()
	c := newVClock()
	f := fake.New("fe1")
	n := replies(f,
		vmXML([3]int{1, 3, 3}, [3]int{2, 3, 4}),
		vmXML([3]int{1, 3, 3}, [3]int{2, 3, 4}),
		vmXML([3]int{1, 3, 3}, [3]int{2, 3, 3}),
	)
	vms, err := WaitSettled(t.Context(), f, WithTimer(c.NewTimer), WithClock(c.Now), WithPollInterval(10*time.Minute, time.Hour))
	require.NoError(t, err)
	assert.Len(t, vms, 2)
	assert.EqualValues(t, 3, n.Load())
	waits := c.recorded()
	require.Len(t, waits, 2)
	for _, w := range waits {
		assert.GreaterOrEqual(t, w, 5*time.Minute, "the poll interval, with jitter")
	}

	c = newVClock()
	start := c.Now()
	f = fake.New("fe1")
	replies(f, vmXML([3]int{2, 3, 4}))
	_, err = WaitSettled(t.Context(), f, WithTimer(c.NewTimer), WithClock(c.Now), WithTimeout(3*time.Hour))
	require.ErrorIs(t, err, ErrTimeout)
	assert.Greater(t, c.Now().Sub(start), 2*time.Hour, "timed out on the virtual clock")

	_, err = WaitSettled(t.Context(), f, WithTimer(nil))
	assert.Error(t, err)
}
