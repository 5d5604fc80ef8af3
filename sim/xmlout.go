package sim

import (
	"strings"
)

// xw writes XML the way Nokogiri re-serialises it: two-space indentation,
// no declaration, <X/> for empty elements.
type xw struct {
	b     strings.Builder
	depth int
}

func (w *xw) indent() { w.b.WriteString(strings.Repeat("  ", w.depth)) }

func (w *xw) open(name string) {
	w.indent()
	w.b.WriteString("<" + name + ">\n")
	w.depth++
}

func (w *xw) close(name string) {
	w.depth--
	w.indent()
	w.b.WriteString("</" + name + ">\n")
}

func (w *xw) empty(name string) {
	w.indent()
	w.b.WriteString("<" + name + "/>\n")
}

// leaf writes a plain text element.
func (w *xw) leaf(name, v string) {
	w.indent()
	w.b.WriteString("<" + name + ">" + escText(v) + "</" + name + ">\n")
}

// cdata writes an element whose value is wrapped in CDATA.
func (w *xw) cdata(name, v string) {
	w.indent()
	w.b.WriteString("<" + name + "><![CDATA[" + strings.ReplaceAll(v, "]]>", "]]]]><![CDATA[>") + "]]></" + name + ">\n")
}

func (w *xw) String() string { return w.b.String() }

// textEscaper is immutable and safe for concurrent use.
var textEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

func escText(s string) string { return textEscaper.Replace(s) }
