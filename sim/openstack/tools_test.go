package ossim_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	ossim "github.com/upgradekit/upgradekit/sim/openstack"
	"github.com/upgradekit/upgradekit/transport"
)

func run(t *testing.T, tr transport.Transport, argv ...string) transport.Result {
	t.Helper()
	res, err := tr.Run(context.Background(), transport.Cmd(argv[0], argv[1:]...))
	require.NoError(t, err)
	return res
}

// upgradeControllerPackages points ctl1 at the next release and
// upgrades every tool package, as a procedure would before migrating.
func upgradeControllerPackages(t *testing.T, c *ossim.Cloud) transport.Transport {
	t.Helper()
	ctl, _ := c.Transport("ctl1")
	require.NoError(t, c.WriteFile("ctl1", "/etc/apt/sources.list.d/antelope.list", []byte("deb http://osbpo.debian.net/debian bookworm-antelope-backports main\n"), 0o644))
	require.Zero(t, run(t, ctl, "apt-get", "update").ExitCode)
	res := run(t, ctl, append([]string{"apt-get", "install", "--only-upgrade", "-y"}, c.Packages("ctl1")...)...)
	require.Zero(t, res.ExitCode, "%s", res.Stderr)
	return ctl
}

// The exit codes the real tools give, state by state.
func TestToolExitCodes(t *testing.T) {
	t.Parallel()
	c := newCloud(t)
	ctl := upgradeControllerPackages(t, c)
	ks := []string{"keystone-manage", "--config-file", "/etc/keystone/keystone.conf", "db_sync"}
	gl := []string{"glance-manage", "db"}
	nt := []string{"neutron-db-manage", "--config-file", "/etc/neutron/neutron.conf"}
	steps := []struct {
		argv []string
		code int
		out  string
	}{
		{append(ks, "--check"), 0, "up-to-date"}, // keystone 23: the bug, expand pending
		{append(ks, "--contract"), 1, "contract ahead of expand"},
		{append(ks, "--expand", "--contract"), 2, "not allowed"},
		{append(ks, "--expand"), 0, ""},
		{append(ks, "--migrate"), 0, "no-op"},
		{append(ks, "--check"), 0, ""},
		{append(ks, "--contract"), 0, ""},
		{[]string{"keystone-manage", "token_flush"}, 2, "invalid choice"},
		{append(gl, "check"), 3, "db expand"},
		{append(gl, "contract"), 1, "before database expansion"},
		{append(gl, "expand"), 0, "2023_1_expand01"},
		{append(gl, "check"), 5, "db contract"},
		{append(gl, "contract"), 0, "2023_1_contract01"},
		{append(gl, "check"), 0, "up to date"},
		{append(gl, "version"), 0, "2023_1_contract01"},
		{append(nt, "has_offline_migrations"), 1, "contract branch"},
		{append(nt, "upgrade", "--expand"), 0, "OK"},
		{append(nt, "upgrade", "--contract"), 0, "OK"},
		{append(nt, "has_offline_migrations"), 0, "No offline"},
		{[]string{"nova-manage", "api_db", "sync"}, 0, ""},
		{[]string{"nova-manage", "db", "sync"}, 0, ""},
		{[]string{"nova-manage", "db", "online_data_migrations", "--max-count", "0"}, 127, ""},
		{[]string{"nova-manage", "db", "online_data_migrations", "--max-count", "30"}, 1, "populate_user_id"},
		{[]string{"nova-manage", "db", "online_data_migrations", "--max-count", "30"}, 1, ""},
		{[]string{"nova-manage", "db", "online_data_migrations", "--max-count", "30"}, 0, ""},
		{[]string{"cinder-manage", "db", "sync"}, 0, ""},
		{[]string{"cinder-manage", "db", "online_data_migrations", "--max-count", "5"}, 2, "unrecognized"},
		{[]string{"cinder-manage", "db", "online_data_migrations", "--max_count", "50"}, 1, ""},
		{[]string{"cinder-manage", "db", "online_data_migrations"}, 0, ""},
		{[]string{"nova-status", "upgrade", "check", "--json"}, 2, ""},
		{[]string{"nova-status", "upgrade", "check"}, 0, "| Check: Cells v2"},
		{[]string{"placement-status", "upgrade", "check", "--json"}, 0, "| Upgrade Check Results"},
		{[]string{"cinder-status", "upgrade", "check", "--json"}, 0, `{"name": "Upgrade Check Results", "checks": [{"check": "Backup Driver Path", "result": 0, "details": null}`},
		{[]string{"heat-manage", "db_version"}, 0, "86"},
		{[]string{"nosuchtool"}, 127, ""},
	}
	for _, s := range steps {
		res := run(t, ctl, s.argv...)
		assert.Equal(t, s.code, res.ExitCode, "%v: %s%s", s.argv, res.Stdout, res.Stderr)
		assert.Contains(t, string(res.Stdout)+string(res.Stderr), s.out, "%v", s.argv)
	}
	c.SetDatabaseDown(true)
	for _, s := range []struct {
		argv []string
		code int
	}{
		{[]string{"nova-manage", "api_db", "sync"}, 255},
		{[]string{"nova-status", "upgrade", "check"}, 255},
		{[]string{"cinder-status", "upgrade", "check", "--json"}, 255},
		{[]string{"glance-status", "upgrade", "check", "--json"}, 0}, // config-only checks
		{[]string{"heat-manage", "db_sync"}, 1},
		{[]string{"placement-manage", "db", "online_data_migrations"}, 2},
		{[]string{"mariadb", "--user=nova", "--host=dbhost", "--", "nova"}, 1},
	} {
		res := run(t, ctl, s.argv...)
		assert.Equal(t, s.code, res.ExitCode, "%v: %s%s", s.argv, res.Stdout, res.Stderr)
	}
}

