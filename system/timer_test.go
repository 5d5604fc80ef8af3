package system

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
func TestWaitStoppedUsesInjectedTimer(t *testing.T) {
	t.Parallel()
	argv := []string{"systemctl", "is-active", "--", "opennebula"}
	c := newVClock()
	start := c.Now()
	s, err := New(WithTimer(c.NewTimer), WithClock(c.Now), WithPollInterval(10*time.Minute, time.Hour), WithWaitTimeout(24*time.Hour))
	require.NoError(t, err)
	fe := fake.New("fe1")
	fe.Expect(fake.Exact(argv...)).Stdout("deactivating\n").Exit(3).Times(2)
	fe.Expect(fake.Exact(argv...)).Stdout("inactive\n").Exit(3)
	require.NoError(t, s.WaitStopped(t.Context(), fe, "opennebula"))
	fe.AssertExpectations(t)
	waits := c.recorded()
	require.Len(t, waits, 2)
	assert.GreaterOrEqual(t, c.Now().Sub(start), 10*time.Minute)

	c = newVClock()
	start = c.Now()
	s, err = New(WithTimer(c.NewTimer), WithClock(c.Now), WithWaitTimeout(time.Hour))
	require.NoError(t, err)
	fe = fake.New("fe1")
	fe.Expect(fake.Exact(argv...)).Stdout("active\n").Exit(0).Any()
	err = s.WaitStopped(t.Context(), fe, "opennebula")
	sa, ok := errors.AsType[*StillActiveError](err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, map[string]State{"opennebula": StateActive}, sa.Units)
	assert.Greater(t, c.Now().Sub(start), 50*time.Minute, "timed out on the virtual clock")

	_, err = New(WithTimer(nil))
	assert.Error(t, err)
}
