package onedconf

import (
	"bytes"
)

// value is the raw token of an attribute value: src[start:end] includes
// the double quotes of a quoted value. An empty value written `NAME =`
// at the end of a line has start == end.
type value struct {
	start, end int
	quoted     bool
}

// elem is one NAME = value pair inside a vector attribute.
type elem struct {
	name               string
	nameStart, nameEnd int
	eq                 int // offset of '='
	val                value
}

// attr is one top-level attribute: either single-valued or a vector.
type attr struct {
	name               string
	nameStart, nameEnd int
	eq                 int
	vector             bool
	val                value // single-valued only
	open, close        int   // offsets of '[' and ']' (vector only)
	elems              []elem
}

type parser struct {
	src []byte
	pos int
}

// Parse parses the oned.conf syntax (the OpenNebula template format):
// `NAME = value`, `NAME = "quoted"` (which may span lines and contain \"),
// `NAME =` (empty), vectors `NAME = [ A = "b", C = d ]` possibly over
// several lines, and `#` comments. The File keeps src byte for byte.
// Malformed input returns a *SyntaxError (errors.Is ErrSyntax).
func Parse(src []byte) (*File, error) {
	p := &parser{src: bytes.Clone(src)}
	attrs, err := p.parseFile()
	if err != nil {
		return nil, err
	}
	return &File{src: p.src, attrs: attrs}, nil
}

func (p *parser) eof() bool { return p.pos >= len(p.src) }

func (p *parser) peek() byte {
	if p.eof() {
		return 0
	}
	return p.src[p.pos]
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' }

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isNameByte(c byte) bool {
	return c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
}

// isBareByte reports whether c may appear in an unquoted value: anything
// but blanks, newlines, '=', '#', ',', '[' and ']' (the template lexer's
// STRING class), and a carriage return, so CRLF files read cleanly.
func isBareByte(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '=', '#', ',', '[', ']':
		return false
	}
	return true
}

// skipSpaceAndComments skips blanks, newlines and `#` comments (to the end
// of the line).
func (p *parser) skipSpaceAndComments() {
	for !p.eof() {
		c := p.src[p.pos]
		switch {
		case isSpace(c):
			p.pos++
		case c == '#':
			for !p.eof() && p.src[p.pos] != '\n' {
				p.pos++
			}
		default:
			return
		}
	}
}

func (p *parser) skipBlanks() {
	for !p.eof() && isBlank(p.src[p.pos]) {
		p.pos++
	}
}

func (p *parser) errorf(at int, format string, args ...any) error {
	return newSyntaxError(p.src, at, format, args...)
}

func (p *parser) parseFile() ([]*attr, error) {
	var attrs []*attr
	for {
		p.skipSpaceAndComments()
		if p.eof() {
			return attrs, nil
		}
		a, err := p.parseAttr()
		if err != nil {
			return nil, err
		}
		attrs = append(attrs, a)
	}
}

func (p *parser) parseName() (string, int, int, error) {
	start := p.pos
	for !p.eof() && isNameByte(p.src[p.pos]) {
		p.pos++
	}
	if p.pos == start {
		if p.eof() {
			return "", 0, 0, p.errorf(p.pos, "expected an attribute name, found end of file")
		}
		return "", 0, 0, p.errorf(p.pos, "expected an attribute name, found %q", p.src[p.pos])
	}
	return string(p.src[start:p.pos]), start, p.pos, nil
}

// parseEq consumes optional white space, '=' and the blanks after it,
// returning the offset of '='.
func (p *parser) parseEq(name string) (int, error) {
	for !p.eof() && isSpace(p.src[p.pos]) {
		p.pos++
	}
	if p.peek() != '=' {
		if p.eof() {
			return 0, p.errorf(p.pos, "attribute %s: expected '=', found end of file", name)
		}
		return 0, p.errorf(p.pos, "attribute %s: expected '=', found %q", name, p.src[p.pos])
	}
	eq := p.pos
	p.pos++
	p.skipBlanks()
	return eq, nil
}

func (p *parser) parseAttr() (*attr, error) {
	name, ns, ne, err := p.parseName()
	if err != nil {
		return nil, err
	}
	eq, err := p.parseEq(name)
	if err != nil {
		return nil, err
	}
	a := &attr{name: name, nameStart: ns, nameEnd: ne, eq: eq}
	if p.peek() == '[' {
		a.vector = true
		a.open = p.pos
		p.pos++
		if err := p.parseVector(a); err != nil {
			return nil, err
		}
		return a, nil
	}
	v, err := p.parseValue(name)
	if err != nil {
		return nil, err
	}
	a.val = v
	return a, nil
}

// parseValue parses a quoted, bare or empty value at p.pos.
func (p *parser) parseValue(name string) (value, error) {
	start := p.pos
	switch c := p.peek(); {
	case p.eof() || c == '\n' || c == '\r':
		return value{start: start, end: start}, nil
	case c == '"':
		p.pos++
		for {
			if p.eof() {
				return value{}, p.errorf(start, "attribute %s: unterminated quoted value", name)
			}
			switch p.src[p.pos] {
			case '\\':
				if p.pos+1 < len(p.src) && p.src[p.pos+1] == '"' {
					p.pos += 2
					continue
				}
			case '"':
				p.pos++
				return value{start: start, end: p.pos, quoted: true}, nil
			}
			p.pos++
		}
	case c == '[':
		return value{}, p.errorf(start, "attribute %s: vectors cannot be nested", name)
	case !isBareByte(c):
		return value{}, p.errorf(start, "attribute %s: expected a value, found %q", name, c)
	default:
		for !p.eof() && isBareByte(p.src[p.pos]) {
			p.pos++
		}
		return value{start: start, end: p.pos}, nil
	}
}

func (p *parser) parseVector(a *attr) error {
	for {
		p.skipSpaceAndComments()
		if p.eof() {
			return p.errorf(a.open, "vector %s: missing ']'", a.name)
		}
		if p.peek() == ']' {
			a.close = p.pos
			p.pos++
			return nil
		}
		name, ns, ne, err := p.parseName()
		if err != nil {
			return err
		}
		eq, err := p.parseEq(a.name + "/" + name)
		if err != nil {
			return err
		}
		v, err := p.parseValue(a.name + "/" + name)
		if err != nil {
			return err
		}
		a.elems = append(a.elems, elem{name: name, nameStart: ns, nameEnd: ne, eq: eq, val: v})
		p.skipSpaceAndComments()
		switch {
		case p.eof():
			return p.errorf(a.open, "vector %s: missing ']'", a.name)
		case p.peek() == ',':
			p.pos++
		case p.peek() == ']':
			a.close = p.pos
			p.pos++
			return nil
		default:
			return p.errorf(p.pos, "vector %s: expected ',' or ']' after %s, found %q", a.name, name, p.src[p.pos])
		}
	}
}
