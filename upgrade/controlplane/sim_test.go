package controlplane_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/upgradekit/upgradekit/openstack"
	ossim "github.com/upgradekit/upgradekit/sim/openstack"
	"github.com/upgradekit/upgradekit/system"
	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/upgrade"
	"github.com/upgradekit/upgradekit/upgrade/controlplane"
)

var antelope = system.Repo{Name: "openstack-antelope", URL: "http://osbpo.debian.net/debian",
	Suite: "bookworm-antelope-backports", Components: []string{"main"}}

type simRun struct {
	cloud *ossim.Cloud
	inv   controlplane.Inventory
	store *upgrade.MemoryStore
	mu    sync.Mutex
	out   []string
}

func newSim(t *testing.T, top ossim.Topology, opts ...ossim.Option) *simRun {
	t.Helper()
	c, err := ossim.New(top, opts...)
	require.NoError(t, err)
	fam := top.Family
	if fam == "" {
		fam = openstack.Debian
	}
	repo := antelope
	if fam == openstack.RHEL {
		repo = system.Repo{Name: "openstack-antelope", URL: "http://mirror.stream.centos.org/SIGs/9-stream/cloud/x86_64/openstack-antelope/", NoGPGCheck: true}
	}
	return &simRun{cloud: c, store: &upgrade.MemoryStore{}, inv: controlplane.Inventory{
		Controllers: top.Controllers, Networks: top.Networks, Computes: top.Computes, Family: fam, Repository: repo,
	}}
}

func (r *simRun) runner(t *testing.T, hosts map[string]transport.Transport, planOpts []controlplane.Option, runOpts ...upgrade.Option) *upgrade.Runner {
	t.Helper()
	p, err := controlplane.Plan(r.inv, planOpts...)
	require.NoError(t, err)
	if hosts == nil {
		hosts = r.cloud.Transports()
	}
	opts := append([]upgrade.Option{
		upgrade.WithHosts(hosts), upgrade.WithClock(r.cloud.Now), upgrade.WithJournal(r.store),
		upgrade.WithObserver(func(e upgrade.Event) {
			if e.Kind == upgrade.EventOutput {
				r.mu.Lock()
				r.out = append(r.out, e.Line)
				r.mu.Unlock()
			}
		}),
	}, runOpts...)
	rn, err := upgrade.NewRunner(p, opts...)
	require.NoError(t, err)
	return rn
}

func (r *simRun) run(ctx context.Context, t *testing.T, planOpts []controlplane.Option, runOpts ...upgrade.Option) (upgrade.Report, error) {
	t.Helper()
	return r.runner(t, nil, planOpts, runOpts...).Run(ctx)
}

func (r *simRun) output() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.out, "\n")
}

var topo = ossim.Topology{Controllers: []string{"ctl1", "ctl2"}, Networks: []string{"net1"}, Computes: []string{"cmp1", "cmp2", "cmp3"}}

// snapshot is everything a rollback must restore.
type snapshot struct {
	tables   map[string]map[string]string
	configs  map[string]string
	packages map[string]string
}

func snap(t *testing.T, c *ossim.Cloud) snapshot {
	t.Helper()
	s := snapshot{tables: map[string]map[string]string{}, configs: map[string]string{}, packages: map[string]string{}}
	for _, db := range c.Databases() {
		sums, err := c.TableChecksums(db)
		require.NoError(t, err)
		s.tables[db] = sums
	}
	for _, n := range c.Nodes() {
		for _, svc := range openstack.DefaultCatalog().Services() {
			if d, err := c.TreeDigest(n, svc.ConfigDir); err == nil {
				s.configs[n+":"+svc.ConfigDir] = d
			}
		}
		for _, p := range c.Packages(n) {
			s.packages[n+":"+p] = c.Installed(n, p)
		}
	}
	return s
}

// assertUpgraded checks a cloud after a complete run.
func assertUpgraded(t *testing.T, c *ossim.Cloud) {
	t.Helper()
	rels := c.Releases()
	target := rels[len(rels)-1]
	for _, db := range c.Databases() {
		series, at, err := c.SchemaSeries(db)
		require.NoError(t, err)
		if db != "heat" { // heat's repository has no 2023.1 migration
			assert.Equal(t, target.Series, series, db)
		}
		assert.True(t, at, "%s at its heads", db)
	}
	for _, n := range c.Nodes() {
		for _, p := range c.Packages(n) {
			assert.Contains(t, slices.Collect(func(yield func(string) bool) {
				for _, v := range target.Versions[string(c.Family())] {
					if !yield(v) {
						return
					}
				}
			}), c.Installed(n, p), "%s %s", n, p)
		}
		units, err := c.Units(n)
		require.NoError(t, err)
		for _, u := range units {
			assert.True(t, u.Active, "%s %s active", n, u.Name)
			assert.Equal(t, target.Series, u.Series, "%s %s runs the new code", n, u.Name)
			assert.Empty(t, u.Pin, "%s %s unpinned", n, u.Name)
		}
		if conf, err := c.ReadFile(n, "/etc/nova/nova.conf"); err == nil {
			assert.NotContains(t, string(conf), "compute = auto", n)
		}
	}
	for _, svc := range []string{"nova", "placement", "cinder"} {
		assert.Zero(t, c.PendingDataMigrations(svc), svc)
	}
	assert.Empty(t, c.Violations())
}

