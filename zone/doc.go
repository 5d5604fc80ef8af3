// Package zone reads and changes OpenNebula zones and their HA (Raft)
// servers through the onezone CLI on a front-end.
//
// Every function takes a context and a transport.Transport to a front-end
// and runs the onezone CLI there as the login user (WithUser runs it as
// another user through sudo). Read-only commands are transport.Query, so
// a dry run lets them through; the others are transport.Cmd.
//
// # Commands
//
// The exact argv each function sends (Command.Argv()). WithEndpoint(url)
// appends "--endpoint", url as the last two words of every command; no
// other flag is ever added.
//
//	Show, Leader                  onezone show <zoneID> -x
//	WaitLeader, WaitInSync        onezone show <zoneID> -x              (repeated)
//	List, FederationInSync        onezone list --csv
//	WaitFederationInSync          onezone list --csv                    (repeated)
//	Disable                       onezone disable <zoneID>
//	Enable                        onezone enable <zoneID>
//	ServerAdd                     onezone list -x
//	                              onezone server-add <zoneID> --name <name> [--rpc <url>] [--grpc-endpoint <host:port>]
//	                              onezone list -x
//	ServerDel                     onezone server-del <zoneID> <serverID>
//	ServerReset                   onezone server-reset <zoneID> <serverID>
//
// ServerAdd skips server-add (and the second list) when a server of that
// name with the same endpoints already exists. It reads the zone's stored
// SERVER entries from `onezone list -x` rather than `onezone show -x`,
// which asks every server for its Raft status (5 s per unreachable server,
// and the new server is always unreachable at first).
//
// # Output
//
// `onezone show -x` is parsed with encoding/xml (ParseShow): no namespace,
// template and server values in CDATA, SERVER's stored fields followed by
// the six values the CLI appends after asking each server itself
// (STATE, TERM, VOTEDFOR, COMMIT, LOG_INDEX, FEDLOG_INDEX). All six "-"
// means the CLI could not ask that server: Server.Raft is nil,
// Server.Reachable false and Server.State RaftUnknown. An empty
// SERVER_POOL means no HA. Federation indexes are FedIndex values that can
// only be unknown ("-"), not federated (-1), federated without a record
// yet (18446744073709551615) or a real index.
//
// List reads `onezone list --csv` (ParseListCSV, encoding/csv, columns
// located by header name), because `onezone list -x` has no federation
// index; FED_INDEX is what the zone's ENDPOINT answered, "-" if nothing.
// ParseListXML parses `onezone list -x`: every zone with its stored
// servers (ENDPOINT, ENDPOINT_GRPC, ID, NAME) and no Raft values.
// ParseRaftStatus parses the one.zone.raftstatus body (<RAFT>…</RAFT>).
// Malformed or truncated output is a *ParseError, never a guess.
//
// # Errors
//
// A non-zero exit is an error wrapping *transport.ExitError. When stderr
// holds the API form "[one.zone.addserver] message" it is an *APIError
// (Method, Message) wrapping the exit error, and errors.Is matches the
// refusals ErrZoneDisabled, ErrNoLeader, ErrElectionMode,
// ErrReplicatingLog, ErrForwardGRPC and ErrWrongZone. ClassifyError does
// the same for the host and vm packages.
//
// # Waiting
//
// WaitLeader, WaitInSync and WaitFederationInSync poll with
// cenkalti/backoff/v4 (a fresh exponential backoff per call bound to ctx,
// WithPollInterval, WithTimeout as MaxElapsedTime). They check ctx first,
// retry failed commands, stop at once on unparsable output, and on
// timeout return *NotInSyncError or *FederationError carrying the last
// observation, every problem (which server lagged and by how much) and
// the last underlying error. Zone.CheckSync documents what "in sync"
// means. WithTimer(newTimer) sleeps between polls on the caller's timers
// (a backoff.Timer; the simulator's Clock().NewTimer) and WithClock sets
// the clock the timeout is measured on, so the waits can run on a virtual
// clock without sleeping in real time.
//
// # Zone disable and OpenNebula issue #8120
//
// Disable blocks every write call of the zone, host actions and onehost
// sync's VERSION update included. Issue #8120 (open) reports HA clusters
// left without a leader after `onezone disable`, with the zone impossible
// to enable again; treat disabling an HA zone as risky.
package zone
