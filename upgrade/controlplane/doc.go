// Package controlplane is the OpenStack control-plane upgrade procedure:
// a plan for the upgrade engine built from the openstack and system
// primitives.
//
// The plan, in order:
//
//  1. preflight: on the primary controller, every service database is
//     compared with the installed tools (openstack.CheckVersions: a
//     database a newer release migrated is refused).
//  2. backup: every service database dumped and verified on the primary,
//     every service config directory copied on every controller; their
//     rollbacks restore them (checksums and digests verified).
//  3. repositories: the target release's repository on every node.
//  4. services, in the catalog's upstream order (keystone, glance,
//     placement before nova, nova, neutron, cinder, heat, horizon): the
//     packages on the controllers (and network nodes for neutron), the
//     schema on the primary (expand and migrate for keystone, glance and
//     neutron; db sync for the others), the service's upgrade check, then
//     the units restarted node by node in the catalog's order (nova
//     conductor first and API last, neutron servers before agents, cinder
//     scheduler, volume, backup, API). Before nova's units restart, the
//     compute RPC API is pinned ([upgrade_levels] compute = auto) on the
//     controllers and computes.
//  5. computes, in batches (the first alone as a canary): nova and neutron
//     agent packages upgraded and units restarted.
//  6. finish: the pin removed and every nova service sent SIGHUP to drop
//     it; the contract phases (the point of no return: rollback is
//     refused from here on, neutron's servers stopped only when
//     has_offline_migrations says so); online data migrations to
//     completion; a final upgrade check of every service.
//
// Rollback before the point of no return restores the databases and the
// config directories; packages are not downgraded (the operator
// reinstalls the old release's packages, as upstream documents).
package controlplane
