// Package onedb drives OpenNebula's `onedb` tool on a front-end and checks
// OpenNebula databases directly.
//
// # The onedb command
//
// Backup, Restore, Version, Upgrade, Fsck and History each run one onedb
// subcommand through a transport.Transport and return typed results:
//
//	path, err := onedb.Backup(ctx, fe, onedb.Force(), onedb.ToFile("/var/tmp/db_leader.sql"))
//	v, err := onedb.Version(ctx, fe)         // v.Status: Current, UpgradeRequired, ...
//	r, err := onedb.Upgrade(ctx, fe)         // r.AlreadyCurrent is a result, not an error
//	f, err := onedb.Fsck(ctx, fe, onedb.Release("7.4.0"))
//
// The argv is fixed and documented per function: `onedb <subcommand>
// [connection] [flags] [-- file]`. Conditions callers branch on are
// sentinels reachable with errors.Is through *CommandError (which also
// carries the *transport.ExitError): ErrBackupExists, ErrDatabaseExists,
// ErrOnedRunning, ErrBackupNotFound, ErrRestoreFailed, ErrDumpFailed,
// ErrDBConnect, ErrVersionMismatch. A failed upgrade, which onedb rolls
// back from its own backup, is an *UpgradeError. Output that cannot be
// understood is a *ParseError matching ErrMalformedOutput, never a guess.
//
// Restore, Upgrade and Fsck run with ONE_XMLRPC=http://localhost:2633/RPC2
// (DefaultEndpoint, see WithEndpoint). onedb refuses to run while an oned
// answers at the client endpoint; on an HA follower that endpoint is
// usually the VIP, where the leader answers, so without this a follower
// restore would be refused while the leader runs.
//
// # Credentials
//
// Without WithConn, onedb reads DB/* from /etc/one/oned.conf (the user
// needs read access: run AsUser("oneadmin") or WithSudo). WithConn passes
// explicit parameters as -S/-P/-u/-d; the password is never put in argv:
// it travels in $ONE_DB_PASSWORD through Command.SecretEnv (the transport
// feeds it on stdin to a wrapper), and is masked in errors and logs.
// onedb itself then runs `mysqldump -p'PASSWORD' ...`, visible in the
// front-end's process list while the dump runs, and echoes that command
// line in its "Unknown error running" message. The echo is masked here
// (by value, and by shape when the password came from oned.conf); the
// process-list exposure on the host is onedb's and outside our control.
//
// # Direct checks
//
// Open connects to the MySQL/MariaDB database with go-sql-driver/mysql,
// dialing through the transport's DialContext (transport.Dialer; over SSH a
// direct-tcpip channel, so MySQL may listen on the front-end's loopback
// only). It sets mysql.Config.DialFunc on its own connector and never
// registers a global dialer. DB.SchemaVersions reads the current rows of
// db_versioning and local_db_versioning. DB.Checksums fingerprints every
// base table (CHECKSUM TABLE ... EXTENDED, plus a hash of its columns and
// indexes, which CHECKSUM TABLE does not see), routine and trigger, and
// Compare tells whether a follower's database equals the leader's, with a
// *MismatchError naming what differs, is missing or is extra.
//
// By default Checksums leaves out the Raft-local state, which differs
// between the servers of a zone by design once they run: the logdb table
// (each server purges its log on its own schedule and may hold uncommitted
// entries) and the RAFT_STATE row of system_attributes (each server's own
// term and vote). Everything else is the result of the same SQL applied
// in the same order and must match. Right after `onedb restore`, before
// oned starts, a follower is an exact copy (the restore copies the
// leader's term and whole logdb): use NoDefaultExclusions to prove that.
// MySQL errors are matched by number (1044/1045 ErrAccessDenied, 1049
// ErrUnknownDatabase, 1146 ErrNotBootstrapped), never by text.
package onedb
