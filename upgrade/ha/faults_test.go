package ha_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/host"
	"github.com/upgradekit/upgradekit/onedb"
	"github.com/upgradekit/upgradekit/sim"
	"github.com/upgradekit/upgradekit/system"
	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/upgrade"
	"github.com/upgradekit/upgradekit/upgrade/ha"
	"github.com/upgradekit/upgradekit/upgrade/internal/nebula/nebulatest"
	"github.com/upgradekit/upgradekit/vm"
	"github.com/upgradekit/upgradekit/zone"
)

// strict lets only read-only commands reach the cloud; anything else is
// a test failure (reported through the error, never t.Fatal here).
type strict struct {
	t    transport.Transport
	name string
	mu   *sync.Mutex
	bad  *[]string
}

func (s strict) Host() string { return s.name }

func (s strict) Run(ctx context.Context, c transport.Command) (transport.Result, error) {
	if !c.ReadOnly {
		s.mu.Lock()
		*s.bad = append(*s.bad, s.name+": "+c.String())
		s.mu.Unlock()
		return transport.Result{}, fmt.Errorf("strict: mutating command reached %s: %s", s.name, c)
	}
	return s.t.Run(ctx, c)
}

func (s strict) Close() error { return nil }

func TestDryRunIsStrict(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, 3)
	var mu sync.Mutex
	var bad []string
	hosts := map[string]transport.Transport{}
	for _, n := range append(cl.c.Frontends(), cl.c.Hypervisors()...) {
		var tr transport.Transport
		if strings.HasPrefix(n, "fe") {
			tr = cl.c.MustFrontend(n)
		} else {
			tr = cl.c.MustHost(n)
		}
		hosts[n] = strict{t: tr, name: n, mu: &mu, bad: &bad}
	}
	before := snapshot(t, cl.c)
	rec := upgrade.NewRecorder()
	_, err := cl.run(t, upgrade.WithHosts(hosts), upgrade.WithDryRun(rec))
	require.NoError(t, err)
	assert.Empty(t, bad, "mutating commands reached the cloud")
	assert.Equal(t, before, snapshot(t, cl.c), "the dry run changed the cloud")

	var leader []string
	for _, c := range rec.Commands(true) {
		if c.Host == "fe1" {
			leader = append(leader, c.Cmd)
		}
	}
	want := []string{"apt-get install --only-upgrade --download-only", "onehost disable", "systemctl stop", "onedb backup",
		"apt-get install --only-upgrade -y", "systemctl daemon-reload", "onedb upgrade", "onedb fsck", "systemctl start", "onehost sync"}
	all := strings.Join(leader, "\n")
	last := -1
	for _, w := range want {
		i := strings.Index(all, w)
		require.GreaterOrEqual(t, i, 0, "%q missing from the dry run of fe1:\n%s", w, all)
		assert.Greater(t, i, last, "%q out of order", w)
		last = i
	}
	assert.NotEmpty(t, rec.Intents())
}

// snapshot is what an upgrade changes: versions, units, DB, host states.
func snapshot(t *testing.T, c *sim.Cloud) string {
	t.Helper()
	var b strings.Builder
	for _, n := range append(c.Frontends(), c.Hypervisors()...) {
		st, err := c.Status(n)
		require.NoError(t, err)
		units := make([]string, 0, len(st.Units))
		for u, s := range st.Units {
			units = append(units, u+"="+s)
		}
		slices.Sort(units)
		fmt.Fprintf(&b, "%s %s %s %s/%s %v\n", n, st.Version, st.ConfigVersion, st.DBShared, st.DBLocal, units)
	}
	fmt.Fprintln(&b, hostStates(t, c))
	return b.String()
}

// assertRolledBack checks the cloud is back at 7.2.0 and healthy.
func assertRolledBack(t *testing.T, c *sim.Cloud) {
	t.Helper()
	for _, n := range c.Frontends() {
		st, err := c.Status(n)
		require.NoError(t, err)
		assert.Equal(t, "7.2.0", st.Version, n)
		assert.Equal(t, "7.2.0", st.DBShared, n)
		assert.Equal(t, "7.2.0", st.DBLocal, n)
		assert.Equal(t, "active", st.Units["opennebula"], n)
	}
	assert.Equal(t, map[string]host.State{"kvm1": host.StateMonitored, "kvm2": host.StateMonitored, "kvm3": host.StateDisabled}, hostStates(t, c))
	waitInSync(t, c)
}

