package onedconf

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// File is a parsed oned.conf. It keeps the source byte for byte: Bytes
// returns it unchanged until Set changes a value, and then differs only in
// the bytes of that value (or the attribute Set added). A File is not safe
// for concurrent use.
type File struct {
	src   []byte
	attrs []*attr
}

// Bytes returns the file's content. The slice is a copy.
func (f *File) Bytes() []byte { return bytes.Clone(f.src) }

// segment is one path component: NAME or NAME[i].
type segment struct {
	name  string
	index int // -1: none given
}

func (s segment) String() string {
	if s.index < 0 {
		return s.name
	}
	return s.name + "[" + strconv.Itoa(s.index) + "]"
}

func parsePath(path string) ([]segment, error) {
	parts := strings.Split(path, "/")
	if len(parts) > 2 {
		return nil, ErrBadPath
	}
	segs := make([]segment, 0, len(parts))
	for _, p := range parts {
		s := segment{name: p, index: -1}
		if i := strings.IndexByte(p, '['); i >= 0 {
			if !strings.HasSuffix(p, "]") {
				return nil, ErrBadPath
			}
			n, err := strconv.Atoi(p[i+1 : len(p)-1])
			if err != nil || n < 0 || p[i+1] == '+' {
				return nil, ErrBadPath
			}
			s.name, s.index = p[:i], n
		}
		if s.name == "" {
			return nil, ErrBadPath
		}
		for j := 0; j < len(s.name); j++ {
			if !isNameByte(s.name[j]) {
				return nil, ErrBadPath
			}
		}
		segs = append(segs, s)
	}
	return segs, nil
}

// pick returns the index of the match for s among n candidates named by
// name(i), comparing names case-insensitively as OpenNebula does.
func pick(s segment, n int, name func(int) string) (int, error) {
	var matches []int
	for i := range n {
		if strings.EqualFold(name(i), s.name) {
			matches = append(matches, i)
		}
	}
	switch {
	case s.index >= 0 && s.index < len(matches):
		return matches[s.index], nil
	case s.index >= 0 || len(matches) == 0:
		return -1, ErrNotFound
	case len(matches) > 1:
		return -1, ErrAmbiguous
	}
	return matches[0], nil
}

func (f *File) top(s segment) (int, error) {
	return pick(s, len(f.attrs), func(i int) string { return f.attrs[i].name })
}

func elemIndex(a *attr, s segment) (int, error) {
	return pick(s, len(a.elems), func(i int) string { return a.elems[i].name })
}

// lookup resolves path to the value token it names.
func (f *File) lookup(path string) (value, error) {
	segs, err := parsePath(path)
	if err != nil {
		return value{}, err
	}
	ai, err := f.top(segs[0])
	if err != nil {
		return value{}, err
	}
	a := f.attrs[ai]
	if len(segs) == 1 {
		if a.vector {
			return value{}, ErrIsVector
		}
		return a.val, nil
	}
	if !a.vector {
		return value{}, ErrNotVector
	}
	ei, err := elemIndex(a, segs[1])
	if err != nil {
		return value{}, err
	}
	return a.elems[ei].val, nil
}

// Get returns the value at path: "PORT", "FEDERATION/SERVER_ID",
// "DB/BACKEND", or with an index for repeated attributes, "VM_MAD[1]/NAME"
// (0-based among attributes of that name). Names match case-insensitively.
// Quoted values are returned without their quotes and otherwise raw (a
// \" stays as written, as oned reads it). Errors are *PathError wrapping
// ErrNotFound, ErrAmbiguous, ErrIsVector, ErrNotVector or ErrBadPath.
func (f *File) Get(path string) (string, error) {
	v, err := f.lookup(path)
	if err != nil {
		return "", &PathError{Op: "get", Path: path, Err: err}
	}
	return f.text(v), nil
}

// GetInt returns the value at path as an integer.
func (f *File) GetInt(path string) (int, error) {
	s, err := f.Get(path)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, &PathError{Op: "get", Path: path, Err: fmt.Errorf("not an integer: %q", s)}
	}
	return n, nil
}

// Has reports whether path names an existing single value.
func (f *File) Has(path string) bool {
	_, err := f.lookup(path)
	return err == nil
}

func (f *File) text(v value) string {
	if v.quoted {
		return string(f.src[v.start+1 : v.end-1])
	}
	return string(f.src[v.start:v.end])
}

