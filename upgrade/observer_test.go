package upgrade_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/transport/fake"

	"github.com/upgradekit/upgradekit/upgrade"
)

func TestJSONLinesObserver(t *testing.T) {
	t.Parallel()
	var buf strings.Builder
	p := upgrade.NewPlan("p",
		upgrade.Func("a", func(ctx context.Context, s *upgrade.State) error {
			w := s.OutputWriter("stdout")
			_, _ = w.Write([]byte("line one\nline "))
			_, _ = w.Write([]byte("two\npartial"))
			return w.Close()
		}),
		upgrade.Func("b", func(ctx context.Context, s *upgrade.State) error { return errors.New("boom") }),
	)
	r, err := upgrade.NewRunner(p, upgrade.WithObserver(upgrade.JSONLines(&buf)), upgrade.WithClock(fixedClock(time.Millisecond)))
	require.NoError(t, err)
	_, err = r.Run(t.Context())
	require.Error(t, err)
	var kinds, lines []string
	sc := bufio.NewScanner(strings.NewReader(buf.String()))
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m), sc.Text())
		kinds = append(kinds, m["kind"].(string))
		if m["kind"] == "output" {
			lines = append(lines, m["line"].(string))
		}
		if m["kind"] == "step_finished" && m["step"] == "b" {
			assert.Equal(t, "step b: boom", m["error"])
			assert.Contains(t, m, "dur_ms")
		}
	}
	assert.Equal(t, []string{"line one", "line two", "partial"}, lines)
	assert.Equal(t, []string{"plan_started", "step_started", "output", "output", "output", "step_finished",
		"step_started", "step_finished", "rollback_started", "rollback_finished", "plan_finished"}, kinds)
}

func TestReportJSON(t *testing.T) {
	t.Parallel()
	p := upgrade.NewPlan("p", upgrade.Func("a", nil).Describing("does a"), upgrade.Func("b", nil))
	r, err := upgrade.NewRunner(p, upgrade.WithSkip("b"), upgrade.WithClock(fixedClock(time.Second)))
	require.NoError(t, err)
	rep, err := r.Run(t.Context())
	require.NoError(t, err)
	var buf strings.Builder
	require.NoError(t, rep.WriteJSON(&buf))
	var got struct {
		Plan  string `json:"plan"`
		Steps []struct {
			Name, Status, Reason, Description string
			DurMS                             float64 `json:"dur_ms"`
		} `json:"steps"`
	}
	require.NoError(t, json.Unmarshal([]byte(buf.String()), &got))
	assert.Equal(t, "p", got.Plan)
	require.Len(t, got.Steps, 2)
	assert.Equal(t, "done", got.Steps[0].Status)
	assert.Equal(t, "does a", got.Steps[0].Description)
	assert.Positive(t, got.Steps[0].DurMS)
	assert.Equal(t, "skipped", got.Steps[1].Status)
	assert.Equal(t, "not selected (skip/only)", got.Steps[1].Reason)
	var text strings.Builder
	require.NoError(t, rep.WriteText(&text))
	assert.Contains(t, text.String(), "(not selected (skip/only))")
}

func TestLoggerNeverSeesSecrets(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zap.DebugLevel)
	hosts := map[string]transport.Transport{"fe1": fake.New("fe1")}
	p := upgrade.NewPlan("p", upgrade.Func("db", func(ctx context.Context, s *upgrade.State) error {
		t, err := s.HostTransport("fe1")
		if err != nil {
			return err
		}
		cmd := transport.Cmd("onedb", "upgrade", "-p", "hunter2")
		cmd.Redact = []string{"hunter2"}
		return transport.Check(ctx, t, cmd)
	}))
	r, err := upgrade.NewRunner(p, upgrade.WithHosts(hosts), upgrade.WithLogger(zap.New(core)), upgrade.WithDryRun(upgrade.NewRecorder()))
	require.NoError(t, err)
	_, err = r.Run(t.Context())
	require.NoError(t, err)
	require.NotZero(t, logs.Len())
	for _, e := range logs.All() {
		for _, v := range e.ContextMap() {
			assert.NotContains(t, fmt.Sprint(v), "hunter2")
		}
	}
	assert.NotEmpty(t, logs.FilterField(zap.String("cmd", "onedb upgrade -p [REDACTED]")).All())
}