func TestServicesNeedTheirSchema(t *testing.T) {
	t.Parallel()
	c := newCloud(t)
	ctl := upgradeControllerPackages(t, c)
	res := run(t, ctl, "systemctl", "restart", "--", "nova-api")
	assert.Equal(t, 1, res.ExitCode, "new nova code on the old schema does not start")
	assert.Contains(t, c.APIDowntime(), "nova")
	assert.Equal(t, 3, run(t, ctl, "systemctl", "is-active", "--", "nova-api").ExitCode)
	require.Zero(t, run(t, ctl, "nova-manage", "api_db", "sync").ExitCode)
	require.Zero(t, run(t, ctl, "nova-manage", "db", "sync").ExitCode)
	require.Zero(t, run(t, ctl, "systemctl", "restart", "--", "nova-conductor", "nova-api").ExitCode)
	assert.Equal(t, 0, run(t, ctl, "systemctl", "is-active", "--", "nova-api").ExitCode)
	v := c.Violations()
	require.NotEmpty(t, v)
	assert.Contains(t, strings.Join(v, "\n"), "nova-api failed to start")
	assert.Contains(t, strings.Join(v, "\n"), "unpinned while nova-compute on cmp1 runs zed")
	assert.NotContains(t, strings.Join(v, "\n"), "nova-api started on 2023.1 while nova-conductor", "conductor started first")

	n, err := ossim.New(ossim.Topology{Controllers: []string{"ctl1"}, Networks: []string{"ctl1"}})
	require.NoError(t, err)
	nctl := upgradeControllerPackages(t, n)
	require.Zero(t, run(t, nctl, "neutron-db-manage", "upgrade", "--expand").ExitCode)
	require.Zero(t, run(t, nctl, "systemctl", "restart", "--", "neutron-openvswitch-agent").ExitCode)
	assert.Contains(t, strings.Join(n.Violations(), "\n"), "neutron-openvswitch-agent started on 2023.1 while neutron-api on ctl1 still runs zed")
}

func TestFaultsAndUnreachable(t *testing.T) {
	t.Parallel()
	c := newCloud(t)
	ctl, _ := c.Transport("ctl1")
	require.NoError(t, c.Inject(ossim.Fault{Argv: []string{"systemctl", "restart"}, Skip: 1, Times: 1, Exit: 1, Stderr: "boom"}))
	assert.Zero(t, run(t, ctl, "systemctl", "restart", "--", "keystone").ExitCode)
	res := run(t, ctl, "systemctl", "restart", "--", "keystone")
	assert.Equal(t, 1, res.ExitCode)
	assert.Equal(t, "boom", string(res.Stderr))
	assert.Zero(t, run(t, ctl, "systemctl", "restart", "--", "keystone").ExitCode)
	require.NoError(t, c.SetUnreachable("ctl1", true))
	_, err := ctl.Run(context.Background(), transport.Cmd("true"))
	assert.ErrorIs(t, err, transport.ErrConnectionLost)
	c.ClearFaults()
	_, err = ctl.Run(context.Background(), transport.Cmd("systemctl", "is-active", "--", "keystone"))
	assert.NoError(t, err)
	assert.Error(t, c.Inject(ossim.Fault{}))
	assert.Error(t, c.Inject(ossim.Fault{Node: "nope", Argv: []string{"x"}}))
}

func TestGlanceDataMigration(t *testing.T) {
	t.Parallel()
	c := newCloud(t, ossim.WithPendingDataMigrations("glance", 4))
	ctl := upgradeControllerPackages(t, c)
	for _, s := range []struct {
		args []string
		code int
	}{
		{[]string{"check"}, 3}, {[]string{"expand"}, 0}, {[]string{"check"}, 4}, {[]string{"contract"}, 1},
		{[]string{"migrate"}, 0}, {[]string{"check"}, 5}, {[]string{"contract"}, 0}, {[]string{"check"}, 0},
	} {
		res := run(t, ctl, append([]string{"glance-manage", "db"}, s.args...)...)
		assert.Equal(t, s.code, res.ExitCode, "%v: %s%s", s.args, res.Stdout, res.Stderr)
	}
}
