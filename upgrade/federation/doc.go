// Package federation upgrades an OpenNebula federation: a master zone and
// its slave zones, each a single front-end or an HA cluster, with the
// coordinated procedure of the federation guide (FACTS §6.3) and the
// corrections of FACTS §1.6, §1.7, §7 and §11:
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
// Plan returns the plan for the upgrade engine: preflight, dry-run,
// journal and resume, rollback up to the master's start on the new
// release (PointOfNoReturn), and a report whose downtime windows are per
// zone, from its disable to its enable (Service).
//
// Measured on the simulator (sim.Federation: an HA master of 3, an HA
// slave of 3 and a solo slave; 7.2.0 → 7.4.1, virtual time): each zone
// refuses writes for about 24.4 minutes, the zones being upgraded one
// after the other while all are stopped (the simulator also runs parallel
// commands one after the other on its clock).
package federation
