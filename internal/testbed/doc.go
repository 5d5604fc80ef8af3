// Package testbed starts real OpenSSH sshd "hosts" on loopback for tests
// and benchmarks.
//
// Each host is one `sshd -D -e -f CONFIG` process listening on its own
// 127.x.y.z address, with its own ed25519 host key, configuration and
// SetEnv values. It runs in a private mount namespace (`unshare -m
// --propagation private`) where directories of the host's own are bind
// mounted over the root home, /etc/one and /var/lib/one (Config.Mounts),
// so that every host has its own files and root's slow ~/.bashrc is not
// measured. A Bed holds the client side: one client key authorized on
// every host, a known_hosts file with every host key, and an OpenSSH
// client configuration with one Host entry per host for peer tools (ssh,
// scp, rsync, parallel-ssh, ansible).
//
// From tests use New, which skips when sshd cannot run here (and fails
// instead when the environment variable CI is "true") and stops every
// process in t.Cleanup. Commands use Start and Close. Processes are
// tracked and signalled by PID, including the per-connection sshd
// children, so Kill really cuts established connections.
//
// Starting sshd needs root (bind mounts, privilege separation in
// /run/sshd, which Start creates).
package testbed
