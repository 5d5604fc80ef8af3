package onebed

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// EnvBuilds names the environment variable holding the directory of
// OpenNebula installs made by testbed/opennebula/build.sh, one per
// version (e.g. $UPGRADEKIT_ONE_BUILDS/7.4.0).
const EnvBuilds = "UPGRADEKIT_ONE_BUILDS"

// HowToRun is the skip message of the opt-in suite.
const HowToRun = "real OpenNebula suite not enabled: build OpenNebula with " +
	"`testbed/opennebula/build.sh SRC release-7.4.0 DIR/7.4.0` (and release-7.2.0 into DIR/7.2.0), " +
	"then run with " + EnvBuilds + "=DIR (see README, \"Real OpenNebula test bed\")"

// Require returns the install labelled label (a directory name under
// $UPGRADEKIT_ONE_BUILDS, e.g. "7.4.0"). It skips tb when the variable is
// unset, also under CI=true, since OpenNebula's source cannot be brought
// to CI; when the variable is set, a missing install fails tb.
func Require(tb testing.TB, label string) *Install {
	tb.Helper()
	root := os.Getenv(EnvBuilds)
	if root == "" {
		tb.Skip(HowToRun)
	}
	ins, err := FindInstalls(root)
	if err != nil {
		tb.Fatalf("%s=%s: %v", EnvBuilds, root, err)
	}
	in, ok := ins[label]
	if !ok {
		tb.Fatalf("%s=%s has no install %q (no %s)", EnvBuilds, root, label, filepath.Join(root, label, "bin", "oned"))
	}
	return in
}

// RequireAll returns every install under $UPGRADEKIT_ONE_BUILDS, sorted
// by label; it skips as Require does, and fails tb when there is none.
func RequireAll(tb testing.TB) []*Install {
	tb.Helper()
	root := os.Getenv(EnvBuilds)
	if root == "" {
		tb.Skip(HowToRun)
	}
	ins, err := FindInstalls(root)
	if err != nil {
		tb.Fatalf("%s=%s: %v", EnvBuilds, root, err)
	}
	if len(ins) == 0 {
		tb.Fatalf("%s=%s holds no install (no */bin/oned)", EnvBuilds, root)
	}
	var out []*Install
	for _, l := range slices.Sorted(maps.Keys(ins)) {
		out = append(out, ins[l])
	}
	return out
}
