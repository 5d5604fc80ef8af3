package upgrade_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/upgrade"
)

func TestReportDowntimeUnion(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	win := func(svc string, from, to int, open bool) upgrade.Window {
		s, e := t0.Add(time.Duration(from)*time.Second), t0.Add(time.Duration(to)*time.Second)
		return upgrade.Window{Service: svc, Start: s, End: e, Open: open, Dur: e.Sub(s)}
	}
	tests := []struct {
		name       string
		windows    []upgrade.Window
		total      time.Duration
		perService map[string]time.Duration
	}{
		{"none", nil, 0, map[string]time.Duration{}},
		{"overlapping services", []upgrade.Window{win("api", 10, 30, false), win("writes", 20, 50, false)},
			40 * time.Second, map[string]time.Duration{"api": 20 * time.Second, "writes": 30 * time.Second}},
		{"nested", []upgrade.Window{win("writes", 10, 100, false), win("api", 40, 60, false)},
			90 * time.Second, map[string]time.Duration{"api": 20 * time.Second, "writes": 90 * time.Second}},
		{"disjoint", []upgrade.Window{win("api", 0, 5, false), win("api", 100, 107, false), win("writes", 50, 52, false)},
			14 * time.Second, map[string]time.Duration{"api": 12 * time.Second, "writes": 2 * time.Second}},
		{"touching", []upgrade.Window{win("api", 0, 5, false), win("writes", 5, 9, false)},
			9 * time.Second, map[string]time.Duration{"api": 5 * time.Second, "writes": 4 * time.Second}},
		{"same service overlapping", []upgrade.Window{win("api", 0, 10, false), win("api", 5, 12, false)},
			12 * time.Second, map[string]time.Duration{"api": 12 * time.Second}},
		{"open at end", []upgrade.Window{win("api", 10, 20, false), win("writes", 15, 60, true), win("sched", 70, 80, true)},
			60 * time.Second, map[string]time.Duration{"api": 10 * time.Second, "writes": 45 * time.Second, "sched": 10 * time.Second}},
		{"unsorted input", []upgrade.Window{win("b", 30, 40, false), win("a", 0, 35, false), win("c", 50, 51, false)},
			41 * time.Second, map[string]time.Duration{"a": 35 * time.Second, "b": 10 * time.Second, "c": time.Second}},
		{"empty window", []upgrade.Window{win("api", 5, 5, false)},
			0, map[string]time.Duration{"api": 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rep := upgrade.Report{Plan: "p", Start: t0, End: t0.Add(time.Hour), Downtime: tc.windows}
			var js strings.Builder
			require.NoError(t, rep.WriteJSON(&js))
			var got struct {
				Total   float64 `json:"total_downtime_ms"`
				Service []struct {
					Service string  `json:"service"`
					DurMS   float64 `json:"dur_ms"`
				} `json:"service_downtime"`
			}
			require.NoError(t, json.Unmarshal([]byte(js.String()), &got))
			assert.InDelta(t, float64(tc.total.Milliseconds()), got.Total, 0.001)
			per := map[string]time.Duration{}
			prev := ""
			for _, s := range got.Service {
				assert.Less(t, prev, s.Service, "sorted by service")
				prev = s.Service
				per[s.Service] = time.Duration(s.DurMS * float64(time.Millisecond))
			}
			assert.Equal(t, tc.perService, per)

			var text strings.Builder
			require.NoError(t, rep.WriteText(&text))
			if len(tc.windows) > 0 {
				assert.Contains(t, text.String(), "total downtime: "+tc.total.String())
			} else {
				assert.NotContains(t, text.String(), "total downtime")
			}
		})
	}
}

func TestRunnerDowntimeOverlapCountedOnce(t *testing.T) {
	t.Parallel()
	down := func(svc string) func(context.Context, *upgrade.State) error {
		return func(ctx context.Context, s *upgrade.State) error { return s.ServiceDown(svc) }
	}
	up := func(svc string) func(context.Context, *upgrade.State) error {
		return func(ctx context.Context, s *upgrade.State) error { return s.ServiceUp(svc) }
	}
	p := upgrade.NewPlan("p",
		upgrade.Func("writes-down", down("writes")),
		upgrade.Func("api-down", down("api")),
		upgrade.Func("work", nil),
		upgrade.Func("api-up", up("api")),
		upgrade.Func("more", nil),
		upgrade.Func("writes-up", up("writes")),
		upgrade.Func("sched-down", down("sched")), // left open: ends with the run
	)
	r, err := upgrade.NewRunner(p, upgrade.WithClock(fixedClock(time.Second)))
	require.NoError(t, err)
	rep, err := r.Run(t.Context())
	require.NoError(t, err)
	require.Len(t, rep.Downtime, 3)
	byService := map[string]upgrade.Window{}
	var sum time.Duration
	for _, w := range rep.Downtime {
		byService[w.Service] = w
		sum += w.Dur
	}
	writes, api, sched := byService["writes"], byService["api"], byService["sched"]
	require.True(t, api.Start.After(writes.Start) && api.End.Before(writes.End), "api nested in writes: %+v", rep.Downtime)
	require.True(t, sched.Open)
	require.True(t, sched.Start.After(writes.End))
	assert.Equal(t, writes.Dur+sched.Dur, rep.TotalDowntime, "nested api window counted once")
	assert.Less(t, rep.TotalDowntime, sum)
	require.Len(t, rep.ServiceDowntime, 3)
	assert.Equal(t, "api", rep.ServiceDowntime[0].Service)
	assert.Equal(t, api.Dur, rep.ServiceDowntime[0].Dur)
	assert.Equal(t, "sched", rep.ServiceDowntime[1].Service)
	assert.Equal(t, sched.Dur, rep.ServiceDowntime[1].Dur)
	assert.Equal(t, "writes", rep.ServiceDowntime[2].Service)
	assert.Equal(t, writes.Dur, rep.ServiceDowntime[2].Dur)
}
