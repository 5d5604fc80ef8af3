package controlplane_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/openstack"
	"github.com/upgradekit/upgradekit/system"
	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/transport/fake"
	"github.com/upgradekit/upgradekit/upgrade"
	"github.com/upgradekit/upgradekit/upgrade/controlplane"
)

const keystoneListing = `dir /k
head EXPAND_HEAD 29e87d24a316
head CONTRACT_HEAD e25ffa003242
file a.py
line a.py revision = '27e647c0fad4'
line a.py down_revision = None
file b.py
line b.py revision = '29e87d24a316'
line b.py down_revision = '27e647c0fad4'
file c.py
line c.py revision = 'e25ffa003242'
line c.py down_revision = '27e647c0fad4'
`

// TestDryRunKeystone: read-only probes (versions, schema, upgrade checks)
// run for real on the fake node; package upgrades and restarts are only
// recorded; backups, contract and data migrations describe themselves.
func TestDryRunKeystone(t *testing.T) {
	t.Parallel()
	ks, _ := openstack.DefaultCatalog().Service("keystone")
	cat, err := openstack.NewCatalog(ks)
	require.NoError(t, err)
	sys, err := system.New(system.WithPackageManager(system.Apt))
	require.NoError(t, err)
	p, err := controlplane.Plan(controlplane.Inventory{Controllers: []string{"ctl1"}, Family: openstack.Debian},
		controlplane.WithCatalog(cat), controlplane.WithSystem(sys))
	require.NoError(t, err)

	f := fake.New("ctl1")
	f.SetFile("/etc/keystone/keystone.conf", []byte("[database]\nconnection = mysql+pymysql://keystone:pw@db/keystone\n"))
	// The dry-run wrapper downloads over Run (a read-only stream): serve
	// the file table through it.
	f.Expect(fake.Func(func(c transport.Command) bool {
		return c.Path == "/bin/sh" && len(c.Args) > 1 && strings.Contains(c.Args[1], "upgradekit-sha256")
	})).Handle(func(_ context.Context, c transport.Command) (transport.Result, error) {
		file, ok := f.File(c.Args[len(c.Args)-1])
		if !ok {
			return transport.Result{ExitCode: 1, Stderr: []byte("no such file")}, nil
		}
		if _, err := c.Stdout.Write(file.Data); err != nil {
			return transport.Result{}, err
		}
		sum := sha256.Sum256(file.Data)
		return transport.Result{Stderr: []byte("upgradekit-sha256 " + hex.EncodeToString(sum[:]) + "\n")}, nil
	}).Any()
	f.Expect(fake.Exact("dpkg-query", "-W", "-f=${Version}", "--", "python3-keystone")).Reply("2:22.0.2-0+deb12u6").Any()
	f.Expect(fake.Func(func(c transport.Command) bool {
		return c.Path == "/bin/sh" && len(c.Args) > 1 && strings.Contains(c.Args[1], "find_spec")
	})).Reply(keystoneListing).Any()
	f.Expect(fake.Func(func(c transport.Command) bool { return c.Path == "mariadb" })).Handle(
		func(_ context.Context, c transport.Command) (transport.Result, error) {
			sql, _ := io.ReadAll(c.Stdin)
			if strings.Contains(string(sql), "information_schema") {
				return transport.Result{Stdout: []byte("alembic_version\n")}, nil
			}
			return transport.Result{Stdout: []byte("29e87d24a316\ne25ffa003242\n")}, nil
		}).Any()
	f.Expect(fake.Prefix("keystone-status")).Reply(`{"name": "Upgrade Check Results", "checks": [{"check": "Trust policies are not empty", "result": 0, "details": null}]}`).Times(3)

	rec := upgrade.NewRecorder()
	var out []string
	r, err := upgrade.NewRunner(p, upgrade.WithHosts(map[string]transport.Transport{"ctl1": f}), upgrade.WithDryRun(rec),
		upgrade.WithObserver(func(e upgrade.Event) {
			if e.Kind == upgrade.EventOutput {
				out = append(out, e.Line)
			}
		}))
	require.NoError(t, err)
	_, err = r.Run(context.Background())
	require.NoError(t, err)
	f.AssertExpectations(t)

	var would []string
	for _, c := range rec.Commands(true) {
		would = append(would, c.Cmd)
	}
	joined := strings.Join(would, "\n")
	assert.Contains(t, joined, "keystone")
	assert.Contains(t, joined, "systemctl")
	for _, c := range f.Calls() {
		assert.True(t, c.Command.ReadOnly, "only read-only commands reach the node: %s", c.Command)
	}
	text := strings.Join(out, "\n")
	assert.Contains(t, text, "would dump and verify every service database")
	assert.Contains(t, text, "keystone: database keystone [29e87d24a316 e25ffa003242] is at the installed tool's head (python3-keystone 2:22.0.2-0+deb12u6)")
	// The database is at the installed tool's heads: nothing to contract
	// as far as a dry run can tell, and it says so.
	assert.NotContains(t, text, "would contract")
	assert.Contains(t, text, "keystone: nothing to contract with the installed python3-keystone 2:22.0.2-0+deb12u6; the contract step runs only if the new release's tools find contract migrations pending")
}
