// Package nebula holds the building blocks shared by the OpenNebula
// upgrade procedures (upgrade/ha, upgrade/hypervisors, and the federation
// and rolling procedures): the inventory types and a Kit whose methods
// return engine steps (upgrade.Step) mapping one to one to the corrected
// procedures of OpenNebula's upgrade guides, corrected where its source
// (src/raft/RaftManager.cc, src/onedb/onedb.rb) behaves otherwise.
//
// # Inventory
//
// An Inventory lists zones (ID, endpoint, front-ends with their SSH
// address and SERVER_ID, hypervisors with their kind), the target release,
// the package repository (URL with an optional "{series}" placeholder, an
// Enterprise token as a transport.Secret) and, optionally, the database
// connection used to compare the followers' table checksums with the
// leader's. Host names are the names of the engine's inventory
// (upgrade.WithHosts) and should equal the OpenNebula server and host
// names.
//
// # Steps
//
// New(inv, options...) returns a Kit. Its step constructors take the
// step's name first. Steps that act on one node take node: a front-end
// name, or "" for the host of the enclosing upgrade.PerHost. Steps that
// act on the zone through a front-end take via (usually the leader).
//
//	VMsSettled          no VM transient (vm.Classify; failed VMs stop it at once)
//	DisableHosts        hosts' states recorded once (HostsSnapshot), enabled ones disabled
//	StopServices        every active opennebula* service/timer stopped, verified (ActiveUnits);
//	                    StopServicesMarking also marks services down (Service, ServiceWrites)
//	BackupConfig        /etc/one, remotes/etc, .one, /etc/onecfg.conf → PATH.<timestamp>
//	BackupDB            onedb backup before the upgrade (DBBackup; restored by the
//	                    rollbacks of UpgradeDB and RestoreUpgradedDB)
//	SwitchRepository    repository switched (old repository directory kept: RepoBackup)
//	UpgradePackages     packages upgraded keeping config files (old versions: PackageVersions)
//	UpgradeConfig       onecfg upgrade when onecfg status says so
//	UpgradeDB           onedb upgrade --no-backup (BackupDB holds the copy)
//	FsckDB              onedb fsck; unrepaired errors are a *FsckError
//	BackupUpgradedDB    onedb backup of the upgraded leader (UpgradedDBBackup)
//	CopyUpgradedDB      that backup copied to a follower, SHA-256 checked
//	RestoreUpgradedDB   onedb restore -f on a follower, ONE_XMLRPC=localhost
//	SyncConfig          config dirs copied from the leader, SERVER_ID kept, oneadmin owner
//	DaemonReload        systemctl daemon-reload
//	StartServices       the recorded units started again, node after node
//	WaitLeader          a leader elected (marks the services up)
//	WaitInSync          one leader, followers caught up
//	CompareChecksums    followers' table checksums equal the leader's
//	HypervisorNodes     per hypervisor: repository, node package, libvirtd, onehost sync, state
//	RestoreHosts        every host back to its recorded state (host.Restore)
//
// Preflight checks: CheckReachableHosts, CheckVersionsConsistent (path
// choice: no downgrade, no skipped minor; ErrNothingToDo when already
// done), CheckOneLeader, CheckZoneInSync, CheckNoFailedVMs, CheckDiskSpace.
// Checks of a live, healthy zone pass with a note on a resumed run
// (KeyStarted is set by the first step that changes anything).
//
// # Resume, rollback, dry run
//
// Every step has a Checker: either a real "already done?" probe (the
// package at the target release, `onecfg status` clean, `onedb version`
// current) or Idempotent, which tells the engine the step is safe to run
// again after a crash. Values a later step or a rollback needs are kept in
// persistent keys (keys.go), so a resumed run, or a rollback in a resumed
// run, uses what the first run recorded: hosts' prior states, the units
// that were active, the backups. Rollbacks undo what their step did:
// hosts restored, services started, configuration and database backups
// restored, packages pinned back to their recorded versions from the old
// repository. Steps built with Step tolerate errors in a dry run (what
// they read back was never written), so a dry run lists every command.
//
// # Time
//
// Waits poll with a fresh exponential backoff (cenkalti/backoff/v4) on the
// Kit's clock and timers (WithClock, WithTimer), so the simulator's virtual
// clock drives them; a timeout error matches ErrTimeout and carries the
// last observation (*zone.NotInSyncError, *vm.NotSettledError,
// *system.StillActiveError).
package nebula
