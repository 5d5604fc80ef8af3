package e2e_test

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/transport"
	sshtransport "github.com/upgradekit/upgradekit/transport/ssh"
	"github.com/upgradekit/upgradekit/upgrade"
)

// failOnce fails the first command whose text contains match with exit
// 1, as a failing `onedb upgrade` does.
type failOnce struct {
	transport.Transport
	match string
	fired atomic.Bool
}

func (f *failOnce) Run(ctx context.Context, c transport.Command) (transport.Result, error) {
	if !c.ReadOnly && strings.Contains(c.String(), f.match) && f.fired.CompareAndSwap(false, true) {
		return transport.Result{Cmd: c.String(), ExitCode: 1, Stderr: []byte("e2e: injected failure\n")}, nil
	}
	return f.Transport.Run(ctx, c)
}

func (f *failOnce) Upload(ctx context.Context, dst string, r io.Reader, opts transport.FileOptions) (transport.Transfer, error) {
	return transport.Upload(ctx, f.Transport, dst, r, opts)
}

func (f *failOnce) Download(ctx context.Context, src string, w io.Writer, opts transport.FileOptions) (transport.Transfer, error) {
	return transport.Download(ctx, f.Transport, src, w, opts)
}

// switched goes to the transport to once it is switched: a fresh client
// to a host whose sshd is frozen, which fails each command after its
// connect timeout instead of hanging on the connection in use.
type switched struct {
	transport.Transport
	to transport.Transport
	on atomic.Bool
}

func (s *switched) active() transport.Transport {
	if s.on.Load() {
		return s.to
	}
	return s.Transport
}

func (s *switched) Run(ctx context.Context, c transport.Command) (transport.Result, error) {
	return s.active().Run(ctx, c)
}

func (s *switched) Upload(ctx context.Context, dst string, r io.Reader, opts transport.FileOptions) (transport.Transfer, error) {
	return transport.Upload(ctx, s.active(), dst, r, opts)
}

func (s *switched) Download(ctx context.Context, src string, w io.Writer, opts transport.FileOptions) (transport.Transfer, error) {
	return transport.Download(ctx, s.active(), src, w, opts)
}

// configVersions reads `onecfg status` on fe: the release and the
// configuration's version.
func configVersions(t *testing.T, ctx context.Context, fe *node) (release, config string) {
	t.Helper()
	res, err := fe.Client.Run(ctx, transport.Query("onecfg", "status").AsRoot())
	require.NoError(t, err, fe.Name)
	out := string(res.Stdout)
	field := func(name string) string {
		m := regexp.MustCompile(`(?m)^` + name + `:\s+(\S+)`).FindStringSubmatch(out)
		require.NotNil(t, m, "%s: onecfg status (exit %d):\n%s%s", fe.Name, res.ExitCode, out, res.Stderr)
		return m[1]
	}
	return field("OpenNebula"), field("Config")
}

