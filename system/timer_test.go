package system

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/internal/testclock"
	"github.com/upgradekit/upgradekit/transport/fake"
)

// Not in a synctest bubble: a real-time wait would take an hour here.
func TestWaitStoppedUsesInjectedTimer(t *testing.T) {
	t.Parallel()
	argv := []string{"systemctl", "is-active", "--", "opennebula"}
	c := testclock.New()
	start := c.Now()
	s, err := New(WithTimer(c.NewTimer), WithClock(c.Now), WithPollInterval(10*time.Minute, time.Hour), WithWaitTimeout(24*time.Hour))
	require.NoError(t, err)
	fe := fake.New("fe1")
	fe.Expect(fake.Exact(argv...)).Stdout("deactivating\n").Exit(3).Times(2)
	fe.Expect(fake.Exact(argv...)).Stdout("inactive\n").Exit(3)
	require.NoError(t, s.WaitStopped(t.Context(), fe, "opennebula"))
	fe.AssertExpectations(t)
	_, waits := c.Recorded()
	require.Len(t, waits, 2)
	assert.GreaterOrEqual(t, c.Now().Sub(start), 10*time.Minute)

	c = testclock.New()
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
