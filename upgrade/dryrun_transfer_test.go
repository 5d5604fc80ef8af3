package upgrade_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/transport/fake"
	"github.com/upgradekit/upgradekit/transport/local"
	"github.com/upgradekit/upgradekit/upgrade"
)

// runOnly hides every optional ability of a transport but Namer.
type runOnly struct {
	t    transport.Transport
	name string
}

func (r runOnly) Run(ctx context.Context, c transport.Command) (transport.Result, error) {
	return r.t.Run(ctx, c)
}
func (r runOnly) Close() error { return nil }
func (r runOnly) Host() string { return r.name }

// dialingFake is the strict fake plus a Dialer that hands out one end of
// an in-memory pipe.
type dialingFake struct {
	*fake.Transport
	dialed []string
	peer   chan net.Conn
}

func (d *dialingFake) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d.dialed = append(d.dialed, network+" "+addr)
	a, b := net.Pipe()
	d.peer <- b
	return a, nil
}

func TestDryRunUploadRecordedNotDone(t *testing.T) {
	t.Parallel()
	f := fake.New("fe1") // strict: no command may run
	rec := upgrade.NewRecorder()
	dry := upgrade.DryRun(f, "", rec)
	_, ok := dry.(transport.Uploader)
	require.True(t, ok)

	// A producer writing into a pipe must not block: the upload drains it.
	pr, pw := io.Pipe()
	content := strings.Repeat("x", 100_000)
	go func() { _, _ = io.Copy(pw, strings.NewReader(content)); _ = pw.Close() }()
	tr, err := transport.Upload(t.Context(), dry, "/etc/one/oned.conf", pr,
		transport.FileOptions{Mode: 0o640, Owner: "oneadmin", Group: "oneadmin", Sudo: true})
	require.NoError(t, err)
	sum := sha256.Sum256([]byte(content))
	assert.Equal(t, int64(len(content)), tr.Bytes)
	assert.Equal(t, hex.EncodeToString(sum[:]), tr.SHA256)

	_, err = transport.Upload(t.Context(), dry, "/tmp/plain", strings.NewReader("hi"), transport.FileOptions{})
	require.NoError(t, err)

	assert.Empty(t, f.Files(), "nothing written on the host")
	assert.Empty(t, f.Calls())
	f.AssertExpectations(t)

	cmds := rec.Commands(true)
	require.Len(t, cmds, 2)
	assert.Equal(t, upgrade.KindUpload, cmds[0].Kind)
	assert.False(t, cmds[0].ReadOnly)
	assert.Equal(t, "upload 100000 bytes to /etc/one/oned.conf (mode 0640, owner oneadmin:oneadmin, sudo)", cmds[0].Cmd)
	assert.Equal(t, "upload 2 bytes to /tmp/plain (mode 0644, owner unchanged)", cmds[1].Cmd)
	var text strings.Builder
	require.NoError(t, rec.WriteText(&text))
	assert.Contains(t, text.String(), "would     upload 100000 bytes to /etc/one/oned.conf")

	cctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = transport.Upload(cctx, dry, "/x", strings.NewReader("a"), transport.FileOptions{})
	assert.ErrorIs(t, err, context.Canceled)
}

