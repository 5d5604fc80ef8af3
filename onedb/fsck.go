package onedb

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/upgradekit/upgradekit/transport"
)

// FsckResult is the outcome of `onedb fsck`. Errors found, even ones that
// could not be repaired, are a result: check Unrepaired.
type FsckResult struct {
	// Found, Repaired and Unrepaired are onedb's totals. With DryRun,
	// Repaired is the number of repairable errors (nothing was written).
	Found, Repaired, Unrepaired int
	// Problems are the problem lines onedb printed, in order, with the
	// "[UNREPAIRED] " prefix removed; UnrepairedProblems is the subset
	// that carried it.
	Problems, UnrepairedProblems []string
	// DryRun reports a --dry run.
	DryRun bool
	// BackupFile is the automatic backup taken before fsck (not with
	// DryRun), if printed.
	BackupFile string
	// LogFile is where onedb stored a copy of the output.
	LogFile string
	// ExitCode is onedb's exit code (0, or 1 from 7.2 when errors were found).
	ExitCode int
}

// Clean reports that fsck found nothing.
func (r FsckResult) Clean() bool { return r.Found == 0 }

// Fsck runs `onedb fsck` with $ONE_XMLRPC set to DefaultEndpoint (see
// Restore). Options: WithConn, DryRun, BackupTo, Force, Release. fsck
// refuses unless the DB version equals the code's (ErrVersionMismatch)
// and, without DryRun, while oned runs (ErrOnedRunning).
//
// Exit codes: from 7.2 fsck exits 1 when it found errors, even if it
// repaired all of them; 6.10 and 7.0 exit 0 either way. Pass Release so
// that a code that contradicts the printed totals for that release is
// reported (ErrUnexpectedExit) instead of trusted. Exit 1 never counts as
// a failure when the totals say errors were found.
func Fsck(ctx context.Context, t transport.Transport, opts ...Option) (FsckResult, error) {
	o, err := newOptions("fsck", opts)
	if err != nil {
		return FsckResult{}, err
	}
	var flags []string
	if o.force {
		flags = append(flags, "-f")
	}
	if o.dry {
		flags = append(flags, "--dry")
	}
	if o.backupTo != "" {
		flags = append(flags, "-b", o.backupTo)
	}
	cmd := o.command("fsck", flags, nil, true)
	out, err := o.run(ctx, t, "fsck", cmd)
	if err != nil {
		return FsckResult{}, err
	}
	code := out.res.ExitCode
	if code != 0 && code != 1 {
		return FsckResult{}, out.fail("fsck")
	}
	r, err := ParseFsck([]byte(out.text()))
	if err != nil {
		if code == 1 {
			// Exit 1 without a footer is a failure of its own.
			return FsckResult{}, out.unexpected("fsck")
		}
		return FsckResult{}, err
	}
	r.ExitCode = code
	if err := checkFsckExit(o.release, code, r); err != nil {
		e := out.unexpected("fsck").(*CommandError)
		e.Reason, e.Detail = ErrUnexpectedExit, err.Error()
		return FsckResult{}, e
	}
	return r, nil
}

// checkFsckExit checks code against the totals for release ("" = unknown).
func checkFsckExit(release string, code int, r FsckResult) error {
	newExit := true // 7.2+ semantics
	known := false
	if maj, min, ok := majorMinor(release); ok {
		known = true
		newExit = maj > 7 || (maj == 7 && min >= 2)
	}
	switch {
	case code == 1 && r.Found == 0:
		return fmt.Errorf("exit 1 but no errors found")
	case code == 1 && known && !newExit:
		return fmt.Errorf("exit 1 from OpenNebula %s, which exits 0 after fsck", release)
	case code == 0 && r.Found > 0 && known && newExit:
		return fmt.Errorf("exit 0 from OpenNebula %s although %d errors were found", release, r.Found)
	}
	return nil
}

var fsckTotalRE = regexp.MustCompile(`^Total (errors found|errors repaired|errors unrepaired|repairable errors|unrepairable errors): ([0-9]+)$`)

const unrepairedPrefix = "[UNREPAIRED] "

// ParseFsck parses the output of `onedb fsck` (with or without --dry).
// Output without the complete totals footer is a *ParseError.
func ParseFsck(out []byte) (FsckResult, error) {
	perr := func(line int, format string, a ...any) (FsckResult, error) {
		return FsckResult{}, &ParseError{What: "fsck", Line: line, Reason: fmt.Sprintf(format, a...)}
	}
	var r FsckResult
	text := string(out)
	path, found, err := findBackupLine("fsck", text)
	if err != nil {
		return FsckResult{}, err
	}
	if found {
		r.BackupFile = path
	}
	totals := map[string]int{}
	footer := false
	for i, l := range splitLines(text) {
		n := i + 1
		if m := fsckTotalRE.FindStringSubmatch(l); m != nil {
			if _, dup := totals[m[1]]; dup {
				return perr(n, "repeated %q", m[1])
			}
			v, err := strconv.Atoi(m[2])
			if err != nil || v > 1<<30 {
				return perr(n, "bad count %q", m[2])
			}
			totals[m[1]] = v
			footer = true
			continue
		}
		if footer {
			switch {
			case l == "Dry run, no changes have been written to the DB":
				r.DryRun = true
			case strings.HasPrefix(l, "A copy of this output was stored in "):
				r.LogFile = strings.TrimPrefix(l, "A copy of this output was stored in ")
			}
			continue
		}
		if l == "" || isBackupNotice(l) {
			continue
		}
		if p, ok := strings.CutPrefix(l, unrepairedPrefix); ok {
			r.UnrepairedProblems = append(r.UnrepairedProblems, p)
			r.Problems = append(r.Problems, p)
			continue
		}
		r.Problems = append(r.Problems, l)
	}
	var ok bool
	if r.Found, ok = totals["errors found"]; !ok {
		return perr(0, "no \"Total errors found\" line")
	}
	_, repaired := totals["errors repaired"]
	_, repairable := totals["repairable errors"]
	switch {
	case repaired && !repairable:
		if r.DryRun {
			return perr(0, "dry-run notice with a repair footer")
		}
		r.Repaired = totals["errors repaired"]
		if r.Unrepaired, ok = totals["errors unrepaired"]; !ok {
			return perr(0, "no \"Total errors unrepaired\" line")
		}
	case repairable && !repaired:
		if !r.DryRun {
			return perr(0, "dry-run footer without the dry-run notice")
		}
		r.Repaired = totals["repairable errors"]
		if r.Unrepaired, ok = totals["unrepairable errors"]; !ok {
			return perr(0, "no \"Total unrepairable errors\" line")
		}
	default:
		return perr(0, "incomplete or mixed totals footer")
	}
	if r.LogFile == "" {
		return perr(0, "no \"A copy of this output was stored in\" line (truncated output?)")
	}
	return r, nil
}

func isBackupNotice(l string) bool {
	for _, p := range backupPrefixes {
		if strings.HasPrefix(l, p) {
			return true
		}
	}
	return strings.HasPrefix(l, "Use 'onedb restore'") || l == "mysql -u user -h server -P port db_name < backup_file"
}
