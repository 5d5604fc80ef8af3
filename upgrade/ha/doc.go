// Package ha upgrades an OpenNebula HA cluster (a single front-end being
// an HA cluster of one) to a new release with the procedure of OpenNebula's
// HA upgrade guide (upgrading_ha), corrected where OpenNebula's source
// behaves otherwise: configuration backed up, repository switched
// and the new packages downloaded on every node before any outage; VMs
// settled; hosts disabled with their states recorded; every OpenNebula
// service stopped on every node back to back, followers first, the leader
// last (a leader without a majority would keep taking calls it cannot
// commit, which oned applies later: LogDB::_exec_wr in OpenNebula's
// src/sql/LogDB.cc); databases backed up, packages installed and onecfg
// run on every node in parallel; daemon-reload; the leader's Raft log
// checked for unapplied records; onedb upgrade and fsck on the leader; the
// leader started alone (never elected without a majority) while its
// upgraded database is copied (checksummed) and restored on every
// follower at once, configuration synced keeping each follower's
// SERVER_ID; enough followers for a majority started, then the rest; the zone in
// sync; the followers' databases equal to the leader's; the hypervisors
// upgraded (package upgrade/hypervisors); the hosts back to their states.
//
// Plan returns the procedure as an upgrade.Plan with its preflight checks
// and its point of no return (the first start of the new release); run it
// with upgrade.NewRunner, giving every host of Inventory.Hosts a transport
// with upgrade.WithHosts. The engine provides the dry run, the journal and
// resume, the rollback, the events and the report with the downtime
// window. Use upgrade/path to choose between this full procedure and a
// rolling one; the versions preflight check refuses downgrades and jumps
// over a minor release.
//
// The inventory types are shared by every OpenNebula procedure; the
// options apply to upgrade/hypervisors too.
package ha
