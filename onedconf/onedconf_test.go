package onedconf

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func fixture(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/oned.conf")
	require.NoError(t, err)
	return b
}

func TestRoundTripUnchanged(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"testdata/oned.conf"} {
		src, err := os.ReadFile(name)
		require.NoError(t, err)
		f, err := Parse(src)
		require.NoError(t, err)
		assert.Equal(t, src, f.Bytes(), "unedited file must come back byte for byte")
		// Setting every value to itself changes nothing either.
		for _, p := range f.Paths() {
			v, err := f.Get(p)
			require.NoError(t, err, p)
			require.NoError(t, f.Set(p, v), p)
		}
		assert.Equal(t, src, f.Bytes())
	}
}

func TestRoundTripCRLFAndNoFinalNewline(t *testing.T) {
	t.Parallel()
	src := []byte("PORT = 2633\r\nDB = [ BACKEND = \"mysql\",\r\n  SERVER = localhost ]\r\n# end")
	f, err := Parse(src)
	require.NoError(t, err)
	assert.Equal(t, src, f.Bytes())
	v, err := f.Get("DB/SERVER")
	require.NoError(t, err)
	assert.Equal(t, "localhost", v)
	v, err = f.Get("PORT")
	require.NoError(t, err)
	assert.Equal(t, "2633", v)
}

// sections splits the samples file at its "## " headings.
func sections(t *testing.T) map[string][]byte {
	t.Helper()
	b, err := os.ReadFile("testdata/oned-conf-federation-snippets.txt")
	require.NoError(t, err)
	out := map[string][]byte{}
	var head string
	for _, part := range bytes.Split(b, []byte("\n## ")) {
		line, rest, _ := bytes.Cut(part, []byte("\n"))
		head = string(line)
		out[head] = rest
	}
	require.Len(t, out, 8) // the title plus seven sections
	return out
}

func TestSamplesFederation(t *testing.T) {
	t.Parallel()
	want := map[string]Federation{
		"Shipped default":    {Mode: "STANDALONE", ZoneID: 0, ServerID: -1},
		"HA member of a":     {Mode: "STANDALONE", ZoneID: 0, ServerID: 1},
		"Federation master":  {Mode: "MASTER", ZoneID: 0, ServerID: 0},
		"Federation slave":   {Mode: "SLAVE", ZoneID: 100, ServerID: 2, MasterOned: "http://192.168.150.1:2633/RPC2"},
		"Read-only cache":    {Mode: "CACHE", ZoneID: 0, ServerID: -1, MasterOned: "http://10.0.0.10:2633/RPC2"},
		"DB block (MySQL)":   {Mode: "STANDALONE", ServerID: -1},
		"/etc/one/monitord.": {},
	}
	matched := 0
	for head, body := range sections(t) {
		for prefix, fed := range want {
			if !strings.HasPrefix(head, prefix) {
				continue
			}
			matched++
			f, err := Parse(body)
			if prefix == "/etc/one/monitord." {
				// The sample elides attributes with "...", which is not
				// valid syntax: it must be reported, with its position.
				var se *SyntaxError
				require.ErrorAs(t, err, &se)
				assert.Equal(t, 2, se.Line)
				assert.ErrorIs(t, err, ErrSyntax)
				continue
			}
			require.NoError(t, err, head)
			assert.Equal(t, body, f.Bytes())
			got, err := f.Federation()
			require.NoError(t, err)
			assert.Equal(t, fed, got, head)
		}
	}
	assert.Equal(t, 7, matched)
	// The shipped-default section also holds RAFT.
	for head, body := range sections(t) {
		if strings.HasPrefix(head, "Shipped default") {
			f, err := Parse(body)
			require.NoError(t, err)
			n, err := f.GetInt("RAFT/LOG_RETENTION")
			require.NoError(t, err)
			assert.Equal(t, 250000, n)
		}
		if strings.HasPrefix(head, "DB block") {
			f, err := Parse(body)
			require.NoError(t, err)
			v, err := f.Get("DB/COMPARE_BINARY")
			require.NoError(t, err)
			assert.Equal(t, "no", v)
		}
	}
}

