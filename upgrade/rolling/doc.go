// Package rolling upgrades an OpenNebula HA zone without stopping the
// whole cluster, in two ways:
//
//   - Plan: the rolling patch upgrade. A patch release keeps the database
//     version (FACTS §7), so the front-ends are upgraded one at a time —
//     stop, repository, packages, onecfg upgrade, start, wait until it is
//     a follower in sync — followers first, the leader last after a
//     leadership handoff (its oned stops, the others elect a new leader).
//     The cluster keeps a majority throughout: it needs 3 or more
//     front-ends (a *MajorityError otherwise) and the API is down for
//     about one election. A minor upgrade is refused (*PathError): use
//     RejoinPlan or upgrade/ha.
//
//   - RejoinPlan: the break-and-rejoin minor upgrade ("remove the
//     followers, upgrade one node, re-add the others"). The followers
//     leave the zone (`onezone server-del`) and are prepared (packages,
//     configuration) while the leader, now a majority of one, keeps
//     serving; the leader's packages and configuration are staged too.
//     Writes stop only for the leader's database upgrade (oned stopped,
//     `onedb upgrade`, oned started, the one-server election); then each
//     follower is re-seeded from a fresh backup of the leader (`onedb
//     restore -f` with ONE_XMLRPC=localhost) and added back (`onezone
//     server-add` → ID read back → SERVER_ID in its oned.conf → start →
//     `onezone server-reset` → a harmless replicated write that sends it
//     server-add's own record), one at a time, until it is in sync.
//
// Both plans run on the upgrade engine: preflight checks, dry-run, the
// journal (resume after a crash), rollback (RejoinPlan up to the leader's
// start on the new release), and a report with the downtime windows
// measured around the handoff or the leader's outage and the first
// follower's join.
//
// Downtime measured on the simulator (sim, 3 front-ends, virtual time,
// median of 50 seeds): rolling 7.4.0 → 7.4.1 refuses writes for 4.9 s,
// 8.9 s at worst (one election after the leader's oned stopped, longer
// when the followers split the vote); break-and-rejoin 7.2.0 → 7.4.1 for 29.0 s
// (onedb upgrade 5.0 s with its backup of the zone's 175 MB database,
// opennebula-ssh-agent's start 1 s then oned's 3 s, as the unit's After=
// orders them, the one-server zone's first election 20 s) plus 4.5 s
// when the first follower joins the one-server zone, 33.5 s in all, where
// operators measured ~70 s doing it by hand; with FsckInWindow the
// leader's outage is 47 s, in the guides' order (packages installed after
// the stop, fsck in the window) 3 min 19 s. The simulator runs parallel
// commands one after the other on its clock.
package rolling
