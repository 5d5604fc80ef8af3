package onebed

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// ServerConf is what the bed changes in OpenNebula's shipped oned.conf and
// monitord.conf for one front-end; everything else stays as installed.
type ServerConf struct {
	// XMLRPCPort, GRPCPort, HMPort, HMLogPort and MonitorPort are the
	// server's own ports on 127.0.0.1 (oned's PORT and GRPC_PORT, the hook
	// manager's -p and -l, monitord's NETWORK/PORT).
	XMLRPCPort, GRPCPort, HMPort, HMLogPort, MonitorPort int
	// ZoneID and ServerID fill FEDERATION; ServerID -1 is a solo server.
	ZoneID, ServerID int
	// Mode is FEDERATION/MODE: "" means STANDALONE.
	Mode string
	// MasterOned is FEDERATION/MASTER_ONED (slave zones only).
	MasterOned string
	// DB is the server's MariaDB.
	DB DBConf
	// ScriptsRemoteDir is SCRIPTS_REMOTE_DIR (the drivers' working copy
	// of the remotes; the dummy monitor runs from there).
	ScriptsRemoteDir string
	// ElectionTimeoutMS, BroadcastTimeoutMS and XMLRPCTimeoutMS fill RAFT;
	// 0 keeps OpenNebula's defaults (5000, 500, 1000).
	ElectionTimeoutMS, BroadcastTimeoutMS, XMLRPCTimeoutMS int
}

// DBConf is a MySQL/MariaDB back end of oned.
type DBConf struct {
	Host     string
	Port     int
	User     string
	Password string
	Name     string
}

// ErrConfLayout means a shipped configuration file lacks an attribute the
// bed rewrites: the version installed lays it out differently.
var ErrConfLayout = errors.New("configuration layout not recognised")

// OnedConf returns orig (OpenNebula's shipped oned.conf) rewritten for c.
// Single-valued attributes and blocks are replaced in place, so that each
// is defined once, and the dummy virtualization driver, commented out in
// the shipped file, is added (VM_MAD may appear several times).
func OnedConf(orig string, c ServerConf) (string, error) {
	mode := c.Mode
	if mode == "" {
		mode = "STANDALONE"
	}
	def := func(v, d int) int {
		if v == 0 {
			return d
		}
		return v
	}
	edits := []edit{
		{"PORT", false, fmt.Sprintf("PORT = %d", c.XMLRPCPort)},
		{"LISTEN_ADDRESS", false, `LISTEN_ADDRESS = "127.0.0.1"`},
		{"GRPC_PORT", false, fmt.Sprintf("GRPC_PORT = %d", c.GRPCPort)},
		{"GRPC_LISTEN_ADDRESS", false, `GRPC_LISTEN_ADDRESS = "127.0.0.1"`},
		{"SCRIPTS_REMOTE_DIR", false, "SCRIPTS_REMOTE_DIR=" + c.ScriptsRemoteDir},
		{"DB", true, fmt.Sprintf(`DB = [ BACKEND = "mysql", SERVER = %q, PORT = %d, USER = %q, PASSWD = %q,
       DB_NAME = %q, CONNECTIONS = 10, COMPARE_BINARY = "no" ]`,
			c.DB.Host, c.DB.Port, c.DB.User, c.DB.Password, c.DB.Name)},
		{"FEDERATION", true, fmt.Sprintf(`FEDERATION = [ MODE = %q, ZONE_ID = %d, SERVER_ID = %d,
    MASTER_ONED = %q, MASTER_ONED_GRPC = "" ]`, mode, c.ZoneID, c.ServerID, c.MasterOned)},
		{"RAFT", true, fmt.Sprintf(`RAFT = [ LIMIT_PURGE = 100000, LOG_RETENTION = 250000, LOG_PURGE_TIMEOUT = 60,
    ELECTION_TIMEOUT_MS = %d, BROADCAST_TIMEOUT_MS = %d, XMLRPC_TIMEOUT_MS = %d ]`,
			def(c.ElectionTimeoutMS, 5000), def(c.BroadcastTimeoutMS, 500), def(c.XMLRPCTimeoutMS, 1000))},
		{"HM_MAD", true, fmt.Sprintf(`HM_MAD = [ EXECUTABLE = "one_hm", ARGUMENTS = "-p %d -l %d -b 127.0.0.1" ]`,
			c.HMPort, c.HMLogPort)},
	}
	out, err := applyEdits(orig, edits)
	if err != nil {
		return "", fmt.Errorf("oned.conf: %w", err)
	}
	return out + "\n# upgradekit test bed: OpenNebula's dummy virtualization driver\n" +
		`VM_MAD = [ NAME = "dummy", SUNSTONE_NAME = "Testing", EXECUTABLE = "one_vmm_dummy", TYPE = "xml" ]` + "\n", nil
}

// MonitordConf returns orig (the shipped monitord.conf) listening on
// 127.0.0.1:port, with OpenNebula's dummy information driver added.
func MonitordConf(orig string, port int) (string, error) {
	out, err := applyEdits(orig, []edit{{"NETWORK", true, fmt.Sprintf(`NETWORK = [ ADDRESS = "127.0.0.1", MONITOR_ADDRESS = "127.0.0.1",
    PORT = %d, THREADS = 8, PUBKEY = "", PRIKEY = "" ]`, port)}})
	if err != nil {
		return "", fmt.Errorf("monitord.conf: %w", err)
	}
	return out + "\n# upgradekit test bed: OpenNebula's dummy information driver\n" +
		`IM_MAD = [ NAME = "dummy", SUNSTONE_NAME = "Dummy", EXECUTABLE = "one_im_sh", ARGUMENTS = "-r 3 -t 15 -w 90 dummy", THREADS = 0 ]` + "\n", nil
}

type edit struct {
	name  string
	block bool // NAME = [ ... ] over several lines
	with  string
}

// applyEdits replaces the first uncommented definition of each attribute
// (a line, or a block through its closing bracket) with its replacement.
func applyEdits(orig string, edits []edit) (string, error) {
	lines := strings.Split(orig, "\n")
	for _, e := range edits {
		re := regexp.MustCompile(`^` + regexp.QuoteMeta(e.name) + `\s*=`)
		start := -1
		for i, l := range lines {
			if re.MatchString(l) {
				start = i
				break
			}
		}
		if start < 0 {
			return "", fmt.Errorf("%w: no %s", ErrConfLayout, e.name)
		}
		end := start
		if e.block {
			if !strings.Contains(lines[start], "[") {
				return "", fmt.Errorf("%w: %s is not a block", ErrConfLayout, e.name)
			}
			for end < len(lines) && !strings.Contains(stripComment(lines[end]), "]") {
				end++
			}
			if end == len(lines) {
				return "", fmt.Errorf("%w: %s block never closes", ErrConfLayout, e.name)
			}
		}
		lines = append(lines[:start], append(strings.Split(e.with, "\n"), lines[end+1:]...)...)
	}
	return strings.Join(lines, "\n"), nil
}

func stripComment(l string) string {
	if i := strings.IndexByte(l, '#'); i >= 0 {
		return l[:i]
	}
	return l
}
