package host

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/transport/fake"
	"github.com/upgradekit/upgradekit/zone"
)

func TestListOnFake(t *testing.T) {
	t.Parallel()
	f := fake.New("fe1")
	f.Expect(fake.Exact("onehost", "list", "-x", "--endpoint", "http://vip:2633/RPC2")).Reply(string(readSample(t, "onehost-list.xml")))
	hs, err := List(t.Context(), f, WithEndpoint("http://vip:2633/RPC2"))
	require.NoError(t, err)
	assert.Len(t, hs, 4)
	f.AssertExpectations(t)
	c := f.Calls()[0].Command
	assert.True(t, c.ReadOnly)
	assert.Empty(t, c.User)

	f2 := fake.New("fe1")
	f2.Expect(fake.Exact("onehost", "list", "-x")).Exit(255, "[one.hostpool.info] User couldn't be authenticated, aborting call.\n")
	_, err = List(t.Context(), f2)
	api, ok := errors.AsType[*zone.APIError](err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, "one.hostpool.info", api.Method)
}

func TestActions(t *testing.T) {
	t.Parallel()
	t.Run("each verb, one command per host in order", func(t *testing.T) {
		t.Parallel()
		f := fake.New("fe1")
		f.Expect(fake.Exact("onehost", "disable", "3"))
		f.Expect(fake.Exact("onehost", "disable", "1"))
		f.Expect(fake.Exact("onehost", "enable", "2"))
		f.Expect(fake.Exact("onehost", "offline", "0"))
		require.NoError(t, Disable(t.Context(), f, []int{3, 1}))
		require.NoError(t, Enable(t.Context(), f, []int{2}))
		require.NoError(t, SetOffline(t.Context(), f, []int{0}, WithUser("oneadmin")))
		require.NoError(t, Enable(t.Context(), f, nil), "no hosts, no commands")
		f.AssertExpectations(t)
		calls := f.Calls()
		require.Len(t, calls, 4)
		assert.Equal(t, []string{"onehost", "disable", "3"}, calls[0].Argv())
		assert.Equal(t, []string{"onehost", "disable", "1"}, calls[1].Argv())
		assert.False(t, calls[0].Command.ReadOnly)
		assert.Equal(t, "oneadmin", calls[3].Command.User)
	})
	t.Run("one host fails, the others still run", func(t *testing.T) {
		t.Parallel()
		f := fake.New("fe1")
		f.Expect(fake.Exact("onehost", "disable", "0"))
		f.Expect(fake.Exact("onehost", "disable", "7")).Exit(255, "[one.host.status] Error getting host [7].\n")
		f.Expect(fake.Exact("onehost", "disable", "1"))
		err := Disable(t.Context(), f, []int{0, 7, 1})
		f.AssertExpectations(t)
		ae, ok := errors.AsType[*ActionError](err)
		require.True(t, ok, "%v", err)
		assert.Equal(t, 7, ae.HostID)
		assert.Equal(t, "disable", ae.Action)
		code, ok := transport.ExitCode(err)
		assert.True(t, ok)
		assert.Equal(t, 255, code)
	})
	t.Run("zone disabled stops the rest", func(t *testing.T) {
		t.Parallel()
		f := fake.New("fe1")
		f.Expect(fake.Exact("onehost", "enable", "0")).Exit(255, "[one.host.status] Cannot process request, zone disabled\n")
		err := Enable(t.Context(), f, []int{0, 1, 2})
		f.AssertExpectations(t)
		assert.ErrorIs(t, err, zone.ErrZoneDisabled)
		assert.ErrorIs(t, err, ErrNotAttempted)
		var ids []int
		for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
			ae, ok := errors.AsType[*ActionError](e)
			require.True(t, ok)
			ids = append(ids, ae.HostID)
		}
		assert.Equal(t, []int{0, 1, 2}, ids)
	})
	t.Run("negative id runs nothing", func(t *testing.T) {
		t.Parallel()
		f := fake.New("fe1")
		assert.ErrorIs(t, Disable(t.Context(), f, []int{1, -1}), ErrInvalidArgument)
		assert.Empty(t, f.Calls())
	})
}

