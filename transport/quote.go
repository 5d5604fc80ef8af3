package transport

import "strings"

// Quote returns s quoted for a POSIX shell: unchanged when it consists only
// of characters no shell treats specially, otherwise in single quotes with
// embedded single quotes written as '\”. A NUL byte cannot be passed
// through a shell at all; it is dropped.
func Quote(s string) string {
	if s == "" {
		return "''"
	}
	if isSafe(s) {
		return s
	}
	s = strings.ReplaceAll(s, "\x00", "")
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Join quotes every word of argv with Quote and joins them with spaces.
func Join(argv []string) string {
	var b strings.Builder
	for i, a := range argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(Quote(a))
	}
	return b.String()
}

func isSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-' || c == '_' || c == '.' || c == '/' || c == ',' || c == ':' || c == '@' || c == '%' || c == '+':
			// '=' is left out: a leading NAME= would read as an assignment.
		default:
			return false
		}
	}
	return true
}
