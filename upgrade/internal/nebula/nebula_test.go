package nebula

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/onedb"
	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/transport/fake"
	"github.com/upgradekit/upgradekit/upgrade"
)

func testInventory() Inventory {
	return Inventory{
		Target:     "7.4.1",
		Repository: Repository{URL: "https://downloads.opennebula.io/repo/{series}/Ubuntu/24.04"},
		Zones: []Zone{{
			ID: 0,
			Frontends: []Frontend{
				{Name: "fe1", Address: "10.0.0.11", ServerID: 0},
				{Name: "fe2", Address: "10.0.0.12", ServerID: 1},
				{Name: "fe3", Address: "10.0.0.13", ServerID: 2},
			},
			Hypervisors: []Hypervisor{{Name: "kvm1"}, {Name: "lxc1", Kind: "lxc"}},
		}},
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(*Inventory)
		want string
	}{
		{"ok", func(*Inventory) {}, ""},
		{"bad target", func(i *Inventory) { i.Target = "latest" }, "target"},
		{"no repo", func(i *Inventory) { i.Repository.URL = "" }, "repository URL is empty"},
		{"token in url", func(i *Inventory) { i.Repository.URL = "https://tok@enterprise.opennebula.io/repo" }, "credentials"},
		{"token in query", func(i *Inventory) { i.Repository.URL = "https://enterprise.opennebula.io/repo?token=tok" }, "query string"},
		{"token in fragment", func(i *Inventory) { i.Repository.URL = "https://enterprise.opennebula.io/repo#tok" }, "query string"},
		{"two front-ends at one address", func(i *Inventory) { i.Zones[0].Frontends[2].Address = "10.0.0.11" }, "front-ends fe1 and fe3 have the same address 10.0.0.11"},
		{"same address, other case and port", func(i *Inventory) {
			i.Zones[0].Frontends[0].Address, i.Zones[0].Frontends[1].Address = "FE.example:22", "fe.example:22"
		}, "front-ends fe1 and fe2 have the same address"},
		{"two hypervisors at one address", func(i *Inventory) {
			i.Zones[0].Hypervisors[0].Address, i.Zones[0].Hypervisors[1].Address = "10.0.1.1", "10.0.1.1"
		}, "hypervisors kvm1 and lxc1"},
		{"converged front-end and hypervisor", func(i *Inventory) { i.Zones[0].Hypervisors[0].Address = "10.0.0.11" }, ""},
		{"no zone", func(i *Inventory) { i.Zones = nil }, "no zone"},
		{"dup name", func(i *Inventory) { i.Zones[0].Hypervisors[0].Name = "fe1" }, "used twice"},
		{"dup server id", func(i *Inventory) { i.Zones[0].Frontends[1].ServerID = 0 }, "SERVER_ID 0 used twice"},
		{"solo id in HA", func(i *Inventory) { i.Zones[0].Frontends[2].ServerID = -1 }, "SERVER_ID >= 0"},
		{"bad kind", func(i *Inventory) { i.Zones[0].Hypervisors[0].Kind = "xen" }, "not kvm or lxc"},
		{"no front-end", func(i *Inventory) { i.Zones[0].Frontends = nil }, "no front-end"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			inv := testInventory()
			tt.edit(&inv)
			err := inv.Validate()
			if tt.want == "" {
				assert.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrInvalidInventory)
			assert.ErrorContains(t, err, tt.want)
		})
	}
}

func TestInventoryHelpers(t *testing.T) {
	t.Parallel()
	inv := testInventory()
	z := inv.Zones[0]
	assert.Equal(t, []string{"fe1", "fe2", "fe3", "kvm1", "lxc1"}, inv.Hosts())
	assert.Equal(t, []string{"fe1", "fe3"}, z.Followers("fe2"))
	assert.Equal(t, 2, z.Majority())
	assert.Equal(t, "opennebula-node-kvm", z.Hypervisors[0].NodePackage())
	assert.Equal(t, "opennebula-node-lxc", z.Hypervisors[1].NodePackage())
	assert.False(t, z.Hypervisors[1].IsKVM())
	inv.Repository.Token = transport.NewSecret("s3cret")
	r, err := inv.Repo()
	require.NoError(t, err)
	assert.Equal(t, "https://downloads.opennebula.io/repo/7.4/Ubuntu/24.04", r.URL)
	assert.Equal(t, "opennebula", r.Name)
	assert.Equal(t, []string{"opennebula"}, r.Components)
	assert.Equal(t, "s3cret", r.Token.Reveal())

	k, err := New(inv, WithLeader("fe3"))
	require.NoError(t, err)
	l, err := k.Leader(z)
	require.NoError(t, err)
	assert.Equal(t, "fe3", l)
	k, err = New(inv, WithLeader("nope"))
	require.NoError(t, err)
	_, err = k.Leader(z)
	assert.ErrorIs(t, err, ErrInvalidInventory)
	for _, bad := range []Option{WithConcurrency(0), WithFailureBudget(-1), WithWaitTimeout(0), WithPollInterval(2, 1), WithBackupDir("rel"), WithMaxLag(-1), WithLogger(nil), WithClock(nil), WithMinFree(-1)} {
		_, err := New(inv, bad)
		assert.Error(t, err)
	}
}

