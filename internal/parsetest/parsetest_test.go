package parsetest

import (
	"errors"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
)

type numError struct{ err error }

func (e *numError) Error() string { return "num: " + e.err.Error() }

// parseNums parses "n,n,...;": the terminating ';' makes every strict
// prefix an error.
func parseNums(b []byte) ([]int, error) {
	s := string(b)
	if len(s) == 0 || s[len(s)-1] != ';' {
		return nil, &numError{errors.New("no terminator")}
	}
	var out []int
	for _, f := range splitComma(s[:len(s)-1]) {
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, &numError{err}
		}
		out = append(out, n)
	}
	return out, nil
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}

func TestCheck(t *testing.T) {
	t.Parallel()
	pe := Check[*numError](t, parseNums, "1,2;", "", func(t *testing.T, v []int) { assert.Equal(t, []int{1, 2}, v) })
	assert.Nil(t, pe)
	pe = Check[*numError](t, parseNums, "1,x;", "invalid syntax", nil)
	assert.NotNil(t, pe)
}

func TestEveryPrefixFails(t *testing.T) {
	t.Parallel()
	doc := []byte("1,22,333,4444;\n")
	EveryPrefixFails[*numError](t, doc, 0, parseNums)
	EveryPrefixFails[*numError](t, doc, 3, parseNums)
	_, err := parseNums(doc[:len(doc)-1])
	assert.NoError(t, err, "the whole document parses")
}
