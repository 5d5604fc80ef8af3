package path

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Conditions callers branch on; test with errors.Is.
var (
	// ErrDowngrade: the target is older than what is installed (or than
	// the database), which no OpenNebula procedure supports.
	ErrDowngrade = errors.New("downgrade refused")
	// ErrUnsupportedJump: the target skips at least one minor release;
	// upgrade through each one in turn (RefusedError.Via).
	ErrUnsupportedJump = errors.New("unsupported upgrade jump")
	// ErrUnknownRelease: a version outside the release series this
	// package knows (Series).
	ErrUnknownRelease = errors.New("unknown release series")
	// ErrInvalidVersion: a version string is not X.Y[.Z[.W]].
	ErrInvalidVersion = errors.New("invalid version")
)

// Version is an OpenNebula release or database version, X.Y.Z, or X.Y.Z.W
// for a hotfix release: 6.10.0.1, 6.8.0.1, 6.0.0.1 … are real release tags
// and what oned reports (include/NebulaService.h code_version() at
// OpenNebula/one release-6.10.0.1 returns "6.10.0.1"); their database
// version stays the series' (src/onedb/database_schema.rb LATEST_DB_VERSION
// is '6.10.0' at that tag).
type Version struct {
	Major, Minor, Patch int
	// Hotfix is the fourth part of a hotfix release (6.10.0.1), 0 for the
	// usual three-part releases.
	Hotfix int
}

// Parse reads "X.Y.Z", "X.Y.Z.W" (a hotfix release) or "X.Y" (patch 0).
// A package version such as "7.4.1-1", "6.10.0.1-1", "7.4.1-1.el9" or
// "1:7.4.1-1" is accepted: the epoch and the packaging revision are
// dropped.
func Parse(s string) (Version, error) {
	in := s
	if i := strings.IndexByte(s, ':'); i >= 0 {
		s = s[i+1:]
	}
	if i := strings.IndexAny(s, "-+~ "); i >= 0 {
		s = s[:i]
	}
	parts := strings.Split(s, ".")
	if len(parts) < 2 || len(parts) > 4 {
		return Version{}, fmt.Errorf("%w: %q", ErrInvalidVersion, in)
	}
	var n [4]int
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 || p == "" || (len(p) > 1 && p[0] == '+') {
			return Version{}, fmt.Errorf("%w: %q", ErrInvalidVersion, in)
		}
		n[i] = v
	}
	return Version{Major: n[0], Minor: n[1], Patch: n[2], Hotfix: n[3]}, nil
}

// MustParse is Parse for constants; it panics on a malformed version.
func MustParse(s string) Version {
	v, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return v
}

// String returns "X.Y.Z", or "X.Y.Z.W" for a hotfix release.
func (v Version) String() string {
	if v.Hotfix != 0 {
		return fmt.Sprintf("%d.%d.%d.%d", v.Major, v.Minor, v.Patch, v.Hotfix)
	}
	return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
}

// IsZero reports whether v is the zero Version.
func (v Version) IsZero() bool { return v == Version{} }

// Compare returns -1, 0 or +1 as v is older than, equal to or newer than
// w. A hotfix release sorts after its base and before the next patch
// release: 6.10.0 < 6.10.0.1 < 6.10.1.
func (v Version) Compare(w Version) int {
	for _, d := range [][2]int{{v.Major, w.Major}, {v.Minor, w.Minor}, {v.Patch, w.Patch}, {v.Hotfix, w.Hotfix}} {
		if d[0] != d[1] {
			if d[0] < d[1] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// Series returns the minor release series X.Y.0 v belongs to.
func (v Version) Series() Version { return Version{Major: v.Major, Minor: v.Minor} }

// DBVersion returns the database schema version of release v: the DB
// version moves only with minor releases (6.10.x → 6.10.0, 7.4.x → 7.4.0;
// src/onedb/onedb.rb, src/onedb/database_schema.rb LATEST_DB_VERSION).
func DBVersion(release Version) Version { return release.Series() }

// series lists the minor release series, in order, that this package
// knows. Each one bumps the database version (every minor release since
// 6.10 ships at least a no-op shared migrator, src/onedb/onedb.rb; the federation upgrade guide).
var series = []Version{
	{Major: 5, Minor: 12}, {Major: 6}, {Major: 6, Minor: 2}, {Major: 6, Minor: 4}, {Major: 6, Minor: 6},
	{Major: 6, Minor: 8}, {Major: 6, Minor: 10}, {Major: 7}, {Major: 7, Minor: 2}, {Major: 7, Minor: 4},
	{Major: 7, Minor: 6},
}

// Series returns the minor release series this package knows, oldest
// first (a copy).
func Series() []Version { return append([]Version(nil), series...) }

func seriesIndex(v Version) int {
	for i, s := range series {
		if s == v.Series() {
			return i
		}
	}
	return -1
}