func TestSimFullRun(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		top  ossim.Topology
	}{
		{"debian-ha", topo},
		{"debian-single", ossim.Topology{Controllers: []string{"ctl"}, Computes: []string{"cmp1", "cmp2"}}},
		{"rhel", ossim.Topology{Controllers: []string{"ctl1", "ctl2"}, Networks: []string{"ctl1"}, Computes: []string{"cmp1"}, Family: openstack.RHEL}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newSim(t, tc.top, ossim.WithPendingDataMigrations("nova", 30), ossim.WithPendingDataMigrations("glance", 3))
			rep, err := r.run(context.Background(), t, nil)
			require.NoError(t, err, r.output())
			assertUpgraded(t, r.cloud)
			out := r.output()
			assert.Contains(t, out, "nova: 30 rows in 2 batches", "the previous release's data migrations finished first")
			assert.Contains(t, out, "nova: 40 rows", "the new release's data migrations at the end")
			assert.Contains(t, out, "keystone: expand exit 0")
			assert.Contains(t, out, "glance: migrate exit 0", "glance db check said 4")
			assert.Contains(t, out, "neutron: contract exit 0")
			t.Logf("%s: run %s (virtual); report downtime %v; simulator API downtime %v", tc.name, rep.Dur, rep.ServiceDowntime, r.cloud.APIDowntime())
			down := map[string]bool{}
			for _, w := range rep.ServiceDowntime {
				down[w.Service] = true
			}
			assert.True(t, down["neutron"], "neutron servers stopped for the contract")
			if len(tc.top.Controllers) == 1 {
				for _, s := range []string{"keystone", "glance", "nova", "cinder", "heat", "horizon"} {
					assert.True(t, down[s], "%s down while its only controller restarts", s)
				}
			} else {
				assert.False(t, down["keystone"], "keystone served by the other controller")
				assert.Zero(t, r.cloud.APIDowntime()["keystone"])
			}
		})
	}
}

// recording passes commands to t and fails any mutating one.
type recording struct {
	transport.Transport
	mu  *sync.Mutex
	bad *[]string
}

func (r recording) Run(ctx context.Context, c transport.Command) (transport.Result, error) {
	if !c.ReadOnly {
		r.mu.Lock()
		*r.bad = append(*r.bad, c.String())
		r.mu.Unlock()
	}
	return r.Transport.Run(ctx, c)
}

func TestSimDryRun(t *testing.T) {
	t.Parallel()
	r := newSim(t, topo)
	before := snap(t, r.cloud)
	var mu sync.Mutex
	var bad []string
	hosts := map[string]transport.Transport{}
	for n, tr := range r.cloud.Transports() {
		hosts[n] = recording{Transport: tr, mu: &mu, bad: &bad}
	}
	rec := upgrade.NewRecorder()
	rep, err := r.runner(t, hosts, nil, upgrade.WithDryRun(rec)).Run(context.Background())
	require.NoError(t, err, r.output())
	assert.True(t, rep.DryRun)
	assert.Empty(t, bad, "no mutating command reaches a node")
	assert.Equal(t, before, snap(t, r.cloud), "nothing changed")
	var would []string
	for _, c := range rec.Commands(true) {
		would = append(would, c.Host+": "+c.Cmd)
	}
	joined := strings.Join(would, "\n")
	assert.Contains(t, joined, "ctl1: sudo -n -- env 'DEBIAN_FRONTEND=noninteractive' apt-get install --only-upgrade -y")
	assert.Contains(t, joined, "cmp3: sudo -n -- systemctl restart -- neutron-openvswitch-agent")
	assert.Contains(t, joined, "ctl2: sudo -n -- systemctl kill '--signal=HUP' -- nova-conductor nova-scheduler nova-novncproxy nova-api")
	assert.Contains(t, joined, "upload 92 bytes to /etc/apt/sources.list.d/openstack-antelope.list")
	out := r.output()
	assert.Contains(t, out, "would dump and verify every service database")
	assert.NotContains(t, out, "would contract", "every schema is at the installed tools' heads")
	assert.Contains(t, out, "neutron: nothing to contract with the installed neutron-common 2:21.0.0-7+deb12u1")
	assert.Contains(t, out, "keystone: database keystone [29e87d24a316 e25ffa003242] is at the installed tool's head")
}

