package system

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/transport/fake"
)

func TestSystemctlVerbs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		run  func(ctx context.Context, s *System, tr transport.Transport) error
		argv []string
	}{
		{"stop", func(ctx context.Context, s *System, tr transport.Transport) error {
			return s.Stop(ctx, tr, "opennebula", "opennebula-flow", "opennebula-gate")
		}, []string{"systemctl", "stop", "--", "opennebula", "opennebula-flow", "opennebula-gate"}},
		{"start", func(ctx context.Context, s *System, tr transport.Transport) error {
			return s.Start(ctx, tr, "opennebula")
		}, []string{"systemctl", "start", "--", "opennebula"}},
		{"restart", func(ctx context.Context, s *System, tr transport.Transport) error {
			return s.Restart(ctx, tr, "libvirtd.service")
		}, []string{"systemctl", "restart", "--", "libvirtd.service"}},
		{"daemon-reload", func(ctx context.Context, s *System, tr transport.Transport) error {
			return s.DaemonReload(ctx, tr)
		}, []string{"systemctl", "daemon-reload"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fe := fake.New("fe1")
			fe.Expect(fake.Exact(tt.argv...))
			require.NoError(t, tt.run(t.Context(), nil, fe))
			fe.AssertExpectations(t)
			calls := fe.Calls()
			require.Len(t, calls, 1)
			assert.True(t, calls[0].Command.Sudo, "systemctl runs as root")
			assert.False(t, calls[0].Command.ReadOnly)

			// Without sudo.
			s, err := New(WithSudo(false))
			require.NoError(t, err)
			fe = fake.New("fe1")
			fe.Expect(fake.Exact(tt.argv...))
			require.NoError(t, tt.run(t.Context(), s, fe))
			assert.False(t, fe.Calls()[0].Command.Sudo)
		})
	}
}

func TestStopFailure(t *testing.T) {
	t.Parallel()
	fe := fake.New("fe1")
	// systemctl stop on a unit that does not exist exits 5.
	fe.Expect(fake.Exact("systemctl", "stop", "--", "opennebula-form")).
		Exit(5, "Failed to stop opennebula-form.service: Unit opennebula-form.service not loaded.\n")
	err := Stop(t.Context(), fe, "opennebula-form")
	code, ok := transport.ExitCode(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, 5, code)
	assert.Contains(t, err.Error(), "not loaded")
	fe.AssertExpectations(t)
}

func TestInvalidUnits(t *testing.T) {
	t.Parallel()
	fe := fake.New("fe1")
	for _, units := range [][]string{nil, {""}, {"-H"}, {"a b"}, {"x\ny"}} {
		assert.ErrorIs(t, Stop(t.Context(), fe, units...), ErrInvalid, "%q", units)
	}
	_, err := IsActive(t.Context(), fe, "--help")
	assert.ErrorIs(t, err, ErrInvalid)
	assert.Empty(t, fe.Calls(), "nothing may run for invalid input")
}

func TestIsActive(t *testing.T) {
	t.Parallel()
	tests := []struct {
		stdout string
		code   int
		stderr string
		want   State
		err    error
		exit   bool
	}{
		{stdout: "active\n", code: 0, want: StateActive},
		{stdout: "reloading\n", code: 0, want: StateReloading},
		{stdout: "inactive\n", code: 3, want: StateInactive},
		{stdout: "failed\n", code: 3, want: StateFailed},
		{stdout: "activating\n", code: 3, want: StateActivating},
		{stdout: "deactivating\n", code: 3, want: StateDeactivating},
		// systemd ≥ 253: no such unit.
		{stdout: "inactive\n", code: 4, want: StateNotFound},
		// systemd ≤ 252 says the same as for an inactive unit.
		{stdout: "inactive\n", code: 3, want: StateInactive},
		// systemctl itself failed (no systemd as PID 1, no bus).
		{stdout: "", code: 1, stderr: "System has not been booted with systemd as init system (PID 1). Can't operate.\nFailed to connect to bus: Host is down\n", exit: true},
		{stdout: "bogus\n", code: 3, err: ErrMalformed},
		{stdout: "active\n", code: 3, err: ErrMalformed}, // exit code contradicts
		{stdout: "inactive\n", code: 0, err: ErrMalformed},
		{stdout: "", code: 3, err: ErrMalformed},
		{stdout: "active\nactive\n", code: 0, err: ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.stdout+"/"+string(rune('0'+tt.code)), func(t *testing.T) {
			t.Parallel()
			fe := fake.New("fe1")
			fe.Expect(fake.Exact("systemctl", "is-active", "--", "opennebula")).Stdout(tt.stdout).Exit(tt.code, tt.stderr)
			got, err := IsActive(t.Context(), fe, "opennebula")
			fe.AssertExpectations(t)
			assert.True(t, fe.Calls()[0].Command.ReadOnly, "is-active is a read-only probe")
			switch {
			case tt.exit:
				code, ok := transport.ExitCode(err)
				require.True(t, ok, "%v", err)
				assert.Equal(t, tt.code, code)
			case tt.err != nil:
				assert.ErrorIs(t, err, tt.err)
			default:
				require.NoError(t, err)
				assert.Equal(t, tt.want, got)
			}
		})
	}
}

