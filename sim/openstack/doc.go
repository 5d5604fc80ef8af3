// Package ossim simulates an OpenStack control plane behind
// transport.Transport, so the openstack primitives and the
// upgrade/controlplane procedure run end to end with no cloud at all, in
// milliseconds of real time.
//
// A Cloud holds controllers, network nodes and computes (a Topology),
// each reachable as a *Transport (Upload and Download included), and one
// MariaDB server ("dbhost") with every service database. The nodes answer
// the commands the primitives send, with the exit codes and output
// shapes of the real Debian tools (checked by the openstack package's
// real-tool tests):
//
//   - keystone-manage db_sync --check/--expand/--migrate/--contract (the
//     keystone 22-27 --check bug included: 0 once under alembic), doctor,
//     db_version; glance-manage db check (3/4/5/0), expand, migrate,
//     contract, sync, version; neutron-db-manage has_offline_migrations
//     (1/0), upgrade --expand/--contract/heads, current; nova-manage
//     api_db sync, db sync, db online_data_migrations; placement-manage,
//     cinder-manage (--max_count; --max-count is an argparse error 2),
//     heat-manage; online data migrations 0/1/2/127
//   - the *-status upgrade check tools, JSON where the real tool honours
//     --json (nova-status rejects it with 2, placement-status ignores it)
//     and the oslo.upgradecheck table otherwise; 0/1/2 results and 255
//     when the database is unreachable (glance-status still answers 0)
//   - the mariadb/mysql client (MYSQL_PWD or --defaults-extra-file,
//     --batch output, the statements the primitives send), mysqldump
//     (--result-file) and loading a dump back
//   - systemctl start/stop/restart/reload/kill --signal=HUP/is-active/
//     show/list-units, kill -HUP <pid>; dpkg-query, rpm; apt-get
//     update/install --only-upgrade/install pkg=version, dnf/yum
//     makecache/upgrade/downgrade: a repository naming a later release
//     ("antelope") offers that release's packages
//   - /bin/sh -c scripts, interpreted by mvdan.cc/sh with every external
//     command and file access simulated (cat, tee, cp -a, mv, rm, mkdir,
//     mktemp, chmod, chown, stat -c, find -printf/-print0/-exec, sort -z,
//     xargs -0, sha256sum, wc, head, tail, grep -E, sed s///, python3's
//     importlib probe); anything else exits 127.
//
// The model: per-service schema revisions (expand and contract branches
// for keystone and neutron, glance's expand01/contract01 chain, one
// chain for placement, nova and cinder, heat's sqlalchemy-migrate
// numbers), each release's migration scripts installed with its
// packages (EXPAND_HEAD/CONTRACT_HEAD files included), pending online
// data migrations, units running a given release's code with the
// [upgrade_levels] compute pin they read at start or SIGHUP. A unit
// whose code needs a newer schema than the database has fails to start.
// Package upgrades do not restart services (policy-rc.d, as on the
// testbed); the code changes when the unit restarts.
//
// Releases: Zed (Debian 12's versions) and 2023.1 Antelope by default
// (WithReleases). Revision identifiers of Zed's keystone and glance heads
// are the real ones; later releases' are synthetic.
//
// Time is virtual (Clock): every command advances it by a realistic
// cost. Events records what the cloud saw; APIWindows and APIDowntime
// give each service's API availability windows (down while none of its
// API units is active anywhere); Violations lists the upstream rules a
// procedure broke (an unpinned newer nova service next to older
// computes, a service started on too old a schema, neutron's contract
// with servers running). Inject (a command failing, a node cut off, the
// database dying), SetUnreachable, SetDatabaseDown and
// FailPackageUpgrade inject faults; TableChecksums, TreeDigest and
// Installed let tests compare state before and after a rollback.
package ossim
