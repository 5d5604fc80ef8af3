package onedb

import (
	"context"
	"fmt"
	"regexp"

	"github.com/upgradekit/upgradekit/transport"
)

// Restore runs `onedb restore <file>` and returns what onedb reports
// restored. It runs with $ONE_XMLRPC set to
// DefaultEndpoint (or WithEndpoint), so that on an HA follower the check
// "no oned answers at the client endpoint" looks at the local oned and not
// at the leader behind the VIP. Options: WithConn, Force (overwrite an
// existing database), Federated.
//
// Refusals are errors matching ErrOnedRunning (lock file or listening
// oned), ErrDatabaseExists (no Force), ErrBackupNotFound; a failing mysql
// client gives ErrRestoreFailed. A MySQL dump restores into the database
// name recorded in the dump (its USE statement), whatever Conn.DBName says.
// For SQLite, onedb prints its success line even when sqlite3 failed, so
// a nil error there proves less.
func Restore(ctx context.Context, t transport.Transport, file string, opts ...Option) (Restored, error) {
	o, err := newOptions("restore", opts)
	if err != nil {
		return Restored{}, err
	}
	if err := checkPath(file); err != nil {
		return Restored{}, fmt.Errorf("onedb restore: %w", err)
	}
	var flags []string
	if o.force {
		flags = append(flags, "-f")
	}
	if o.federated {
		flags = append(flags, "--federated")
	}
	cmd := o.command("restore", flags, []string{file}, true)
	out, err := o.run(ctx, t, "restore", cmd)
	if err != nil {
		return Restored{}, err
	}
	if out.res.ExitCode != 0 {
		return Restored{}, out.fail("restore")
	}
	return ParseRestore([]byte(out.stdout))
}

var (
	restoredMySQLRE  = regexp.MustCompile(`^MySQL DB (\S+) at (\S+) restored\.$`)
	restoredSQLiteRE = regexp.MustCompile(`^Sqlite database backup restored in (\S.*)$`)
)

// Restored is what a successful restore printed.
type Restored struct {
	// Database and Server for MySQL; File for SQLite.
	Database, Server, File string
}

// ParseRestore finds onedb restore's success line ("MySQL DB <db> at
// <server> restored." or "Sqlite database backup restored in <file>").
func ParseRestore(out []byte) (Restored, error) {
	for _, l := range splitLines(string(out)) {
		if m := restoredMySQLRE.FindStringSubmatch(l); m != nil {
			return Restored{Database: m[1], Server: m[2]}, nil
		}
		if m := restoredSQLiteRE.FindStringSubmatch(l); m != nil {
			return Restored{File: m[1]}, nil
		}
	}
	return Restored{}, &ParseError{What: "restore", Reason: "no \"restored\" line"}
}