func TestGet(t *testing.T) {
	t.Parallel()
	f, err := Parse(fixture(t))
	require.NoError(t, err)
	tests := []struct {
		path string
		want string
		err  error
	}{
		{path: "PORT", want: "2633"},
		{path: "port", want: "2633"},
		{path: "GRPC_PORT", want: "2634"},
		{path: "FEDERATION/SERVER_ID", want: "-1"},
		{path: "FEDERATION/MODE", want: "STANDALONE"},
		{path: "federation/master_oned", want: ""},
		{path: "DB/BACKEND", want: "mysql"},
		{path: "DB/ERRORS_LIMIT", want: "25"},
		{path: "SCRIPTS_REMOTE_DIR", want: "/var/tmp/one"},
		{path: "VM_USE_OPERATIONS", want: ""},
		{path: "VM_MAD[1]/NAME", want: "lxc"},
		{path: "IM_MAD[2]/SUNSTONE_NAME", want: "LXC"},
		{path: "VM_RESTRICTED_ATTR[3]", want: "DISK/TOTAL_BYTES_SEC"},
		{path: "RAFT_LEADER_HOOK/ARGUMENTS", want: "leader eth0 10.0.0.10/24"},
		{path: "DS_MAD_CONF[1]/PERSISTENT_ONLY", want: "YES"},
		{path: "HM_MAD/ARGUMENTS", want: "-p 2101 -l 2102 -b 127.0.0.1"},
		{path: "VM_MAD[0]/IMPORTED_VMS_ACTIONS", want: "terminate, terminate-hard, hold, release, suspend,\n" +
			"        resume, delete, reboot, reboot-hard, resched, unresched, disk-attach,\n" +
			"        disk-detach, nic-attach, nic-detach, snapshot-create, snapshot-delete,\n" +
			"        resize, updateconf, update"},
		{path: "VM_MAD/NAME", err: ErrAmbiguous},
		{path: "VM_RESTRICTED_ATTR", err: ErrAmbiguous},
		{path: "VM_MAD[2]/NAME", err: ErrNotFound},
		{path: "FEDERATION", err: ErrIsVector},
		{path: "PORT/X", err: ErrNotVector},
		{path: "MANAGER_TIMER", err: ErrNotFound}, // commented out
		{path: "VNC_PORTS/RESERVED", err: ErrNotFound},
		{path: "A/B/C", err: ErrBadPath},
		{path: "", err: ErrBadPath},
		{path: "VM_MAD[x]/NAME", err: ErrBadPath},
		{path: "VM_MAD[-1]/NAME", err: ErrBadPath},
		{path: "FED-ERATION", err: ErrBadPath},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			got, err := f.Get(tt.path)
			if tt.err != nil {
				require.ErrorIs(t, err, tt.err)
				var pe *PathError
				require.ErrorAs(t, err, &pe)
				assert.Equal(t, tt.path, pe.Path)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestSetChangesOnlyThatValue(t *testing.T) {
	t.Parallel()
	src := fixture(t)
	tests := []struct {
		path, value string
		old, new    string // the only change expected in the file
	}{
		{"FEDERATION/SERVER_ID", "2",
			"    SERVER_ID        = -1, # changed",
			"    SERVER_ID        = 2, # changed"},
		{"FEDERATION/MODE", "SLAVE",
			`MODE             = "STANDALONE",`,
			`MODE             = "SLAVE",`},
		{"FEDERATION/MASTER_ONED", "http://192.168.150.1:2633/RPC2",
			`    MASTER_ONED      = "",`,
			`    MASTER_ONED      = "http://192.168.150.1:2633/RPC2",`},
		{"PORT", "2700", "\nPORT = 2633\n", "\nPORT = 2700\n"},
		{"LISTEN_ADDRESS", "127.0.0.1", `LISTEN_ADDRESS = "0.0.0.0"` + "\nGRPC", `LISTEN_ADDRESS = "127.0.0.1"` + "\nGRPC"},
		{"SCRIPTS_REMOTE_DIR", "/var/tmp/one two", "SCRIPTS_REMOTE_DIR=/var/tmp/one\n", `SCRIPTS_REMOTE_DIR="/var/tmp/one two"` + "\n"},
		{"DB/PASSWD", "s3cr3t", `PASSWD  = "oneadmin",`, `PASSWD  = "s3cr3t",`},
		{"DB/ERRORS_LIMIT", "50", "ERRORS_LIMIT = 25 ]", "ERRORS_LIMIT = 50 ]"},
		{"VM_MAD[1]/KEEP_SNAPSHOTS", "yes", `KEEP_SNAPSHOTS = "no",`, `KEEP_SNAPSHOTS = "yes",`},
		{"VM_RESTRICTED_ATTR[1]", "NIC/IP", `VM_RESTRICTED_ATTR = "NIC/MAC"`, `VM_RESTRICTED_ATTR = "NIC/IP"`},
		{"RAFT_FOLLOWER_HOOK/ARGUMENTS", "follower eth1 10.0.0.11/24",
			`ARGUMENTS = "follower eth0 10.0.0.10/24"`, `ARGUMENTS = "follower eth1 10.0.0.11/24"`},
		// Additions inside a vector: indentation and '=' alignment follow
		// the neighbours.
		{"FEDERATION/NEW_ATTR", "x",
			"    MASTER_ONED_GRPC = \"\"\n]",
			"    MASTER_ONED_GRPC = \"\",\n    NEW_ATTR         = \"x\"\n]"},
		{"DB/TIMEOUT", "2500",
			"       ERRORS_LIMIT = 25 ]",
			"       ERRORS_LIMIT = 25,\n       TIMEOUT = \"2500\" ]"},
		{"VNC_PORTS/RESERVED", "32768-65536",
			"    START    = 5900\n#",
			"    START    = 5900,\n    RESERVED = \"32768-65536\"\n#"},
		{"HOOK_LOG_CONF/FOO", "1",
			"    LOG_RETENTION = 10 ]",
			"    LOG_RETENTION = 10,\n    FOO = \"1\" ]"},
		{"IM_MAD[0]/SUNSTONE_NAME", "Collectd",
			"      ARGUMENTS     = \"-p 4124 -f 5 -t 50 -i 60\" ]",
			"      ARGUMENTS     = \"-p 4124 -f 5 -t 50 -i 60\",\n      SUNSTONE_NAME = \"Collectd\" ]"},
		{"FEDERATION/SERVER_ID_LONGER_THAN_ALIGN", "1",
			"    MASTER_ONED_GRPC = \"\"\n]",
			"    MASTER_ONED_GRPC = \"\",\n    SERVER_ID_LONGER_THAN_ALIGN = \"1\"\n]"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, 1, bytes.Count(src, []byte(tt.old)), "fixture must contain %q once", tt.old)
			f, err := Parse(src)
			require.NoError(t, err)
			require.NoError(t, f.Set(tt.path, tt.value))
			want := bytes.Replace(src, []byte(tt.old), []byte(tt.new), 1)
			assert.Equal(t, string(want), string(f.Bytes()))
			got, err := f.Get(tt.path)
			require.NoError(t, err)
			assert.Equal(t, tt.value, got)
		})
	}
}

func TestSetInline(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, src, path, value, want string
	}{
		{"single-line vector", `V = [ A = "b", C = d ]` + "\n", "V/E", "f g",
			`V = [ A = "b", C = d, E = "f g" ]` + "\n"},
		{"bare stays bare", `V = [ A = "b", C = d ]`, "V/C", "e",
			`V = [ A = "b", C = e ]`},
		{"bare needs quotes", `V = [ A = "b", C = d ]`, "V/C", "a,b",
			`V = [ A = "b", C = "a,b" ]`},
		{"empty vector", "V = []\n", "V/A", "1", "V = [ A = \"1\" ]\n"},
		{"empty multi-line vector", "V = [\n]\n", "V/A", "1", "V = [\n    A = \"1\"\n]\n"},
		{"trailing comment kept on its line", "V = [\n  A = 1, # one\n  B = 2 # two\n]\n", "V/C", "3",
			"V = [\n  A = 1, # one\n  B = 2, # two\n  C = \"3\"\n]\n"},
		{"empty value", "A =\nB = 1\n", "A", "x", "A = x\nB = 1\n"},
		{"empty value at EOF", "A =", "A", "x y", `A = "x y"`},
		{"new top-level attribute", "A = 1", "B", "2", "A = 1\nB = 2\n"},
		{"new vector", "A = 1\n", "FEDERATION/SERVER_ID", "0", "A = 1\nFEDERATION = [\n    SERVER_ID = \"0\"\n]\n"},
		{"multi-line value", `A = "x"`, "A", "l1\nl2", "A = \"l1\nl2\""},
		{"escaped quote", `A = "x"`, "A", `say \"hi\"`, `A = "say \"hi\""`},
		{"index", "V = [ N = a ]\nV = [ N = b ]\n", "V[1]/N", "c", "V = [ N = a ]\nV = [ N = c ]\n"},
		{"repeated element with index", "V = [ N = a, N = b ]", "V/N[1]", "c", "V = [ N = a, N = c ]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := Parse([]byte(tt.src))
			require.NoError(t, err)
			require.NoError(t, f.Set(tt.path, tt.value))
			assert.Equal(t, tt.want, string(f.Bytes()))
			got, err := f.Get(tt.path)
			require.NoError(t, err)
			assert.Equal(t, tt.value, got)
		})
	}
}

