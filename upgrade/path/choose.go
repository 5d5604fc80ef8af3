package path

import (
	"fmt"
	"strings"
)

// Procedure is the kind of upgrade a Decision picks.
type Procedure int

// Procedures.
const (
	// None: the target is installed and the database is at its version;
	// there is nothing to do (a result, not an error).
	None Procedure = iota
	// Rolling: a patch upgrade inside one minor series; the database
	// version does not change, so the nodes of an HA cluster can be
	// upgraded one at a time while the others keep a majority, as
	// OpenNebula's 6.2-era minor-upgrade guide does (upgrading_minor.rst
	// in OpenNebula/docs, branch one-6.2; upgrade/rolling explains its
	// order), and each zone of a federation on its own.
	Rolling
	// Full: a minor or major upgrade; the database version changes, so
	// the whole zone is stopped, the leader's database is upgraded and
	// restored on every follower (the HA upgrade guide; the HA guide's seeding steps).
	Full
)

// String returns "none", "rolling" or "full".
func (p Procedure) String() string {
	switch p {
	case None:
		return "none"
	case Rolling:
		return "rolling"
	case Full:
		return "full"
	}
	return fmt.Sprintf("Procedure(%d)", int(p))
}

// DBVersions are the database versions `onedb version` reports (shared and
// local tables). Empty strings mean unknown: the installed release's DB
// version is assumed.
type DBVersions struct {
	Shared, Local string
}

// Decision is the chosen procedure and why.
type Decision struct {
	Procedure Procedure
	// From and To are the installed and target releases; FromDB and ToDB
	// the database versions before and after.
	From, To     Version
	FromDB, ToDB Version
	// Reason explains the choice in one sentence, for operators.
	Reason string
}

// RefusedError is an upgrade Choose will not plan: a downgrade, a jump
// over a minor release, or an unknown release. Err is the sentinel
// (ErrDowngrade, ErrUnsupportedJump, ErrUnknownRelease).
type RefusedError struct {
	From, To Version
	// Via lists the releases series to upgrade to first, in order, for
	// ErrUnsupportedJump (e.g. 7.0, 7.2 then 7.4 from 6.10).
	Via    []Version
	Reason string
	Err    error
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("upgrade %s → %s refused: %s", e.From, e.To, e.Reason)
}

func (e *RefusedError) Unwrap() error { return e.Err }

// Choose picks the procedure that upgrades installed to target, given the
// database versions read from the cluster (zero DBVersions: derived from
// installed).
//
// The rules, from src/onedb/onedb.rb; the upgrade guides; src/raft/RaftManager.cc:
//
//   - target older than installed, or than the database: refused
//     (ErrDowngrade). No OpenNebula procedure goes back; restore backups.
//   - same DB version before and after (a patch release, 7.4.0 → 7.4.1):
//     Rolling. Raft replicates raw SQL, so mixed code versions are only
//     safe while the schema does not change.
//   - DB version changes by exactly one minor series (7.2 → 7.4, 6.10 →
//     7.0): Full.
//   - DB version changes by more than one series (6.10 → 7.4): refused
//     (ErrUnsupportedJump), with the series to go through in Via. onedb
//     does chain its migrators step by step in one run, but only the
//     database: packages, repositories, systemd units (7.0 removed
//     opennebula-scheduler, -sunstone and -novnc), onecfg and the
//     migration packages of 6.x differ per release, and the guides
//     document one minor step at a time. Doing each hop as its own Full
//     upgrade keeps every hop a tested, resumable procedure.
//   - installed == target and DB current: None. installed == target with
//     an older DB (a Full upgrade interrupted after the packages): Full.
//
// A release series Choose does not know (Series) is refused with
// ErrUnknownRelease rather than guessed.
func Choose(installed, target string, db DBVersions) (Decision, error) {
	from, err := Parse(installed)
	if err != nil {
		return Decision{}, fmt.Errorf("installed version: %w", err)
	}
	to, err := Parse(target)
	if err != nil {
		return Decision{}, fmt.Errorf("target version: %w", err)
	}
	d := Decision{From: from, To: to, FromDB: DBVersion(from), ToDB: DBVersion(to)}
	var dbNote string
	if db.Shared != "" || db.Local != "" {
		fromDB, note, err := dbFrom(db)
		if err != nil {
			return Decision{}, err
		}
		d.FromDB, dbNote = fromDB, note
	}
	for _, v := range []Version{from, to, d.FromDB} {
		if seriesIndex(v) < 0 {
			return Decision{}, &RefusedError{From: from, To: to, Err: ErrUnknownRelease,
				Reason: fmt.Sprintf("release series %d.%d is not one of %s", v.Major, v.Minor, seriesList(series))}
		}
	}
	switch {
	case to.Compare(from) < 0:
		return Decision{}, &RefusedError{From: from, To: to, Err: ErrDowngrade,
			Reason: fmt.Sprintf("target %s is older than the installed %s; restore a backup instead", to, from)}
	case d.ToDB.Compare(d.FromDB) < 0:
		return Decision{}, &RefusedError{From: from, To: to, Err: ErrDowngrade,
			Reason: fmt.Sprintf("the database is at %s, newer than target %s's %s", d.FromDB, to, d.ToDB)}
	}
	gap := seriesIndex(d.ToDB) - seriesIndex(d.FromDB)
	switch {
	case gap > 1:
		var via []Version
		for i := seriesIndex(d.FromDB) + 1; i < seriesIndex(d.ToDB); i++ {
			via = append(via, series[i])
		}
		return Decision{}, &RefusedError{From: from, To: to, Via: via, Err: ErrUnsupportedJump,
			Reason: fmt.Sprintf("database %s → %s skips %s; upgrade to each of %s in turn, then to %s",
				d.FromDB, d.ToDB, seriesList(via), seriesList(via), to)}
	case gap == 1:
		d.Procedure = Full
		d.Reason = fmt.Sprintf("database version changes %s → %s (minor upgrade %s → %s): the whole zone stops, the leader's database is upgraded and restored on every follower", d.FromDB, d.ToDB, from, to)
	case from == to:
		d.Procedure = None
		d.Reason = fmt.Sprintf("%s is installed and the database is at %s: nothing to do", to, d.ToDB)
	default:
		d.Procedure = Rolling
		d.Reason = fmt.Sprintf("patch upgrade %s → %s keeps database version %s: nodes can be upgraded one at a time, followers first, keeping a majority", from, to, d.ToDB)
	}
	if dbNote != "" {
		d.Reason += " (" + dbNote + ")"
	}
	return d, nil
}

// dbFrom picks the database version the upgrade starts from: the older of
// shared and local when they differ (a half-migrated or federation-slave
// database), with a note.
func dbFrom(db DBVersions) (Version, string, error) {
	var vs []Version
	for _, s := range []string{db.Shared, db.Local} {
		if s == "" {
			continue
		}
		v, err := Parse(s)
		if err != nil {
			return Version{}, "", fmt.Errorf("database version: %w", err)
		}
		vs = append(vs, v)
	}
	if len(vs) == 2 && vs[0] != vs[1] {
		low := vs[0]
		if vs[1].Compare(low) < 0 {
			low = vs[1]
		}
		return low, fmt.Sprintf("shared tables at %s, local at %s", vs[0], vs[1]), nil
	}
	return vs[0], "", nil
}

func seriesList(vs []Version) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = fmt.Sprintf("%d.%d", v.Major, v.Minor)
	}
	return strings.Join(s, ", ")
}