func TestVerifyStopped(t *testing.T) {
	t.Parallel()
	fe := fake.New("fe1")
	fe.Expect(fake.Exact("systemctl", "is-active", "--", "opennebula", "opennebula-flow", "opennebula-gate", "opennebula-hem")).
		Stdout("inactive\ndeactivating\nfailed\nactive\n").Exit(0)
	err := VerifyStopped(t.Context(), fe, "opennebula", "opennebula-flow", "opennebula-gate", "opennebula-hem")
	require.ErrorIs(t, err, ErrStillActive)
	sa, ok := errors.AsType[*StillActiveError](err)
	require.True(t, ok)
	assert.Equal(t, map[string]State{"opennebula-flow": StateDeactivating, "opennebula-hem": StateActive}, sa.Units)
	assert.Equal(t, "host fe1: units still active: opennebula-flow (deactivating), opennebula-hem (active)", err.Error())

	fe = fake.New("fe1")
	fe.Expect(fake.Exact("systemctl", "is-active", "--", "opennebula", "opennebula-flow")).Stdout("inactive\nfailed\n").Exit(3)
	assert.NoError(t, VerifyStopped(t.Context(), fe, "opennebula", "opennebula-flow"))

	// systemd 219 (CentOS 7) exits 3 when any of several units is not
	// active: the printed states decide.
	fe = fake.New("fe1")
	fe.Expect(fake.Exact("systemctl", "is-active", "--", "opennebula", "opennebula-flow")).Stdout("active\ninactive\n").Exit(3)
	err = VerifyStopped(t.Context(), fe, "opennebula", "opennebula-flow")
	sa, ok = errors.AsType[*StillActiveError](err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, map[string]State{"opennebula": StateActive}, sa.Units)
}

func TestWaitStopped(t *testing.T) {
	t.Parallel()
	argv := []string{"systemctl", "is-active", "--", "opennebula", "opennebula-flow"}
	t.Run("stops after a while", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			fe := fake.New("fe1")
			fe.Expect(fake.Exact(argv...)).Stdout("deactivating\nactive\n").Exit(0).Times(3)
			fe.Expect(fake.Exact(argv...)).Stdout("inactive\ninactive\n").Exit(3)
			start := time.Now()
			require.NoError(t, WaitStopped(t.Context(), fe, "opennebula", "opennebula-flow"))
			assert.Len(t, fe.Calls(), 4)
			assert.Less(t, time.Since(start), 10*time.Second)
			fe.AssertExpectations(t)
		})
	})
	t.Run("times out naming the unit", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s, err := New(WithWaitTimeout(30*time.Second), WithPollInterval(time.Second, 4*time.Second))
			require.NoError(t, err)
			fe := fake.New("fe1")
			fe.Expect(fake.Exact(argv...)).Stdout("inactive\nactive\n").Exit(0).Any()
			start := time.Now()
			err = s.WaitStopped(t.Context(), fe, "opennebula", "opennebula-flow")
			sa, ok := errors.AsType[*StillActiveError](err)
			require.True(t, ok, "%v", err)
			assert.Equal(t, map[string]State{"opennebula-flow": StateActive}, sa.Units)
			assert.NotEmpty(t, sa.Waited)
			waited := time.Since(start)
			// backoff stops before the next poll would pass the bound.
			assert.GreaterOrEqual(t, waited, 20*time.Second)
			assert.LessOrEqual(t, waited, 30*time.Second)
			assert.Greater(t, len(fe.Calls()), 5)
		})
	})
	t.Run("systemctl failing ends the wait", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			fe := fake.New("fe1")
			fe.Expect(fake.Exact(argv...)).Exit(1, "Failed to connect to bus: No such file or directory\n")
			err := WaitStopped(t.Context(), fe, "opennebula", "opennebula-flow")
			_, ok := transport.ExitCode(err)
			assert.True(t, ok, "%v", err)
			assert.Len(t, fe.Calls(), 1)
		})
	})
	t.Run("cancel keeps the last observation", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
			defer cancel()
			fe := fake.New("fe1")
			fe.Expect(fake.Exact(argv...)).Stdout("active\nactive\n").Exit(0).Any()
			err := WaitStopped(ctx, fe, "opennebula", "opennebula-flow")
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			assert.ErrorIs(t, err, ErrStillActive)
		})
	})
	t.Run("lost connection is retried", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			fe := fake.New("fe1")
			fe.Expect(fake.Exact(argv...)).ConnectionLost(false)
			fe.Expect(fake.Exact(argv...)).Stdout("inactive\ninactive\n").Exit(3)
			require.NoError(t, WaitStopped(t.Context(), fe, "opennebula", "opennebula-flow"))
			fe.AssertExpectations(t)
		})
	})
}