// TestRollbackOverSSH fails `onedb upgrade` on the leader over real SSH
// and freezes fe3's sshd as the rollback starts. The rollback goes on past
// fe3: fe1 and fe2 run the old release again with their configuration,
// the hosts are enabled again, and the report names fe3's undos that
// failed. Once fe3 is back, a resume finishes the rollback (fe3 back too),
// and the next resume upgrades the whole zone, running again the steps
// the rollback undid: every front-end's `onecfg status` shows the target
// release and configuration.
func TestRollbackOverSSH(t *testing.T) {
	t.Parallel()
	start := time.Now()
	cb := newCloudBed(t, "127.40.4.1", 3, 0, fromVersion)
	ctx, cancel := context.WithTimeout(t.Context(), 6*time.Minute)
	defer cancel()
	hostsBefore := cb.hostStates(t, ctx)
	store := upgrade.NewFileStore(filepath.Join(t.TempDir(), "ha.journal"))
	t.Cleanup(func() { _ = store.Close() })

	// fe3 as the rollback sees it once its sshd is frozen.
	fe3 := cb.Frontend("fe3")
	cfg := sshtransport.NewConfig(fe3.Host.HostPort())
	cfg.Name, cfg.User = fe3.Name, cb.Bed.User
	cfg.IdentityFiles, cfg.KnownHostsFiles = []string{cb.Bed.ClientKeyFile}, []string{cb.Bed.KnownHostsFile}
	cfg.ConnectTimeout, cfg.ReconnectTimeout = 3*time.Second, -1
	frozen, err := sshtransport.New(cfg, sshtransport.WithLogger(testLogger(t)))
	require.NoError(t, err)
	t.Cleanup(func() { _ = frozen.Close() })

	hosts := cb.Hosts()
	leader := &failOnce{Transport: hosts["fe1"], match: "onedb upgrade"}
	sw := &switched{Transport: hosts["fe3"], to: frozen}
	hosts["fe1"], hosts["fe3"] = leader, sw
	t.Cleanup(func() { _ = fe3.Host.Resume() })
	var console syncBuffer
	var pauseErr error
	r := cb.runner(t, cb.plan(t, ctx, new(atomic.Int64)), store, &console, upgrade.WithHosts(hosts),
		upgrade.WithObserver(func(e upgrade.Event) {
			if e.Kind == upgrade.EventRollbackStarted && e.Step == "" {
				pauseErr = fe3.Host.Pause()
				sw.on.Store(true)
			}
		}))
	rep, err := r.Run(ctx)
	require.NoError(t, pauseErr, "freeze fe3's sshd")
	require.True(t, leader.fired.Load(), "onedb upgrade never ran:\n%s", console.String())
	pe, ok := errors.AsType[*upgrade.PartialError](err)
	require.True(t, ok, "want a *upgrade.PartialError, got %v\n%s", err, console.String())
	if pe.RollbackErr != nil && strings.Contains(pe.RollbackErr.Error(), "Device or resource busy") {
		// Restoring /etc/one when it is a mount point (as in these
		// hosts) moves the directory entry: issue 12 item 8.
		t.Skipf("known bug (issue 12 item 8, /etc/one a mount point): %v", pe.RollbackErr)
	}
	require.NotEmpty(t, pe.RollbackFailed, "nothing failed to roll back on the frozen fe3:\n%s", console.String())
	require.NotEmpty(t, pe.RolledBack)
	states := map[string]upgrade.HostState{}
	for _, hs := range rep.HostStates {
		states[hs.Host] = hs
	}
	// Every undo that failed is fe3's: its own steps, and the back-to-back
	// stop of every front-end, whose undo restarted fe1 and fe2.
	assert.ElementsMatch(t, pe.RollbackFailed, states["fe3"].RollbackFailed)
	assert.Equal(t, upgrade.HostRollbackFailed, states["fe3"].State)
	assert.Equal(t, upgrade.HostRolledBack, states["fe1"].State, "%+v", states["fe1"])
	assert.Equal(t, upgrade.HostRolledBack, states["fe2"].State, "%+v", states["fe2"])
	for _, name := range []string{"fe1", "fe2"} {
		fe := cb.Frontend(name)
		release, config := configVersions(t, ctx, fe)
		assert.Equal(t, fromVersion, release, name)
		assert.Equal(t, fromVersion, config, name)
		res, err := fe.Client.Run(ctx, transport.Query("systemctl", "is-active", "opennebula"))
		require.NoError(t, err)
		assert.Equal(t, "active\n", string(res.Stdout), name)
	}
	assert.Equal(t, hostsBefore, cb.hostStates(t, ctx), "hosts enabled again")
	t.Logf("failed run with fe3 frozen during the rollback: %s", time.Since(start).Round(time.Millisecond))

	// fe3 is back: the resume goes backward and finishes the rollback.
	require.NoError(t, fe3.Host.Resume())
	rep, err = cb.runner(t, cb.plan(t, ctx, new(atomic.Int64)), store, &console).Run(ctx)
	require.ErrorIs(t, err, upgrade.ErrRollbackResumed, "%s", console.String())
	pe, _ = errors.AsType[*upgrade.PartialError](err)
	require.NoError(t, pe.RollbackErr)
	assert.Equal(t, upgrade.DirBackward, rep.Direction)
	for _, fe := range cb.Frontends {
		release, config := configVersions(t, ctx, fe)
		assert.Equal(t, fromVersion, release, fe.Name)
		assert.Equal(t, fromVersion, config, fe.Name)
	}

	// And forward: the steps the rollback undid run again.
	rep, err = cb.runner(t, cb.plan(t, ctx, new(atomic.Int64)), store, &console).Run(ctx)
	require.NoError(t, err, "%s", console.String())
	assert.Equal(t, upgrade.DirForward, rep.Direction)
	st := stepStatus(rep)
	for _, s := range []string{"prepare/fe1/upgrade/repository", "upgrade/fe1/node/onecfg", "upgrade/fe2/node/onecfg", "upgrade/fe3/node/onecfg", "leader/onedb-upgrade"} {
		assert.Equal(t, upgrade.StateDone, st[s], s)
	}
	cb.assertUpgraded(t, ctx)
	for _, fe := range cb.Frontends {
		release, config := configVersions(t, ctx, fe)
		assert.Equal(t, toVersion, release, fe.Name)
		assert.Equal(t, toVersion, config, fe.Name)
	}
	assert.Equal(t, hostsBefore, cb.hostStates(t, ctx), "hosts restored")
	t.Logf("total test wall time %s", time.Since(start).Round(time.Millisecond))
}
