package openstack

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"
)

// table is a parsed prettytable/tabulate grid.
type table struct {
	header []string
	rows   [][]string
}

// parseTable reads the first ASCII table in out: prettytable ("+---+"
// borders) or tabulate's psql format ("|---+---|" under the header).
// With multiline, each block between horizontal rules is one row whose
// cells span several lines (joined with "\n"), as oslo.upgradecheck
// prints; otherwise every line is a row.
func parseTable(out []byte, multiline bool) (table, bool) {
	var blocks [][][]string // blocks of lines of cells
	var cur [][]string
	started, ended := false, false
	for _, raw := range strings.Split(string(out), "\n") {
		ln := strings.TrimRight(raw, " \r")
		if ended {
			break
		}
		switch {
		case isRule(ln):
			started = true
			if len(cur) > 0 {
				blocks = append(blocks, cur)
				cur = nil
			}
		case strings.HasPrefix(ln, "|") && strings.HasSuffix(ln, "|") && len(ln) >= 2:
			started = true
			cells := strings.Split(ln[1:len(ln)-1], "|")
			for i := range cells {
				cells[i] = strings.TrimSpace(cells[i])
			}
			cur = append(cur, cells)
		default:
			if started {
				ended = true
			}
		}
	}
	if len(cur) > 0 {
		blocks = append(blocks, cur)
	}
	if len(blocks) == 0 {
		return table{}, false
	}
	var t table
	t.header = joinLines(blocks[0])
	n := len(t.header)
	if n == 0 {
		return table{}, false
	}
	for _, b := range blocks[1:] {
		for _, l := range b {
			if len(l) != n {
				return table{}, false
			}
		}
		if multiline {
			t.rows = append(t.rows, joinLines(b))
			continue
		}
		t.rows = append(t.rows, b...)
	}
	return t, true
}

func isRule(ln string) bool {
	if len(ln) < 2 || !strings.Contains(ln, "-") {
		return false
	}
	if ln[0] != '+' && ln[0] != '|' {
		return false
	}
	return strings.Trim(ln, "+-|=: ") == ""
}

// joinLines joins the lines of a block column-wise.
func joinLines(lines [][]string) []string {
	if len(lines) == 0 {
		return nil
	}
	n := len(lines[0])
	out := make([]string, n)
	for _, l := range lines {
		if len(l) != n {
			return nil
		}
		for i, c := range l {
			if c == "" {
				continue
			}
			if out[i] != "" {
				out[i] += "\n"
			}
			out[i] += c
		}
	}
	return out
}

// CheckCode is an upgrade check result: oslo.upgradecheck's Code.
type CheckCode int

// Upgrade check results; the tool's exit status is the worst of them.
const (
	CheckSuccess CheckCode = 0
	CheckWarning CheckCode = 1
	CheckFailure CheckCode = 2
)

func (c CheckCode) String() string {
	switch c {
	case CheckSuccess:
		return "Success"
	case CheckWarning:
		return "Warning"
	case CheckFailure:
		return "Failure"
	}
	return "CheckCode(" + strconv.Itoa(int(c)) + ")"
}

// Check is one upgrade check's result.
type Check struct {
	Name    string
	Result  CheckCode
	Details string
}

// parseCheckJSON parses `upgrade check --json` output: the last line
// holding the result object.
func parseCheckJSON(out []byte) ([]Check, error) {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		ln := strings.TrimSpace(lines[i])
		if !strings.HasPrefix(ln, "{") {
			continue
		}
		var doc struct {
			Name   string `json:"name"`
			Checks *[]struct {
				Check   *string `json:"check"`
				Result  *int    `json:"result"`
				Details *string `json:"details"`
			} `json:"checks"`
		}
		if err := json.Unmarshal([]byte(ln), &doc); err != nil {
			return nil, parseErr("upgrade check JSON", err.Error(), out)
		}
		if doc.Checks == nil {
			return nil, parseErr("upgrade check JSON", "no checks array", out)
		}
		var checks []Check
		for _, c := range *doc.Checks {
			if c.Check == nil || c.Result == nil {
				return nil, parseErr("upgrade check JSON", "check without name or result", out)
			}
			if *c.Result < 0 || *c.Result > 2 {
				return nil, parseErr("upgrade check JSON", "result code "+strconv.Itoa(*c.Result)+" out of range", out)
			}
			ch := Check{Name: *c.Check, Result: CheckCode(*c.Result)}
			if c.Details != nil {
				ch.Details = *c.Details
			}
			checks = append(checks, ch)
		}
		return checks, nil
	}
	return nil, parseErr("upgrade check JSON", "no JSON object", out)
}

