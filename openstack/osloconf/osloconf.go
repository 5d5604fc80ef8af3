package osloconf

import (
	"bytes"
	"fmt"
	"strings"
)

// DefaultSection is the name of the section before the first header.
const DefaultSection = "DEFAULT"

// File is a parsed configuration file. The zero value is an empty file.
// A File is not safe for concurrent use.
type File struct {
	lines []line
}

type lineKind int

const (
	kindOther   lineKind = iota // blank, comment or unparsable line: kept verbatim
	kindSection                 // [name]
	kindKey                     // key = value
	kindCont                    // continuation of the previous key's value
)

type line struct {
	raw     string // without the line terminator
	eol     string // "\n", "\r\n" or "" for a last line without one
	kind    lineKind
	section string // for kindSection: its name; for keys: the enclosing section
	key     string
	value   string
}

// SyntaxError reports a line oslo.config would reject.
type SyntaxError struct {
	Line int // 1-based
	Text string
	Msg  string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("line %d: %s: %q", e.Line, e.Msg, e.Text)
}

// Parse parses data. Lines oslo.config would reject (a key line without
// '=' or ':', an unterminated section header) are reported as a
// *SyntaxError rather than guessed at.
func Parse(data []byte) (*File, error) {
	f := &File{}
	section := DefaultSection
	prevKey := false
	s := string(data)
	for n := 1; len(s) > 0; n++ {
		var raw, eol string
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			raw, s = s[:i], s[i+1:]
			eol = "\n"
			if strings.HasSuffix(raw, "\r") {
				raw, eol = raw[:len(raw)-1], "\r\n"
			}
		} else {
			raw, s = s, ""
		}
		l := line{raw: raw, eol: eol, section: section}
		trimmed := strings.TrimSpace(raw)
		switch {
		case trimmed == "":
			prevKey = false
		case trimmed[0] == '#' || trimmed[0] == ';':
			// Comments do not end a value in oslo's parser, but a
			// continuation after a comment is ambiguous: treat it as
			// ending the value, which is what operators mean.
			prevKey = false
		case raw[0] == ' ' || raw[0] == '\t':
			if !prevKey {
				return nil, &SyntaxError{Line: n, Text: raw, Msg: "continuation line without a key"}
			}
			l.kind = kindCont
			l.value = trimmed
		case trimmed[0] == '[':
			if !strings.HasSuffix(trimmed, "]") || len(trimmed) < 3 {
				return nil, &SyntaxError{Line: n, Text: raw, Msg: "malformed section header"}
			}
			section = strings.TrimSpace(trimmed[1 : len(trimmed)-1])
			if section == "" {
				return nil, &SyntaxError{Line: n, Text: raw, Msg: "empty section name"}
			}
			l.kind, l.section = kindSection, section
			prevKey = false
		default:
			i := strings.IndexAny(raw, "=:")
			if i <= 0 || strings.TrimSpace(raw[:i]) == "" {
				return nil, &SyntaxError{Line: n, Text: raw, Msg: "expected key = value"}
			}
			l.kind = kindKey
			l.key = strings.TrimSpace(raw[:i])
			l.value = strings.TrimSpace(raw[i+1:])
			prevKey = true
		}
		f.lines = append(f.lines, l)
	}
	return f, nil
}

// Bytes returns the file's content: unchanged lines byte for byte.
func (f *File) Bytes() []byte {
	var b bytes.Buffer
	for _, l := range f.lines {
		b.WriteString(l.raw)
		b.WriteString(l.eol)
	}
	return b.Bytes()
}

// Sections returns the section names in file order, DEFAULT first when the
// file has keys before its first header.
func (f *File) Sections() []string {
	var out []string
	seen := map[string]bool{}
	for _, l := range f.lines {
		if (l.kind == kindSection || l.kind == kindKey) && !seen[l.section] {
			seen[l.section] = true
			out = append(out, l.section)
		}
	}
	return out
}

// Get returns the last value of key in section (oslo.config's rule for a
// single-valued option set twice) and whether it is set. A value with
// continuation lines is joined with "\n".
func (f *File) Get(section, key string) (string, bool) {
	vs := f.Values(section, key)
	if len(vs) == 0 {
		return "", false
	}
	return vs[len(vs)-1], true
}

// Values returns every value of key in section in file order: the values
// of a multi-valued option (MultiStrOpt) written as repeated keys. Repeated
// sections are merged, as oslo.config does.
func (f *File) Values(section, key string) []string {
	var out []string
	for i := 0; i < len(f.lines); i++ {
		l := f.lines[i]
		if l.kind != kindKey || l.section != section || l.key != key {
			continue
		}
		v := l.value
		for i+1 < len(f.lines) && f.lines[i+1].kind == kindCont {
			i++
			v += "\n" + f.lines[i].value
		}
		out = append(out, v)
	}
	return out
}

// Set makes key in section have exactly the one value v and reports
// whether the file changed. The last existing occurrence is rewritten in
// place (keeping the spacing around its separator), earlier ones and
// their continuation lines are removed; a new key goes after the last key
// line of the section's last block, and a missing section is appended at
// the end of the file.
func (f *File) Set(section, key, v string) (bool, error) {
	if err := validate(section, key, v); err != nil {
		return false, err
	}
	return f.SetValues(section, key, []string{v})
}

