// Package controlplane is the OpenStack control-plane upgrade procedure:
// a plan for the upgrade engine built from the openstack and system
// primitives.
//
// The plan, in order:
//
//  1. preflight, on the primary controller, changing nothing: with
//     Inventory.Target, the upgrade path (the installed series read from
//     the service packages; only a SLURP release may skip one release,
//     other jumps are refused with the releases to go through), then every
//     service database compared with the installed tools
//     (openstack.CheckVersions: a database a newer release migrated is
//     refused), then every service's upgrade check with the installed
//     release (failures and crashed tools stop the run; placement-status
//     reports the previous release's unfinished online data migrations).
//  2. backup: every service database dumped and verified on the primary,
//     every service config directory copied on every node; their
//     rollbacks restore them (checksums and digests verified) and the
//     databases' rollback, the last to run, restarts every unit so the
//     old code runs on the old schema.
//  3. prepare: the installed release's online data migrations run to
//     completion (the next release's migrations assume them done; rows a
//     migration leaves behind while exiting 0 stop the run here, and are
//     only reported in step 7).
//  4. repositories: the target release's repository on every node.
//  5. services, in the catalog's upstream order (keystone, glance,
//     placement before nova, nova, neutron, cinder, heat, horizon): the
//     packages on the controllers (and network nodes for neutron; the
//     replaced versions are recorded and reinstalled on rollback), the
//     new release's upgrade check (before any migration, as upstream
//     orders it: a Failure stops here), the schema on the primary (expand
//     and migrate for keystone, glance and neutron; db sync for the
//     others, nova's api_db before db), then the units restarted unit by unit in
//     the catalog's order, each on every node that has it, one node at a
//     time (every nova conductor before any nova API, every neutron
//     server before any agent and the L2 agents first, cinder scheduler,
//     volume, backup, API, heat engines before APIs). Before nova's units
//     restart, the compute RPC API is pinned ([upgrade_levels] compute =
//     auto) on the controllers and computes, the operator's own setting
//     recorded in the journal first. With one controller, each
//     controller unit's restart is a downtime window of its service
//     (State.ServiceDown/Up).
//  6. computes, WithComputeBatch at a time after a canary (WithCanary),
//     stopping new ones after WithFailureBudget failures: packages, L2
//     agent then nova-compute restarted (pinned), units verified active.
//  7. finish: the pin restored to the operator's setting (or removed when
//     there was none) and every nova service sent SIGHUP; the contract phases (the point of no return: rollback is
//     refused from here on; neutron's servers stopped, a downtime window,
//     only when has_offline_migrations says so); the new release's
//     online data migrations to completion; per service, the schema
//     verified at the new tools' heads and a final upgrade check.
//
// Neutron's expand phase is not purely additive: the 2025.1 tools drop
// the legacy vendor-plugin tables of a Zed database during expand. The
// verified backup of step 2 is what a rollback restores.
//
// Under the engine's dry-run every read-only probe runs (versions,
// schema states, upgrade checks) and the schema steps say what they would
// do, as far as the installed tools can tell (nothing to contract on a
// database at their heads); everything else is recorded, not run.
//
// Errors name the operation and the host as the inventory names it;
// command lines and scripts go to the debug log. WithServiceToolOptions
// gives one service its own tool options.
//
// The sim/openstack package simulates a control plane this plan runs on
// end to end; the tests use it for full runs, dry runs, faults with
// rollback, kill-and-resume and compute batching.
package controlplane
