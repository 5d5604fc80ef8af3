package openstack

import (
	"errors"
	"fmt"
	"strings"

	"github.com/upgradekit/upgradekit/transport"
)

// Conditions callers branch on; test with errors.Is.
var (
	// ErrNewerDatabase: the database records a schema revision the
	// installed tools do not know, i.e. it was migrated by a newer
	// release. Running the old tools against it gives wrong answers.
	ErrNewerDatabase = errors.New("database is newer than the installed tools")
	// ErrToolCrashed: the tool exited 255, its "unexpected exception"
	// code (oslo.upgradecheck, nova-manage, alembic errors in
	// neutron-db-manage). It is not a check result.
	ErrToolCrashed = errors.New("tool crashed")
	// ErrToolNotFound: the management tool is not installed (exit 127
	// from the shell, or exec failing).
	ErrToolNotFound = errors.New("tool not found")
	// ErrMigrationsFailed: online data migrations reported errors and
	// made no progress (exit 2).
	ErrMigrationsFailed = errors.New("online data migrations failed")
	// ErrStopRequired: offline (contract) migrations are pending and need
	// every server of the service stopped, but no StopServers callback
	// was given.
	ErrStopRequired = errors.New("offline migrations require the servers to be stopped")
	// ErrMalformedOutput: a tool's output could not be parsed.
	ErrMalformedOutput = errors.New("malformed tool output")
	// ErrNoDatabase: the service has no database or management tool.
	ErrNoDatabase = errors.New("service has no database")
	// ErrChecksumMismatch: a database's tables differ from a backup's
	// recorded checksums.
	ErrChecksumMismatch = errors.New("table checksums differ")
	// ErrBackupInvalid: a dump is empty, truncated (no "-- Dump
	// completed" line) or its SHA-256 changed.
	ErrBackupInvalid = errors.New("invalid backup")
	// ErrBadInput: the tool rejected its arguments (online data
	// migrations' exit 127 for a bad --max-count, argparse's exit 2).
	ErrBadInput = errors.New("tool rejected its arguments")
	// ErrIncomplete: a migration tool exited 0 but the database is still
	// not at the expected head.
	ErrIncomplete = errors.New("migration incomplete")
	// ErrUnknownLayout: the installed package ships none of the
	// migration directories the catalog knows for a database.
	ErrUnknownLayout = errors.New("unknown migrations layout")
	// ErrUpgradePath: the upgrade skips a release it may not skip (a
	// jump from a non-SLURP release, or a database short of an older
	// migration system's last revision).
	ErrUpgradePath = errors.New("upgrade path not supported")
	// ErrToolStartup: the tool could not start (exit 1 and no output of
	// its own: a missing key directory, an unreadable config file). It is
	// not a check result; the tool's reason is in the error.
	ErrToolStartup = errors.New("tool could not start")
	// ErrRowsPending: online data migrations exited 0 but left rows they
	// found unmigrated.
	ErrRowsPending = errors.New("online data migrations left rows pending")
)

// NewerDatabaseError reports a schema revision unknown to the installed
// tool. It matches ErrNewerDatabase.
type NewerDatabaseError struct {
	Service  string
	Database string
	// Revisions are the recorded revisions the tool does not know.
	Revisions []string
	// Package and Version identify the installed tool.
	Package, Version string
}

func (e *NewerDatabaseError) Error() string {
	tool := e.Package
	if e.Version != "" {
		tool += " " + e.Version
	}
	if tool == "" {
		tool = "the installed tool"
	}
	return fmt.Sprintf("%s: database %s is at revision %s, unknown to %s: it was migrated by a newer release; refusing to run old tools on it",
		e.Service, e.Database, strings.Join(e.Revisions, ","), tool)
}

// Is makes errors.Is(err, ErrNewerDatabase) true.
func (e *NewerDatabaseError) Is(target error) bool { return target == ErrNewerDatabase }

