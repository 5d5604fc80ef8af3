package onebed

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// shipped is laid out as OpenNebula's share/etc/oned.conf (7.2 and 7.4):
// attributes at the start of a line, blocks closing on a later line,
// commented samples that must not be taken for definitions.
const shipped = `# comment
#PORT = 1
SCRIPTS_REMOTE_DIR=/var/tmp/one

DB = [ BACKEND = "sqlite",
       TIMEOUT = 2500 ]

# DB = [ BACKEND = "mysql",
#        PORT    = 0 ]

PORT = 2633
LISTEN_ADDRESS = "0.0.0.0"
GRPC_PORT = 2634
GRPC_LISTEN_ADDRESS = "0.0.0.0"

FEDERATION = [
    MODE             = "STANDALONE",
    ZONE_ID          = 0,
    SERVER_ID        = -1, # a comment ] with a bracket
    MASTER_ONED      = ""
]

RAFT = [
    ELECTION_TIMEOUT_MS  = 5000,
    XMLRPC_TIMEOUT_MS    = 1000
]

HM_MAD = [
    EXECUTABLE = "one_hm",
    ARGUMENTS = "-p 2101 -l 2102 -b 127.0.0.1"]

VM_MAD = [ NAME = "kvm" ]
`

func TestOnedConfRewritesEachAttributeOnce(t *testing.T) {
	c := ServerConf{XMLRPCPort: 40001, GRPCPort: 40002, HMPort: 40003, HMLogPort: 40004, ServerID: 2,
		DB:               DBConf{Host: "127.0.0.1", Port: 3307, User: "u", Password: "p", Name: "opennebula"},
		ScriptsRemoteDir: "/b/s2/remote", XMLRPCTimeoutMS: 3000}
	out, err := OnedConf(shipped, c)
	require.NoError(t, err)
	for _, want := range []string{
		"PORT = 40001\n", `LISTEN_ADDRESS = "127.0.0.1"`, "GRPC_PORT = 40002\n",
		"SCRIPTS_REMOTE_DIR=/b/s2/remote\n", `BACKEND = "mysql", SERVER = "127.0.0.1", PORT = 3307`,
		"SERVER_ID = 2,", `MODE = "STANDALONE"`, "ELECTION_TIMEOUT_MS = 5000", "XMLRPC_TIMEOUT_MS = 3000",
		`ARGUMENTS = "-p 40003 -l 40004 -b 127.0.0.1"`, `EXECUTABLE = "one_vmm_dummy"`, `VM_MAD = [ NAME = "kvm" ]`,
	} {
		assert.Contains(t, out, want)
	}
	for _, gone := range []string{"2633", "2634", "sqlite", "SERVER_ID        = -1", `MASTER_ONED      = ""`, "2101", "/var/tmp/one"} {
		assert.NotContains(t, out, gone)
	}
	// Each block is defined once, and commented samples are kept as they were.
	for _, block := range []string{"\nDB = [", "\nFEDERATION = [", "\nRAFT = [", "\nHM_MAD = [", "\nPORT ="} {
		assert.Equal(t, 1, strings.Count(out, block), block)
	}
	assert.Contains(t, out, "#PORT = 1\n")
	assert.Contains(t, out, "# DB = [ BACKEND = \"mysql\",\n#        PORT    = 0 ]")
}

func TestOnedConfUnknownLayout(t *testing.T) {
	_, err := OnedConf(strings.Replace(shipped, "\nRAFT = [", "\nRAFTS = [", 1), ServerConf{})
	assert.ErrorIs(t, err, ErrConfLayout)
	_, err = applyEdits("X = [\n  A = 1, # ]\n", []edit{{"X", true, "X = []"}})
	assert.ErrorIs(t, err, ErrConfLayout, "a block that never closes")
	_, err = applyEdits("X = 1\n", []edit{{"X", true, "X = []"}})
	assert.ErrorIs(t, err, ErrConfLayout, "a single value where a block was expected")
}

func TestMonitordConf(t *testing.T) {
	orig := "NETWORK = [\n    ADDRESS = \"::\",\n    PORT = 4124\n]\nIM_MAD = [ NAME = \"kvm\" ]\n"
	out, err := MonitordConf(orig, 41000)
	require.NoError(t, err)
	assert.Contains(t, out, `ADDRESS = "127.0.0.1", MONITOR_ADDRESS = "127.0.0.1",`)
	assert.Contains(t, out, "PORT = 41000")
	assert.NotContains(t, out, "4124")
	assert.Contains(t, out, `NAME = "dummy"`)
	_, err = MonitordConf("IM_MAD = []\n", 1)
	assert.ErrorIs(t, err, ErrConfLayout)
}

func TestFindInstallsOnlyComplete(t *testing.T) {
	root := t.TempDir()
	for name, files := range map[string][]string{
		"7.4.0":    {"bin/oned", StampFile},
		"building": {"bin/oned"},
		"empty":    nil,
	} {
		require.NoError(t, os.MkdirAll(filepath.Join(root, name, "bin"), 0o755))
		for _, f := range files {
			require.NoError(t, os.WriteFile(filepath.Join(root, name, f), nil, 0o755))
		}
	}
	ins, err := FindInstalls(root)
	require.NoError(t, err)
	require.Len(t, ins, 1)
	assert.Equal(t, filepath.Join(root, "7.4.0"), ins["7.4.0"].Dir)
}