func TestSyncOnFake(t *testing.T) {
	t.Parallel()
	secs := syncSections(t)
	t.Run("default", func(t *testing.T) {
		t.Parallel()
		f := fake.New("fe1")
		f.Expect(fake.Exact("onehost", "sync")).Reply(secs[0])
		r, err := Sync(t.Context(), f)
		require.NoError(t, err)
		assert.Equal(t, []string{"kvm-node-01", "kvm-node-02", "kvm-node-04"}, r.Updated)
		f.AssertExpectations(t)
		c := f.Calls()[0].Command
		assert.Equal(t, "oneadmin", c.User, "sync runs as oneadmin")
		assert.True(t, c.Sudo)
		assert.False(t, c.ReadOnly)
	})
	t.Run("all options", func(t *testing.T) {
		t.Parallel()
		f := fake.New("fe1")
		f.Expect(fake.Exact("onehost", "sync", "0,1,3", "--force", "--ssh")).Reply(secs[1])
		r, err := Sync(t.Context(), f, WithSyncHosts(0, 1, 3), WithSyncForce(), WithSyncSSH(), AsLoginUser())
		require.NoError(t, err)
		assert.True(t, r.NothingToDo)
		f.AssertExpectations(t)
		assert.Empty(t, f.Calls()[0].Command.User)
		assert.False(t, f.Calls()[0].Command.Sudo)
	})
	t.Run("cluster", func(t *testing.T) {
		t.Parallel()
		f := fake.New("fe1")
		f.Expect(fake.Exact("onehost", "sync", "--cluster", "100")).Reply(secs[1])
		_, err := Sync(t.Context(), f, WithSyncCluster(100), WithUser("one"))
		require.NoError(t, err)
		f.AssertExpectations(t)
		assert.Equal(t, "one", f.Calls()[0].Command.User)
	})
	t.Run("hosts failed", func(t *testing.T) {
		t.Parallel()
		f := fake.New("fe1")
		f.Expect(fake.Exact("onehost", "sync", "--force")).
			Stdout("* Adding kvm-node-04 to upgrade\n[====] 1/1 kvm-node-04 \r").Exit(255, secs[2])
		_, err := Sync(t.Context(), f, WithSyncForce())
		se, ok := errors.AsType[*SyncError](err)
		require.True(t, ok, "%v", err)
		assert.Equal(t, []string{"kvm-node-04"}, se.Failed)
		ee, ok := errors.AsType[*transport.ExitError](err)
		require.True(t, ok)
		assert.Equal(t, 255, ee.Code)
		assert.Contains(t, ee.Cmd, "sudo -n -u oneadmin -- onehost sync --force")
	})
	t.Run("as root", func(t *testing.T) {
		t.Parallel()
		f := fake.New("fe1")
		f.Expect(fake.Exact("onehost", "sync")).Exit(255, secs[3])
		_, err := Sync(t.Context(), f, AsLoginUser())
		assert.ErrorIs(t, err, ErrSyncAsRoot)
		_, ok := errors.AsType[*transport.ExitError](err)
		assert.True(t, ok)
	})
	t.Run("other failure", func(t *testing.T) {
		t.Parallel()
		f := fake.New("fe1")
		f.Expect(fake.Exact("onehost", "sync")).Exit(1, "sudo: a password is required\n")
		_, err := Sync(t.Context(), f)
		assert.ErrorIs(t, err, ErrSyncFailed)
		code, _ := transport.ExitCode(err)
		assert.Equal(t, 1, code)
	})
	t.Run("unrecognised success", func(t *testing.T) {
		t.Parallel()
		f := fake.New("fe1")
		f.Expect(fake.Exact("onehost", "sync")).Reply("* Adding a to upgrade\n")
		_, err := Sync(t.Context(), f)
		_, ok := errors.AsType[*ParseError](err)
		assert.True(t, ok, "%v", err)
	})
	t.Run("hosts and cluster conflict", func(t *testing.T) {
		t.Parallel()
		f := fake.New("fe1")
		_, err := Sync(t.Context(), f, WithSyncHosts(1), WithSyncCluster(0))
		assert.ErrorIs(t, err, ErrInvalidArgument)
		_, err = Sync(t.Context(), f, WithSyncHosts())
		assert.ErrorIs(t, err, ErrInvalidArgument)
		assert.Empty(t, f.Calls())
	})
}

// setStates rewrites the STATE of hosts in the sample by ID.
func setStates(t *testing.T, doc string, states map[string]string) string {
	for id, st := range states {
		marker := "<ID>" + id + "</ID>\n    <NAME>"
		i := strings.Index(doc, marker)
		require.GreaterOrEqual(t, i, 0)
		j := i + strings.Index(doc[i:], "<STATE>")
		k := j + strings.Index(doc[j:], "</STATE>")
		doc = doc[:j] + "<STATE>" + st + doc[k:]
	}
	return doc
}

