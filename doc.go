// Package upgradekit is an SDK for upgrading private clouds (OpenNebula and
// OpenStack) without losing data and with as little downtime as the
// software allows.
//
// The packages compose in layers, with the arrows pointing one way:
//
//   - transport runs commands on hosts: transport/ssh, transport/local and
//     the strict fake transport/fake for unit tests, checked by the shared
//     conformance suite transport/transporttest.
//   - Primitives take a transport.Transport and know one tool each:
//     zone (onezone, raft state, WaitInSync), onedb (backup, restore,
//     version, upgrade, fsck, database checksums), host (onehost), vm
//     (onevm), system (systemd, package managers, directory backups and
//     copies), openstack (the OpenStack management tools).
//   - upgrade is the engine: plans of steps with preflight, dry-run, a
//     crash-safe journal, resume, rollback, a lock, events and bounded
//     parallelism. It knows nothing of OpenNebula or OpenStack.
//   - upgrade/<procedure> packages are the one place that knows both: they
//     assemble plans from primitives (HA, federation, rolling, the
//     OpenStack control plane).
//   - sim simulates OpenNebula clouds behind the transport, so procedures
//     and users' own upgrade programs run without a cloud.
//   - examples/ holds thin binaries: flags and inventory in, plan run,
//     events out.
package upgradekit
