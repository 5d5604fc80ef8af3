package upgrade_test

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/internal/testbed"
	"github.com/upgradekit/upgradekit/transport"
	sshx "github.com/upgradekit/upgradekit/transport/ssh"
	"github.com/upgradekit/upgradekit/upgrade"
)

// slowStep appends start-<attempt> to file, sleeps, then appends
// end-<attempt>: a long command that is not idempotent.
const slowScript = `echo "start-$2" >>"$1"; sleep 2; echo "end-$2" >>"$1"`

// A runner killed while its remote command runs (its SSH connection cut,
// as when the process is SIGKILLed) leaves that command running on the
// host; the resumed run finds its mark, waits for it to end, and only
// then runs the step again: the two attempts never overlap. Real sshd on
// loopback.
func TestResumeWaitsForLeftoverCommandOverSSH(t *testing.T) {
	t.Parallel()
	bed := testbed.New(t, testbed.Config{FirstAddr: netip.MustParseAddr("127.23.1.1"), Port: 22301})
	h := bed.Hosts[0]
	cfg := sshx.NewConfig(h.HostPort())
	cfg.Name, cfg.User = h.Name, bed.User
	cfg.IdentityFiles, cfg.KnownHostsFiles = []string{bed.ClientKeyFile}, []string{bed.KnownHostsFile}
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	marks := filepath.Join(dir, "marks")
	journal := upgrade.NewFileStore(filepath.Join(dir, "journal"))
	t.Cleanup(func() { _ = journal.Close() })

	var (
		mu      sync.Mutex
		attempt = "1"
	)
	plan := upgrade.NewPlan("p", upgrade.Func("slow", func(ctx context.Context, s *upgrade.State) error {
		t, err := s.HostTransport(h.Name)
		if err != nil {
			return err
		}
		mu.Lock()
		a := attempt
		mu.Unlock()
		return transport.Check(ctx, t, transport.Shell(slowScript, out, a))
	}))
	run := func(c *sshx.Client, obs func(upgrade.Event)) error {
		r, err := upgrade.NewRunner(plan, upgrade.WithHosts(map[string]transport.Transport{h.Name: c}),
			upgrade.WithJournal(journal), upgrade.WithoutRollback(), upgrade.WithObserver(obs),
			upgrade.WithRemoteMarks(marks, 100*time.Millisecond))
		require.NoError(t, err)
		_, err = r.Run(t.Context())
		return err
	}

	// The first runner's connection is cut as soon as its command started.
	first, err := sshx.New(cfg)
	require.NoError(t, err)
	cut := make(chan struct{})
	go func() {
		defer close(cut)
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if b, _ := os.ReadFile(out); strings.Contains(string(b), "start-1") {
				_ = first.Close()
				return
			}
		}
	}()
	require.Error(t, run(first, func(upgrade.Event) {}), "the first run lost its connection")
	<-cut
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	require.Equal(t, "start-1\n", string(b), "the first attempt is still running on the host")

	// Resume at once.
	mu.Lock()
	attempt = "2"
	mu.Unlock()
	second, err := sshx.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = second.Close() })
	var waits []upgrade.Event
	require.NoError(t, run(second, func(e upgrade.Event) {
		if e.Kind == upgrade.EventLeftoverWait {
			waits = append(waits, e)
		}
	}))
	b, err = os.ReadFile(out)
	require.NoError(t, err)
	assert.Equal(t, "start-1\nend-1\nstart-2\nend-2\n", string(b), "the resume waited for the leftover before running the step again")
	if assert.NotEmpty(t, waits, "the resume said what it waited for") {
		assert.Equal(t, "slow", waits[0].Step)
		assert.Contains(t, waits[0].Reason, "still runs")
	}
	entries, err := os.ReadDir(marks)
	require.NoError(t, err)
	assert.Empty(t, entries, "no mark left once the commands ended")
}
