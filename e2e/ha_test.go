package e2e_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/host"
	"github.com/upgradekit/upgradekit/onedb"
	"github.com/upgradekit/upgradekit/onedconf"
	"github.com/upgradekit/upgradekit/transport"
	sshtransport "github.com/upgradekit/upgradekit/transport/ssh"
	"github.com/upgradekit/upgradekit/upgrade"
	"github.com/upgradekit/upgradekit/upgrade/ha"
	"github.com/upgradekit/upgradekit/zone"
)

const (
	fromVersion = "7.2.0"
	toVersion   = "7.4.1"
	// toDBVersion is the database schema version of toVersion.
	toDBVersion = "7.4.0"
	// repoURL is the repository template the simulator's package
	// managers understand.
	repoURL = "https://downloads.opennebula.io/repo/{series}/Ubuntu/24.04"
)

// inventory describes cb as an operator would: every front-end's SSH
// address and its SERVER_ID, read from its own /etc/one/oned.conf over SSH.
func (cb *cloudBed) inventory(t *testing.T, ctx context.Context) ha.Inventory {
	t.Helper()
	z := ha.Zone{ID: 0, Name: "OpenNebula"}
	for _, fe := range cb.Frontends {
		conf, err := onedconf.Parse([]byte(fe.run(t, ctx, "cat", "--", "/etc/one/oned.conf")))
		require.NoError(t, err, fe.Name)
		fed, err := conf.Federation()
		require.NoError(t, err, fe.Name)
		z.Frontends = append(z.Frontends, ha.Frontend{Name: fe.Name, Address: fe.Host.HostPort(), ServerID: fed.ServerID})
	}
	for _, h := range cb.Hypervisors {
		z.Hypervisors = append(z.Hypervisors, ha.Hypervisor{Name: h.Name, Address: h.Host.HostPort(), Kind: "kvm"})
	}
	return ha.Inventory{Zones: []ha.Zone{z}, Target: toVersion, Repository: ha.Repository{URL: repoURL}}
}

// plan builds the HA plan for cb. The plan's own database comparison
// (StepChecksums) reaches each front-end's MariaDB through the transport
// the engine hands the step, which must be that front-end's SSH client,
// with the front-end's own credentials; planDials counts its dials.
func (cb *cloudBed) plan(t *testing.T, ctx context.Context, planDials *atomic.Int64) *upgrade.Plan {
	t.Helper()
	checksums := func(ctx context.Context, node string, tr transport.Transport) (onedb.TableChecksums, error) {
		fe := cb.Frontend(node)
		c, ok := tr.(*sshtransport.Client)
		if fe == nil || !ok || c != fe.Client {
			return onedb.TableChecksums{}, fmt.Errorf("front-end %s: unexpected transport %T", node, tr)
		}
		return checksumsVia(ctx, countDials(c, planDials), fe.Conn)
	}
	p, err := ha.Plan(cb.inventory(t, ctx),
		ha.WithLeader("fe1"),
		ha.WithChecksums(checksums),
		ha.WithPollInterval(250*time.Millisecond, 2*time.Second),
		ha.WithWaitTimeout(2*time.Minute),
		ha.WithLogger(testLogger(t)))
	require.NoError(t, err)
	return p
}

// runner returns a runner of plan on cb with a file journal at journal.
func (cb *cloudBed) runner(t *testing.T, plan *upgrade.Plan, store upgrade.Store, console *syncBuffer, opts ...upgrade.Option) *upgrade.Runner {
	t.Helper()
	r, err := upgrade.NewRunner(plan, append([]upgrade.Option{
		upgrade.WithHosts(cb.Hosts()),
		upgrade.WithJournal(store),
		upgrade.WithObserver(upgrade.NewConsole(console).Observe),
		upgrade.WithLogger(testLogger(t)),
	}, opts...)...)
	require.NoError(t, err)
	return r
}

