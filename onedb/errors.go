package onedb

import (
	"errors"
	"fmt"
	"strings"
)

// Conditions callers branch on; test with errors.Is.
var (
	// ErrBackupExists: the backup file exists and Force was not given
	// ("File <f> exists, backup aborted.").
	ErrBackupExists = errors.New("backup file exists")
	// ErrDatabaseExists: a non-federated restore found an existing
	// database and Force was not given.
	ErrDatabaseExists = errors.New("database exists")
	// ErrOnedRunning: onedb refused because oned runs (lock file found,
	// or an oned answers at the client endpoint).
	ErrOnedRunning = errors.New("oned is running")
	// ErrBackupNotFound: the file given to Restore does not exist.
	ErrBackupNotFound = errors.New("backup file not found")
	// ErrRestoreFailed: the mysql client failed while restoring.
	ErrRestoreFailed = errors.New("restore failed")
	// ErrDumpFailed: mysqldump exited non-zero during a backup.
	ErrDumpFailed = errors.New("database dump failed")
	// ErrDBConnect: onedb could not connect to the database.
	ErrDBConnect = errors.New("cannot connect to the database")
	// ErrVersionMismatch: fsck refused because the DB version differs
	// from the installed code.
	ErrVersionMismatch = errors.New("database version differs from code")
	// ErrUpgradeFailed: onedb upgrade failed; see *UpgradeError.
	ErrUpgradeFailed = errors.New("database upgrade failed")
	// ErrMigratorsMissing: the migrators for the target version are not
	// installed (6.x Community Edition without the migration package).
	ErrMigratorsMissing = errors.New("migrators missing")
	// ErrNotBootstrapped: the database has no OpenNebula schema yet.
	ErrNotBootstrapped = errors.New("database not bootstrapped")
	// ErrUnexpectedExit: onedb exited with a code its documentation does
	// not give for that subcommand.
	ErrUnexpectedExit = errors.New("unexpected exit code")
	// ErrMalformedOutput: onedb's output could not be understood; see
	// *ParseError.
	ErrMalformedOutput = errors.New("malformed onedb output")
	// ErrInvalidOption: an option was invalid or not supported by the
	// operation.
	ErrInvalidOption = errors.New("invalid option")
	// ErrNoDialer: Open needs a transport implementing transport.Dialer.
	ErrNoDialer = errors.New("transport cannot dial")
	// ErrAccessDenied: MySQL rejected the credentials (error 1044/1045).
	ErrAccessDenied = errors.New("database access denied")
	// ErrUnknownDatabase: the MySQL database does not exist (error 1049).
	ErrUnknownDatabase = errors.New("unknown database")
)

// CommandError reports an onedb command that exited non-zero. Reason is
// the recognised condition (one of the ErrX sentinels) or nil; Err is the
// *transport.ExitError. Both are reachable with errors.Is / errors.AsType.
type CommandError struct {
	// Op is the onedb subcommand: backup, restore, version, upgrade, fsck.
	Op     string
	Host   string
	Reason error
	// Detail is the line that identified Reason (redacted), or the tail
	// of the output when nothing was recognised.
	Detail string
	// Path is the file named in the message (backup exists, backup not
	// found, lock file), or "".
	Path string
	// Endpoint is the URL where an oned was found listening, or "".
	Endpoint string
	// Database and Server are set for ErrDatabaseExists (MySQL).
	Database, Server string
	Err              error
}

func (e *CommandError) Error() string {
	if e.Reason == nil && e.Err != nil {
		return e.Err.Error() // already names the host and the command
	}
	var b strings.Builder
	if e.Host != "" {
		b.WriteString("host " + e.Host + ": ")
	}
	b.WriteString("onedb " + e.Op + ": ")
	if e.Reason != nil {
		b.WriteString(e.Reason.Error())
		if e.Detail != "" {
			b.WriteString(": " + e.Detail)
		}
		return b.String()
	}
	b.WriteString(e.Detail)
	return b.String()
}

// Unwrap returns Reason and Err.
func (e *CommandError) Unwrap() []error {
	var errs []error
	if e.Reason != nil {
		errs = append(errs, e.Reason)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// UpgradeError reports an `onedb upgrade` that failed after it had
// started migrating: onedb then restores the pre-upgrade backup.
type UpgradeError struct {
	Host string
	// Message is what onedb printed before "The database will be
	// restored" (the exception and traceback), redacted and bounded.
	Message string
	// Restored reports that onedb printed its restore success line.
	Restored bool
	// BackupFile is the automatic backup onedb took, if printed.
	BackupFile string
	// MigratorsMissing is set for the "missing migration descriptors"
	// failure (6.x Community Edition without the migration package).
	MigratorsMissing bool
	Err              error // *transport.ExitError
}

func (e *UpgradeError) Error() string {
	msg := "onedb upgrade: "
	if e.Host != "" {
		msg = "host " + e.Host + ": " + msg
	}
	if e.MigratorsMissing {
		msg += ErrMigratorsMissing.Error() + ": "
	} else {
		msg += ErrUpgradeFailed.Error() + ": "
	}
	if e.Restored {
		msg += "database restored from the pre-upgrade backup"
	} else {
		msg += "database restore NOT confirmed"
	}
	if e.BackupFile != "" {
		msg += " (backup " + e.BackupFile + ")"
	}
	if m := firstLine(e.Message); m != "" {
		msg += ": " + m
	}
	return msg
}

// Is makes errors.Is match ErrUpgradeFailed, and ErrMigratorsMissing when
// that was the cause.
func (e *UpgradeError) Is(target error) bool {
	return target == ErrUpgradeFailed || (target == ErrMigratorsMissing && e.MigratorsMissing)
}

func (e *UpgradeError) Unwrap() error { return e.Err }

// ParseError reports onedb output that could not be understood.
type ParseError struct {
	// What names the output: "backup", "version", ...
	What string
	// Line is the 1-based line the problem was found on, or 0.
	Line   int
	Reason string
}

func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("onedb %s output line %d: %s", e.What, e.Line, e.Reason)
	}
	return fmt.Sprintf("onedb %s output: %s", e.What, e.Reason)
}

// Is makes errors.Is(err, ErrMalformedOutput) true.
func (e *ParseError) Is(target error) bool { return target == ErrMalformedOutput }

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	const max = 300
	if len(s) > max {
		s = s[:max] + "..."
	}
	return s
}
