// Package federation upgrades an OpenNebula federation: a master zone and
// its slave zones, each a single front-end or an HA cluster, with the
// coordinated procedure of OpenNebula's federation upgrade guide
// (upgrading_federation) and these corrections, checked against
// OpenNebula's source (src/cli/onezone, src/rm/xml-rpc/RequestXRPC.cc,
// src/raft/RaftManager.cc):
//
//   - every zone at the same FED_INDEX before anything changes;
//   - hosts recorded and disabled while the zones still take writes;
//   - zones disabled with `onezone disable` sent to each zone's own
//     endpoint, slaves first: a slave's state change goes through the
//     master's one.zone.updatedb, which a disabled master refuses;
//   - every zone stopped, followers before leaders; configuration and
//     databases backed up on every front-end;
//   - the master upgraded like upgrade/ha, then `onedb backup --federated`
//     on its leader;
//   - each slave's leader receives that backup (checksummed copy) and
//     restores it with `onedb restore --federated` before its own `onedb
//     upgrade`, which runs the local migrators only; the slave's followers
//     receive their leader's upgraded database, as in upgrade/ha;
//   - zones started and in sync, the master first; zones enabled, the
//     master first; FED_INDEX equal again; hypervisors and hosts.
//
// The federated backup and restore are needed for every minor upgrade,
// whose shared database version changes, and never for a patch release:
// the path preflight check (upgrade/path) decides.
//
// A patch release does not change the shared database version, so the
// path check, which asks upgrade/path for each zone from its own leader,
// has the zones upgraded one by one instead (KeyPerZone): no zone is
// disabled, each is stopped, backed up, upgraded and started before the
// next, master first, and a zone already at the target is left alone.
// OpenNebula's 6.2-era minor-upgrade guide does the same for federations
// (OpenNebula/docs branch one-6.2,
// source/intro_release_notes/upgrades/upgrading_minor.rst, "Federation":
// "There is no special step to perform"); while the master is down the
// slaves cannot write the federated tables. WithCoordinated keeps the
// coordinated procedure for patch releases too. `onezone disable/enable`
// exist from 6.2 only (src/cli/onezone): with an older CLI those steps
// skip with the reason.
//
// Plan returns the plan for the upgrade engine: preflight, dry-run,
// journal and resume, rollback up to the master's start on the new
// release (PointOfNoReturn), and a report whose downtime windows are per
// zone, from its disable to its enable (Service).
//
// Measured on the simulator (sim.Federation: an HA master of 3, an HA
// slave of 3 and a solo slave; 7.2.0 → 7.4.1, virtual time): each zone
// refuses writes for about 24.4 minutes, the zones being upgraded one
// after the other while all are stopped (the simulator also runs parallel
// commands one after the other on its clock). The patch release 7.4.0 →
// 7.4.1 zone by zone: 9.8 minutes for each HA zone and 3.2 for the solo
// one, never two zones at once, where the coordinated procedure kept all
// three down for 23.7 minutes.
package federation
