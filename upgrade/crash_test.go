package upgrade_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/transport/fake"
	"github.com/upgradekit/upgradekit/upgrade"
)

// The crash tests run the runner in a child process (this test binary,
// re-executed with UPGRADEKIT_HELPER set), SIGKILL it at a chosen point,
// then resume in-process and check every step's effect happened exactly
// once. Effects are appended to a file with O_APPEND and fsync.

const helperEnv = "UPGRADEKIT_HELPER"

func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		t.Skip("helper process for the crash and lock tests")
	}
	dir := os.Getenv("UPGRADEKIT_DIR")
	var code int
	switch mode {
	case "crash":
		code = crashChild(dir, os.Getenv("UPGRADEKIT_KILL_AT"))
	case "lock-hold", "lock-try":
		code = lockChild(mode, dir)
	default:
		code = 99
	}
	os.Exit(code)
}

// blockHere tells the parent we reached the kill point and waits to be
// killed.
func blockHere(dir, point string) {
	_ = os.WriteFile(filepath.Join(dir, "ready.tmp"), []byte(point), 0o644)
	_ = os.Rename(filepath.Join(dir, "ready.tmp"), filepath.Join(dir, "ready"))
	select {}
}

func appendEffect(dir, name string) error {
	f, err := os.OpenFile(filepath.Join(dir, "effects"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.WriteString(name + "\n"); err != nil {
		return err
	}
	return f.Sync()
}

func effects(dir string) map[string]int {
	data, _ := os.ReadFile(filepath.Join(dir, "effects"))
	m := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if l != "" {
			m[l]++
		}
	}
	return m
}

// crashSteps: every step but "s3" has a Checker.
var crashSteps = []string{"s1", "s2", "s3", "hosts/h1/s", "hosts/h2/s", "s4"}

func crashPlan(dir, killAt string) *upgrade.Plan {
	mk := func(name string) *upgrade.FuncStep {
		return upgrade.Func(name, func(ctx context.Context, s *upgrade.State) error {
			if killAt == s.Step()+":before" {
				blockHere(dir, killAt)
			}
			if err := appendEffect(dir, s.Step()); err != nil {
				return err
			}
			if killAt == s.Step()+":after" {
				blockHere(dir, killAt)
			}
			return nil
		})
	}
	withCheck := func(st *upgrade.FuncStep) *upgrade.FuncStep {
		return st.CheckWith(func(ctx context.Context, s *upgrade.State) (bool, error) {
			return effects(dir)[s.Step()] > 0, nil
		})
	}
	return upgrade.NewPlan("crash",
		withCheck(mk("s1")), withCheck(mk("s2")), mk("s3"),
		upgrade.PerHost("hosts", []string{"h1", "h2"}, func(h string) upgrade.Node { return withCheck(mk("s")) }).
			WithParallel(upgrade.ParallelPolicy{Concurrency: 1}),
		withCheck(mk("s4")),
	)
}

func crashRunner(dir, killAt string, opts ...upgrade.Option) (*upgrade.Runner, error) {
	inv := map[string]transport.Transport{"h1": fake.New("h1"), "h2": fake.New("h2")}
	opts = append(opts, upgrade.WithHosts(inv), upgrade.WithJournal(upgrade.NewFileStore(filepath.Join(dir, "journal"))),
		upgrade.WithObserver(func(e upgrade.Event) {
			if e.Kind == upgrade.EventStepFinished && killAt == e.Step+":boundary" {
				blockHere(dir, killAt)
			}
		}))
	return upgrade.NewRunner(crashPlan(dir, killAt), opts...)
}

func crashChild(dir, killAt string) int {
	r, err := crashRunner(dir, killAt)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if _, err := r.Run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// startChild starts the helper and waits until it reports ready.
func startChild(t *testing.T, dir string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), append([]string{"UPGRADEKIT_DIR=" + dir}, env...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	ready := filepath.Join(dir, "ready")
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(ready); err == nil {
			require.NoError(t, os.Remove(ready))
			return cmd
		}
		if cmd.ProcessState != nil || time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("child never reached its kill point: %s", stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCrashResume(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("spawns processes")
	}
	for _, name := range crashSteps {
		for _, point := range []string{"before", "after", "boundary"} {
			killAt := name + ":" + point
			t.Run(killAt, func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				child := startChild(t, dir, helperEnv+"=crash", "UPGRADEKIT_KILL_AT="+killAt)
				require.NoError(t, child.Process.Kill()) // SIGKILL
				_ = child.Wait()

				// Resume in-process with the same plan.
				r, err := crashRunner(dir, "")
				require.NoError(t, err)
				_, err = r.Run(t.Context())
				if name == "s3" && point != "boundary" {
					// s3 has no Checker: the resume must refuse and name it.
					de, ok := errors.AsType[*upgrade.DirtyStepError](err)
					require.True(t, ok, "want a DirtyStepError, got %v", err)
					assert.Equal(t, "s3", de.Step)
					// The operator verifies the effect by hand and either
					// marks the step done (it happened) or forces it (it did not).
					opt := upgrade.WithForce("s3")
					if effects(dir)["s3"] > 0 {
						opt = upgrade.WithMarkDone("s3")
					}
					r, err = crashRunner(dir, "", opt)
					require.NoError(t, err)
					_, err = r.Run(t.Context())
				}
				require.NoError(t, err)
				got := effects(dir)
				for _, s := range crashSteps {
					assert.Equal(t, 1, got[s], "effect of %s", s)
				}
				// A third run does nothing.
				r, err = crashRunner(dir, "")
				require.NoError(t, err)
				_, err = r.Run(t.Context())
				require.NoError(t, err)
				assert.Equal(t, got, effects(dir))
			})
		}
	}
}

func TestTornJournalLine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r, err := crashRunner(dir, "")
	require.NoError(t, err)
	_, err = r.Run(t.Context())
	require.NoError(t, err)
	path := filepath.Join(dir, "journal")
	before, err := os.ReadFile(path)
	require.NoError(t, err)

	// A write cut short by SIGKILL: half a record without newline.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.WriteString(`{"v":1,"t":"2026-01-01T00:00:00Z","type":"step","st`)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	r, err = crashRunner(dir, "")
	require.NoError(t, err)
	rep, err := r.Run(t.Context())
	require.NoError(t, err)
	require.Len(t, rep.Notes, 1)
	assert.Contains(t, rep.Notes[0], "torn last record")
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.True(t, bytes.HasPrefix(after, before), "torn tail replaced, earlier records kept")
	_, err = upgrade.ReadJournal(path)
	require.NoError(t, err)

	// Corruption before the last line is an error.
	bad := append([]byte("{garbage\n"), after...)
	require.NoError(t, os.WriteFile(path, bad, 0o600))
	r, err = crashRunner(dir, "")
	require.NoError(t, err)
	_, err = r.Run(t.Context())
	require.ErrorIs(t, err, upgrade.ErrJournalCorrupt)
}
