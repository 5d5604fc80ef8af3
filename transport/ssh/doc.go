// Package ssh is the SSH transport: it runs transport.Commands on remote
// hosts with golang.org/x/crypto/ssh.
//
// A Client keeps one connection per host, opened on first use, and runs
// every command in its own session, at most Config.MaxSessions at a time
// (below sshd's MaxSessions). Host keys are always verified against
// known_hosts files: an unknown host is refused with
// transport.ErrUnknownHostKey unless the TrustOnFirstUse policy records
// it, and a changed key is always refused with transport.ErrHostKeyChanged
// (so is a host that offers no key of the types known_hosts holds for it:
// the offered algorithms are pinned to those). Under the strict policy a
// missing known_hosts file is ErrKnownHostsMissing, naming it, before any
// host is dialled.
// Authentication uses identity files (encrypted ones through
// WithPassphrase), an ssh-agent, or both; a rejection is
// transport.ErrAuthFailed. The operator's OpenSSH client configuration is
// honoured when Config.ConfigFile names it (HostName, User, Port,
// IdentityFile, ProxyJump, UserKnownHostsFile); ProxyJump chains through
// bastions.
//
// The handshake is bounded by ctx and Config.ConnectTimeout. Keepalive
// probes detect a dead peer. A connection found dead before a command
// starts is re-opened with backoff and the command runs; a connection lost
// after the command may have started is reported as a
// *transport.ConnectionLostError with Started set, and the command is
// never re-run silently. Cancelling ctx kills the remote command and
// returns promptly: sshd refuses signal requests on root logins, so every
// command runs with UPGRADEKIT_RUN=<random token> in its environment and
// a cancel kills, from a second session, the processes carrying it and
// their process sessions.
//
// Client implements transport.Transport, transport.Dialer (direct-tcpip,
// for MySQL over SSH), transport.Uploader and transport.Downloader. A Pool
// holds lazily opened clients to many hosts, and Each and Map fan a
// function out over hosts with bounded concurrency, joining every host's
// error as a *transport.HostError.
package ssh
