// Package rolling upgrades an OpenNebula HA zone without stopping the
// whole cluster, in two ways:
//
//   - Plan: the rolling patch upgrade. A patch release keeps the database
//     version (src/onedb/database_schema.rb LATEST_DB_VERSION moves only
//     with minor releases), so the front-ends are upgraded one at a time —
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
// # Order: followers first, the leader last
//
// OpenNebula does document a node-by-node upgrade for releases that keep
// the database version: the 6.2-era minor-upgrade guide
// (OpenNebula/docs, branch one-6.2,
// source/intro_release_notes/upgrades/upgrading_minor.rst, "High
// Availability") upgrades the current leader first, "so there is a new
// election", then continues with whichever server leads. Plan upgrades the
// followers first and the leader last instead, because of what the source
// allows while two releases share a zone:
//
//   - oned's start-up check compares only the database versions with the
//     code's shared and local database versions
//     (SystemDB::check_db_version, src/nebula/SystemDB.cc, called from
//     src/nebula/Nebula.cc), never the release, so either order starts;
//   - Raft replication carries raw SQL and no version at all: the
//     one.zone.replicate parameters are leader id, commit, term, index,
//     term, previous index and term, federation index and the SQL
//     (ZoneAPI::replicate_log, src/rm/api/ZoneAPI.cc at release-7.4.0), and
//     a follower executes that SQL as it is (LogDB::apply_log_record,
//     src/sql/LogDB.cc), so nothing stops an older follower from applying
//     what a newer leader wrote, bodies with attributes its code does not
//     know included;
//   - with the followers first, every record is written by the old leader
//     and applied by old or new followers (a patch release must read its
//     predecessor's rows anyway: it starts on the same database), and the
//     single handoff hands the zone to a new leader whose followers are all
//     new; leader first makes an old follower the leader for a while and the
//     next election can put a new leader in front of old followers, the
//     direction no release promises to support, and it costs one election
//     per leader upgraded (at least two) instead of one.
//
// Both are safe at the database level for a patch release; followers first
// never replicates from a newer release to an older one and refuses writes
// for one election only. The same guide upgrades federation zones one by
// one for such releases ("there is no special step to perform"), which
// upgrade/federation follows.
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
