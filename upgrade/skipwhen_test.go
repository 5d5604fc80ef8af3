package upgrade_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/upgrade"
)

// TestSkipWhen: a step gated on what an earlier step (or preflight)
// recorded runs when the gate is open and skips itself with the reason,
// without running its function or its check's verdict, when closed.
func TestSkipWhen(t *testing.T) {
	t.Parallel()
	mode := upgrade.NewKey[string]("mode")
	for _, m := range []string{"coordinated", "per-zone"} {
		t.Run(m, func(t *testing.T) {
			t.Parallel()
			var ran []string
			step := func(name, want string) *upgrade.FuncStep {
				return upgrade.Func(name, func(ctx context.Context, s *upgrade.State) error {
					ran = append(ran, name)
					return nil
				}).CheckWith(func(context.Context, *upgrade.State) (bool, error) { return false, nil }).
					SkipWhen(func(s *upgrade.State) string {
						if v, _ := mode.Get(s); v != want {
							return "only in " + want + " mode"
						}
						return ""
					})
			}
			p := upgrade.NewPlan("p",
				upgrade.Func("decide", func(ctx context.Context, s *upgrade.State) error { return mode.Set(s, m) }),
				step("global-stop", "coordinated"),
				step("zone-stop", "per-zone"),
			)
			r, err := upgrade.NewRunner(p)
			require.NoError(t, err)
			rep, err := r.Run(t.Context())
			require.NoError(t, err)
			want, other := "global-stop", "zone-stop"
			if m == "per-zone" {
				want, other = other, want
			}
			assert.Equal(t, []string{want}, ran)
			for _, s := range rep.Steps {
				if s.Name == other {
					assert.Equal(t, upgrade.StatusSkipped, s.Status)
					assert.Contains(t, s.Reason, "mode")
				}
			}
		})
	}
}

// TestKeepWhen: after a failure, a step whose keep condition holds is not
// undone; the others are.
func TestKeepWhen(t *testing.T) {
	t.Parallel()
	finished := upgrade.NewKey[bool]("zone-a/finished")
	var undone []string
	undo := func(name string) func(context.Context, *upgrade.State) error {
		return func(context.Context, *upgrade.State) error { undone = append(undone, name); return nil }
	}
	keep := func(s *upgrade.State) string {
		if v, _ := finished.Get(s); v {
			return "zone a stands on its own"
		}
		return ""
	}
	p := upgrade.NewPlan("p",
		upgrade.Func("a-upgrade", nil).RollbackWith(undo("a-upgrade")).KeepWhen(keep),
		upgrade.Func("a-up", func(ctx context.Context, s *upgrade.State) error { return finished.Set(s, true) }),
		upgrade.Func("b-upgrade", nil).RollbackWith(undo("b-upgrade")),
		upgrade.Func("b-fails", func(context.Context, *upgrade.State) error { return errors.New("boom") }),
	)
	r, err := upgrade.NewRunner(p)
	require.NoError(t, err)
	_, err = r.Run(t.Context())
	require.Error(t, err)
	assert.Equal(t, []string{"b-upgrade"}, undone)
}
