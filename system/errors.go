package system

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Conditions callers branch on; test with errors.Is.
var (
	// ErrStillActive: units that should be stopped are still running (see
	// *StillActiveError).
	ErrStillActive = errors.New("units still active")
	// ErrNoSuchUnit: systemd has no unit of that name (is-active exit 4).
	ErrNoSuchUnit = errors.New("no such unit")
	// ErrUnknownPackageManager: none of apt-get, dnf, yum or zypper found.
	ErrUnknownPackageManager = errors.New("no supported package manager")
	// ErrNotInstalled: the package is not installed.
	ErrNotInstalled = errors.New("package not installed")
	// ErrBackupExists: the timestamped backup directory already exists;
	// BackupDir never overwrites.
	ErrBackupExists = errors.New("backup already exists")
	// ErrNotFound: the source file or directory does not exist.
	ErrNotFound = errors.New("no such file or directory")
	// ErrMalformed: a command's output could not be parsed.
	ErrMalformed = errors.New("malformed output")
	// ErrInvalid: an argument was rejected before anything ran.
	ErrInvalid = errors.New("invalid argument")
)

// StillActiveError names the units that were still active when
// VerifyStopped checked or WaitStopped gave up, with their last state.
type StillActiveError struct {
	Host  string
	Units map[string]State
	// Waited is how long WaitStopped waited (0 for VerifyStopped).
	Waited string
}

func (e *StillActiveError) Error() string {
	var parts []string
	for _, u := range slices.Sorted(maps.Keys(e.Units)) {
		parts = append(parts, u+" ("+string(e.Units[u])+")")
	}
	msg := "units still active: " + strings.Join(parts, ", ")
	if e.Waited != "" {
		msg += " after waiting " + e.Waited
	}
	if e.Host != "" {
		msg = "host " + e.Host + ": " + msg
	}
	return msg
}

// Is makes errors.Is(err, ErrStillActive) true.
func (e *StillActiveError) Is(target error) bool { return target == ErrStillActive }

// ParseError reports output that could not be parsed: what was being
// parsed, why, and the offending line (never the whole output).
type ParseError struct {
	What   string
	Line   string
	Reason string
}

func (e *ParseError) Error() string {
	msg := fmt.Sprintf("parse %s: %s", e.What, e.Reason)
	if e.Line != "" {
		l := e.Line
		if len(l) > 120 {
			l = l[:120] + "..."
		}
		msg += fmt.Sprintf(": %q", l)
	}
	return msg
}

// Is makes errors.Is(err, ErrMalformed) true.
func (e *ParseError) Is(target error) bool { return target == ErrMalformed }

// PackageError reports a package operation that failed.
type PackageError struct {
	Host     string
	Manager  PackageManager
	Op       string // "switch repository", "upgrade", "query"
	Packages []string
	Err      error
}

func (e *PackageError) Error() string {
	msg := fmt.Sprintf("%s %s", e.Manager, e.Op)
	if len(e.Packages) > 0 {
		msg += " " + strings.Join(e.Packages, " ")
	}
	msg += ": " + e.Err.Error()
	if e.Host != "" {
		msg = "host " + e.Host + ": " + msg
	}
	return msg
}

func (e *PackageError) Unwrap() error { return e.Err }

// ManifestMismatchError reports a copy whose destination differs from its
// source: files missing or extra at the destination, or present on both
// with different content, type, mode or owner. Lists are capped at 20.
type ManifestMismatchError struct {
	SrcHost, DstHost string
	Path             string
	Missing          []string
	Extra            []string
	Differ           []string
}

func (e *ManifestMismatchError) Error() string {
	var parts []string
	add := func(what string, l []string) {
		if len(l) > 0 {
			parts = append(parts, fmt.Sprintf("%s: %s", what, strings.Join(l, ", ")))
		}
	}
	add("missing", e.Missing)
	add("extra", e.Extra)
	add("differ", e.Differ)
	return fmt.Sprintf("copy %s:%s to %s: destination differs from source: %s",
		e.SrcHost, e.Path, e.DstHost, strings.Join(parts, "; "))
}
