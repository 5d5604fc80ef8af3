package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/transport/ssh"
	"github.com/upgradekit/upgradekit/upgrade"
	"github.com/upgradekit/upgradekit/upgrade/ha"
)

const sample = `
target: 7.4.1
repository:
  url: https://enterprise.opennebula.io/repo/{series}/Ubuntu/24.04
  token_env: TEST_ONE_TOKEN
ssh:
  user: root
  sudo: false
database:
  user: oneadmin
  name: opennebula
  password_env: TEST_ONE_DB_PW
zone:
  id: 0
  leader: fe2
  frontends:
    - {name: fe1, address: 10.0.0.11}
    - {name: fe2, address: 10.0.0.12}
    - {name: fe3, address: 10.0.0.13, server_id: 7}
  hypervisors:
    - {name: kvm1, address: 10.0.1.1}
    - {name: lxc1, address: lxc1.example, kind: lxc}
`

func TestParseFile(t *testing.T) {
	t.Setenv("TEST_ONE_TOKEN", "tok")
	t.Setenv("TEST_ONE_DB_PW", "pw")
	f, err := ParseFile([]byte(sample))
	require.NoError(t, err)
	inv, err := f.Inventory()
	require.NoError(t, err)
	assert.False(t, f.Sudo())
	assert.Equal(t, "tok", inv.Repository.Token.Reveal())
	assert.NotContains(t, fmt.Sprintf("%+v", inv), "tok")
	require.NotNil(t, inv.DB)
	assert.Equal(t, "pw", inv.DB.Password.Reveal())
	z := inv.Zones[0]
	assert.Equal(t, []int{0, 1, 7}, []int{z.Frontends[0].ServerID, z.Frontends[1].ServerID, z.Frontends[2].ServerID})
	assert.Equal(t, "lxc1.example", z.Hypervisors[1].Address)
	assert.Equal(t, "fe2", f.Zones[0].Leader)
}

func TestParseFileErrors(t *testing.T) {
	_, err := ParseFile([]byte("target: 7.4.1\ntypo: 1\n"))
	assert.Error(t, err, "unknown keys are refused")
	_, err = ParseFile([]byte("zone: {id: 0}\nzones: [{id: 1}]\n"))
	assert.Error(t, err)
	f, err := ParseFile([]byte("target: 7.4.1\nrepository: {url: x, token_env: TEST_UNSET_TOKEN_VAR}\nzone: {frontends: [{name: a, address: a}]}\n"))
	require.NoError(t, err)
	_, err = f.Inventory()
	assert.ErrorContains(t, err, "TEST_UNSET_TOKEN_VAR is not set")
	f, err = ParseFile([]byte("target: 7.4.1\nrepository: {url: x}\nzone: {frontends: [{name: a, address: a}]}\n"))
	require.NoError(t, err)
	inv, err := f.Inventory()
	require.NoError(t, err)
	assert.Equal(t, -1, inv.Zones[0].Frontends[0].ServerID, "a lone front-end is solo")
}

// Inventory mistakes that would send commands to the wrong machine, or a
// token into a URL, are refused with ha.ErrInvalidInventory before any
// host is contacted.
func TestInventoryRefusesAmbiguousHosts(t *testing.T) {
	t.Parallel()
	const head = "target: 7.4.1\nrepository: {url: 'https://enterprise.opennebula.io/repo/{series}/Ubuntu/24.04'}\n"
	tests := []struct {
		name, file, want string
	}{
		{"two front-ends at one address", head + "zone:\n  frontends:\n    - {name: fe1, address: 10.0.0.11}\n    - {name: fe2, address: 10.0.0.11}\n",
			"front-ends fe1 and fe2 have the same address 10.0.0.11"},
		{"front-end without address", head + "zone:\n  frontends:\n    - {name: fe1, address: 10.0.0.11}\n    - {name: fe2}\n",
			`front-end "fe2" has no address`},
		{"hypervisor without address", head + "zone:\n  frontends: [{name: fe1, address: 10.0.0.11}]\n  hypervisors: [{name: kvm1}]\n",
			`hypervisor "kvm1" has no address`},
		{"token in a query string", "target: 7.4.1\nrepository: {url: 'https://enterprise.opennebula.io/repo/{series}/Ubuntu/24.04?token=s3cr3t'}\n" +
			"zone: {frontends: [{name: fe1, address: 10.0.0.11}]}\n", "query string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := ParseFile([]byte(tt.file))
			require.NoError(t, err)
			_, err = f.Inventory()
			require.ErrorIs(t, err, ha.ErrInvalidInventory)
			assert.ErrorContains(t, err, tt.want)
			assert.NotContains(t, err.Error(), "s3cr3t")
		})
	}
}

