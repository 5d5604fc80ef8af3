// Package host manages OpenNebula hypervisor hosts through the onehost
// CLI on a front-end: listing them, disabling, enabling or setting them
// offline around an upgrade, `onehost sync` after the node packages were
// upgraded, and a snapshot of every host's state so a procedure can put
// each host back exactly as it found it.
//
// Every function takes a context and a transport.Transport to a front-end.
// Commands run as the login user (WithUser runs them as another user
// through sudo), except Sync, which runs as oneadmin (SyncUser) because
// the CLI refuses root. Read-only commands are transport.Query.
//
// # Commands
//
// The exact argv each function sends (Command.Argv()). WithEndpoint(url)
// appends "--endpoint", url as the last two words; no other flag is added.
//
//	List, TakeSnapshot    onehost list -x
//	SetOffline(ids)       onehost offline <id>        (once per ID, in order)
//	Disable(ids)          onehost disable <id>        (once per ID, in order)
//	Enable(ids)           onehost enable <id>         (once per ID, in order)
//	Sync                  onehost sync [<id>,<id>...] [--cluster <cid>] [--force] [--ssh]
//	                      (Command.User "oneadmin": sudo -n -u oneadmin -- onehost sync ...)
//	Restore(snap)         onehost list -x
//	                      onehost enable|disable|offline <id>   (per host to change, ascending ID)
//
// # States
//
// STATE is 0 INIT, 2 MONITORED, 3 ERROR, 4 DISABLED, 8 OFFLINE; the values
// 1, 5, 6, 7 (MONITORING_*) are no longer produced but still accepted.
// Anything else is a *ParseError. Each state belongs to a Mode (enabled,
// disabled, offline), the thing an operator sets; Restore compares modes.
//
// # Errors
//
// Non-zero exits wrap *transport.ExitError; API errors on stderr become
// *zone.APIError, so errors.Is(err, zone.ErrZoneDisabled) tells a host
// action refused because the zone is disabled (all host actions and
// onehost sync's VERSION update are). Per-host failures are
// *ActionError values joined with errors.Join; after a zone-wide refusal
// the remaining hosts are reported as ErrNotAttempted instead of being
// tried. `onehost sync` failures are a *SyncError naming the failed hosts
// (ErrSyncFailed), ErrSyncAsRoot or ErrNotFrontend.
package host