func TestSimFaultRollback(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		rhel  bool
		fault func(c *ossim.Cloud) error
		step  string
		typed func(error) bool
		// rollbackFails: the fault also breaks the rollback (an
		// unreachable node cannot be downgraded): exit 3, resume.
		rollbackFails bool
	}{
		{"keystone-expand", false, func(c *ossim.Cloud) error {
			return c.Inject(ossim.Fault{Node: "ctl1", Argv: []string{"keystone-manage"}, Contains: "--expand", Exit: 1, Stderr: "DBMigrationError: simulated"})
		}, "services/keystone/schema", isTool(1), false},
		{"nova-db-sync", false, func(c *ossim.Cloud) error {
			return c.Inject(ossim.Fault{Node: "ctl1", Argv: []string{"nova-manage"}, Contains: "db sync", Skip: 1, Exit: 255, Stderr: "An error has occurred:\nsimulated"})
		}, "services/nova/schema", func(err error) bool { return isTool(255)(err) && errors.Is(err, openstack.ErrToolCrashed) }, false},
		{"cinder-package", false, func(c *ossim.Cloud) error {
			return c.Inject(ossim.Fault{Node: "ctl2", Argv: []string{"apt-get", "install", "--only-upgrade"}, Contains: "cinder-api", Exit: 100, Stderr: "E: Sub-process /usr/bin/dpkg returned an error code (1)"})
		},
			"services/cinder/packages/ctl2/upgrade", func(err error) bool { _, ok := errors.AsType[*system.PackageError](err); return ok }, false},
		{"compute-restart", false, func(c *ossim.Cloud) error {
			return c.Inject(ossim.Fault{Node: "cmp2", Argv: []string{"systemctl", "restart"}, Times: 1, Exit: 1, Stderr: "Job for nova-compute.service failed"})
		}, "computes/cmp2/node/restart", isExit(1), false},
		{"compute-unreachable", false, func(c *ossim.Cloud) error {
			return c.Inject(ossim.Fault{Node: "cmp2", Argv: []string{"systemctl", "restart"}, Unreachable: true})
		}, "computes/cmp2/node/restart", func(err error) bool { return errors.Is(err, transport.ErrConnectionLost) }, true},
		{"rhel-nova-sync", true, func(c *ossim.Cloud) error {
			return c.Inject(ossim.Fault{Argv: []string{"nova-manage"}, Contains: "db sync", Skip: 1, Exit: 255, Stderr: "An error has occurred"})
		}, "services/nova/schema", isTool(255), false},
		{"cinder-sync", false, func(c *ossim.Cloud) error {
			return c.Inject(ossim.Fault{Node: "ctl1", Argv: []string{"cinder-manage"}, Contains: "db sync", Exit: 1, Stderr: "Error during database migration: simulated"})
		}, "services/cinder/schema", isTool(1), false},
		{"database-dies", false, func(c *ossim.Cloud) error {
			// the server dies as nova's schema sync starts: the tool
			// crashes (255 after oslo.db's retries) and the restore
			// cannot reach it either
			return c.Inject(ossim.Fault{Node: "ctl1", Argv: []string{"nova-manage"}, Contains: "api_db sync", KillDatabase: true})
		}, "services/nova/schema", isTool(255), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			top := topo
			if tc.rhel {
				top.Family = openstack.RHEL
			}
			r := newSim(t, top)
			before := snap(t, r.cloud)
			require.NoError(t, tc.fault(r.cloud))
			_, err := r.run(context.Background(), t, nil)
			require.Error(t, err)
			pe, ok := errors.AsType[*upgrade.PartialError](err)
			require.True(t, ok, "%v", err)
			se, ok := errors.AsType[*upgrade.StepError](err)
			require.True(t, ok, "%v", err)
			assert.Equal(t, tc.step, se.Step)
			assert.True(t, tc.typed(err), "typed error: %#v", err)
			if tc.rollbackFails {
				require.Error(t, pe.RollbackErr)
				return
			}
			require.NoError(t, pe.RollbackErr)
			r.cloud.ClearFaults() // reconnect before comparing
			after := snap(t, r.cloud)
			assert.Equal(t, before.tables, after.tables, "databases restored")
			assert.Equal(t, before.configs, after.configs, "configs restored")
			assert.Equal(t, before.packages, after.packages, "packages downgraded")
			assert.Contains(t, r.output(), "restored keystone (checksums verified)")
			for _, n := range r.cloud.Nodes() {
				units, _ := r.cloud.Units(n)
				for _, u := range units {
					assert.True(t, u.Active, "%s %s", n, u.Name)
					assert.Equal(t, "zed", u.Series, "%s %s back on the old code", n, u.Name)
				}
			}
		})
	}
}

