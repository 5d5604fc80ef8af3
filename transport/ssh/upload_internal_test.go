package ssh

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const emptySHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

func TestParseUploadReply(t *testing.T) {
	t.Parallel()
	sum, size, tmp, err := parseUploadReply([]byte(emptySHA + " 0 /root/.upgradekit-upload.Ab12Cd34\n"))
	require.NoError(t, err)
	assert.Equal(t, emptySHA, sum)
	assert.Zero(t, size)
	assert.Equal(t, "/root/.upgradekit-upload.Ab12Cd34", tmp)
	for _, bad := range []string{"", "x 1 /t", emptySHA + " -1 /t", emptySHA + " 1", emptySHA + " one /t", strings.ToUpper(emptySHA) + " 1 /t", emptySHA + " 1 /t extra"} {
		_, _, _, err := parseUploadReply([]byte(bad))
		assert.Error(t, err, bad)
	}
}

// FuzzParseUploadReply: any reply either parses into values that print
// back to the same fields or is an error; never a panic.
func FuzzParseUploadReply(f *testing.F) {
	f.Add([]byte(emptySHA + " 0 /root/.upgradekit-upload.Ab12Cd34\n"))
	f.Add([]byte(emptySHA + " 99999999999999999999 /x"))
	f.Add([]byte("\x00 \xff"))
	f.Fuzz(func(t *testing.T, out []byte) {
		sum, size, tmp, err := parseUploadReply(out)
		if err != nil {
			return
		}
		if got := strings.Fields(string(out)); len(got) != 3 || got[0] != sum || got[2] != tmp || got[1] != fmt.Sprint(size) && strings.TrimLeft(got[1], "+0") != strings.TrimLeft(fmt.Sprint(size), "0") {
			t.Fatalf("parse(%q) = %q %d %q", out, sum, size, tmp)
		}
		if size < 0 || len(sum) != 64 {
			t.Fatalf("parse(%q) accepted size %d sum %q", out, size, sum)
		}
	})
}
