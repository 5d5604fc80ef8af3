package vm

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/internal/testclock"
	"github.com/upgradekit/upgradekit/transport/fake"
)

// Not in a synctest bubble: a real-time wait would take an hour here.
func TestWaitSettledUsesInjectedTimer(t *testing.T) {
	t.Parallel()
	c := testclock.New()
	f := fake.New("fe1")
	n := replies(f,
		vmXML([3]int{1, 3, 3}, [3]int{2, 3, 4}),
		vmXML([3]int{1, 3, 3}, [3]int{2, 3, 4}),
		vmXML([3]int{1, 3, 3}, [3]int{2, 3, 3}),
	)
	// Two jittered polls may take up to 37.5 min: more than DefaultTimeout.
	vms, err := WaitSettled(t.Context(), f, WithTimer(c.NewTimer), WithClock(c.Now),
		WithPollInterval(10*time.Minute, time.Hour), WithTimeout(3*time.Hour))
	require.NoError(t, err)
	assert.Len(t, vms, 2)
	assert.EqualValues(t, 3, n.Load())
	_, waits := c.Recorded()
	require.Len(t, waits, 2)
	for _, w := range waits {
		assert.GreaterOrEqual(t, w, 5*time.Minute, "the poll interval, with jitter")
	}

	c = testclock.New()
	start := c.Now()
	f = fake.New("fe1")
	replies(f, vmXML([3]int{2, 3, 4}))
	_, err = WaitSettled(t.Context(), f, WithTimer(c.NewTimer), WithClock(c.Now), WithTimeout(3*time.Hour))
	require.ErrorIs(t, err, ErrTimeout)
	assert.Greater(t, c.Now().Sub(start), 2*time.Hour, "timed out on the virtual clock")

	_, err = WaitSettled(t.Context(), f, WithTimer(nil))
	assert.Error(t, err)
}
