package parsetest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ReadSample returns the contents of testdata/name.
func ReadSample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

// Check runs parse on in. With wantErr "" it must succeed and check gets
// the result; otherwise the error must be an E whose text contains
// wantErr and the result the zero value. It returns the E (zero on
// success) for further assertions.
func Check[E error, T any](t *testing.T, parse func([]byte) (T, error), in, wantErr string, check func(*testing.T, T)) E {
	t.Helper()
	var pe E
	v, err := parse([]byte(in))
	if wantErr == "" {
		require.NoError(t, err)
		check(t, v)
		return pe
	}
	require.ErrorAs(t, err, &pe)
	assert.Contains(t, err.Error(), wantErr)
	var zero T
	assert.Equal(t, zero, v)
	return pe
}

// EveryPrefixFails checks that parse fails with an E for every strict
// prefix of doc (trailing newlines aside). maxCuts > 0 limits the cuts to
// about that many, evenly spread (every prefix costs a parse); 0 tries
// them all.
func EveryPrefixFails[E error, T any](t testing.TB, doc []byte, maxCuts int, parse func([]byte) (T, error)) {
	t.Helper()
	end := len(strings.TrimRight(string(doc), "\n"))
	step := 1
	if maxCuts > 0 {
		step += end / maxCuts
	}
	for n := 0; n < end; n += step {
		if _, err := parse(doc[:n]); !errors.As(err, new(E)) {
			t.Fatalf("cut at %d: got %v, want %T", n, err, *new(E))
		}
	}
}