func waitInSync(t *testing.T, c *sim.Cloud) {
	t.Helper()
	ctx := context.Background()
	var last error
	for range 60 {
		z, err := zone.Show(ctx, c.MustFrontend("fe1"), 0, zone.WithEndpoint("http://localhost:2633/RPC2"))
		if err == nil {
			if last = z.CheckSync(0); last == nil {
				return
			}
		} else {
			last = err
		}
		require.NoError(t, c.Clock().Sleep(ctx, 2*time.Second))
	}
	t.Fatalf("zone not in sync: %v", last)
}

func TestFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		inject func(t *testing.T, c *sim.Cloud)
		step   string
		check  func(t *testing.T, err error)
	}{
		{
			name: "follower package upgrade fails",
			// dpkg fails installing; the download before the outage worked.
			inject: func(t *testing.T, c *sim.Cloud) {
				require.NoError(t, c.Inject(sim.Fault{Node: "fe2", Argv: []string{"apt-get", "install", "--only-upgrade", "-y"}, Exit: 100,
					Stderr: "E: Sub-process /usr/bin/dpkg returned an error code (1)\n"}))
			},
			step: "upgrade/fe2/node/packages",
			check: func(t *testing.T, err error) {
				_, ok := errors.AsType[*system.PackageError](err)
				assert.True(t, ok, "want a *system.PackageError: %v", err)
			},
		},
		{
			name: "onedb upgrade fails on the leader",
			inject: func(t *testing.T, c *sim.Cloud) {
				require.NoError(t, c.Inject(sim.Fault{Node: "fe1", Argv: []string{"onedb", "upgrade"}, Exit: 255,
					Stderr: "Error running migrator 7.2.0_to_7.4.0.rb\nThe database will be restored\n"}))
			},
			step: "leader/onedb-upgrade",
			check: func(t *testing.T, err error) {
				assert.ErrorIs(t, err, onedb.ErrUpgradeFailed)
			},
		},
		{
			name: "follower restore fails",
			inject: func(t *testing.T, c *sim.Cloud) {
				require.NoError(t, c.Inject(sim.Fault{Node: "fe3", Argv: []string{"onedb", "restore"}, Exit: 255,
					Stderr: "ERROR 2013 (HY000): Lost connection to MySQL server during query\n", Times: 1}))
			},
			step: "followers/fe3/seed/restore",
			check: func(t *testing.T, err error) {
				ce, ok := errors.AsType[*onedb.CommandError](err)
				require.True(t, ok, "want a *onedb.CommandError: %v", err)
				assert.Equal(t, "restore", ce.Op)
			},
		},
		{
			name: "follower unreachable while stopping",
			inject: func(t *testing.T, c *sim.Cloud) {
				require.NoError(t, c.Inject(sim.Fault{Node: "fe3", Argv: []string{"systemctl", "stop"}, Exit: 1,
					Stderr: "Failed to stop opennebula.service: Connection timed out\n", Times: 1}))
			},
			step: "stop",
			check: func(t *testing.T, err error) {
				_, ok := errors.AsType[*transport.ExitError](err)
				assert.True(t, ok, "want a *transport.ExitError: %v", err)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cl := newCluster(t, 3)
			tt.inject(t, cl.c)
			rep, err := cl.run(t)
			require.Error(t, err)
			pe, ok := errors.AsType[*upgrade.PartialError](err)
			require.True(t, ok, "%v", err)
			assert.Contains(t, pe.Failed, tt.step)
			assert.NoError(t, pe.RollbackErr)
			assert.NotEmpty(t, pe.RolledBack)
			tt.check(t, err)
			assert.NotEmpty(t, rep.Err)
			cl.c.ClearFaults()
			if tt.name == "follower package upgrade fails" {
				require.NoError(t, cl.c.FailPackageUpgrade("fe2")) // no way to clear: leave it
			}
			assertRolledBack(t, cl.c)
		})
	}
}

// A follower that never catches up fails the run after the point of no
// return: rollback is refused, and once fixed the run resumes to the end.
func TestFailurePastPointOfNoReturnResumes(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, 3, ha.WithWaitTimeout(3*time.Minute))
	store := &upgrade.MemoryStore{}
	stuck := false
	obs := func(e upgrade.Event) {
		if e.Kind == upgrade.EventStepStarted && e.Step == ha.StepWaitInSync && !stuck {
			stuck = true
			_ = cl.c.SetUnreachable("fe3", true)
		}
	}
	_, err := cl.run(t, upgrade.WithJournal(store), upgrade.WithObserver(obs))
	require.Error(t, err)
	assert.ErrorIs(t, err, upgrade.ErrPointOfNoReturn)
	nis, ok := errors.AsType[*zone.NotInSyncError](err)
	require.True(t, ok, "%v", err)
	assert.Contains(t, nis.Error(), "fe3")

	require.NoError(t, cl.c.SetUnreachable("fe3", false))
	rep, err := cl.run(t, upgrade.WithJournal(store))
	require.NoError(t, err)
	for _, s := range rep.Steps {
		if s.Name == ha.StepStartQuorum {
			assert.Equal(t, upgrade.StatusDone, s.Status)
			assert.Contains(t, s.Reason, "earlier run")
		}
	}
	st, err := cl.c.Status("fe3")
	require.NoError(t, err)
	assert.Equal(t, "7.4.1", st.Version)
}

