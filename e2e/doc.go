// Package e2e holds the end-to-end tests of upgradekit: the OpenNebula
// procedures run against real servers instead of in-process fakes.
//
// TestHAUpgradeOverSSH runs the HA procedure (package upgrade/ha) through
// the SSH transport against three real, loopback sshd front-ends and three
// sshd hypervisors (internal/testbed). On each front-end the simulator's multi-call binary
// (sim/cmd/onesim) answers the OpenNebula and system commands, while
// everything else (sh, cat, tar, sha256sum, chown, sudo, df, ...) is the
// real tool acting on the front-end's own /etc, /var and /run (overlay
// mounts in the host's private mount namespace) and its own /etc/one and
// /var/lib/one. Each front-end's database is a real MariaDB server
// (internal/testdb): `onedb backup` runs the real mysqldump and `onedb
// restore` the real mariadb client, and the followers' table checksums
// are compared with the leader's through SSH port forwarding
// (transport.Dialer, onedb.Open). TestHAKillAndResumeOverSSH SIGKILLs the
// operator's command (examples/ha-upgrade) in the middle of the procedure
// and resumes it from its journal to completion.
//
// The simulator's clock follows the wall clock in its binary, so the
// Raft election after the full stop takes real time (about 20 s): each
// HA test takes about a minute on an idle machine.
//
// The tests need root (bind and overlay mounts, sshd), sshd and MariaDB.
// Without them they skip, except when the environment has CI=true, where
// a missing server fails the test.
package e2e
