package nebula

import (
	"fmt"

	"github.com/upgradekit/upgradekit/host"
	"github.com/upgradekit/upgradekit/upgrade"
)

// Values the steps share. All are persistent (journaled), so a resumed run
// sees what an earlier run recorded: the hosts' prior states, the units
// that were running, the backups taken. Keys are made per host by name.

// KeyStarted is set by the first step that changes the cloud; preflight
// checks that need a healthy running zone are skipped once it is set (a
// resumed run finds the zone stopped on purpose).
var KeyStarted = upgrade.NewPersistentKey[bool]("nebula/started")

// KeyFromVersion is the release installed before the upgrade (read on the
// leader by the path preflight check, or by the first package step).
var KeyFromVersion = upgrade.NewPersistentKey[string]("nebula/from-version")

// HostsSnapshot is the key of zone's hosts' states before they were
// disabled, restored exactly at the end (host.Restore).
func HostsSnapshot(zone int) upgrade.Key[host.Snapshot] {
	return upgrade.NewPersistentKey[host.Snapshot](fmt.Sprintf("nebula/zone/%d/hosts", zone))
}

// ActiveUnits is the key of the OpenNebula units that were active on node
// when it was stopped: they are started again, and only they.
func ActiveUnits(node string) upgrade.Key[[]string] {
	return upgrade.NewPersistentKey[[]string]("nebula/" + node + "/units")
}

// ConfigBackups is the key of node's configuration backups: original path
// to backup path ("" when the original did not exist).
func ConfigBackups(node string) upgrade.Key[map[string]string] {
	return upgrade.NewPersistentKey[map[string]string]("nebula/" + node + "/config-backups")
}

// DBBackup is the key of node's database backup taken before anything was
// upgraded; rollback restores it.
func DBBackup(node string) upgrade.Key[string] {
	return upgrade.NewPersistentKey[string]("nebula/" + node + "/db-backup")
}

// UpgradedDBBackup is the key of the upgraded leader database's backup
// that is restored on the followers.
func UpgradedDBBackup(zone int) upgrade.Key[string] {
	return upgrade.NewPersistentKey[string](fmt.Sprintf("nebula/zone/%d/upgraded-db-backup", zone))
}

// RepoBackup is the key of node's repository directory backup, restored
// to go back to the old release's packages.
func RepoBackup(node string) upgrade.Key[string] {
	return upgrade.NewPersistentKey[string]("nebula/" + node + "/repo-backup")
}

// PackageVersions is the key of node's OpenNebula package versions before
// the upgrade (package name to version as the package manager prints it).
func PackageVersions(node string) upgrade.Key[map[string]string] {
	return upgrade.NewPersistentKey[map[string]string]("nebula/" + node + "/packages")
}

// OnecfgMissing is the key of why node's onecfg had no status command
// before the upgrade ("" when it had one), recorded by CheckOnecfg.
func OnecfgMissing(node string) upgrade.Key[string] {
	return upgrade.NewPersistentKey[string]("nebula/" + node + "/onecfg-missing")
}