// parseCheckTable parses oslo.upgradecheck's table: one column titled
// "Upgrade Check Results", one block per check with "Check:", "Result:"
// and "Details:" lines (details wrapped with indented continuations).
func parseCheckTable(out []byte) ([]Check, error) {
	t, ok := parseTable(out, true)
	if !ok || len(t.header) != 1 || t.header[0] != "Upgrade Check Results" {
		return nil, parseErr("upgrade check table", "no \"Upgrade Check Results\" table", out)
	}
	var checks []Check
	for _, r := range t.rows {
		var c Check
		var field *string
		var haveName, haveResult bool
		var result string
		last := 0 // width of the previous details line as textwrap laid it out
		for _, ln := range strings.Split(r[0], "\n") {
			switch {
			case strings.HasPrefix(ln, "Check:"):
				c.Name, field, haveName = strings.TrimSpace(strings.TrimPrefix(ln, "Check:")), &c.Name, true
				last = 0
			case strings.HasPrefix(ln, "Result:"):
				result, field, haveResult = strings.TrimSpace(strings.TrimPrefix(ln, "Result:")), nil, true
			case strings.HasPrefix(ln, "Details:"):
				c.Details, field = strings.TrimSpace(strings.TrimPrefix(ln, "Details:")), &c.Details
				last = utf8.RuneCountInString(c.Details)
			case field != nil:
				next := strings.TrimSpace(ln)
				if field == &c.Details && brokenWord(*field, last, next) {
					*field += next
				} else {
					*field += " " + next
				}
				last = len(detailsIndent) + utf8.RuneCountInString(next)
			default:
				return nil, parseErr("upgrade check table", "unexpected line "+strconv.Quote(ln), out)
			}
		}
		if !haveName || !haveResult {
			return nil, parseErr("upgrade check table", "check without name or result", out)
		}
		switch result {
		case "Success":
			c.Result = CheckSuccess
		case "Warning":
			c.Result = CheckWarning
		case "Failure":
			c.Result = CheckFailure
		default:
			return nil, parseErr("upgrade check table", "unknown result "+strconv.Quote(result), out)
		}
		if c.Details == "None" {
			c.Details = ""
		}
		checks = append(checks, c)
	}
	return checks, nil
}

// oslo.upgradecheck wraps a check's details with textwrap.wrap(details,
// 60, subsequent_indent='  ') (oslo_upgradecheck/upgradecheck.py,
// openstack/oslo.upgradecheck): a line break replaces a space, except
// inside a word longer than a line (a URL), which textwrap cuts where the
// line is full, and after a hyphen inside a word.
const (
	detailsWidth  = 60
	detailsIndent = "  "
)

// brokenWord reports whether the line break between text (whose last
// line was width runes wide, indent included) and next cut a word: the
// line is full and the word across the break is longer than a
// continuation line holds, so textwrap could not have moved it whole.
func brokenWord(text string, width int, next string) bool {
	if next == "" || text == "" {
		return false
	}
	// textwrap also breaks after a hyphen inside a word
	// ("convert-json-to-" / "yaml.html").
	if n := len(text); n >= 2 && text[n-1] == '-' && isAlnum(text[n-2]) && isAlnum(next[0]) {
		return true
	}
	if width != detailsWidth {
		return false
	}
	tail := text[strings.LastIndexAny(text, " \t")+1:]
	head, _, _ := strings.Cut(next, " ")
	return utf8.RuneCountInString(tail)+utf8.RuneCountInString(head) > detailsWidth-len(detailsIndent)
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// MigrationCount is one online data migration's progress as the tool's
// table reports it.
type MigrationCount struct {
	Name string
	// Total is the rows that needed migrating (first batch that saw the
	// migration); Completed sums the rows migrated over all batches.
	Total, Completed int
}

// parseODMTable parses the online_data_migrations summary table (nova,
// placement: prettytable; cinder: tabulate psql). No table at all means
// no migrations were listed.
func parseODMTable(out []byte) ([]MigrationCount, error) {
	if !strings.Contains(string(out), "|") {
		return nil, nil
	}
	t, ok := parseTable(out, false)
	if !ok {
		return nil, parseErr("online data migrations table", "unreadable table", out)
	}
	iName, iTotal, iDone := -1, -1, -1
	for i, h := range t.header {
		switch {
		case h == "Migration":
			iName = i
		case strings.HasPrefix(h, "Total"):
			iTotal = i
		case h == "Completed":
			iDone = i
		}
	}
	if iName < 0 || iTotal < 0 || iDone < 0 {
		return nil, parseErr("online data migrations table", "missing Migration/Total/Completed columns", out)
	}
	var ms []MigrationCount
	for _, r := range t.rows {
		total, err1 := strconv.Atoi(r[iTotal])
		done, err2 := strconv.Atoi(r[iDone])
		if err1 != nil || err2 != nil || total < 0 || done < 0 || r[iName] == "" {
			return nil, parseErr("online data migrations table", "bad row "+strconv.Quote(strings.Join(r, "|")), out)
		}
		ms = append(ms, MigrationCount{Name: r[iName], Total: total, Completed: done})
	}
	return ms, nil
}
