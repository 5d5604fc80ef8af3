package onedb

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/upgradekit/upgradekit/transport"
)

// Migration is one table set's migration reported by onedb upgrade.
type Migration struct {
	// From and To are DB versions; Release is the OpenNebula release
	// named in onedb's message.
	From, To, Release string
	// Migrators are the migrator files run, in order.
	Migrators []string
}

// UpgradeResult is the outcome of a successful `onedb upgrade`.
type UpgradeResult struct {
	// AlreadyCurrent: "Database schema is up to date."; nothing was done
	// and no backup was taken.
	AlreadyCurrent bool
	// BackupFile is the automatic pre-upgrade backup, "" with NoBackup.
	BackupFile string
	// FromShared and FromLocal are the versions onedb read before
	// migrating ("Version read:"), when printed.
	FromShared, FromLocal string
	// Shared is nil when no shared migration ran (a federation slave
	// skips them; shared tables arrive with a federated restore).
	Shared *Migration
	// Local is nil when no local migration ran.
	Local *Migration
	// Total is onedb's "Total time".
	Total time.Duration
}

// Upgrade runs `onedb upgrade -v` with $ONE_XMLRPC set to DefaultEndpoint
// (see Restore). Options: WithConn, BackupTo, NoBackup, TargetVersion,
// Force. "Database schema is up to date." is a result (AlreadyCurrent).
// A migrator failure, after which onedb restores its backup, is an
// *UpgradeError matching ErrUpgradeFailed (and ErrMigratorsMissing when
// the migrators are not installed); a running oned gives ErrOnedRunning.
//
// Migrators may change files on the host onedb runs on (7.2→7.4 creates
// /var/lib/one/.one/oneform_auth and oneks_auth), so run Upgrade on every
// HA front-end or copy those files.
func Upgrade(ctx context.Context, t transport.Transport, opts ...Option) (UpgradeResult, error) {
	o, err := newOptions("upgrade", opts)
	if err != nil {
		return UpgradeResult{}, err
	}
	flags := []string{"-v"}
	if o.force {
		flags = append(flags, "-f")
	}
	switch {
	case o.backupTo != "":
		flags = append(flags, "-b", o.backupTo)
	case o.noBackup:
		flags = append(flags, "--no-backup")
	}
	var pos []string
	if o.target != "" {
		pos = []string{o.target}
	}
	cmd := o.command("upgrade", flags, pos, true)
	out, err := o.run(ctx, t, "upgrade", cmd)
	if err != nil {
		return UpgradeResult{}, err
	}
	if out.res.ExitCode != 0 {
		return UpgradeResult{}, upgradeFailure(out)
	}
	return ParseUpgrade([]byte(out.text()))
}

const willRestore = "The database will be restored"

func upgradeFailure(out output) error {
	text := out.text()
	before, after, ok := strings.Cut(text, willRestore)
	if !ok {
		return out.fail("upgrade")
	}
	res := out.res
	res.Stdout, res.Stderr = []byte(out.stdout), []byte(out.stderr)
	e := &UpgradeError{
		Host:             out.host,
		MigratorsMissing: strings.Contains(text, "missing migration descriptors"),
		Err:              transport.ResultError(out.cmd, res),
	}
	if _, err := ParseRestore([]byte(after)); err == nil {
		e.Restored = true
	}
	if path, found, err := findBackupLine("upgrade", before); err == nil && found {
		e.BackupFile = path
	}
	// The message is what follows the backup notice (or everything).
	msg := before
	if i := strings.LastIndex(msg, "mysql -u user -h server -P port db_name < backup_file"); i >= 0 {
		msg = msg[i+len("mysql -u user -h server -P port db_name < backup_file"):]
	}
	msg = strings.TrimSpace(msg)
	const max = 4096
	if len(msg) > max {
		msg = msg[:max/2] + "\n...\n" + msg[len(msg)-max/2:]
	}
	e.Message = msg
	return e
}

var (
	migratedRE  = regexp.MustCompile(`^Database migrated from ([0-9]+\.[0-9]+\.[0-9]+) to ([0-9]+\.[0-9]+\.[0-9]+) \(OpenNebula ([^)]*)\) by onedb command\.$`)
	migratorRE  = regexp.MustCompile(`^\s*> Running migrator (\S+)$`)
	readRE      = regexp.MustCompile(`^(Shared|Local) tables\s+([0-9]+\.[0-9]+\.[0-9]+)\s*:`)
	totalTimeRE = regexp.MustCompile(`^Total time: ([0-9]+(?:\.[0-9]+)?)s$`)
)

// ParseUpgrade parses the output of a successful `onedb upgrade -v`.
// Output that is neither "up to date" nor a complete migration report
// (at least one "Database migrated" line and the final "Total time") is a
// *ParseError.
func ParseUpgrade(out []byte) (UpgradeResult, error) {
	perr := func(line int, format string, a ...any) (UpgradeResult, error) {
		return UpgradeResult{}, &ParseError{What: "upgrade", Line: line, Reason: fmt.Sprintf(format, a...)}
	}
	text := string(out)
	lines := splitLines(text)
	for _, l := range lines {
		if l == "Database schema is up to date." {
			return UpgradeResult{AlreadyCurrent: true}, nil
		}
	}
	var r UpgradeResult
	path, found, err := findBackupLine("upgrade", text)
	if err != nil {
		return UpgradeResult{}, err
	}
	if found {
		r.BackupFile = path
	}
	var cur *Migration
	var curName string
	haveTotal := false
	for i, l := range lines {
		n := i + 1
		switch {
		case l == ">>> Running migrators for shared tables":
			if r.Shared != nil {
				return perr(n, "repeated shared migrators block")
			}
			r.Shared = &Migration{}
			cur, curName = r.Shared, "shared"
		case l == ">>> Running migrators for local tables":
			if r.Local != nil {
				return perr(n, "repeated local migrators block")
			}
			r.Local = &Migration{}
			cur, curName = r.Local, "local"
		default:
			if m := readRE.FindStringSubmatch(l); m != nil {
				if m[1] == "Shared" {
					r.FromShared = m[2]
				} else {
					r.FromLocal = m[2]
				}
				continue
			}
			if m := migratorRE.FindStringSubmatch(l); m != nil {
				if cur == nil {
					return perr(n, "migrator outside a migrators block")
				}
				cur.Migrators = append(cur.Migrators, m[1])
				continue
			}
			if m := migratedRE.FindStringSubmatch(l); m != nil {
				if cur == nil {
					return perr(n, "migration line outside a migrators block")
				}
				if cur.To != "" {
					return perr(n, "second migration line for the %s tables", curName)
				}
				cur.From, cur.To, cur.Release = m[1], m[2], m[3]
				continue
			}
			if m := totalTimeRE.FindStringSubmatch(l); m != nil {
				d, err := time.ParseDuration(m[1] + "s")
				if err != nil {
					return perr(n, "total time %q", m[1])
				}
				r.Total, haveTotal = d, true
			}
		}
	}
	for name, m := range map[string]*Migration{"shared": r.Shared, "local": r.Local} {
		if m != nil && m.To == "" {
			return perr(0, "%s migrators block without a \"Database migrated\" line", name)
		}
	}
	if r.Shared == nil && r.Local == nil {
		return perr(0, "neither \"up to date\" nor any migrators block")
	}
	if !haveTotal {
		return perr(0, "no \"Total time\" line (truncated output?)")
	}
	return r, nil
}