// SetValues makes key in section have exactly the values vs, written as
// repeated keys (an empty vs removes the key), and reports whether the
// file changed.
func (f *File) SetValues(section, key string, vs []string) (bool, error) {
	for _, v := range vs {
		if err := validate(section, key, v); err != nil {
			return false, err
		}
	}
	if cur := f.Values(section, key); equal(cur, vs) {
		return false, nil
	}
	// Where the first occurrence is, new lines go; otherwise after the
	// section's last key or header.
	at, tmpl, eol := -1, "", f.eol()
	for i, l := range f.lines {
		if l.kind == kindKey && l.section == section && l.key == key {
			if at < 0 {
				at, tmpl, eol = i, l.raw, orDefault(l.eol, eol)
			}
		}
	}
	f.remove(section, key)
	if at < 0 {
		at = f.commentedDefault(section, key)
	}
	if at < 0 {
		at = f.insertPoint(section)
	}
	if at > len(f.lines) {
		at = len(f.lines)
	}
	var add []line
	for _, v := range vs {
		add = append(add, line{raw: format(tmpl, key, v), eol: eol, kind: kindKey, section: section, key: key, value: v})
	}
	if at == len(f.lines) && len(f.lines) > 0 && f.lines[len(f.lines)-1].eol == "" {
		f.lines[len(f.lines)-1].eol = eol
	}
	f.lines = append(f.lines[:at], append(add, f.lines[at:]...)...)
	return true, nil
}

// Unset removes every occurrence of key in section (with continuation
// lines) and reports whether the file changed. The section header stays,
// even when it becomes empty: other tools and operators may expect it.
func (f *File) Unset(section, key string) bool {
	return f.remove(section, key) > 0
}

func (f *File) remove(section, key string) int {
	n := 0
	out := f.lines[:0]
	drop := false
	for _, l := range f.lines {
		switch {
		case l.kind == kindKey && l.section == section && l.key == key:
			drop = true
			n++
			continue
		case l.kind == kindCont && drop:
			continue
		}
		drop = false
		out = append(out, l)
	}
	f.lines = out
	return n
}

// commentedDefault returns the index just after a "#key = default" line
// of section (how oslo sample configs document each option), or -1.
func (f *File) commentedDefault(section, key string) int {
	for i, l := range f.lines {
		if l.kind != kindOther || l.section != section {
			continue
		}
		c := strings.TrimSpace(l.raw)
		if !strings.HasPrefix(c, "#") {
			continue
		}
		c = strings.TrimSpace(c[1:])
		if rest, ok := strings.CutPrefix(c, key); ok {
			rest = strings.TrimLeft(rest, " \t")
			if strings.HasPrefix(rest, "=") || strings.HasPrefix(rest, ":") {
				return i + 1
			}
		}
	}
	return -1
}

// insertPoint returns the index a new key of section goes at, appending a
// header when the section does not exist.
func (f *File) insertPoint(section string) int {
	last := -1
	for i, l := range f.lines {
		if l.section != section {
			continue
		}
		if l.kind == kindSection || l.kind == kindKey || l.kind == kindCont {
			last = i
		}
	}
	if last >= 0 {
		return last + 1
	}
	if section == DefaultSection && (len(f.lines) == 0 || !f.hasHeaders()) {
		// Keys before any header belong to DEFAULT.
		return len(f.lines)
	}
	eol := f.eol()
	if n := len(f.lines); n > 0 {
		if f.lines[n-1].eol == "" {
			f.lines[n-1].eol = eol
		}
		if strings.TrimSpace(f.lines[n-1].raw) != "" {
			f.lines = append(f.lines, line{eol: eol, section: f.lines[n-1].section})
		}
	}
	f.lines = append(f.lines, line{raw: "[" + section + "]", eol: eol, kind: kindSection, section: section})
	return len(f.lines)
}

func (f *File) hasHeaders() bool {
	for _, l := range f.lines {
		if l.kind == kindSection {
			return true
		}
	}
	return false
}

// eol returns the file's line terminator: CRLF when its first line uses it.
func (f *File) eol() string {
	for _, l := range f.lines {
		if l.eol != "" {
			return l.eol
		}
	}
	return "\n"
}

// format writes key = v in the style of tmpl (an existing line for the key).
func format(tmpl, key, v string) string {
	if tmpl == "" {
		return key + " = " + v
	}
	i := strings.IndexAny(tmpl, "=:")
	lead := tmpl[:i]
	sep := tmpl[i : i+1]
	rest := tmpl[i+1:]
	after := rest[:len(rest)-len(strings.TrimLeft(rest, " \t"))]
	return lead + sep + after + v
}

func validate(section, key, v string) error {
	switch {
	case section == "" || strings.TrimSpace(section) != section || strings.ContainsAny(section, "[]\r\n"):
		return fmt.Errorf("osloconf: invalid section name %q", section)
	case key == "" || strings.ContainsAny(key, "=:\r\n#;[") || strings.TrimSpace(key) != key:
		return fmt.Errorf("osloconf: invalid key %q", key)
	case strings.ContainsAny(v, "\r\n"):
		return fmt.Errorf("osloconf: value of %s.%s contains a line break", section, key)
	case strings.TrimSpace(v) != v:
		return fmt.Errorf("osloconf: value of %s.%s has surrounding whitespace oslo.config would strip", section, key)
	}
	return nil
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