func TestSnapshotRestore(t *testing.T) {
	t.Parallel()
	sample := string(readSample(t, "onehost-list.xml"))
	at := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

	f := fake.New("fe1")
	f.Expect(fake.Exact("onehost", "list", "-x")).Reply(sample)
	snap, err := TakeSnapshot(t.Context(), f, WithClock(func() time.Time { return at }))
	require.NoError(t, err)
	assert.Equal(t, at, snap.Taken)
	assert.Equal(t, []HostState{
		{0, "kvm-node-01", StateMonitored}, {1, "kvm-node-02", StateDisabled},
		{2, "kvm-node-03", StateOffline}, {3, "kvm-node-04", StateError},
	}, snap.Hosts)

	// During the upgrade every host was disabled; then node-04 was enabled
	// again by someone and is INIT.
	during := setStates(t, sample, map[string]string{"0": "4", "1": "4", "2": "4", "3": "0"})
	f.Expect(fake.Exact("onehost", "list", "-x")).Reply(during)
	f.Expect(fake.Exact("onehost", "enable", "0"))
	f.Expect(fake.Exact("onehost", "offline", "2"))
	rep, err := Restore(t.Context(), f, snap)
	require.NoError(t, err)
	f.AssertExpectations(t)
	require.Len(t, rep.Actions, 4)
	assert.Equal(t, RestoreAction{HostID: 0, Name: "kvm-node-01", Was: StateMonitored, Found: StateDisabled, Action: "enable"}, rep.Actions[0])
	assert.Equal(t, RestoreAction{HostID: 1, Name: "kvm-node-02", Was: StateDisabled, Found: StateDisabled}, rep.Actions[1])
	assert.Equal(t, RestoreAction{HostID: 2, Name: "kvm-node-03", Was: StateOffline, Found: StateDisabled, Action: "offline"}, rep.Actions[2])
	assert.Equal(t, RestoreAction{HostID: 3, Name: "kvm-node-04", Was: StateError, Found: StateInit}, rep.Actions[3], "ERROR and INIT are both enabled")
	assert.Len(t, rep.Changed(), 2)
	assert.Empty(t, rep.Missing)
	assert.Empty(t, rep.Unknown)

	// Restoring again changes nothing.
	f.Expect(fake.Exact("onehost", "list", "-x")).Reply(sample)
	rep, err = Restore(t.Context(), f, snap)
	require.NoError(t, err)
	assert.Empty(t, rep.Changed())
	f.AssertExpectations(t)
}

func TestRestoreMissingUnknownAndFailures(t *testing.T) {
	t.Parallel()
	snap := Snapshot{Hosts: []HostState{{5, "gone", StateMonitored}, {1, "b", StateMonitored}, {0, "a", StateDisabled}, {2, "c", StateOffline}}}
	now := `<HOST_POOL>
<HOST><ID>0</ID><NAME>a</NAME><STATE>2</STATE></HOST>
<HOST><ID>1</ID><NAME>b</NAME><STATE>8</STATE></HOST>
<HOST><ID>2</ID><NAME>c</NAME><STATE>2</STATE></HOST>
<HOST><ID>9</ID><NAME>new</NAME><STATE>2</STATE></HOST>
</HOST_POOL>`
	f := fake.New("fe1")
	f.Expect(fake.Exact("onehost", "list", "-x")).Reply(now)
	f.Expect(fake.Exact("onehost", "disable", "0")).Exit(255, "[one.host.status] Cannot process request, no leader found\n")
	rep, err := Restore(t.Context(), f, snap)
	f.AssertExpectations(t)
	assert.ErrorIs(t, err, zone.ErrNoLeader)
	assert.ErrorIs(t, err, ErrNotAttempted)
	require.Len(t, rep.Actions, 3)
	assert.Equal(t, "disable", rep.Actions[0].Action)
	assert.ErrorIs(t, rep.Actions[0].Err, zone.ErrNoLeader)
	assert.Equal(t, "enable", rep.Actions[1].Action)
	assert.ErrorIs(t, rep.Actions[1].Err, ErrNotAttempted)
	assert.Equal(t, "offline", rep.Actions[2].Action)
	assert.Equal(t, []HostState{{5, "gone", StateMonitored}}, rep.Missing)
	assert.Equal(t, []HostState{{9, "new", StateMonitored}}, rep.Unknown)

	_, err = Restore(t.Context(), fake.New("x"), Snapshot{Hosts: []HostState{{0, "a", State(12)}}})
	assert.ErrorIs(t, err, ErrInvalidArgument)
}
