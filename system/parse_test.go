package system

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseSHA256Sums(t *testing.T) {
	t.Parallel()
	h1, h2 := strings.Repeat("0a", 32), strings.Repeat("f1", 32)
	tests := []struct {
		name string
		in   string
		sep  byte
		want []Sum
		err  bool
	}{
		{"plain", h1 + "  /etc/one/oned.conf\n", '\n', []Sum{{h1, "/etc/one/oned.conf"}}, false},
		{"binary mode", h1 + " */a\n", '\n', []Sum{{h1, "/a"}}, false},
		{"escaped name", `\` + h1 + `  /tmp/a\nb\\c` + "\n", '\n', []Sum{{h1, "/tmp/a\nb\\c"}}, false},
		{"spaces in name", h1 + "  /a b  c\n", '\n', []Sum{{h1, "/a b  c"}}, false},
		{"nul separated", h1 + "  /x/odd\nname\x00" + h2 + "  /x/y\x00", 0, []Sum{{h1, "/x/odd\nname"}, {h2, "/x/y"}}, false},
		{"empty", "", '\n', nil, false},
		{"truncated", h1 + "  /a", '\n', nil, true},
		{"upper-case hash", strings.ToUpper(h1) + "  /a\n", '\n', nil, true},
		{"short hash", "abc  /a\n", '\n', nil, true},
		{"one space", h1 + " /a\n", '\n', nil, true},
		{"bad escape", `\` + h1 + `  /a\q` + "\n", '\n', nil, true},
		{"error text", "sha256sum: /a: No such file or directory\n", '\n', nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseSHA256Sums([]byte(tt.in), tt.sep)
			if tt.err {
				assert.ErrorIs(t, err, ErrMalformed)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseFindManifest(t *testing.T) {
	t.Parallel()
	in := "d 750 9869 9869\x00auth\x00\x00f 640 0 9869\x00auth/ldap_auth.conf\x00\x00l 777 0 0\x00link\x00../x y\x00f 2755 0 0\x00odd\nname\x00\x00"
	m, err := ParseFindManifest([]byte(in))
	require.NoError(t, err)
	assert.Equal(t, map[string]Entry{
		"auth":                {Type: 'd', Mode: "750", UID: "9869", GID: "9869"},
		"auth/ldap_auth.conf": {Type: 'f', Mode: "640", UID: "0", GID: "9869"},
		"link":                {Type: 'l', Mode: "777", UID: "0", GID: "0", Target: "../x y"},
		"odd\nname":           {Type: 'f', Mode: "2755", UID: "0", GID: "0"},
	}, m)
	for _, bad := range []string{
		"f 640 0 0\x00a\x00\x00f 640 0 0\x00a\x00\x00", // duplicate
		"f 640 0 0\x00a\x00",                           // truncated
		"f 640 0 0\x00a\x00\x00f",                      // no final NUL
		"x 640 0 0\x00a\x00\x00",                       // type
		"f 999 0 0\x00a\x00\x00",                       // mode
		"f 640 root 0\x00a\x00\x00",                    // owner
		"f 640 0 0\x00/abs\x00\x00",                    // absolute
		"f 640 0 0\x00../up\x00\x00",                   // escapes
		"f 640 0 0\x00a\x00target\x00",                 // target on a file
	} {
		_, err := ParseFindManifest([]byte(bad))
		assert.ErrorIs(t, err, ErrMalformed, "%q", bad)
	}
}

func TestCompareManifests(t *testing.T) {
	t.Parallel()
	want := map[string]Entry{
		"a":    {Type: 'f', Mode: "640", UID: "0", GID: "9869", SHA256: "x"},
		"b":    {Type: 'f', Mode: "644", UID: "0", GID: "0", SHA256: "y"},
		"link": {Type: 'l', Mode: "777", Target: "a"},
	}
	got := map[string]Entry{
		"a":     {Type: 'f', Mode: "600", UID: "1", GID: "9869", SHA256: "z"},
		"link":  {Type: 'l', Mode: "755", Target: "a"},
		"extra": {Type: 'f', Mode: "644", SHA256: "q"},
	}
	mm := compareManifests(want, got, compareOpts{owner: true}, true)
	require.NotNil(t, mm)
	assert.Equal(t, []string{"b"}, mm.Missing)
	assert.Equal(t, []string{"extra"}, mm.Extra)
	assert.Equal(t, []string{"a (mode 640/600, owner 0:9869/1:9869, content)"}, mm.Differ)
	mm = compareManifests(want, got, compareOpts{}, false)
	assert.Empty(t, mm.Extra, "not exact: extra files are allowed")
	assert.Equal(t, []string{"a (mode 640/600, content)"}, mm.Differ)
}
