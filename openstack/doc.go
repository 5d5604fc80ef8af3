// Package openstack holds the primitives of an OpenStack control-plane
// upgrade, each run on one node through a transport.Transport:
//
//   - Catalog: the services an operator upgrades (keystone, glance,
//     placement, nova, neutron, cinder, heat, horizon) with their packages
//     per distribution family, systemd units per role, config files,
//     databases, schema-upgrade style, upgrade-check tool and online data
//     migrations flag, in the upstream order. Operators add or override
//     services with Catalog.With and Catalog.Override.
//   - ExpandMigrateContract (keystone, glance, neutron) and DBSync (the
//     others, and the offline path of those three), which trust the
//     database's recorded revisions over exit codes that lie (keystone
//     22–27 `db_sync --check`) and refuse to run old tools on a database a
//     newer release migrated (*NewerDatabaseError, see CheckVersions).
//   - SchemaCheck: the tools' own probes with their exit codes decoded.
//   - OnlineDataMigrations: run to completion in batches (0/1/2/127).
//   - UpgradeCheck: `<svc>-status upgrade check` per-check results, JSON
//     where the tool supports it and the table otherwise; exit 255 is the
//     tool crashing (ErrToolCrashed), not a failed check.
//   - BackupDatabase/RestoreDatabase (mysqldump, verified with a "-- Dump
//     completed" line, SHA-256 and per-table CHECKSUM TABLE and row
//     counts; credentials in a 0600 --defaults-extra-file, never argv) and
//     BackupConfigDir/RestoreConfigDir (cp -a, digest-verified).
//   - SetOption/UnsetOption/EditConfig: oslo INI edits through package
//     osloconf that keep comments, order and untouched lines byte for
//     byte, and the file's mode and owner (e.g. [upgrade_levels]
//     compute = auto during a rolling compute upgrade).
//
// Management tools run with the catalog's --config-file list (or
// WithConfigFiles), bounded by WithTimeout (neutron-db-manage ignores
// [database] max_retries and retries a dead database for ~100 s). Database
// access for probes and backups comes from the same config files' oslo.db
// connection URLs (ServiceDatabases) and the node's mariadb/mysqldump
// clients.
//
// The package knows nothing of the upgrade engine: procedures in
// upgrade/controlplane compose these primitives into plans.
package openstack