// A known_hosts file named in the inventory that does not exist is
// refused, naming it, when the SSH clients are built: no host is dialled
// (127.0.0.1:1 would refuse the connection).
func TestSSHHostsMissingKnownHosts(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "known_hosts")
	f, err := ParseFile([]byte("target: 7.4.1\nrepository: {url: x}\nssh: {user: root, known_hosts: [" + missing + "]}\n" +
		"zone: {frontends: [{name: fe1, address: '127.0.0.1:1'}]}\n"))
	require.NoError(t, err)
	inv, err := f.Inventory()
	require.NoError(t, err)
	_, _, err = SSHHosts(f, inv)
	require.ErrorIs(t, err, ssh.ErrKnownHostsMissing)
	assert.ErrorContains(t, err, missing)
	assert.NotContains(t, err.Error(), "refused")
}

func TestExitCode(t *testing.T) {
	t.Parallel()
	assert.Equal(t, ExitOK, ExitCode(nil))
	assert.Equal(t, ExitOK, ExitCode(fmt.Errorf("x: %w", ha.ErrNothingToDo)))
	assert.Equal(t, ExitUsage, ExitCode(fmt.Errorf("x: %w", ErrUsage)))
	assert.Equal(t, ExitFailed, ExitCode(fmt.Errorf("%w: x", upgrade.ErrPreflight)))
	assert.Equal(t, ExitFailed, ExitCode(&upgrade.PartialError{Err: errors.New("x")}))
	assert.Equal(t, ExitResume, ExitCode(&upgrade.PartialError{Err: errors.New("x"), RollbackErr: &upgrade.NoReturnError{Step: "start"}}))
	assert.Equal(t, ExitResume, ExitCode(&upgrade.PartialError{Err: errors.New("x"), RollbackErr: errors.New("restore failed")}))
	assert.Equal(t, ExitResume, ExitCode(&upgrade.DirtyStepError{Step: "s"}))
}

func TestLeaderFromJournal(t *testing.T) {
	t.Parallel()
	inv := ha.Inventory{
		Target:     "7.4.1",
		Repository: ha.Repository{URL: SimRepoURL},
		Zones: []ha.Zone{{Frontends: []ha.Frontend{
			{Name: "fe1", ServerID: 0}, {Name: "fe2", ServerID: 1}, {Name: "fe3", ServerID: 2},
		}}},
	}
	build := func(l string) (*upgrade.Plan, error) { return ha.Plan(inv, ha.WithLeader(l)) }
	p, err := build("fe2")
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "j")
	store := upgrade.NewFileStore(path)
	require.NoError(t, store.Append(context.Background(), upgrade.Record{V: upgrade.JournalVersion, Type: upgrade.RecordPlan, Plan: p.Name(), Fingerprint: p.Fingerprint()}))
	require.NoError(t, store.Close())
	l, err := LeaderFromJournal(path, inv.Zones[0], build)
	require.NoError(t, err)
	assert.Equal(t, "fe2", l)
	_, err = LeaderFromJournal(filepath.Join(t.TempDir(), "none"), inv.Zones[0], build)
	assert.Error(t, err)
}

func TestDirectionFlag(t *testing.T) {
	t.Parallel()
	journal := filepath.Join(t.TempDir(), "j")
	require.NoError(t, os.WriteFile(journal, nil, 0o600))
	for _, tc := range []struct {
		f  Flags
		ok bool
	}{
		{Flags{Inventory: "i", Concurrency: 1, Journal: journal, Resume: true, Direction: "backward"}, true},
		{Flags{Inventory: "i", Concurrency: 1, Journal: journal, Resume: true, Direction: "forward"}, true},
		{Flags{Inventory: "i", Concurrency: 1, Journal: journal, Resume: true, Direction: "back"}, false},
		{Flags{Inventory: "i", Concurrency: 1, Journal: journal + "-none", Direction: "forward"}, false},
	} {
		err := tc.f.Check()
		if tc.ok {
			assert.NoError(t, err, "%+v", tc.f)
		} else {
			assert.ErrorIs(t, err, ErrUsage, "%+v", tc.f)
		}
	}
}
