package host

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// SyncResult is a successful `onehost sync`.
type SyncResult struct {
	// Updated names the hosts the CLI announced ("* Adding <name> to
	// upgrade") and then updated, in order.
	Updated []string
	// NothingToDo is set for "No hosts are going to be updated.": every
	// host was already at the front-end's version, offline, or not
	// selected. It is a result, not an error.
	NothingToDo bool
}

// SyncError reports an `onehost sync` that failed for some hosts
// ("Failed to update the following hosts:" on stderr, exit 255). It wraps
// the *transport.ExitError.
type SyncError struct {
	// Failed names the hosts listed as failed.
	Failed []string
	// Attempted names every host the CLI announced, failed or not.
	Attempted []string
	Err       error
}

func (e *SyncError) Error() string {
	return fmt.Sprintf("onehost sync failed for %d of %d hosts: %s", len(e.Failed), len(e.Attempted), strings.Join(e.Failed, ", "))
}

func (e *SyncError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrSyncFailed) true.
func (e *SyncError) Is(target error) bool { return target == ErrSyncFailed }

// Refusals of `onehost sync` itself.
var (
	// ErrSyncAsRoot: "Cannot run 'onehost sync' as root".
	ErrSyncAsRoot = errors.New("onehost sync refuses to run as root")
	// ErrNotFrontend: "'onehost sync' is only available on the frontend."
	ErrNotFrontend = errors.New("onehost sync is only available on a front-end")
	// ErrSyncFailed: onehost sync exited non-zero (a *SyncError when it
	// named the failed hosts).
	ErrSyncFailed = errors.New("onehost sync failed")
)

const srcSync = "onehost sync"

var (
	addingLine = regexp.MustCompile(`^\* Adding (.+) to upgrade$`)
	failedItem = regexp.MustCompile(`^\* (.+)$`)
	// progressLine is the in-place progress bar: "[====---] 1/3 name".
	progressLine = regexp.MustCompile(`^\[[=\-]*\] \d+/\d+( .*)?$`)
)

const (
	msgAllUpdated = "All hosts updated successfully."
	msgNothing    = "No hosts are going to be updated."
	msgFailed     = "Failed to update the following hosts:"
	msgAsRoot     = "Cannot run 'onehost sync' as root"
	msgNotFE      = "'onehost sync' is only available on the frontend."
)

// lines splits output on both \n and \r (the progress bar is rewritten
// in place with \r) and drops blank pieces.
func lines(b []byte) []string {
	var out []string
	for _, l := range strings.FieldsFunc(string(b), func(r rune) bool { return r == '\n' || r == '\r' }) {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// ParseSync interprets the output and exit code of `onehost sync`
// (samples/onehost-sync.txt). Exit 0 needs "All hosts updated
// successfully." (SyncResult.Updated from the "* Adding" lines) or "No
// hosts are going to be updated." (NothingToDo). A non-zero exit with
// "Failed to update the following hosts:" and "* <name>" lines on stderr
// is a *SyncError; the root and front-end refusals match ErrSyncAsRoot and
// ErrNotFrontend; any other non-zero exit is ErrSyncFailed. Output it does
// not understand is a *ParseError.
func ParseSync(stdout, stderr []byte, exitCode int) (SyncResult, error) {
	out, errLines := lines(stdout), lines(stderr)
	var adding []string
	var all, nothing bool
	for _, l := range out {
		switch {
		case l == msgAllUpdated:
			all = true
		case l == msgNothing:
			nothing = true
		case progressLine.MatchString(l):
		default:
			if m := addingLine.FindStringSubmatch(l); m != nil {
				adding = append(adding, m[1])
			}
		}
	}
	if exitCode == 0 {
		switch {
		case all && nothing:
			return SyncResult{}, &ParseError{Source: srcSync, Err: errors.New("both success messages")}
		case all:
			if len(adding) == 0 {
				return SyncResult{}, &ParseError{Source: srcSync, Err: errors.New("updated successfully, but no host announced")}
			}
			return SyncResult{Updated: adding}, nil
		case nothing:
			if len(adding) != 0 {
				return SyncResult{}, &ParseError{Source: srcSync, Err: errors.New("nothing to update, but hosts announced")}
			}
			return SyncResult{NothingToDo: true}, nil
		}
		return SyncResult{}, &ParseError{Source: srcSync, Err: fmt.Errorf("exit 0 without %q or %q", msgAllUpdated, msgNothing)}
	}
	for i, l := range errLines {
		switch l {
		case msgAsRoot:
			return SyncResult{}, ErrSyncAsRoot
		case msgNotFE:
			return SyncResult{}, ErrNotFrontend
		case msgFailed:
			var failed []string
			for _, f := range errLines[i+1:] {
				m := failedItem.FindStringSubmatch(f)
				if m == nil {
					break
				}
				failed = append(failed, m[1])
			}
			if len(failed) == 0 {
				return SyncResult{}, &ParseError{Source: srcSync, Err: errors.New("failure reported without host names")}
			}
			return SyncResult{}, &SyncError{Failed: failed, Attempted: adding}
		}
	}
	return SyncResult{}, ErrSyncFailed
}