func TestPreflightRefusals(t *testing.T) {
	t.Parallel()
	t.Run("failed VM", func(t *testing.T) {
		t.Parallel()
		cl := newCluster(t, 3)
		require.NoError(t, cl.c.AddVM(0, sim.VM{Name: "broken", State: 3, LCMState: 36, HostID: 0, HostName: "kvm1"}))
		before := snapshot(t, cl.c)
		_, err := cl.run(t)
		require.ErrorIs(t, err, upgrade.ErrPreflight)
		assert.ErrorIs(t, err, vm.ErrFailedVMs)
		assert.Equal(t, before, snapshot(t, cl.c))
	})
	t.Run("wrong leader", func(t *testing.T) {
		t.Parallel()
		cl := newCluster(t, 3, ha.WithLeader("fe2"))
		_, err := cl.run(t)
		require.ErrorIs(t, err, upgrade.ErrPreflight)
		assert.ErrorIs(t, err, ha.ErrWrongLeader)
	})
}

// An Enterprise token reaches the repository file only: never a command
// line, the journal, the events or the report.
func TestTokenNeverLeaks(t *testing.T) {
	t.Parallel()
	c, err := sim.HA(3, "7.2.0")
	require.NoError(t, err)
	inv, err := nebulatest.Inventory(c, "7.4.1")
	require.NoError(t, err)
	const tok = "tok-9f8e7d6c5b"
	inv.Repository.Token = transport.NewSecret(tok)
	plan, err := ha.Plan(inv, nebulatest.Options(c)...)
	require.NoError(t, err)
	var events strings.Builder
	store := &upgrade.MemoryStore{}
	r, err := upgrade.NewRunner(plan, append(nebulatest.RunnerOptions(c),
		upgrade.WithJournal(store), upgrade.WithObserver(upgrade.JSONLines(&events)))...)
	require.NoError(t, err)
	rep, err := r.Run(context.Background())
	require.NoError(t, err)
	var b strings.Builder
	require.NoError(t, rep.WriteJSON(&b))
	for _, rec := range store.Records() {
		fmt.Fprintf(&b, "%+v\n", rec)
	}
	for _, n := range append(c.Frontends(), c.Hypervisors()...) {
		b.WriteString(strings.Join(c.Commands(n), "\n"))
	}
	for _, e := range c.Events() {
		b.WriteString(e.Detail + "\n")
	}
	assert.NotContains(t, b.String()+events.String(), tok)
	repo, err := c.ReadFile("fe1", "/etc/apt/sources.list.d/opennebula.list")
	require.NoError(t, err)
	assert.Contains(t, string(repo), tok+"@downloads.opennebula.io/repo/7.4/", "the token is in the repository file")
}

func TestPreflightLowDisk(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, 3)
	require.NoError(t, cl.c.SetDiskFree("fe2", 100<<10)) // 100 MiB
	before := snapshot(t, cl.c)
	_, err := cl.run(t)
	require.ErrorIs(t, err, upgrade.ErrPreflight)
	assert.ErrorIs(t, err, ha.ErrLowDisk)
	assert.ErrorContains(t, err, "fe2: /var/lib/one has 100 MiB free")
	assert.Equal(t, before, snapshot(t, cl.c))
}

func TestPreflightMonitorAddress(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, 3)
	require.NoError(t, cl.c.WriteFile("fe3", "/etc/one/monitord.conf", []byte("NETWORK = [\n  ADDRESS = \"0.0.0.0\",\n  MONITOR_ADDRESS = \"auto\"\n]\n"), 0o640))
	_, err := cl.run(t)
	require.ErrorIs(t, err, upgrade.ErrPreflight)
	assert.ErrorIs(t, err, ha.ErrMonitorAddress)
	assert.ErrorContains(t, err, "fe3")
	assert.NotContains(t, err.Error(), "fe2:")
}
