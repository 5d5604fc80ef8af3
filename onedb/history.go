package onedb

import (
	"context"
	"fmt"
	"strings"

	"github.com/upgradekit/upgradekit/transport"
)

// HistoryEntry is one db_versioning row as `onedb history` prints it.
type HistoryEntry struct {
	Version string
	// Timestamp is as printed, "%m/%d %H:%M:%S" without a year.
	Timestamp string
	Comment   string
}

// History runs `onedb history` and returns every row of db_versioning
// (the shared tables' version history) in the order onedb prints them.
// For typed timestamps and local_db_versioning, use DB.SchemaVersions.
func History(ctx context.Context, t transport.Transport, opts ...Option) ([]HistoryEntry, error) {
	o, err := newOptions("history", opts)
	if err != nil {
		return nil, err
	}
	cmd := o.command("history", nil, nil, false)
	cmd.ReadOnly = true
	out, err := o.run(ctx, t, "history", cmd)
	if err != nil {
		return nil, err
	}
	if out.res.ExitCode != 0 {
		return nil, out.fail("history")
	}
	return ParseHistory([]byte(out.stdout))
}

// ParseHistory parses `onedb history` output: blocks of "Version:",
// "Timestamp:" and "Comment:" lines separated by blank lines. An empty
// output or an incomplete block is a *ParseError.
func ParseHistory(out []byte) ([]HistoryEntry, error) {
	perr := func(line int, format string, a ...any) ([]HistoryEntry, error) {
		return nil, &ParseError{What: "history", Line: line, Reason: fmt.Sprintf(format, a...)}
	}
	var entries []HistoryEntry
	var cur *HistoryEntry
	step := 0 // 0 expect Version, 1 Timestamp, 2 Comment
	for i, l := range splitLines(string(out)) {
		n := i + 1
		if l == "" {
			if step != 0 {
				return perr(n, "incomplete entry")
			}
			continue
		}
		key, val, ok := strings.Cut(l, ":")
		if !ok {
			return perr(n, "unexpected line %q", l)
		}
		val = strings.TrimSpace(val)
		switch {
		case key == "Version" && step == 0:
			if !versionRE.MatchString(val) {
				return perr(n, "version %q is not X.Y.Z", val)
			}
			entries = append(entries, HistoryEntry{Version: val})
			cur, step = &entries[len(entries)-1], 1
		case key == "Timestamp" && step == 1:
			if !timestampOK(val) {
				return perr(n, "timestamp %q is not MM/DD hh:mm:ss", val)
			}
			cur.Timestamp, step = val, 2
		case key == "Comment" && step == 2:
			cur.Comment, step = val, 0
		default:
			return perr(n, "unexpected line %q", l)
		}
	}
	if step != 0 {
		return perr(0, "incomplete last entry (truncated output?)")
	}
	if len(entries) == 0 {
		return perr(0, "no entries")
	}
	return entries, nil
}
