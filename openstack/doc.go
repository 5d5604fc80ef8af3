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
//     A database's migration system is found from the installed package
//     (Database.Legacy): heat 19-20 (2022.2-2023.1) ship
//     sqlalchemy-migrate scripts, heat 21+ (2023.2-2025.2) alembic, whose
//     db_sync stamps one revision over migrate_version; a database short
//     of migrate 86 is refused (*LegacySchemaError) and old heat tools on
//     a stamped database are refused (*NewerDatabaseError).
//   - SchemaCheck: the tools' own probes with their exit codes decoded,
//     after the same version guard (old tools answer wrongly on a newer
//     database).
//   - OnlineDataMigrations: run to completion in batches (0/1/2/127);
//     rows a run found and left while exiting 0 are reported
//     (ODMReport.Pending, *PendingRowsError).
//   - UpgradeCheck: `<svc>-status upgrade check` per-check results, JSON
//     where the tool supports it and the table otherwise; exit 255 is the
//     tool crashing (ErrToolCrashed), a tool printing nothing did not
//     start (ErrToolStartup, with its reason), neither is a check result.
//   - Series, UpgradePath, CheckUpgrade: the SLURP rule (one release at a
//     time, or from a SLURP release to the next one), and SeriesOf a
//     service's installed package.
//   - BackupDatabase/RestoreDatabase (mysqldump, verified with a "-- Dump
//     completed" line, SHA-256 and per-table CHECKSUM TABLE and row
//     counts; credentials in a 0600 --defaults-extra-file, never argv) and
//     BackupConfigDir/RestoreConfigDir (cp -a, digest-verified).
//   - SetOption/UnsetOption/EditConfig: oslo INI edits through package
//     osloconf that keep comments, order and untouched lines byte for
//     byte, and the file's mode and owner (e.g. [upgrade_levels]
//     compute = auto during a rolling compute upgrade).
//
// Options apply to every service, or to one with ForService (a
// container wrapper or config files for keystone only). Management tools
// run with the catalog's --config-file list (or WithConfigFiles),
// bounded by WithTimeout (neutron-db-manage ignores
// [database] max_retries and retries a dead database for ~100 s). Database
// access for probes and backups comes from the same config files' oslo.db
// connection URLs (ServiceDatabases) and the node's mariadb/mysqldump
// clients; WithDBTLS sets their TLS (a CA, a client certificate, or an
// explicit opt-out for a server without TLS, which MariaDB 11 clients
// refuse by default). A dump is written to a temporary name and renamed
// only once the tool succeeded; one that fails its check is removed.
//
// The package knows nothing of the upgrade engine: procedures in
// upgrade/controlplane compose these primitives into plans.
package openstack
