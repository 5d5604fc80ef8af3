package rolling

import (
	"errors"
	"fmt"
	"strings"

	"github.com/upgradekit/upgradekit/upgrade/internal/nebula"
	vpath "github.com/upgradekit/upgradekit/upgrade/path"
)

// Conditions callers branch on; test with errors.Is.
var (
	// ErrTooFewNodes: the zone has too few front-ends for the procedure
	// (a rolling upgrade needs 3 or more, so that the others keep a
	// majority while one is down; break-and-rejoin needs a follower).
	// Nothing ran. Use upgrade/ha.
	ErrTooFewNodes = errors.New("too few front-ends")
	// ErrNotRolling: the upgrade changes the database version (a minor
	// or major release), so the nodes cannot run different releases side
	// by side (src/raft/RaftManager.cc). Use RejoinPlan or upgrade/ha.
	ErrNotRolling = errors.New("not a rolling (patch) upgrade")
	// ErrDBChanged: after the packages were upgraded on a node, `onedb
	// version` says the database needs an upgrade: the release is not a
	// patch release of the running one. The node was not started.
	ErrDBChanged = errors.New("database version changed")
	// ErrFsck: `onedb fsck --dry` found errors.
	ErrFsck = errors.New("onedb fsck found errors")
	// ErrInvalidInventory: the inventory is incomplete or inconsistent.
	ErrInvalidInventory = nebula.ErrInvalidInventory
	// ErrNothingToDo: the zone is at the target already (a result).
	ErrNothingToDo = nebula.ErrNothingToDo
	// ErrWrongLeader: the zone's leader is not the plan's (WithLeader).
	ErrWrongLeader = nebula.ErrWrongLeader
)

// MajorityError reports a zone too small for a procedure.
type MajorityError struct {
	ZoneID int
	Nodes  int // front-ends in the inventory
	Need   int // the fewest the procedure accepts
	Why    string
}

func (e *MajorityError) Error() string {
	return fmt.Sprintf("zone %d has %d front-end(s), the procedure needs at least %d: %s", e.ZoneID, e.Nodes, e.Need, e.Why)
}

// Unwrap returns ErrTooFewNodes.
func (e *MajorityError) Unwrap() error { return ErrTooFewNodes }

// PathError reports that upgrade/path chose another procedure.
type PathError struct {
	Decision vpath.Decision
}

func (e *PathError) Error() string {
	return fmt.Sprintf("%s → %s needs the %s procedure: %s (use RejoinPlan or upgrade/ha)",
		e.Decision.From, e.Decision.To, e.Decision.Procedure, e.Decision.Reason)
}

// Unwrap returns ErrNotRolling.
func (e *PathError) Unwrap() error { return ErrNotRolling }

// DBVersionError reports a node whose database needs an upgrade after
// its packages were upgraded.
type DBVersionError struct {
	Host          string
	Shared, Local string
	Required      string
}

func (e *DBVersionError) Error() string {
	return fmt.Sprintf("%s: database is at shared %s / local %s but the installed release needs %s: not a patch upgrade, the node is left stopped (roll back or finish with upgrade/ha)",
		e.Host, e.Shared, e.Local, e.Required)
}

// Unwrap returns ErrDBChanged.
func (e *DBVersionError) Unwrap() error { return ErrDBChanged }

// FsckDeferredError reports errors `onedb fsck --dry` found on the
// database; before the outage nothing changed, after it the upgrade is
// complete and the errors need `onedb fsck` in a maintenance window.
type FsckDeferredError struct {
	Host     string
	Found    int
	Problems []string
	// After is true when the check ran on the upgraded database.
	After bool
}

func (e *FsckDeferredError) Error() string {
	when := "before the upgrade (nothing changed; repair with onedb fsck or use WithFsck(FsckInWindow))"
	if e.After {
		when = "after the upgrade (the zone runs; repair with onedb fsck in a maintenance window)"
	}
	p := strings.Join(e.Problems, "; ")
	if len(p) > 300 {
		p = p[:300] + "…"
	}
	return fmt.Sprintf("%s: onedb fsck --dry found %d error(s) %s: %s", e.Host, e.Found, when, p)
}

// Unwrap returns ErrFsck.
func (e *FsckDeferredError) Unwrap() error { return ErrFsck }