// Paths returns the path of every single value in file order, with an
// index on names that repeat ("VM_MAD[0]/NAME"). Every returned path works
// with Get and Set.
func (f *File) Paths() []string {
	count := map[string]int{}
	for _, a := range f.attrs {
		count[strings.ToUpper(a.name)]++
	}
	seen := map[string]int{}
	var out []string
	for _, a := range f.attrs {
		up := strings.ToUpper(a.name)
		seg := segment{name: a.name, index: -1}
		if count[up] > 1 {
			seg.index = seen[up]
		}
		seen[up]++
		if !a.vector {
			out = append(out, seg.String())
			continue
		}
		ecount := map[string]int{}
		for _, e := range a.elems {
			ecount[strings.ToUpper(e.name)]++
		}
		eseen := map[string]int{}
		for _, e := range a.elems {
			eu := strings.ToUpper(e.name)
			es := segment{name: e.name, index: -1}
			if ecount[eu] > 1 {
				es.index = eseen[eu]
			}
			eseen[eu]++
			out = append(out, seg.String()+"/"+es.String())
		}
	}
	return out
}

// checkValue reports whether v survives being written between double
// quotes: every '"' must be escaped as \" and v must not end in a lone
// backslash (which would escape the closing quote).
func checkValue(v string) error {
	for i := 0; i < len(v); i++ {
		if v[i] == '"' && (i == 0 || v[i-1] != '\\') {
			return ErrBadValue
		}
	}
	if strings.HasSuffix(v, `\`) {
		return ErrBadValue
	}
	return nil
}

// bareOK reports whether v can be written without quotes.
func bareOK(v string) bool {
	if v == "" || v[0] == '"' {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !isBareByte(c) || c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

func encode(v string, quoted bool) string {
	if quoted || !bareOK(v) {
		return `"` + v + `"`
	}
	return v
}

// Set changes the value at path, rewriting only that value's bytes and
// keeping its quoting style (a bare value is quoted only if the new value
// needs it). A missing attribute is added: inside its vector after the
// last element, indented and aligned like its neighbours; a new top-level
// attribute or vector at the end of the file. Repeated attributes need an
// index. Values are written raw: a double quote must be given as \".
func (f *File) Set(path, v string) error {
	if err := f.set(path, v); err != nil {
		return &PathError{Op: "set", Path: path, Err: err}
	}
	return nil
}

type splice struct {
	at, end int
	text    string
}

func (f *File) set(path, v string) error {
	segs, err := parsePath(path)
	if err != nil {
		return err
	}
	if err := checkValue(v); err != nil {
		return err
	}
	edits, err := f.plan(segs, v)
	if err != nil {
		return err
	}
	out := f.src
	// Apply from the end so earlier offsets stay valid.
	for i := len(edits) - 1; i >= 0; i-- {
		e := edits[i]
		next := make([]byte, 0, len(out)+len(e.text))
		next = append(append(append(next, out[:e.at]...), e.text...), out[e.end:]...)
		out = next
	}
	nf, err := Parse(out)
	if err != nil {
		// Cannot happen for values that pass checkValue; keep f intact.
		return fmt.Errorf("internal error: edit produced invalid syntax: %w", err)
	}
	*f = *nf
	return nil
}

func (f *File) plan(segs []segment, v string) ([]splice, error) {
	ai, err := f.top(segs[0])
	if err == ErrNotFound && segs[0].index < 0 {
		return f.planAppend(segs, v), nil
	}
	if err != nil {
		return nil, err
	}
	a := f.attrs[ai]
	if len(segs) == 1 {
		if a.vector {
			return nil, ErrIsVector
		}
		return []splice{f.replace(a.eq, a.val, v)}, nil
	}
	if !a.vector {
		return nil, ErrNotVector
	}
	ei, err := elemIndex(a, segs[1])
	if err == ErrNotFound && segs[1].index < 0 {
		return f.planInsert(a, segs[1].name, v), nil
	}
	if err != nil {
		return nil, err
	}
	e := a.elems[ei]
	return []splice{f.replace(e.eq, e.val, v)}, nil
}

// replace rewrites the token old (whose '=' is at eq) to hold v.
func (f *File) replace(eq int, old value, v string) splice {
	text := encode(v, old.quoted)
	if old.start == old.end && old.start == eq+1 {
		// `NAME =` with nothing after '=': separate with a space.
		text = " " + text
	}
	return splice{at: old.start, end: old.end, text: text}
}

func (f *File) lineStart(off int) int {
	return bytes.LastIndexByte(f.src[:off], '\n') + 1
}

// planInsert adds NAME = v as the last element of vector a.
func (f *File) planInsert(a *attr, name, v string) []splice {
	val := encode(v, true)
	if len(a.elems) == 0 {
		if bytes.ContainsRune(f.src[a.open:a.close], '\n') {
			ind := f.indentOf(a.nameStart) + "    "
			return []splice{{at: a.open + 1, end: a.open + 1, text: "\n" + ind + name + " = " + val}}
		}
		return []splice{{at: a.open + 1, end: a.open + 1, text: " " + name + " = " + val + " "}}
	}
	last := a.elems[len(a.elems)-1]
	afterEq := string(f.src[last.eq+1 : last.val.start])
	if strings.Trim(afterEq, " \t") != "" || afterEq == "" {
		afterEq = " "
	}
	if !bytes.ContainsRune(f.src[a.open:a.close], '\n') {
		return []splice{{at: last.val.end, end: last.val.end, text: ", " + name + " = " + val}}
	}
	// Multi-line: new line with the last element's indentation, '='
	// aligned on the column most elements use when the name fits.
	ls := f.lineStart(last.nameStart)
	indent := string(f.src[ls:last.nameStart])
	if strings.Trim(indent, " \t") != "" {
		indent = strings.Repeat(" ", len(indent))
	}
	gap := " "
	if col, ok := f.eqColumn(a); ok && len(indent)+len(name) < col {
		gap = strings.Repeat(" ", col-len(indent)-len(name))
	}
	line := indent + name + gap + "=" + afterEq + val
	// Put the new line after the last element's own line, so a trailing
	// comment stays where it was; the comma goes right after its value.
	p := last.val.end
	for p < a.close && isBlank(f.src[p]) {
		p++
	}
	if p < a.close && f.src[p] == '#' {
		for p < a.close && f.src[p] != '\n' {
			p++
		}
		if f.src[p-1] == '\r' {
			p--
		}
		return []splice{
			{at: last.val.end, end: last.val.end, text: ","},
			{at: p, end: p, text: "\n" + line},
		}
	}
	return []splice{{at: last.val.end, end: last.val.end, text: ",\n" + line}}
}

// eqColumn returns the column of '=' shared by most elements of a that
// are padded for alignment (more than one blank before '='), if any.
func (f *File) eqColumn(a *attr) (int, bool) {
	cols := map[int]int{}
	best, bestN := 0, 0
	for _, e := range a.elems {
		if e.eq-e.nameEnd < 2 || bytes.ContainsAny(f.src[e.nameEnd:e.eq], "\n\r") {
			continue
		}
		col := e.eq - f.lineStart(e.eq)
		cols[col]++
		if cols[col] > bestN || cols[col] == bestN && col < best {
			best, bestN = col, cols[col]
		}
	}
	return best, bestN > 0
}

func (f *File) indentOf(off int) string {
	ls := f.lineStart(off)
	ind := string(f.src[ls:off])
	if strings.Trim(ind, " \t") != "" {
		return ""
	}
	return ind
}

// planAppend adds a new top-level attribute (or vector) at the end.
func (f *File) planAppend(segs []segment, v string) []splice {
	var text string
	if len(f.src) > 0 && f.src[len(f.src)-1] != '\n' {
		text = "\n"
	}
	if len(segs) == 1 {
		text += segs[0].name + " = " + encode(v, false) + "\n"
	} else {
		text += segs[0].name + " = [\n    " + segs[1].name + " = " + encode(v, true) + "\n]\n"
	}
	return []splice{{at: len(f.src), end: len(f.src), text: text}}
}

// Federation is the FEDERATION vector of oned.conf (share/etc/oned.conf).
type Federation struct {
	// Mode is STANDALONE (the default), MASTER, SLAVE or CACHE.
	Mode string
	// ZoneID is the zone of this front-end (0 when STANDALONE).
	ZoneID int
	// ServerID is -1 for a solo front-end, otherwise the HA member's
	// SERVER/ID in `onezone show`.
	ServerID int
	// MasterOned and MasterOnedGRPC are the master's endpoints (SLAVE, CACHE).
	MasterOned, MasterOnedGRPC string
}

// Federation reads the FEDERATION vector, applying oned's defaults
// (STANDALONE, zone 0, server -1) for missing attributes.
func (f *File) Federation() (Federation, error) {
	fed := Federation{Mode: "STANDALONE", ServerID: -1}
	get := func(name string) (string, bool, error) {
		s, err := f.Get("FEDERATION/" + name)
		if err != nil {
			if isNotFound(err) {
				return "", false, nil
			}
			return "", false, err
		}
		return s, true, nil
	}
	if s, ok, err := get("MODE"); err != nil {
		return fed, err
	} else if ok {
		fed.Mode = strings.ToUpper(strings.TrimSpace(s))
	}
	for _, it := range []struct {
		name string
		dst  *int
	}{{"ZONE_ID", &fed.ZoneID}, {"SERVER_ID", &fed.ServerID}} {
		s, ok, err := get(it.name)
		if err != nil {
			return fed, err
		}
		if !ok {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return fed, &PathError{Op: "get", Path: "FEDERATION/" + it.name, Err: fmt.Errorf("not an integer: %q", s)}
		}
		*it.dst = n
	}
	var err error
	if fed.MasterOned, _, err = get("MASTER_ONED"); err != nil {
		return fed, err
	}
	if fed.MasterOnedGRPC, _, err = get("MASTER_ONED_GRPC"); err != nil {
		return fed, err
	}
	return fed, nil
}

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
