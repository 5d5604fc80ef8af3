package cli_test

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/upgradekit/upgradekit/examples/internal/cli"
	"github.com/upgradekit/upgradekit/upgrade/ha"
)

func TestParse(t *testing.T) {
	t.Parallel()
	journal := filepath.Join(t.TempDir(), "j")
	for _, tc := range []struct {
		name    string
		args    []string
		check   error
		ok      bool
		wantErr string
	}{
		{name: "ok", ok: true},
		{name: "unknown flag", args: []string{"--bogus"}, wantErr: "flag provided but not defined: -bogus"},
		{name: "positional", args: []string{"extra"}, wantErr: "x-upgrade: unexpected arguments [\"extra\"]\n"},
		{name: "check", check: errors.New("no"), wantErr: "x-upgrade: no\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var stderr bytes.Buffer
			fs := cli.NewFlagSet("x-upgrade", &stderr)
			var f cli.Flags
			f.Register(fs, journal)
			ok := cli.Parse(fs, tc.args, func() error { return tc.check })
			assert.Equal(t, tc.ok, ok)
			if tc.wantErr == "" {
				assert.Empty(t, stderr.String())
			} else {
				assert.Contains(t, stderr.String(), tc.wantErr)
			}
		})
	}
}

func TestExit(t *testing.T) {
	t.Parallel()
	var stderr bytes.Buffer
	fs := cli.NewFlagSet("x-upgrade", &stderr)
	assert.Equal(t, cli.ExitOK, cli.Exit(fs, cli.ExitOK, nil))
	assert.Empty(t, stderr.String())
	assert.Equal(t, cli.ExitResume, cli.Exit(fs, cli.ExitResume, errors.New("boom")))
	assert.Equal(t, "x-upgrade: boom\n", stderr.String())
}

func TestInfo(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	assert.Same(t, &stdout, (&cli.Flags{}).Info(&stdout, &stderr))
	assert.Same(t, &stderr, (&cli.Flags{JSON: true}).Info(&stdout, &stderr))
}

func TestOneZone(t *testing.T) {
	t.Parallel()
	assert.NoError(t, cli.OneZone(ha.Inventory{Zones: []ha.Zone{{}}}))
	assert.EqualError(t, cli.OneZone(ha.Inventory{}), "the inventory must have exactly one zone, it has 0")
}
