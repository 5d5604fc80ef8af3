package onedconf

import (
	"bytes"
	"errors"
	"fmt"
)

// Conditions callers branch on; test with errors.Is.
var (
	// ErrSyntax: the input is not valid oned.conf syntax (see *SyntaxError).
	ErrSyntax = errors.New("oned.conf syntax error")
	// ErrNotFound: no attribute at the path.
	ErrNotFound = errors.New("attribute not found")
	// ErrAmbiguous: the path names a repeated attribute (several VM_MAD
	// vectors, say) without an index such as VM_MAD[1]/NAME.
	ErrAmbiguous = errors.New("attribute is repeated: add an index")
	// ErrNotVector: a path descends into a single-valued attribute.
	ErrNotVector = errors.New("attribute is not a vector")
	// ErrIsVector: a path names a vector where a single value is needed.
	ErrIsVector = errors.New("attribute is a vector")
	// ErrBadPath: the path is not NAME, NAME/SUB, NAME[i] or NAME[i]/SUB.
	ErrBadPath = errors.New("invalid attribute path")
	// ErrBadValue: the value cannot be written in the oned.conf syntax (a
	// double quote not preceded by a backslash, or a trailing backslash).
	ErrBadValue = errors.New("value cannot be represented in oned.conf")
)

// SyntaxError reports malformed input with its position (1-based line and
// column, in bytes).
type SyntaxError struct {
	Offset int
	Line   int
	Column int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("oned.conf:%d:%d: %s", e.Line, e.Column, e.Msg)
}

// Is makes errors.Is(err, ErrSyntax) true.
func (e *SyntaxError) Is(target error) bool { return target == ErrSyntax }

func newSyntaxError(src []byte, at int, format string, args ...any) error {
	at = min(max(at, 0), len(src))
	line := 1 + bytes.Count(src[:at], []byte("\n"))
	col := at - (bytes.LastIndexByte(src[:at], '\n') + 1) + 1
	return &SyntaxError{Offset: at, Line: line, Column: col, Msg: fmt.Sprintf(format, args...)}
}

// PathError reports a lookup or change that failed for a path. Err is one
// of the sentinels above.
type PathError struct {
	Op   string // "get" or "set"
	Path string
	Err  error
}

func (e *PathError) Error() string { return e.Op + " " + e.Path + ": " + e.Err.Error() }

func (e *PathError) Unwrap() error { return e.Err }