func isExit(code int) func(error) bool {
	return func(err error) bool {
		ee, ok := errors.AsType[*transport.ExitError](err)
		return ok && ee.Code == code
	}
}

func isTool(code int) func(error) bool {
	return func(err error) bool {
		te, ok := errors.AsType[*openstack.ToolError](err)
		return ok && te.Code == code
	}
}

// A failure past the contract is not rolled back: fix and resume.
func TestSimFailurePastPointOfNoReturn(t *testing.T) {
	t.Parallel()
	r := newSim(t, topo)
	require.NoError(t, r.cloud.Inject(ossim.Fault{Node: "ctl1", Argv: []string{"cinder-manage"}, Contains: "online_data_migrations", Skip: 1, Exit: 2, Stderr: "Error attempting to run migration"}))
	_, err := r.run(context.Background(), t, nil)
	require.ErrorIs(t, err, upgrade.ErrPointOfNoReturn)
	assert.ErrorIs(t, err, openstack.ErrMigrationsFailed)
	r.cloud.ClearFaults()
	_, err = r.run(context.Background(), t, nil)
	require.NoError(t, err, r.output())
	assertUpgraded(t, r.cloud)
}

func TestSimKillAndResume(t *testing.T) {
	t.Parallel()
	for _, cut := range []int{1, 7, 25, 48, 70, 95} {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			t.Parallel()
			r := newSim(t, topo)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var mu sync.Mutex
			done := 0
			finished := map[string]bool{}
			p, err := controlplane.Plan(r.inv)
			require.NoError(t, err)
			leaves := p.Steps()
			_, err = r.run(ctx, t, nil, upgrade.WithoutRollback(), upgrade.WithObserver(func(e upgrade.Event) {
				if e.Kind == upgrade.EventStepFinished {
					mu.Lock()
					if e.Err == nil && slices.Contains(leaves, e.Step) {
						finished[e.Step+"@"+e.Host] = true
					}
					done++
					if done == cut {
						cancel() // the process dies at a step boundary
					}
					mu.Unlock()
				}
			}))
			require.ErrorIs(t, err, context.Canceled)
			rep, err := r.run(context.Background(), t, nil)
			require.NoError(t, err, r.output())
			earlier := map[string]bool{}
			for _, s := range rep.Steps {
				if s.Status == upgrade.StatusDone && s.Reason == "done in an earlier run" {
					earlier[s.Name+"@"+s.Host] = true
				}
			}
			mu.Lock()
			defer mu.Unlock()
			require.NotEmpty(t, finished)
			for k := range finished {
				assert.True(t, earlier[k], "%s finished before the kill and is not run again", k)
			}
			dumps := 0
			for _, c := range r.cloud.Commands("ctl1") {
				if strings.Contains(c, "mysqldump") {
					dumps++
				}
			}
			assert.Equal(t, 9, dumps, "every database dumped once")
			assertUpgraded(t, r.cloud)
		})
	}
}