func TestDryRunDownloadIsReal(t *testing.T) {
	t.Parallel()
	t.Run("wrapped Downloader", func(t *testing.T) {
		t.Parallel()
		f := fake.New("fe1")
		f.SetFile("/var/lib/one/backup.sql", []byte("dump"))
		rec := upgrade.NewRecorder()
		dry := upgrade.DryRun(f, "", rec)
		_, ok := dry.(transport.Downloader)
		require.True(t, ok)
		var buf bytes.Buffer
		tr, err := transport.Download(t.Context(), dry, "/var/lib/one/backup.sql", &buf, transport.FileOptions{})
		require.NoError(t, err)
		assert.Equal(t, "dump", buf.String())
		assert.Equal(t, int64(4), tr.Bytes)
		f.AssertExpectations(t)
		cmds := rec.Commands(false)
		require.Len(t, cmds, 1)
		assert.Equal(t, upgrade.RecordedCommand{Seq: 1, Host: "fe1", Cmd: "download /var/lib/one/backup.sql", ReadOnly: true, Kind: upgrade.KindDownload}, cmds[0])
		assert.Empty(t, rec.Commands(true), "a download changes nothing")
	})
	t.Run("streamed over Run", func(t *testing.T) {
		t.Parallel()
		lt, err := local.New()
		require.NoError(t, err)
		t.Cleanup(func() { _ = lt.Close() })
		src := filepath.Join(t.TempDir(), "f")
		require.NoError(t, os.WriteFile(src, []byte("streamed content\n"), 0o600))
		rec := upgrade.NewRecorder()
		dry := upgrade.DryRun(runOnly{lt, "lo"}, "", rec)
		var buf bytes.Buffer
		tr, err := transport.Download(t.Context(), dry, src, &buf, transport.FileOptions{})
		require.NoError(t, err)
		assert.Equal(t, "streamed content\n", buf.String())
		assert.Equal(t, int64(17), tr.Bytes)
		require.Len(t, rec.Commands(false), 1)
		assert.Equal(t, upgrade.KindDownload, rec.Commands(false)[0].Kind)

		_, err = transport.Download(t.Context(), dry, src+".missing", io.Discard, transport.FileOptions{})
		assert.Error(t, err)
	})
}

func TestDryRunDialer(t *testing.T) {
	t.Parallel()
	rec := upgrade.NewRecorder()
	_, ok := upgrade.DryRun(fake.New("fe1"), "", rec).(transport.Dialer)
	assert.False(t, ok, "no Dialer when the wrapped transport has none")

	d := &dialingFake{Transport: fake.New("fe1"), peer: make(chan net.Conn, 1)}
	dry := upgrade.DryRun(d, "", rec)
	dl, ok := dry.(transport.Dialer)
	require.True(t, ok)
	_, ok = dry.(transport.Namer)
	assert.True(t, ok)
	conn, err := dl.DialContext(t.Context(), "tcp", "127.0.0.1:3306")
	require.NoError(t, err)
	peer := <-d.peer
	go func() { _, _ = peer.Write([]byte("hello")); _ = peer.Close() }()
	got, err := io.ReadAll(conn)
	require.NoError(t, err)
	assert.Equal(t, "hello", string(got))
	require.NoError(t, conn.Close())
	assert.Equal(t, []string{"tcp 127.0.0.1:3306"}, d.dialed)
	cmds := rec.Commands(false)
	require.Len(t, cmds, 1)
	assert.Equal(t, "dial tcp 127.0.0.1:3306", cmds[0].Cmd)
	assert.True(t, cmds[0].ReadOnly)
	d.AssertExpectations(t)
}

// A read-only probe that needs a credentials file runs in a dry run:
// WithSecretFile's transient file is created and removed for real.
func TestDryRunLetsSecretFileProbeThrough(t *testing.T) {
	t.Parallel()
	const path = "/tmp/upgradekit-secret.AbCd1234"
	f := fake.New("fe1")
	f.Expect(fake.Prefix("/bin/sh", "-c")).Reply(path + "\n")
	f.Expect(fake.Exact("mariadb", "--defaults-extra-file="+path, "-e", "SELECT 1")).Reply("1\n")
	f.Expect(fake.Exact("rm", "-f", "--", path))
	rec := upgrade.NewRecorder()
	p := upgrade.NewPlan("p", upgrade.Func("probe", func(ctx context.Context, s *upgrade.State) error {
		t, err := s.HostTransport("fe1")
		if err != nil {
			return err
		}
		return transport.WithSecretFile(ctx, t, transport.NewSecret("pw"), false, func(p string) error {
			out, err := transport.Output(ctx, t, transport.Query("mariadb", "--defaults-extra-file="+p, "-e", "SELECT 1"))
			if err == nil {
				s.Output("stdout", string(out))
			}
			return err
		})
	}))
	r, err := upgrade.NewRunner(p, upgrade.WithHosts(map[string]transport.Transport{"fe1": f}), upgrade.WithDryRun(rec))
	require.NoError(t, err)
	_, err = r.Run(context.Background())
	require.NoError(t, err)
	f.AssertExpectations(t)
	assert.Empty(t, rec.Commands(true), "nothing mutating")
	assert.Len(t, rec.Commands(false), 3)
	for _, c := range f.Calls() {
		assert.NotContains(t, c.Command.String(), "pw\n")
	}
}