// TestHAUpgradeOverSSH upgrades a 3-node HA zone from 7.2.0 to 7.4.1 over
// real SSH, each front-end's database a real MariaDB server, and checks
// the result with the real tools and the real databases.
func TestHAUpgradeOverSSH(t *testing.T) {
	t.Parallel()
	start := time.Now()
	cb := newCloudBed(t, "127.40.1.1", 3, 3, fromVersion)
	ctx, cancel := context.WithTimeout(t.Context(), 160*time.Second)
	defer cancel()
	t.Logf("test bed up in %s", time.Since(start).Round(time.Millisecond))

	cb.assertSeparateHosts(t, ctx)
	for _, fe := range cb.Frontends {
		assert.Contains(t, fe.run(t, ctx, "oned", "--version"), fromVersion, fe.Name)
	}
	var planDials atomic.Int64
	before := cb.hostStates(t, ctx)
	require.Equal(t, host.StateDisabled, before["kvm3"], "the simulated cloud starts with one disabled host")
	plan := cb.plan(t, ctx, &planDials)
	console := &syncBuffer{}
	store := upgrade.NewFileStore(filepath.Join(t.TempDir(), "ha.journal"))
	runStart := time.Now()
	rep, err := cb.runner(t, plan, store, console).Run(ctx)
	runDur := time.Since(runStart)
	require.NoError(t, err, "console:\n%s", console.String())
	t.Logf("HA upgrade over SSH: %s wall time", runDur.Round(time.Millisecond))

	st := stepStatus(rep)
	assert.Equal(t, upgrade.StateDone, st[ha.StepChecksums], "the plan compared the follower databases itself")
	assert.GreaterOrEqual(t, planDials.Load(), int64(3), "the plan's checksums went through SSH to the leader and both followers")
	assert.Equal(t, upgrade.StateDone, st["followers/fe2/seed/restore"])
	assert.Equal(t, upgrade.StateDone, st["followers/fe3/seed/restore"])
	for _, w := range rep.Downtime {
		assert.False(t, w.Open, w.Service)
		t.Logf("downtime %s: %s", w.Service, w.Dur.Round(time.Millisecond))
	}

	cb.assertUpgraded(t, ctx)
	for _, h := range cb.Hypervisors {
		assert.Equal(t, upgrade.StateDone, st["hypervisors/"+h.Name+"/upgrade/sync"], h.Name)
		assert.Contains(t, h.run(t, ctx, "dpkg-query", "-W", "-f", "${Version}", "opennebula-node-kvm"), toVersion, h.Name)
	}
	assert.Equal(t, before, cb.hostStates(t, ctx), "hosts back to their states")

	// The followers were seeded by the real mysqldump of the leader's
	// upgraded database, restored by the real mariadb client.
	dump := cb.Frontend("fe2").run(t, ctx, "sh", "-c",
		`f=$(find /var/lib/one/backups -type f -name '*.sql' | sort | tail -n 1) && test -n "$f" && head -c 200 -- "$f"`)
	assert.Regexp(t, `^(/\*M!999999|-- MariaDB dump|-- MySQL dump)`, dump, "a real mysqldump file on the follower")

	// Negative control: one altered row in one follower's database is
	// reported, table named.
	leader, err := cb.Frontend("fe1").Checksums(ctx)
	require.NoError(t, err)
	admin := cb.Frontend("fe3").DB.Admin(t)
	res, err := admin.ExecContext(ctx, "UPDATE opennebula.host_pool SET body = CONCAT(body, ' ') ORDER BY oid LIMIT 1")
	require.NoError(t, err)
	n, err := res.RowsAffected()
	require.NoError(t, err)
	require.Equal(t, int64(1), n)
	altered, err := cb.Frontend("fe3").Checksums(ctx)
	require.NoError(t, err)
	err = onedb.Compare(leader, altered)
	me, ok := errors.AsType[*onedb.MismatchError](err)
	require.True(t, ok, "want a *onedb.MismatchError, got %v", err)
	assert.Equal(t, []string{"host_pool"}, me.Tables)
	assert.Empty(t, me.Routines)
	assert.Empty(t, me.Triggers)
	untouched, err := cb.Frontend("fe2").Checksums(ctx)
	require.NoError(t, err)
	assert.NoError(t, onedb.Compare(leader, untouched))

	t.Logf("total test wall time %s", time.Since(start).Round(time.Millisecond))
	if t.Failed() || testing.Verbose() {
		t.Logf("console:\n%s", console.String())
	}
}

