package controlplane_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	ossim "github.com/upgradekit/upgradekit/sim/openstack"
	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/upgrade"
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
	var shown syncBuf
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewDevelopmentEncoderConfig()), zapcore.AddSync(&shown), zap.DebugLevel))
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
	_ = rep.WriteJSON(&shown)
	_ = rep.WriteText(&shown)
	for e := error(err); e != nil; e = errors.Unwrap(e) {
		fmt.Fprintf(&shown, "%v\n", e)
	}
	b, rerr := os.ReadFile(journal)
	require.NoError(t, rerr)
	_, _ = shown.Write(b)
	require.Positive(t, printed)
	out := shown.String()
	if i := strings.Index(out, tok); i >= 0 {
		t.Errorf("the token leaked (%d times), first here:\n%s", strings.Count(out, tok), out[max(0, i-500):min(len(out), i+100)])
	}
	assert.Contains(t, out, "[REDACTED]")
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

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