func TestSetErrors(t *testing.T) {
	t.Parallel()
	src := fixture(t)
	tests := []struct {
		path, value string
		err         error
	}{
		{"VM_MAD/NAME", "x", ErrAmbiguous},
		{"VM_MAD[7]/NAME", "x", ErrNotFound},
		{"FEDERATION", "x", ErrIsVector},
		{"PORT/X", "x", ErrNotVector},
		{"A/B/C", "x", ErrBadPath},
		{"PORT", `a"b`, ErrBadValue},
		{"PORT", `"`, ErrBadValue},
		{"PORT", `ends with \`, ErrBadValue},
	}
	for _, tt := range tests {
		t.Run(tt.path+"="+tt.value, func(t *testing.T) {
			t.Parallel()
			f, err := Parse(src)
			require.NoError(t, err)
			err = f.Set(tt.path, tt.value)
			require.ErrorIs(t, err, tt.err)
			assert.Equal(t, src, f.Bytes(), "a failed Set must not change the file")
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, src string
		line, col int
	}{
		{"unterminated quote", "A = 1\nB = \"abc\n", 2, 5},
		{"missing bracket", "A = [ B = 1,\n C = 2\n", 1, 5},
		{"nested vector", "A = [ B = [ C = 1 ] ]", 1, 11},
		{"missing equals", "A 1", 1, 3},
		{"missing comma", "A = [ B = 1 C = 2 ]", 1, 13},
		{"no name", "= 1", 1, 1},
		{"comma at top level", "A = 1, B = 2", 1, 6},
		{"comma as value", "A = [ B = , C = 1 ]", 1, 11},
		{"name with dash", "A-B = 1", 1, 2},
		{"eof after equals in vector", "A = [ B =", 1, 5},
		{"comment as value", "A = # nothing\n", 1, 5},
		{"truncated", "FEDERATION = [\n    MODE = \"STANDALONE\",\n    ZONE_ID", 3, 12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := Parse([]byte(tt.src))
			require.Error(t, err)
			assert.Nil(t, f)
			assert.ErrorIs(t, err, ErrSyntax)
			var se *SyntaxError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, tt.line, se.Line, se.Error())
			assert.Equal(t, tt.col, se.Column, se.Error())
		})
	}
}

func TestParseAccepts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, src, path, want string
	}{
		{"empty file", "", "", ""},
		{"only comments", "# a\n  # b\n", "", ""},
		{"two on a line", "A = 1 B = 2", "B", "2"},
		{"comment after value", "A = 1# c\n", "A", "1"},
		{"newline before equals", "A\n= 1", "A", "1"},
		{"trailing comma", "V = [ A = 1, ]", "V/A", "1"},
		{"comment in vector", "V = [\n # x = [\n A = 1 ]", "V/A", "1"},
		{"empty element", "V = [ A =\n, B = 2 ]", "V/A", ""},
		{"quote in bare value", `A = b"c`, "A", `b"c`},
		{"digits in names", "1A = 2", "1A", "2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := Parse([]byte(tt.src))
			require.NoError(t, err)
			assert.Equal(t, tt.src, string(f.Bytes()))
			if tt.path != "" {
				got, err := f.Get(tt.path)
				require.NoError(t, err)
				assert.Equal(t, tt.want, got)
			}
		})
	}
}

func TestPaths(t *testing.T) {
	t.Parallel()
	f, err := Parse([]byte("A = 1\nV = [ N = a, N = b, M = c ]\nW = [ X = 1 ]\nW = [ X = 2 ]\n"))
	require.NoError(t, err)
	assert.Equal(t, []string{"A", "V/N[0]", "V/N[1]", "V/M", "W[0]/X", "W[1]/X"}, f.Paths())
}

func TestFederationErrors(t *testing.T) {
	t.Parallel()
	f, err := Parse([]byte("FEDERATION = [ SERVER_ID = one ]"))
	require.NoError(t, err)
	_, err = f.Federation()
	var pe *PathError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "FEDERATION/SERVER_ID", pe.Path)

	f, err = Parse([]byte("FEDERATION = [ SERVER_ID = 1 ]\nFEDERATION = [ SERVER_ID = 2 ]"))
	require.NoError(t, err)
	_, err = f.Federation()
	assert.True(t, errors.Is(err, ErrAmbiguous))
}

func TestParseStat(t *testing.T) {
	t.Parallel()
	m, err := ParseStat([]byte("640 0 9869\n"))
	require.NoError(t, err)
	assert.Equal(t, FileMeta{Mode: 0o640, UID: "0", GID: "9869"}, m)
	for _, bad := range []string{"", "640 0", "abc 0 0", "640 root oneadmin", "99999 0 0", "640 0 0 extra"} {
		_, err := ParseStat([]byte(bad))
		assert.Error(t, err, bad)
	}
}
