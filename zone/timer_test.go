package zone

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/internal/testclock"
	"github.com/upgradekit/upgradekit/transport/fake"
)

// Not run in a synctest bubble: a wait that slept in real time would take
// minutes here, and the recorded waits prove the timer was used.
func TestWaitsUseInjectedTimer(t *testing.T) {
	t.Parallel()
	t.Run("WaitInSync catches up", func(t *testing.T) {
		t.Parallel()
		c := testclock.New()
		f := fake.New("fe1")
		n := replies(f, 0,
			showXML(0, srv{leader, 4, 100, 100}, srv{follower, 4, 100, 100}, srv{}),
			showXML(0, srv{leader, 4, 100, 105}, srv{follower, 4, 100, 105}, srv{follower, 4, 90, 95}),
			showXML(0, srv{leader, 4, 105, 105}, srv{follower, 4, 105, 105}, srv{follower, 4, 105, 105}),
		)
		_, err := WaitInSync(t.Context(), f, 0, WithTimer(c.NewTimer), WithClock(c.Now), WithPollInterval(time.Minute, time.Hour))
		require.NoError(t, err)
		assert.EqualValues(t, 3, n.Load())
		timers, waits := c.Recorded()
		assert.Equal(t, 1, timers, "one fresh timer per wait")
		require.Len(t, waits, 2)
		for _, w := range waits {
			assert.GreaterOrEqual(t, w, 30*time.Second, "the poll interval, with jitter")
		}
	})
	t.Run("WaitInSync times out on the virtual clock", func(t *testing.T) {
		t.Parallel()
		c := testclock.New()
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
		c := testclock.New()
		f := fake.New("fe1")
		replies(f, 0,
			showXML(0, srv{}, srv{}, srv{}),
			showXML(0, srv{follower, 5, 10, 10}, srv{leader, 5, 10, 10}, srv{}),
		)
		l, err := WaitLeader(t.Context(), f, 0, WithTimer(c.NewTimer), WithClock(c.Now))
		require.NoError(t, err)
		assert.Equal(t, "fe2", l.Name)
		_, waits := c.Recorded()
		assert.Len(t, waits, 1)
	})
	t.Run("WaitFederationInSync", func(t *testing.T) {
		t.Parallel()
		const hdr = "CURRENT,ID,NAME,ENDPOINT,FED_INDEX,STAT\n"
		c := testclock.New()
		f := fake.New("fe1")
		f.Expect(fake.Exact("onezone", "list", "--csv")).Any().Reply(hdr + "*,0,a,e,12,on\n,100,b,e,11,on\n")
		_, err := WaitFederationInSync(t.Context(), f, WithTimer(c.NewTimer), WithClock(c.Now), WithTimeout(24*time.Hour))
		require.ErrorIs(t, err, ErrTimeout)
		_, waits := c.Recorded()
		assert.Greater(t, len(waits), 5)
	})
	t.Run("nil", func(t *testing.T) {
		t.Parallel()
		_, err := WaitLeader(t.Context(), fake.New("fe1"), 0, WithTimer(nil))
		assert.ErrorContains(t, err, "WithTimer(nil)")
	})
}