// assertUpgraded checks every front-end over SSH: new code and database
// versions, services up, one leader and the followers in sync, and every
// follower's table checksums (taken through SSH port forwarding) equal
// the leader's.
func (cb *cloudBed) assertUpgraded(t *testing.T, ctx context.Context) {
	t.Helper()
	for _, fe := range cb.Frontends {
		assert.Contains(t, fe.run(t, ctx, "oned", "--version"), toVersion, fe.Name)
		v, err := onedb.Version(ctx, fe.Client, onedb.WithSudo())
		if assert.NoError(t, err, fe.Name) {
			assert.Equal(t, onedb.Current, v.Status, fe.Name)
			assert.Equal(t, toDBVersion, v.Shared.Version, fe.Name)
			assert.Equal(t, toDBVersion, v.Local.Version, fe.Name)
		}
		res, err := fe.Client.Run(ctx, transport.Query("systemctl", "is-active", "opennebula"))
		require.NoError(t, err)
		assert.Equal(t, "active\n", string(res.Stdout), fe.Name)
	}

	leaderFE := cb.Frontend("fe1")
	z, err := zone.WaitInSync(ctx, leaderFE.Client, 0, zone.WithTimeout(time.Minute),
		zone.WithPollInterval(250*time.Millisecond, 2*time.Second))
	require.NoError(t, err)
	leaders := z.Leaders()
	require.Len(t, leaders, 1, "onezone show: %+v", z.Servers)
	require.Len(t, z.Servers, 3)
	for _, s := range z.Servers {
		require.NotNil(t, s.Raft, s.Name)
		if s.Name == leaders[0].Name {
			continue
		}
		assert.Equal(t, zone.RaftFollower, s.State(), s.Name)
		assert.Equal(t, leaders[0].Raft.Commit, s.Raft.Commit, "%s commit", s.Name)
		assert.Equal(t, leaders[0].Raft.LogIndex, s.Raft.LogIndex, "%s log index", s.Name)
	}

	// Checksums of the leader's database (the server currently leading).
	leader := cb.Frontend(leaders[0].Name)
	require.NotNil(t, leader, leaders[0].Name)
	ls, err := leader.Checksums(ctx)
	require.NoError(t, err)
	require.Contains(t, ls.Tables, "host_pool")
	require.Contains(t, ls.Tables, "vm_pool")
	for _, fe := range cb.Frontends {
		if fe == leader {
			continue
		}
		fs, err := fe.Checksums(ctx)
		require.NoError(t, err, fe.Name)
		assert.NoError(t, onedb.Compare(ls, fs), "%s vs leader %s", fe.Name, leader.Name)
	}
	for _, fe := range cb.Frontends {
		assert.Positive(t, fe.dials.Load(), "%s: database reached through SSH (DialContext)", fe.Name)
	}
}

// hostStates returns every hypervisor's state in `onehost list` on fe1.
func (cb *cloudBed) hostStates(t *testing.T, ctx context.Context) map[string]host.State {
	t.Helper()
	hosts, err := host.List(ctx, cb.Frontend("fe1").Client)
	require.NoError(t, err)
	out := map[string]host.State{}
	for _, h := range hosts {
		out[h.Name] = h.State
	}
	require.Len(t, out, 3)
	return out
}

// stepStatus maps every step's full name to its status.
func stepStatus(rep upgrade.Report) map[string]string {
	out := map[string]string{}
	for _, s := range rep.Steps {
		out[s.Name] = s.Status
	}
	return out
}

// syncBuffer is a bytes.Buffer safe for the console's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