// ToolError reports a management tool that exited with a code the
// primitive does not treat as a result. Err is the *transport.ExitError
// (with stderr); it matches ErrToolCrashed for exit 255 and
// ErrToolNotFound for 127 where 127 has no tool-specific meaning.
type ToolError struct {
	Service string
	// Step names what was being done ("db sync", "upgrade check").
	Step string
	Code int
	// Kind, when set, is the sentinel this exit code means for this tool
	// (ErrMigrationsFailed, ErrBadInput); otherwise 255 means
	// ErrToolCrashed and 127 ErrToolNotFound.
	Kind error
	// Reason, when set, is the tool's own explanation (the last lines of
	// its stderr) of why it could not start.
	Reason string
	Err    error
}

func (e *ToolError) Error() string {
	what := "exit status"
	switch {
	case e.Kind != nil:
		what = e.Kind.Error() + ": exit status"
	case e.Code == 255:
		what = "crashed (exit 255: unexpected exception, not a check result)"
	case e.Code == 127:
		what = "not found (exit 127)"
	}
	if e.Kind == ErrToolStartup {
		what = "could not start: exit status"
	}
	msg := fmt.Sprintf("%s: %s: %s", e.Service, e.Step, what)
	if e.Kind != nil || (e.Code != 255 && e.Code != 127) {
		msg = fmt.Sprintf("%s %d", msg, e.Code)
	}
	if e.Reason != "" {
		msg += ": " + e.Reason
	} else if e.Err != nil {
		// The exit status is said above; the command line is in the
		// step's record and the debug log.
		var ee *transport.ExitError
		if errors.As(e.Err, &ee) {
			if tail := transport.StderrTail(ee.Stderr, 512); tail != "" {
				msg += ": " + tail
			}
		} else {
			msg += ": " + e.Err.Error()
		}
	}
	return msg
}

// Is makes errors.Is match ErrToolCrashed for 255 and ErrToolNotFound for 127.
func (e *ToolError) Is(target error) bool {
	if e.Kind != nil {
		return target == e.Kind
	}
	return (target == ErrToolCrashed && e.Code == 255) || (target == ErrToolNotFound && e.Code == 127)
}

func (e *ToolError) Unwrap() error { return e.Err }

// ParseError reports output a parser could not make sense of. It
// matches ErrMalformedOutput.
type ParseError struct {
	What   string // "upgrade check table"
	Reason string
	// Excerpt is the start of the offending output.
	Excerpt string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("malformed %s: %s: %q", e.What, e.Reason, e.Excerpt)
}

// Is makes errors.Is(err, ErrMalformedOutput) true.
func (e *ParseError) Is(target error) bool { return target == ErrMalformedOutput }

func parseErr(what, reason string, out []byte) error {
	ex := string(out)
	if len(ex) > 200 {
		ex = ex[:200] + "..."
	}
	return &ParseError{What: what, Reason: reason, Excerpt: ex}
}

// ChecksumMismatchError lists the tables whose checksum or row count
// differ from a backup. It matches ErrChecksumMismatch.
type ChecksumMismatchError struct {
	Database string
	// Tables describes each difference ("instances: rows 3 != 4").
	Tables []string
}

func (e *ChecksumMismatchError) Error() string {
	return fmt.Sprintf("database %s: %d table(s) differ from the backup: %s", e.Database, len(e.Tables), strings.Join(e.Tables, "; "))
}

// Is makes errors.Is(err, ErrChecksumMismatch) true.
func (e *ChecksumMismatchError) Is(target error) bool { return target == ErrChecksumMismatch }

// DBError reports a SQL probe that failed (connection refused, access
// denied). Number is the MariaDB client's error number ("ERROR 2002").
type DBError struct {
	Database string
	Number   int
	Err      error
}

func (e *DBError) Error() string {
	return fmt.Sprintf("database %s: mariadb error %d: %s", e.Database, e.Number, briefErr(e.Err))
}

func (e *DBError) Unwrap() error { return e.Err }
