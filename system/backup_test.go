package system_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/sim"
	"github.com/upgradekit/upgradekit/system"
	"github.com/upgradekit/upgradekit/transport/local"
)

// /etc/one is often a mount point (a volume in a container): rename(2)
// and rmdir(2) refuse it with EBUSY, so RestoreDir must restore the
// contents and leave the directory entry where it is.
func TestRestoreDirMountPointSim(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c, err := sim.HA(1, "7.2.0")
	require.NoError(t, err)
	fe, err := c.Frontend("fe1")
	require.NoError(t, err)
	now := time.Date(2026, 11, 21, 9, 5, 7, 0, time.UTC)
	s, err := system.New(system.WithClock(func() time.Time { return now }))
	require.NoError(t, err)
	require.NoError(t, c.SetMountPoint("fe1", "/etc/one", true))
	before, err := s.Manifest(ctx, fe, "/etc/one")
	require.NoError(t, err)
	require.NotEmpty(t, before)

	backup, err := s.BackupDir(ctx, fe, "/etc/one")
	require.NoError(t, err)
	require.NoError(t, c.WriteFile("fe1", "/etc/one/oned.conf", []byte("broken\n"), 0o640))
	require.NoError(t, c.WriteFile("fe1", "/etc/one/.new-hidden", []byte("x\n"), 0o600))

	require.NoError(t, s.RestoreDir(ctx, fe, backup, "/etc/one"))
	after, err := s.Manifest(ctx, fe, "/etc/one")
	require.NoError(t, err)
	assert.Equal(t, before, after, "contents restored, temporary directories gone")
	assert.True(t, c.Exists("fe1", backup), "the backup stays")
}

// The same restore on a real directory, and on a real bind mount when the
// test runs as root and may mount (as Linux does in containers).
func TestRestoreDirReal(t *testing.T) {
	t.Parallel()
	for _, mount := range []bool{false, true} {
		name := "directory"
		if mount {
			name = "bind-mount"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s, err := system.New(system.WithSudo(false))
			require.NoError(t, err)
			l, err := local.New(local.WithHostName("fe1"))
			require.NoError(t, err)
			t.Cleanup(func() { _ = l.Close() })
			root := t.TempDir()
			dir := filepath.Join(root, "one")
			require.NoError(t, os.Mkdir(dir, 0o750))
			if mount {
				src := filepath.Join(root, "volume")
				require.NoError(t, os.Mkdir(src, 0o750))
				if os.Geteuid() != 0 {
					t.Skip("bind mounts need root")
				}
				if out, err := exec.Command("mount", "--bind", src, dir).CombinedOutput(); err != nil {
					t.Skipf("cannot bind mount here: %v: %s", err, out)
				}
				t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
				// Linux itself refuses to rename a mount point.
				require.Error(t, os.Rename(dir, dir+".x"))
			}
			require.NoError(t, os.WriteFile(filepath.Join(dir, "oned.conf"), []byte("ok\n"), 0o640))
			require.NoError(t, os.WriteFile(filepath.Join(dir, ".hidden"), []byte("h\n"), 0o600))
			require.NoError(t, os.MkdirAll(filepath.Join(dir, "auth", "certificates"), 0o700))
			require.NoError(t, os.WriteFile(filepath.Join(dir, "auth", "certificates", "ca.pem"), []byte("pem\n"), 0o600))
			require.NoError(t, os.Symlink("oned.conf", filepath.Join(dir, "link.conf")))
			before, err := s.Manifest(ctx, l, dir)
			require.NoError(t, err)
			backup, err := s.BackupDir(ctx, l, dir)
			require.NoError(t, err)

			require.NoError(t, os.WriteFile(filepath.Join(dir, "oned.conf"), []byte("broken\n"), 0o644))
			require.NoError(t, os.WriteFile(filepath.Join(dir, "..new"), []byte("x\n"), 0o644))
			require.NoError(t, os.RemoveAll(filepath.Join(dir, "auth")))
			require.NoError(t, os.Chmod(dir, 0o755))
			// Leftovers of a restore killed half way are cleaned up.
			require.NoError(t, os.Mkdir(filepath.Join(dir, ".upgradekit-restore.killed"), 0o700))

			require.NoError(t, s.RestoreDir(ctx, l, backup, dir))
			after, err := s.Manifest(ctx, l, dir)
			require.NoError(t, err)
			assert.Equal(t, before, after)
			st, err := os.Stat(dir)
			require.NoError(t, err)
			assert.Equal(t, os.FileMode(0o750), st.Mode().Perm(), "the directory's own mode is restored too")
			entries, err := os.ReadDir(root)
			require.NoError(t, err)
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			want := []string{"one", filepath.Base(backup)}
			if mount {
				want = append(want, "volume")
			}
			assert.ElementsMatch(t, want, names, "nothing left beside the directory")
		})
	}
}