func TestSimComputeBatches(t *testing.T) {
	t.Parallel()
	top := ossim.Topology{Controllers: []string{"ctl"}, Computes: []string{"cmp1", "cmp2", "cmp3", "cmp4", "cmp5", "cmp6"}}
	for _, tc := range []struct {
		name      string
		opts      []controlplane.Option
		fail      []string
		maxFlight int
		attempted int // computes whose packages step started
	}{
		{"batch-2-canary", []controlplane.Option{controlplane.WithComputeBatch(2)}, nil, 2, 6},
		{"batch-1-budget-1", []controlplane.Option{controlplane.WithComputeBatch(1)}, []string{"cmp2", "cmp3"}, 1, 2},
		{"batch-1-budget-2", []controlplane.Option{controlplane.WithComputeBatch(1), controlplane.WithFailureBudget(2)}, []string{"cmp2", "cmp3"}, 1, 3},
		{"canary-fails", []controlplane.Option{controlplane.WithComputeBatch(3)}, []string{"cmp1"}, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newSim(t, top)
			for _, h := range tc.fail {
				require.NoError(t, r.cloud.FailPackageUpgrade(h, true))
			}
			var mu sync.Mutex
			inFlight, maxFlight := 0, 0
			started := map[string]bool{}
			var order, earlyStart []string
			canaryDone := false
			_, err := r.run(context.Background(), t, tc.opts, upgrade.WithObserver(func(e upgrade.Event) {
				if !strings.HasPrefix(e.Step, "computes/") || e.Host == "" {
					return
				}
				mu.Lock()
				defer mu.Unlock()
				switch {
				case e.Kind == upgrade.EventStepStarted && strings.HasSuffix(e.Step, "/packages"):
					if e.Host != "cmp1" && !canaryDone {
						earlyStart = append(earlyStart, e.Host)
					}
					inFlight++
					maxFlight = max(maxFlight, inFlight)
					started[e.Host] = true
					order = append(order, e.Host)
				case e.Kind == upgrade.EventStepFinished && (strings.HasSuffix(e.Step, "/verify") || e.Err != nil):
					if e.Host == "cmp1" && e.Err == nil {
						canaryDone = true
					}
					inFlight--
				}
			}))
			if tc.fail == nil {
				require.NoError(t, err, r.output())
			} else {
				require.Error(t, err)
			}
			assert.LessOrEqual(t, maxFlight, tc.maxFlight, "computes in flight")
			assert.GreaterOrEqual(t, maxFlight, 1)
			assert.Len(t, started, tc.attempted, "%v", order)
			assert.Equal(t, "cmp1", order[0], "canary first")
			assert.Empty(t, earlyStart, "no compute starts before the canary is done")
		})
	}
}

func TestSimPreflightRefuses(t *testing.T) {
	t.Parallel()
	r := newSim(t, topo, ossim.WithPendingDataMigrations("placement", 3))
	before := snap(t, r.cloud)
	rep, err := r.run(context.Background(), t, nil)
	require.Error(t, err)
	ce, ok := errors.AsType[*openstack.CheckFailedError](err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, "placement", ce.Service)
	assert.Contains(t, err.Error(), "Missing Root Provider IDs")
	assert.Equal(t, before, snap(t, r.cloud), "nothing changed")
	for _, s := range rep.Steps {
		assert.NotEqual(t, "done", s.Status, s.Name)
	}
}

// The database passwords (in the services' connection URLs) never reach
// logs, events, the report or argv.
func TestSimSecretsStayOut(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zap.DebugLevel)
	r := newSim(t, ossim.Topology{Controllers: []string{"ctl"}, Computes: []string{"cmp"}})
	var mu sync.Mutex
	var events strings.Builder
	rep, err := r.run(context.Background(), t, []controlplane.Option{controlplane.WithLogger(zap.New(core))},
		upgrade.WithLogger(zap.New(core)),
		upgrade.WithObserver(func(e upgrade.Event) {
			b, _ := json.Marshal(e)
			mu.Lock()
			events.Write(b)
			mu.Unlock()
		}))
	require.NoError(t, err)
	var buf strings.Builder
	require.NoError(t, rep.WriteText(&buf))
	require.Greater(t, logs.Len(), 100)
	for _, e := range logs.All() {
		buf.WriteString(e.Message)
		for _, f := range e.Context {
			fmt.Fprintf(&buf, " %v %v", f.String, f.Interface)
		}
		buf.WriteString("\n")
	}
	buf.WriteString(events.String())
	buf.WriteString(strings.Join(r.cloud.Commands("ctl"), "\n"))
	assert.NotContains(t, buf.String(), "-secret-pw")
	assert.Contains(t, buf.String(), "mysqldump")
}

// Old tools against a newer database are refused before anything runs.
func TestSimNewerDatabaseRefused(t *testing.T) {
	t.Parallel()
	r := newSim(t, ossim.Topology{Controllers: []string{"ctl"}})
	_, err := r.run(context.Background(), t, nil)
	require.NoError(t, err)
	// The operator reinstalls the old keystone tools on the primary.
	ctl, _ := r.cloud.Transport("ctl")
	res, err := ctl.Run(context.Background(), transport.Cmd("apt-get", "install", "-y", "--allow-downgrades", "python3-keystone=2:22.0.2-0+deb12u6"))
	require.NoError(t, err)
	require.Zero(t, res.ExitCode, "%s", res.Stderr)
	r.store = &upgrade.MemoryStore{}
	_, err = r.run(context.Background(), t, nil)
	require.ErrorIs(t, err, openstack.ErrNewerDatabase)
	ne, ok := errors.AsType[*openstack.NewerDatabaseError](err)
	require.True(t, ok)
	assert.Equal(t, "keystone", ne.Database)
	assert.Equal(t, "2:22.0.2-0+deb12u6", ne.Version)
}
