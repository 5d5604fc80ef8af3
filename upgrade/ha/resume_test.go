package ha_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/sim"
	"github.com/upgradekit/upgradekit/upgrade"
	"github.com/upgradekit/upgradekit/upgrade/ha"
)

// crashStore is a journal that "crashes" the run right after the at-th
// in_progress step record is durable: it cancels the run's context and
// drops every later record, as a SIGKILL at that moment would. The
// engine's own tests SIGKILL a child process; this one kills the HA plan
// at every step boundary, in process, with the simulator as the cloud.
type crashStore struct {
	mu      sync.Mutex
	recs    []upgrade.Record
	at, n   int
	cancel  context.CancelFunc
	crashed bool
}

func (s *crashStore) Load(context.Context) ([]upgrade.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]upgrade.Record(nil), s.recs...), nil
}

func (s *crashStore) Append(_ context.Context, r upgrade.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.crashed {
		return nil
	}
	s.recs = append(s.recs, r)
	if r.Type == upgrade.RecordStep && r.State == upgrade.StateInProgress {
		s.n++
		if s.n == s.at {
			s.crashed = true
			s.cancel()
		}
	}
	return nil
}

func (s *crashStore) Close() error { return nil }

func TestKillAndResumeAtEveryStep(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, 3)
	steps := len(cl.plan.Steps())
	require.Greater(t, steps, 30)
	for at := 1; at <= steps; at++ {
		t.Run("", func(t *testing.T) {
			t.Parallel()
			cl := newCluster(t, 3)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			store := &crashStore{at: at, cancel: cancel}
			r, err := upgrade.NewRunner(cl.plan, append(cl.opts, upgrade.WithJournal(store), upgrade.WithoutRollback())...)
			require.NoError(t, err)
			_, err = r.Run(ctx)
			require.Error(t, err)
			require.True(t, store.crashed, "crash point %d not reached", at)

			store.crashed, store.at = false, 0
			rep, err := cl.run(t, upgrade.WithJournal(store))
			require.NoError(t, err, "resume after a crash at in_progress #%d", at)
			for _, n := range cl.c.Frontends() {
				st, err := cl.c.Status(n)
				require.NoError(t, err)
				assert.Equal(t, "7.4.1", st.Version, n)
				assert.Equal(t, "7.4.0", st.DBLocal, n)
				assert.Equal(t, "active", st.Units["opennebula"], n)
			}
			l, err := cl.c.TableChecksums("fe1")
			require.NoError(t, err)
			for _, f := range []string{"fe2", "fe3"} {
				s, err := cl.c.TableChecksums(f)
				require.NoError(t, err)
				assert.Equal(t, replicated(l), replicated(s), f)
			}
			assert.Equal(t, hostStates(t, newClusterStates(t)), hostStates(t, cl.c))
			require.Len(t, rep.Downtime, 2, "one window per service across the crash: %+v", rep.Downtime)
			window(t, rep, ha.ServiceAPI)
			window(t, rep, ha.ServiceWrites)
		})
	}
}

// newClusterStates returns a fresh cloud, for its initial host states.
func newClusterStates(t *testing.T) *sim.Cloud { return newCluster(t, 3).c }