func TestParseDfAvail(t *testing.T) {
	t.Parallel()
	good := "Filesystem     1024-blocks     Used Available Capacity Mounted on\n/dev/sda1         51290592 20123456  28535812      42% /\n"
	n, err := ParseDfAvail([]byte(good))
	require.NoError(t, err)
	assert.Equal(t, int64(28535812)<<10, n)
	spaces := "Filesystem 1024-blocks Used Available Capacity Mounted on\nmy disk 10 5 5 50% /var/lib/one\n"
	n, err = ParseDfAvail([]byte(spaces))
	require.NoError(t, err)
	assert.Equal(t, int64(5)<<10, n)
	for _, bad := range []string{"", "Filesystem\n", good + good[len("Filesystem     1024-blocks     Used Available Capacity Mounted on\n"):], "Filesystem x\n/dev/sda1 1 2 x 4% /\n", "Filesystem x\n/dev 1 2\n", "Filesystem x\n/dev/sda1 1 2 -5 4% /\n"} {
		_, err := ParseDfAvail([]byte(bad))
		assert.ErrorIs(t, err, ErrMalformed, "%q", bad)
	}
}

func FuzzParseDfAvail(f *testing.F) {
	f.Add([]byte("Filesystem     1024-blocks     Used Available Capacity Mounted on\n/dev/sda1         51290592 20123456  28535812      42% /\n"))
	f.Add([]byte("Filesystem\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := ParseDfAvail(data)
		if err == nil && n < 0 {
			t.Fatalf("negative size %d", n)
		}
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("untyped error %v", err)
		}
	})
}

// StopServices against the strict fake: stop what is active, verify,
// and on rollback start exactly those units again and mark the API up.
func TestStopServicesSequence(t *testing.T) {
	t.Parallel()
	f := fake.New("fe2")
	var calls []string
	active := []string{"opennebula.service", "opennebula-flow.service"}
	f.Expect(fake.Func(func(c transport.Command) bool { return true })).Any().Handle(func(_ context.Context, c transport.Command) (transport.Result, error) {
		argv := c.Argv()
		call := transport.Join(argv)
		if c.Sudo {
			call = "sudo " + call
		}
		calls = append(calls, call)
		for i, a := range argv {
			if a == "list-units" {
				if argv[i+1] == "--type=service" {
					out := ""
					for _, u := range active {
						out += u + " loaded active running X\n"
					}
					return transport.Result{Stdout: []byte(out)}, nil
				}
				return transport.Result{}, nil
			}
			if a == "stop" {
				active = nil
				return transport.Result{}, nil
			}
			if a == "start" {
				active = argv[i+2:]
				return transport.Result{}, nil
			}
		}
		return transport.Result{}, nil
	})
	k, err := New(testInventory(), WithPollInterval(time.Millisecond, time.Millisecond))
	require.NoError(t, err)
	plan := upgrade.NewPlan("stop", k.StopServices("stop", "fe2", true), upgrade.Func("boom", func(context.Context, *upgrade.State) error {
		return errors.New("boom")
	}))
	r, err := upgrade.NewRunner(plan, upgrade.WithHosts(map[string]transport.Transport{"fe2": f}))
	require.NoError(t, err)
	rep, err := r.Run(context.Background())
	require.Error(t, err)
	assert.Contains(t, calls, "sudo systemctl stop -- opennebula.service opennebula-flow.service")
	assert.Contains(t, calls, "sudo systemctl start -- opennebula.service opennebula-flow.service", "rollback starts what was running")
	assert.Equal(t, []string{"opennebula.service", "opennebula-flow.service"}, active)
	require.Len(t, rep.Downtime, 1)
	assert.False(t, rep.Downtime[0].Open, "rollback marks the service up again")
}

func TestPollTimeoutKeepsLastError(t *testing.T) {
	t.Parallel()
	now := time.Unix(0, 0)
	k, err := New(testInventory(), WithClock(func() time.Time { return now }), WithWaitTimeout(time.Minute),
		WithPollInterval(time.Second, time.Second), WithTimer(func() backoffTimer { return &stepTimer{now: &now} }))
	require.NoError(t, err)
	calls := 0
	err = k.poll(context.Background(), nil, "thing", func() (bool, error) {
		calls++
		return false, errors.New("still lagging")
	})
	require.ErrorIs(t, err, ErrTimeout)
	assert.ErrorContains(t, err, "still lagging")
	assert.Greater(t, calls, 50)
}

