// Package sim simulates OpenNebula clouds behind transport.Transport, so
// upgrade procedures (and users' own upgrade programs) run end to end with
// no cloud at all, in milliseconds of real time.
//
// A Cloud holds zones (zone 0 plus federation slaves 100+), each with one
// or more front-ends (Raft HA with SERVER_IDs 0, 1, ..., or a solo
// SERVER_ID -1 front-end), hypervisor hosts and VMs. Every node is
// reachable as a *Transport (Frontend, Host) that answers the commands an
// upgrade sends, in the byte formats of the real tools (reconstructed
// from OpenNebula's source and schemas; testbed/opennebula/captured holds
// a real oned's output to compare with):
//
//   - onezone show/list/disable/enable/server-add/server-del/server-reset
//     (-x, --json, --csv, table; "-" for servers that cannot be asked)
//   - onedb backup/restore/version/upgrade/fsck/history (exit codes, file
//     naming, "File exists", refusal while an oned answers at the client
//     endpoint, federation slaves, per-version fsck exit codes)
//   - onehost list/disable/enable/offline/sync, onevm list
//   - oned --version, onecfg status/upgrade/init (7.0+; the Community
//     Edition's onecfg before 7.0 has only `patch`, and onezone before 6.2
//     has no enable/disable: asked for them, the CLI prints its help and
//     "Command '…' not found" and exits 0, as OpenNebula's CLI parser does)
//   - systemctl start/stop/restart/is-active/list-units/show/daemon-reload
//     with the OpenNebula units (stopping opennebula leaves flow, gate,
//     hem, fireedge... running; start and stop run one job per unit at
//     once, each after the units it is ordered after by After=, reversed
//     on stop, as systemd does)
//   - apt-get/apt, dpkg-query, dnf/yum, rpm, zypper: upgrades follow the
//     repository file the node points at
//   - /bin/sh -c scripts (interpreted by mvdan.cc/sh with every external
//     command and file access simulated) and a small command set: cat,
//     tee, cp, mv, rm, mkdir, chmod, chown, mktemp, sha256sum, openssl
//     dgst, find (-printf, -exec), tar, stat, sed s///, grep, date, sleep,
//     df, curl/wget (a stand-in key)...
//   - systemctl list-units --type takes a comma-separated list of types
//     (--type=service,timer), and repeated --type/-t options combine
//
// Shell limitation: mvdan.cc/sh's interpreter (v3.14) only redirects file
// descriptors 0, 1 and 2, so a script using others (`exec 3>&1`,
// `exec 4< file`, `<&4`, /dev/fd/3) fails with "unsupported redirect fd".
// transport.StreamDownload's script is such a script; transport.Download
// does not need it here because Transport implements transport.Downloader
// (and Uploader) natively. transport.StreamUpload works.
//
// Anything else exits 127 with "sh: 1: X: not found"; unknown options of
// the OpenNebula CLIs exit 255 with "invalid option: ...".
//
// The model covers what matters to an upgrade: Raft roles, terms, log
// indexes and elections as OpenNebula's src/raft/RaftManager.cc runs them
// (a leader needs a majority; ~20 s after a full stop; followers time out
// together 5 s after the leader's last heartbeat and split votes back off a
// random 0-5 s, seeded by WithSeed; a lone node stays follower or
// candidate), writes as src/sql/LogDB.cc makes them (a write without a
// majority waits 90 s and fails, but stays in logdb with applied = 0 and
// is applied by the next leader or committed write: EventLogApplied,
// EventStaleApply, RaftLog),
// code vs database versions (oned refuses to start on a mismatch, slaves
// refuse a different shared version), zone disable blocking writes, the
// VIP following the leader, package upgrades, VMs settling and hosts being
// monitored over time.
//
// Replication follows the Raft log (OpenNebula/one src/raft, src/sql/LogDB.cc):
// each replicated write is a logdb record naming the tables it changed,
// and a follower gets the records after the last one both logs agree on,
// only when the leader has a record at or past that follower's next index
// (heartbeats carry none): a follower seeded before `onezone server-add`
// misses that command's own record until the next write, and a stale seed
// catches up by log matching without server-reset (which only resets the
// next index). The leader's monitor daemon writes host_monitoring and
// vm_monitoring on the leader alone, outside the log. server-add gives the
// zone's highest server ID + 1; a server deleted while its oned runs
// campaigns with a higher term every election timeout and deposes the
// leader until it is stopped. `onedb restore --federated` replaces the
// slave's whole logdb with the master's.
//
// Time is virtual: every command advances the Clock by a realistic cost,
// and waiting code advances it with Clock.Sleep or Clock.NewTimer (a
// backoff.Timer). onedb's backups, restores and upgrade index work cost
// what they cost on MariaDB for the database a zone with that Raft log
// index holds (up to LOG_RETENTION records; rates measured by
// bench/onedbcost), and copies of a dump cost what the real file would.
// BeginLanes and EndLanes give each node its own timeline while work that
// really runs in parallel on several hosts runs, so that it does not add
// up on the one clock.
// Events records what the cloud saw; APIWindows and
// WriteWindows give the downtime a procedure caused. Inject, SetUnreachable,
// SetStuck, SetFsckErrors, SetMountPoint (mv and rm of a mount point fail
// with "Device or resource busy", as on Linux) and FailPackageUpgrade
// inject faults.
//
// Each front-end's database lives in memory (tables of rows, dumped and
// restored in a mysqldump-like format; TableChecksums compares them). With
// WithMariaDB a front-end's database is also mirrored in a real MariaDB
// database after every command that changed it; `onedb backup` then runs
// the real mysqldump, `onedb restore` the real mariadb client, and the
// restored tables are read back into the model, so CHECKSUM TABLE over
// the real databases tells whether followers equal the leader.
//
// SetUnreachable cuts a node off from the controller and from the other
// nodes' CLI calls (raftstatus, the VIP), not from Raft replication.
//
// The same model answers on real hosts through the multi-call binary
// sim/cmd/onesim (Invoke, Init), its state saved as JSON under a flock;
// there the clock follows the wall clock and file access can go to the
// real file system (Invocation.RealFiles).
package sim