// Realistic `systemctl list-units --type=service --state=active
// --no-legend --plain --full 'opennebula*'` output on a 7.4 front-end.
const listUnitsOut = `opennebula-fireedge.service       loaded active running OpenNebula FireEdge Server
opennebula-flow.service           loaded active running OpenNebula Flow Service
opennebula-gate.service           loaded active running OpenNebula Gateway Service
opennebula-guacd.service          loaded active running OpenNebula Guacamole Server
opennebula-hem.service            loaded active running OpenNebula Hook Execution Service
opennebula-ssh-agent.service      loaded active running OpenNebula SSH agent
opennebula.service                loaded active running OpenNebula Cloud Controller Daemon
`

func TestActiveUnits(t *testing.T) {
	t.Parallel()
	argv := []string{"systemctl", "list-units", "--type=service", "--state=active", "--no-legend", "--plain", "--full", "--", "opennebula*"}
	fe := fake.New("fe1")
	fe.Expect(fake.Exact(argv...)).Reply(listUnitsOut)
	got, err := ActiveUnits(t.Context(), fe, "opennebula*")
	require.NoError(t, err)
	assert.Equal(t, []string{"opennebula-fireedge.service", "opennebula-flow.service", "opennebula-gate.service",
		"opennebula-guacd.service", "opennebula-hem.service", "opennebula-ssh-agent.service", "opennebula.service"}, got)
	fe.AssertExpectations(t)
	assert.True(t, fe.Calls()[0].Command.ReadOnly)

	fe = fake.New("fe1")
	fe.Expect(fake.Exact(argv...)).Reply("")
	got, err = ActiveUnits(t.Context(), fe, "opennebula*")
	require.NoError(t, err)
	assert.Empty(t, got)

	fe = fake.New("fe1")
	fe.Expect(fake.Exact(argv...)).Reply("Failed to list units: Access denied\n")
	_, err = ActiveUnits(t.Context(), fe, "opennebula*")
	assert.ErrorIs(t, err, ErrMalformed)
}

func TestParseListUnits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []Unit
		err  bool
	}{
		{name: "without --plain, with bullets and legend", in: "● opennebula-flow.service loaded failed failed OpenNebula Flow Service\n" +
			"  opennebula.service      loaded active running OpenNebula Cloud Controller Daemon\n\n" +
			"2 loaded units listed.\n", want: []Unit{
			{Name: "opennebula-flow.service", Load: "loaded", Active: StateFailed, Sub: "failed", Description: "OpenNebula Flow Service"},
			{Name: "opennebula.service", Load: "loaded", Active: StateActive, Sub: "running", Description: "OpenNebula Cloud Controller Daemon"},
		}},
		{name: "no description", in: "opennebula-showback.timer loaded active waiting\n", want: []Unit{
			{Name: "opennebula-showback.timer", Load: "loaded", Active: StateActive, Sub: "waiting"},
		}},
		{name: "not found unit", in: "opennebula-novnc.service not-found inactive dead opennebula-novnc.service\n", want: []Unit{
			{Name: "opennebula-novnc.service", Load: "not-found", Active: StateInactive, Sub: "dead", Description: "opennebula-novnc.service"},
		}},
		{name: "CRLF", in: "a.service loaded active running A\r\n", want: []Unit{
			{Name: "a.service", Load: "loaded", Active: StateActive, Sub: "running", Description: "A"},
		}},
		{name: "too few columns", in: "opennebula.service loaded active\n", err: true},
		{name: "legend", in: "UNIT LOAD ACTIVE SUB DESCRIPTION\na.service loaded active running A\n\n" +
			"LOAD   = Reflects whether the unit definition was properly loaded.\nACTIVE = The high-level unit activation state.\n" +
			"SUB    = The low-level unit activation state.\n1 loaded units listed.\n", want: []Unit{
			{Name: "a.service", Load: "loaded", Active: StateActive, Sub: "running", Description: "A"},
		}},
		{name: "not a unit", in: "Failed to list units: Access denied\n", err: true},
		{name: "bad load", in: "a.service weird active running A\n", err: true},
		{name: "bad state", in: "a.service loaded sleeping running A\n", err: true},
		{name: "suffix only", in: ".service loaded active running A\n", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseListUnits([]byte(tt.in))
			if tt.err {
				assert.ErrorIs(t, err, ErrMalformed)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}
