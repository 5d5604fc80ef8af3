package controlplane_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	ossim "github.com/upgradekit/upgradekit/sim/openstack"
	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/upgrade"
	"github.com/upgradekit/upgradekit/upgrade/internal/proctest"
)

// TestSimRepositoryTokenNeverShown prints the repository token on the
// standard error of every command of every step and every rollback (and
// in the failure of keystone's schema expansion, which rolls everything
// back): the token appears in no error, event, log line, journal record
// or report.
func TestSimRepositoryTokenNeverShown(t *testing.T) {
	t.Parallel()
	const tok = "tok-0penstack-5ecret"
	line := "E: Failed to fetch http://" + tok + "@osbpo.debian.net/debian/InRelease  401  Unauthorized\n"
	r := newSim(t, topo)
	r.inv.Repository.Token = transport.NewSecret(tok)
	require.NoError(t, r.cloud.Inject(ossim.Fault{Node: "ctl1", Argv: []string{"keystone-manage"}, Contains: "--expand", Exit: 1, Stderr: line}))
	var shown proctest.LockedBuffer
	log := proctest.ShownLogger(&shown)
	journal := filepath.Join(t.TempDir(), "journal")
	store := upgrade.NewFileStore(journal)
	hosts := map[string]transport.Transport{}
	printed := 0
	var mu sync.Mutex
	for name, h := range r.cloud.Transports() {
		hosts[name] = leaky{Transport: h, line: line, count: func() { mu.Lock(); printed++; mu.Unlock() }}
	}
	console := upgrade.NewConsole(&shown)
	console.ShowOutput = true
	rep, err := r.runner(t, hosts, nil, upgrade.WithJournal(store), upgrade.WithLogger(log),
		upgrade.WithObserver(upgrade.JSONLines(&shown)), upgrade.WithObserver(console.Observe)).Run(context.Background())
	require.Error(t, err)
	pe, ok := errors.AsType[*upgrade.PartialError](err)
	require.True(t, ok, "%v", err)
	require.NotEmpty(t, pe.RolledBack, "the rollback ran")
	require.NoError(t, store.Close())
	proctest.ShowRun(&shown, rep, err)
	b, rerr := os.ReadFile(journal)
	require.NoError(t, rerr)
	_, _ = shown.Write(b)
	require.Positive(t, printed)
	proctest.NotShown(t, shown.String(), tok)
}

// leaky prints line on the standard error of every command.
type leaky struct {
	transport.Transport
	line  string
	count func()
}

func (l leaky) Host() string { return transport.HostName(l.Transport) }

func (l leaky) Run(ctx context.Context, c transport.Command) (transport.Result, error) {
	res, err := l.Transport.Run(ctx, c)
	l.count()
	if c.Stderr != nil {
		_, _ = io.WriteString(c.Stderr, l.line)
	} else {
		res.Stderr = append(res.Stderr, l.line...)
	}
	return res, err
}

func (l leaky) Upload(ctx context.Context, dst string, r io.Reader, opts transport.FileOptions) (transport.Transfer, error) {
	return transport.Upload(ctx, l.Transport, dst, r, opts)
}

func (l leaky) Download(ctx context.Context, src string, w io.Writer, opts transport.FileOptions) (transport.Transfer, error) {
	return transport.Download(ctx, l.Transport, src, w, opts)
}
