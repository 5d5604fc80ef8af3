package onedb

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/upgradekit/upgradekit/transport"
)

// VarLocation is onedb's VAR_LOCATION, where default backup files go.
const VarLocation = "/var/lib/one"

// Backup runs `onedb backup` and returns the path of the file written, as
// onedb printed it. Options: WithConn, Force (overwrite an existing file;
// without it an existing file gives an error matching ErrBackupExists),
// Federated, ToFile (otherwise onedb picks DefaultBackupFile's name).
//
// onedb does not check whether oned runs before a backup; stop oned first
// for a consistent SQLite copy. A failed mysqldump gives ErrDumpFailed.
// onedb passes the MySQL password to mysqldump as -p'…' (visible in the
// host's process list while the dump runs) and echoes that command line
// when mysqldump fails: the echo is masked in our errors and logs, the
// process-list exposure is onedb's own and outside this package's control.
func Backup(ctx context.Context, t transport.Transport, opts ...Option) (string, error) {
	o, err := newOptions("backup", opts)
	if err != nil {
		return "", err
	}
	var flags, pos []string
	if o.force {
		flags = append(flags, "-f")
	}
	if o.federated {
		flags = append(flags, "--federated")
	}
	if o.file != "" {
		pos = []string{o.file}
	}
	cmd := o.command("backup", flags, pos, false)
	out, err := o.run(ctx, t, "backup", cmd)
	if err != nil {
		return "", err
	}
	if out.res.ExitCode != 0 {
		return "", out.fail("backup")
	}
	path, err := ParseBackup([]byte(out.stdout))
	if err != nil {
		return "", err
	}
	if o.file != "" && path != o.file {
		return "", &ParseError{What: "backup", Reason: fmt.Sprintf("backup stored in %q, asked for %q", path, o.file)}
	}
	return path, nil
}

var backupPrefixes = []string{
	"MySQL dump stored in ",
	"Sqlite database backup of federated tables stored in ",
	"Sqlite database backup stored in ",
}

// ParseBackup returns the file named in onedb's "MySQL dump stored in
// <file>" or "Sqlite database backup [of federated tables] stored in
// <file>" line. Output without exactly one such line is a *ParseError.
func ParseBackup(out []byte) (string, error) {
	path, found, err := findBackupLine("backup", string(out))
	if err != nil {
		return "", err
	}
	if !found {
		return "", &ParseError{What: "backup", Reason: "no \"stored in <file>\" line"}
	}
	return path, nil
}

// findBackupLine finds the single "... stored in <file>" line.
func findBackupLine(what, text string) (path string, found bool, err error) {
	for i, l := range splitLines(text) {
		for _, p := range backupPrefixes {
			rest, ok := strings.CutPrefix(l, p)
			if !ok {
				continue
			}
			if found {
				return "", false, &ParseError{What: what, Line: i + 1, Reason: "more than one backup line"}
			}
			if rest == "" || strings.TrimSpace(rest) != rest {
				return "", false, &ParseError{What: what, Line: i + 1, Reason: "backup line without a file name"}
			}
			if strings.ContainsFunc(rest, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				return "", false, &ParseError{What: what, Line: i + 1, Reason: "control character in the backup file name"}
			}
			path, found = rest, true
		}
	}
	return path, found, nil
}

// DefaultBackupFile returns the file name onedb backup chooses when no
// file is given: /var/lib/one/mysql_<server>_<db>_[federated_]<Y>-<M>-<D>_<h>:<m>:<s>.sql
// for MySQL (server "" means localhost) and
// /var/lib/one/one.db_[federated_]<Y>-<M>-<D>_<h>:<m>:<s>.bck for SQLite.
// Date and time parts are not zero-padded. at is the host's local time
// when onedb started, so the name can only be predicted, not relied on:
// Backup returns the name onedb printed.
func DefaultBackupFile(backend Backend, server, db string, federated bool, at time.Time) string {
	fed := ""
	if federated {
		fed = "federated_"
	}
	stamp := fmt.Sprintf("%d-%d-%d_%d:%d:%d", at.Year(), int(at.Month()), at.Day(), at.Hour(), at.Minute(), at.Second())
	if backend == SQLite {
		return VarLocation + "/one.db_" + fed + stamp + ".bck"
	}
	if server == "" {
		server = "localhost"
	}
	return VarLocation + "/mysql_" + server + "_" + db + "_" + fed + stamp + ".sql"
}
