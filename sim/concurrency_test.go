package sim

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/transport"
)

// TestConcurrentRuns drives every node from many goroutines (run with
// -race): reads, writes, shell pipelines and transfers at once.
func TestConcurrentRuns(t *testing.T) {
	t.Parallel()
	c, err := HA(3, "7.2.0", WithLoginUser("root"))
	require.NoError(t, err)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := 0; i < 12; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fe := c.MustFrontend([]string{"fe1", "fe2", "fe3"}[i%3])
			for j := 0; j < 10; j++ {
				for _, cmd := range []transport.Command{
					transport.Query("onezone", "show", "0", "-x"),
					transport.Cmd("onehost", "disable", "0"),
					transport.Shell(`cat /etc/one/oned.conf | sha256sum | tee /var/tmp/sum.$1 >/dev/null`, fmt.Sprint(i)),
					transport.Query("onevm", "list", "-x"),
				} {
					res, err := fe.Run(ctx, cmd)
					if err != nil {
						errs <- err
						return
					}
					if res.ExitCode != 0 {
						errs <- fmt.Errorf("%s: exit %d: %s", cmd, res.ExitCode, res.Stderr)
						return
					}
				}
				if _, err := transport.Upload(ctx, fe, fmt.Sprintf("/var/tmp/u%d", i), bytes.NewReader([]byte("x")), transport.FileOptions{}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for k := 0; k < 50; k++ {
			_ = c.Events()
			_ = c.APIDowntime(0)
			_, _ = c.Status("fe2")
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
	st, err := c.Status("fe3")
	require.NoError(t, err)
	assert.Equal(t, int64(184233+120), st.LogIndex, "every write replicated")
}

func TestSaveLoadRoundTrip(t *testing.T) {
	t.Parallel()
	c, err := Federation("7.2.0")
	require.NoError(t, err)
	ok(t, c, "fr-fe1", "onehost", "offline", "0")
	ok(t, c, "ge-fe2", "systemctl", "stop", "opennebula")
	var buf bytes.Buffer
	require.NoError(t, c.Save(&buf))
	d, err := Load(&buf)
	require.NoError(t, err)
	assert.Equal(t, c.Now(), d.Now())
	for _, n := range []string{"fr-fe1", "ge-fe1", "us-fe1"} {
		ep := []string{"--endpoint", "http://localhost:2633/RPC2"}
		assert.Equal(t, ok(t, c, n, append([]string{"onezone", "list", "-x"}, ep...)...), ok(t, d, n, append([]string{"onezone", "list", "-x"}, ep...)...))
		a, err := c.TableChecksums(n)
		require.NoError(t, err)
		b, err := d.TableChecksums(n)
		require.NoError(t, err)
		assert.Equal(t, a, b)
	}
	assert.Equal(t, ok(t, c, "fr-fe3", "onehost", "list", "-x"), ok(t, d, "fr-fe3", "onehost", "list", "-x"))
	conf, err := d.ReadFile("ge-fe3", "/etc/one/oned.conf")
	require.NoError(t, err)
	assert.Contains(t, string(conf), `MODE             = "SLAVE"`)
	_, err = Load(bytes.NewReader([]byte(`{"zones":[]}`)))
	assert.ErrorIs(t, err, ErrBadSpec)
}

func TestParseMariaDB(t *testing.T) {
	t.Parallel()
	m, err := ParseMariaDB("oneadmin:s3cr:et@127.0.0.1:3306/one")
	require.NoError(t, err)
	assert.Equal(t, MariaDB{Host: "127.0.0.1", Port: 3306, User: "oneadmin", Password: m.Password, Name: "one", Dump: "mysqldump", Client: "mariadb"}, m)
	assert.Equal(t, "s3cr:et", m.Password.Reveal())
	for _, bad := range []string{"nohost", "u:p@127.0.0.1/one", "u:p@127.0.0.1:x/one"} {
		_, err := ParseMariaDB(bad)
		assert.ErrorIs(t, err, ErrBadSpec, bad)
		if err != nil {
			assert.NotContains(t, err.Error(), ":p@", "no password in errors")
		}
	}
}

// TestInvokeRealFiles: the multi-call entry point with the node's files on
// a real directory tree (copied out of the saved state the first time).
func TestInvokeRealFiles(t *testing.T) {
	t.Parallel()
	state, root := t.TempDir(), t.TempDir()
	c, err := Solo("7.4.0")
	require.NoError(t, err)
	require.NoError(t, Init(state, c))
	inv := func(argv ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code, err := Invoke(context.Background(), Invocation{StateDir: state, Node: "fe1", Argv: argv, User: "root",
			Stdout: &out, Stderr: &errb, RealFiles: true, FilesRoot: root})
		require.NoError(t, err)
		return code, out.String(), errb.String()
	}
	code, out, _ := inv("onedb", "backup", "-f", "--", "/var/tmp/x.sql")
	require.Equal(t, 0, code)
	assert.Equal(t, "MySQL dump stored in /var/tmp/x.sql\n", strings.SplitAfter(out, "\n")[0])
	b, err := os.ReadFile(filepath.Join(root, "var/tmp/x.sql"))
	require.NoError(t, err)
	assert.Contains(t, string(b), "USE `opennebula`;")
	conf, err := os.ReadFile(filepath.Join(root, "etc/one/oned.conf"))
	require.NoError(t, err)
	assert.Contains(t, string(conf), "SERVER_ID        = -1,")
	code, _, _ = inv("systemctl", "stop", "opennebula")
	require.Equal(t, 0, code)
	code, out, errs := inv("onedb", "restore", "-f", "--", "/var/tmp/x.sql")
	assert.Equal(t, 0, code, errs)
	assert.Equal(t, "MySQL DB opennebula at localhost restored.\n", out)
	_, err = Invoke(context.Background(), Invocation{StateDir: t.TempDir(), Node: "fe1", Argv: []string{"true"}})
	assert.ErrorIs(t, err, ErrNoState)
}

func TestBigCloudStaysFast(t *testing.T) {
	t.Parallel()
	c, err := HA(3, "7.2.0", WithHypervisors(100), WithVMsPerHost(10))
	require.NoError(t, err)
	assert.Len(t, c.Hypervisors(), 100)
	out := ok(t, c, "fe1", "onevm", "list", "-x")
	assert.Equal(t, 1000, strings.Count(out, "<VM>"))
	for i := 0; i < 20; i++ {
		ok(t, c, "fe1", "onehost", "disable", fmt.Sprint(i))
	}
	st, err := c.Status("fe3")
	require.NoError(t, err)
	assert.Equal(t, int64(184253), st.LogIndex)
}
