package shell

import (
	"path"
	"strings"

	"github.com/upgradekit/upgradekit/sim/internal/vfs"
)

// FindMatch reports whether the entry f, with metadata st, passes find's
// -type (typ, "f" or "d") and -name (a glob on the base name) tests; an
// empty test passes.
func FindMatch(f string, st vfs.File, typ, name string) bool {
	if typ == "f" && st.Dir || typ == "d" && !st.Dir {
		return false
	}
	if name != "" {
		if ok, _ := path.Match(name, path.Base(f)); !ok {
			return false
		}
	}
	return true
}

// FindExec builds the command of find's "-exec argv +": every "{}" in
// argv is replaced by all matched paths.
func FindExec(argv, matched []string) []string {
	var out []string
	for _, x := range argv {
		if x == "{}" {
			out = append(out, matched...)
		} else {
			out = append(out, x)
		}
	}
	return out
}

// FindPrintf renders a find -printf format. It handles the backslash
// escapes \0 and \n (and \t when tab is set; any other escaped byte
// stands for itself) and a trailing lone "%"; verb writes the directive
// of every other "%" followed by the byte v.
func FindPrintf(format string, tab bool, verb func(b *strings.Builder, v byte)) string {
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		ch := format[i]
		if ch == '\\' && i+1 < len(format) {
			i++
			switch {
			case format[i] == '0':
				b.WriteByte(0)
			case format[i] == 'n':
				b.WriteByte('\n')
			case format[i] == 't' && tab:
				b.WriteByte('\t')
			default:
				b.WriteByte(format[i])
			}
			continue
		}
		if ch != '%' || i+1 >= len(format) {
			b.WriteByte(ch)
			continue
		}
		i++
		verb(&b, format[i])
	}
	return b.String()
}

// FindExecArgs parses find's "-exec argv +" (or ";") whose "-exec"
// stands at args[i]: it returns argv and the index of the terminator
// (len(args) when there is none).
func FindExecArgs(args []string, i int) (argv []string, end int) {
	j := i + 1
	for j < len(args) && args[j] != "+" && args[j] != ";" {
		j++
	}
	return args[i+1 : j], j
}
