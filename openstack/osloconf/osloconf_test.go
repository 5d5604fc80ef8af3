package osloconf

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const novaConf = `[DEFAULT]
# comment one
debug = false
transport_url = rabbit://x:y@h/#frag
pci_alias = {"a":1}
pci_alias = {"b":2}

my_ip=10.0.0.1

[database]
#
# The SQLAlchemy connection string. (string value)
#connection = <None>
connection = mysql+pymysql://nova:pw@db/nova
max_retries:   3
# trailing comment in database

[upgrade_levels]
# From nova.conf
#compute = <None>
# end of file comment
`

func TestParseGet(t *testing.T) {
	t.Parallel()
	f, err := Parse([]byte(novaConf))
	require.NoError(t, err)
	assert.Equal(t, novaConf, string(f.Bytes()), "round trip is byte-exact")
	v, ok := f.Get("DEFAULT", "transport_url")
	assert.True(t, ok)
	assert.Equal(t, "rabbit://x:y@h/#frag", v, "no inline comments")
	assert.Equal(t, []string{`{"a":1}`, `{"b":2}`}, f.Values("DEFAULT", "pci_alias"))
	v, _ = f.Get("database", "max_retries")
	assert.Equal(t, "3", v)
	_, ok = f.Get("upgrade_levels", "compute")
	assert.False(t, ok, "commented-out default is not a value")
	assert.Equal(t, []string{"DEFAULT", "database", "upgrade_levels"}, f.Sections())
}

func TestSetUnsetRoundTrip(t *testing.T) {
	t.Parallel()
	f, err := Parse([]byte(novaConf))
	require.NoError(t, err)
	changed, err := f.Set("upgrade_levels", "compute", "auto")
	require.NoError(t, err)
	assert.True(t, changed)
	want := strings.Replace(novaConf, "#compute = <None>\n", "#compute = <None>\ncompute = auto\n", 1)
	assert.Equal(t, want, string(f.Bytes()))

	changed, err = f.Set("upgrade_levels", "compute", "auto")
	require.NoError(t, err)
	assert.False(t, changed, "setting the same value again is a no-op")

	assert.True(t, f.Unset("upgrade_levels", "compute"))
	assert.Equal(t, novaConf, string(f.Bytes()), "set then unset restores the file")
	assert.False(t, f.Unset("upgrade_levels", "compute"))
}

func TestSetKeepsStyleAndPosition(t *testing.T) {
	t.Parallel()
	f, err := Parse([]byte(novaConf))
	require.NoError(t, err)
	_, err = f.Set("database", "max_retries", "1")
	require.NoError(t, err)
	_, err = f.Set("DEFAULT", "my_ip", "10.0.0.2")
	require.NoError(t, err)
	_, err = f.Set("database", "retry_interval", "1")
	require.NoError(t, err)
	out := string(f.Bytes())
	assert.Contains(t, out, "max_retries:   1\nretry_interval = 1\n# trailing comment in database")
	assert.Contains(t, out, "\nmy_ip=10.0.0.2\n")
}

func TestSetValuesMulti(t *testing.T) {
	t.Parallel()
	f, err := Parse([]byte(novaConf))
	require.NoError(t, err)
	changed, err := f.SetValues("DEFAULT", "pci_alias", []string{`{"c":3}`})
	require.NoError(t, err)
	assert.True(t, changed)
	assert.Equal(t, []string{`{"c":3}`}, f.Values("DEFAULT", "pci_alias"))
	assert.Contains(t, string(f.Bytes()), "transport_url = rabbit://x:y@h/#frag\npci_alias = {\"c\":3}\n\nmy_ip")
}

func TestNewSectionAndCRLF(t *testing.T) {
	t.Parallel()
	f, err := Parse([]byte("[a]\r\nx = 1"))
	require.NoError(t, err)
	_, err = f.Set("b", "y", "2")
	require.NoError(t, err)
	assert.Equal(t, "[a]\r\nx = 1\r\n\r\n[b]\r\ny = 2\r\n", string(f.Bytes()))

	var empty File
	_, err = empty.Set("DEFAULT", "debug", "true")
	require.NoError(t, err)
	assert.Equal(t, "debug = true\n", string(empty.Bytes()))
}

func TestContinuation(t *testing.T) {
	t.Parallel()
	f, err := Parse([]byte("[s]\nk = a\n  b\nz = 1\n"))
	require.NoError(t, err)
	v, _ := f.Get("s", "k")
	assert.Equal(t, "a\nb", v)
	assert.True(t, f.Unset("s", "k"))
	assert.Equal(t, "[s]\nz = 1\n", string(f.Bytes()))
}

func TestErrors(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"[s\n", "[]\n", "novalue\n", "  cont\n", "= x\n"} {
		_, err := Parse([]byte(bad))
		var se *SyntaxError
		assert.ErrorAs(t, err, &se, bad)
	}
	var f File
	for _, kv := range [][3]string{{"", "k", "v"}, {"s", "k=", "v"}, {"s", "k", "a\nb"}, {"s", " k", "v"}, {"s", "k", " v"}} {
		_, err := f.Set(kv[0], kv[1], kv[2])
		assert.Error(t, err, kv)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(novaConf), "upgrade_levels", "compute", "auto")
	f.Add([]byte("[a]\r\nx = 1"), "a", "x", "2")
	f.Add([]byte("k = a\n  b\n"), "DEFAULT", "k", "c")
	f.Fuzz(func(t *testing.T, data []byte, section, key, value string) {
		p, err := Parse(data)
		if err != nil {
			return
		}
		if string(p.Bytes()) != string(data) {
			t.Fatalf("round trip changed the file")
		}
		before := string(p.Bytes())
		changed, err := p.Set(section, key, value)
		if err != nil {
			return
		}
		q, err := Parse(p.Bytes())
		if err != nil {
			t.Fatalf("edited file does not parse: %v\n%q", err, p.Bytes())
		}
		if got, ok := q.Get(section, key); !ok || got != value {
			t.Fatalf("Get after Set = %q, %v; want %q", got, ok, value)
		}
		if changed && q.Unset(section, key) {
			if _, ok := q.Get(section, key); ok {
				t.Fatalf("key still set after Unset")
			}
		}
		_ = before
	})
}
