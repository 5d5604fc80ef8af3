package upgrade_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/transport/fake"
	"github.com/upgradekit/upgradekit/upgrade"
)

// dryRunPlan probes (read-only) and changes (mutating) on two hosts.
func dryRunPlan() *upgrade.Plan {
	return upgrade.NewPlan("up",
		upgrade.Func("probe", func(ctx context.Context, s *upgrade.State) error {
			t, err := s.HostTransport("fe1")
			if err != nil {
				return err
			}
			out, err := transport.Output(ctx, t, transport.Query("onezone", "show", "0", "-x"))
			if err != nil {
				return err
			}
			s.Output("stdout", string(out))
			return nil
		}),
		upgrade.PerHost("fe", []string{"fe1", "fe2"}, func(h string) upgrade.Node {
			return upgrade.Phase("svc",
				upgrade.Func("stop", func(ctx context.Context, s *upgrade.State) error {
					return transport.Check(ctx, s.Transport(), transport.Cmd("systemctl", "stop", "opennebula").AsRoot())
				}).Describing("stop oned"),
				upgrade.Func("upgrade", func(ctx context.Context, s *upgrade.State) error {
					if err := transport.Check(ctx, s.Transport(), transport.Cmd("apt-get", "install", "-y", "--", "opennebula")); err != nil {
						return err
					}
					cmd := transport.Cmd("onedb", "upgrade", "--password", "s3cret")
					cmd.Redact = []string{"s3cret"}
					return transport.Check(ctx, s.Transport(), cmd)
				}),
			)
		}),
	)
}

func TestDryRunNeverMutates(t *testing.T) {
	t.Parallel()
	c := fake.NewCluster("fe1", "fe2")
	// Only the read-only probe is expected: the strict fake fails any other call.
	c.Host("fe1").Expect(fake.Exact("onezone", "show", "0", "-x")).Reply("<ZONE/>")
	inv := map[string]transport.Transport{"fe1": c.Host("fe1"), "fe2": c.Host("fe2")}
	rec := upgrade.NewRecorder()
	evs, obs := collect()
	store := &upgrade.MemoryStore{}
	lock := &countingLocker{}
	r, err := upgrade.NewRunner(dryRunPlan(), upgrade.WithHosts(inv), upgrade.WithDryRun(rec), obs,
		upgrade.WithJournal(store), upgrade.WithLocker(lock), upgrade.WithConcurrency(1))
	require.NoError(t, err)
	rep, err := r.Run(t.Context())
	require.NoError(t, err)
	c.AssertExpectations(t)
	assert.True(t, rep.DryRun)
	assert.Empty(t, store.Records(), "dry run must not write the journal")
	assert.Zero(t, lock.n, "dry run must not take the lock")

	var text strings.Builder
	require.NoError(t, rec.WriteText(&text))
	assert.Equal(t, `intent:
  fe/fe1/svc/stop (fe1): stop oned
  fe/fe2/svc/stop (fe2): stop oned
host fe1:
    1 run       onezone show 0 -x  [probe]
    2 would run sudo -n -- systemctl stop opennebula  [fe/fe1/svc/stop]
    3 would run apt-get install -y -- opennebula  [fe/fe1/svc/upgrade]
    4 would run onedb upgrade --password [REDACTED]  [fe/fe1/svc/upgrade]
host fe2:
    1 would run sudo -n -- systemctl stop opennebula  [fe/fe2/svc/stop]
    2 would run apt-get install -y -- opennebula  [fe/fe2/svc/upgrade]
    3 would run onedb upgrade --password [REDACTED]  [fe/fe2/svc/upgrade]
`, text.String())
	assert.NotContains(t, text.String(), "s3cret")

	var js strings.Builder
	require.NoError(t, rec.WriteJSON(&js))
	var out upgrade.DryRunOutput
	require.NoError(t, json.Unmarshal([]byte(js.String()), &out))
	assert.Len(t, out.Commands["fe1"], 4)
	assert.Len(t, out.Commands["fe2"], 3)
	assert.Equal(t, 1, out.Version)

	would := 0
	for _, e := range *evs {
		if e.Kind == upgrade.EventDryRunCommand {
			would++
		}
	}
	assert.Equal(t, 6, would)
	assert.Len(t, rec.Commands(true), 6)
}

type countingLocker struct{ n int }

func (l *countingLocker) Lock(ctx context.Context, h upgrade.Holder, notify func(upgrade.Event)) (upgrade.Lease, error) {
	l.n++
	return nil, nil
}

func TestDryRunPreviewsResumeWithoutWriting(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "journal")
	tr := &trace{}
	plan := func() *upgrade.Plan {
		return upgrade.NewPlan("p", step(tr, "a", nil), step(tr, "b", nil).Describing("does b"))
	}
	// No journal yet: a dry run must not create one.
	r, err := upgrade.NewRunner(plan(), upgrade.WithJournal(upgrade.NewFileStore(path)), upgrade.WithDryRun(upgrade.NewRecorder()))
	require.NoError(t, err)
	_, err = r.Run(t.Context())
	require.NoError(t, err)
	_, err = os.Stat(path)
	require.ErrorIs(t, err, os.ErrNotExist)

	// A journal where "a" is done and a torn tail follows.
	r, err = upgrade.NewRunner(plan(), upgrade.WithJournal(upgrade.NewFileStore(path)), upgrade.WithOnly("a"))
	require.NoError(t, err)
	_, err = r.Run(t.Context())
	require.NoError(t, err)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.WriteString(`{"v":1,"ty`)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	before, err := os.ReadFile(path)
	require.NoError(t, err)

	rec := upgrade.NewRecorder()
	r, err = upgrade.NewRunner(plan(), upgrade.WithJournal(upgrade.NewFileStore(path)), upgrade.WithDryRun(rec))
	require.NoError(t, err)
	rep, err := r.Run(t.Context())
	require.NoError(t, err)
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, before, after, "dry run leaves the journal alone")
	assert.Equal(t, "done in an earlier run", rep.Steps[0].Reason)
	assert.Equal(t, []upgrade.Intent{{Step: "b", Text: "does b"}}, rec.Intents())
	assert.Len(t, rep.Notes, 1)
}
