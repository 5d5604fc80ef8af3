package testclock

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTimerAdvancesClock(t *testing.T) {
	t.Parallel()
	c := New()
	start := c.Now()
	tm := c.NewTimer()
	tm.Start(time.Minute)
	select {
	case at := <-tm.C():
		assert.Equal(t, start.Add(time.Minute), at)
	default:
		t.Fatal("timer did not fire")
	}
	tm.Start(2 * time.Minute)
	assert.Equal(t, start.Add(3*time.Minute), c.Now())
	timers, waits := c.Recorded()
	assert.Equal(t, 1, timers)
	require.Equal(t, []time.Duration{time.Minute, 2 * time.Minute}, waits)
}