func TestCompareChecksums(t *testing.T) {
	t.Parallel()
	inv := testInventory()
	z := inv.Zones[0]
	hosts := map[string]transport.Transport{}
	for _, n := range z.FrontendNames() {
		hosts[n] = fake.New(n) // strict: no command may run
	}
	run := func(t *testing.T, k *Kit) error {
		t.Helper()
		r, err := upgrade.NewRunner(upgrade.NewPlan("c", k.CompareChecksums("checksums", z, "fe1")), upgrade.WithHosts(hosts))
		require.NoError(t, err)
		_, err = r.Run(context.Background())
		return err
	}
	sums := func(diff string) ChecksumFunc {
		return func(_ context.Context, node string, _ transport.Transport) (onedb.TableChecksums, error) {
			c := onedb.TableChecksums{Schema: "opennebula", Tables: map[string]uint64{"vm_pool": 1, "host_pool": 2}}
			if node == diff {
				c.Tables["vm_pool"] = 99
			}
			return c, nil
		}
	}
	t.Run("equal", func(t *testing.T) {
		t.Parallel()
		k, err := New(inv, WithChecksums(sums("")))
		require.NoError(t, err)
		assert.NoError(t, run(t, k))
	})
	t.Run("a follower differs", func(t *testing.T) {
		t.Parallel()
		now := time.Unix(0, 0)
		var mu sync.Mutex
		k, err := New(inv, WithChecksums(sums("fe3")), WithWaitTimeout(time.Minute),
			WithClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return now }),
			WithTimer(func() backoffTimer { return &stepTimer{now: &now} }))
		require.NoError(t, err)
		err = run(t, k)
		require.ErrorIs(t, err, ErrTimeout)
		me, ok := errors.AsType[*onedb.MismatchError](err)
		require.True(t, ok, "%v", err)
		assert.Equal(t, []string{"vm_pool"}, me.Tables)
		assert.ErrorContains(t, err, "fe3 differs from leader fe1")
	})
	t.Run("no dialer stops at once", func(t *testing.T) {
		t.Parallel()
		inv := inv
		inv.DB = &onedb.Conn{User: "oneadmin", DBName: "opennebula"}
		k, err := New(inv)
		require.NoError(t, err)
		err = run(t, k)
		assert.ErrorIs(t, err, onedb.ErrNoDialer)
		assert.NotErrorIs(t, err, ErrTimeout)
	})
	t.Run("nothing configured", func(t *testing.T) {
		t.Parallel()
		k, err := New(inv)
		require.NoError(t, err)
		var skipped []string
		r, err := upgrade.NewRunner(upgrade.NewPlan("c", k.CompareChecksums("checksums", z, "fe1")), upgrade.WithHosts(hosts),
			upgrade.WithObserver(func(e upgrade.Event) {
				if e.Kind == upgrade.EventStepSkipped {
					skipped = append(skipped, e.Step+": "+e.Reason)
				}
			}))
		require.NoError(t, err)
		rep, err := r.Run(context.Background())
		require.NoError(t, err)
		const reason = "no database connection configured (Inventory.DB), follower databases are not compared"
		assert.Equal(t, []string{"checksums: " + reason}, skipped)
		require.Len(t, rep.Steps, 1)
		assert.Equal(t, upgrade.StatusSkipped, rep.Steps[0].Status)
		assert.Equal(t, reason, rep.Steps[0].Reason)
	})
}

// TestPollOutageDoesNotBackOff: the waits that end an outage poll at the
// first interval, so the report's window closes within one interval of
// the real end; the other waits back off up to the largest one.
func TestPollOutageDoesNotBackOff(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		outage  bool
		maxStep time.Duration
	}{{"outage", true, time.Second}, {"other", false, 10 * time.Second}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			now := time.Unix(0, 0)
			k, err := New(testInventory(), WithClock(func() time.Time { return now }), WithWaitTimeout(time.Hour),
				WithPollInterval(time.Second, 10*time.Second), WithTimer(func() backoffTimer { return &stepTimer{now: &now} }))
			require.NoError(t, err)
			poll := k.poll
			if tc.outage {
				poll = k.pollOutage
			}
			var at []time.Time
			require.NoError(t, poll(context.Background(), nil, "leader", func() (bool, error) {
				at = append(at, now)
				return len(at) == 12, nil
			}))
			var largest time.Duration
			for i := 1; i < len(at); i++ {
				largest = max(largest, at[i].Sub(at[i-1]))
			}
			assert.Equal(t, tc.maxStep, largest)
		})
	}
}
