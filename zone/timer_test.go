package zone

import (
	"errors"
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
	mu     sync.Mutex
	now    time.Time
	waits  []time.Duration
	timers int
}

func newVClock() *vclock { return &vclock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *vclock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *vclock) NewTimer() backoff.Timer {
	c.mu.Lock()
	c.timers++
	c.mu.Unlock()
	return &vtimer{c: c, ch: make(chan time.Time, 1)}
}

func (c *vclock) recorded() (timers int, waits []time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.timers, append([]time.Duration(nil), c.waits...)
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

// Not run in a synctest bubble: a wait that slept in real time would take
// minutes here, and the recorded waits prove the timer was used.
func TestWaitsUseInjectedTimer(t *testing.T) {
	t.Parallel()
	t.Run("WaitInSync catches up", func(t *testing.T) {
		t.Parallel()
		c := newVClock()
		f := fake.New("fe1")
		n := replies(f, 0,
			showXML(0, srv{leader, 4, 100, 100}, srv{follower, 4, 100, 100}, srv{}),
			showXML(0, srv{leader, 4, 100, 105}, srv{follower, 4, 100, 105}, srv{follower, 4, 90, 95}),
			showXML(0, srv{leader, 4, 105, 105}, srv{follower, 4, 105, 105}, srv{follower, 4, 105, 105}),
		)
		_, err := WaitInSync(t.Context(), f, 0, WithTimer(c.NewTimer), WithClock(c.Now), WithPollInterval(time.Minute, time.Hour))
		require.NoError(t, err)
		assert.EqualValues(t, 3, n.Load())
		timers, waits := c.recorded()
		assert.Equal(t, 1, timers, "one fresh timer per wait")
		require.Len(t, waits, 2)
		for _, w := range waits {
			assert.GreaterOrEqual(t, w, 30*time.Second, "the poll interval, with jitter")
		}
	})
	t.Run("WaitInSync times out on the virtual clock", func(t *testing.T) {
		t.Parallel()
		c := newVClock()
		start := c.Now()
		f := fake.New("fe1")
		replies(f, 0, showXML(0, srv{leader, 4, 100, 100}, srv{}))
		_, err := WaitInSync(t.Context(), f, 0, WithTimer(c.NewTimer), WithClock(c.Now), WithTimeout(2*time.Hour))
		require.ErrorIs(t, err, ErrTimeout)
		nis, ok := errors.AsType[*NotInSyncError](err)
		require.True(t, ok)
		assert.Equal(t, Unreachable, nis.Problems[0].Kind)
		assert.Greater(t, c.Now().Sub(start), time.Hour+50*time.Minute, "waited out the timeout on the virtual clock")
	})
	t.Run("WaitLeader", func(t *testing.T) {
		t.Parallel()
		c := newVClock()
		f := fake.New("fe1")
		replies(f, 0,
			showXML(0, srv{}, srv{}, srv{}),
			showXML(0, srv{follower, 5, 10, 10}, srv{leader, 5, 10, 10}, srv{}),
		)
		l, err := WaitLeader(t.Context(), f, 0, WithTimer(c.NewTimer), WithClock(c.Now))
		require.NoError(t, err)
		assert.Equal(t, "fe2", l.Name)
		_, waits := c.recorded()
		assert.Len(t, waits, 1)
	})
	t.Run("WaitFederationInSync", func(t *testing.T) {
		t.Parallel()
		const hdr = "CURRENT,ID,NAME,ENDPOINT,FED_INDEX,STAT\n"
		c := newVClock()
		f := fake.New("fe1")
		f.Expect(fake.Exact("onezone", "list", "--csv")).Any().Reply(hdr + "*,0,a,e,12,on\n,100,b,e,11,on\n")
		_, err := WaitFederationInSync(t.Context(), f, WithTimer(c.NewTimer), WithClock(c.Now), WithTimeout(24*time.Hour))
		require.ErrorIs(t, err, ErrTimeout)
		_, waits := c.recorded()
		assert.Greater(t, len(waits), 5)
	})
	t.Run("nil", func(t *testing.T) {
		t.Parallel()
		_, err := WaitLeader(t.Context(), fake.New("fe1"), 0, WithTimer(nil))
		assert.ErrorContains(t, err, "WithTimer(nil)")
	})
}
