package zone

import (
	"bufio"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/upgradekit/upgradekit/internal/onecli"
	"github.com/upgradekit/upgradekit/transport"
)

// Refusals oned answers to write calls, matched by errors.Is on an
// *APIError (src/rm/xml-rpc/RequestXRPC.cc). Reads are never refused for these reasons.
var (
	// ErrZoneDisabled: "Cannot process request, zone disabled".
	ErrZoneDisabled = errors.New("zone disabled")
	// ErrNoLeader: "Cannot process request, no leader found"; also
	// returned by Leader when a zone has no leader.
	ErrNoLeader = errors.New("no leader found")
	// ErrElectionMode: "Cannot process request, oned cluster in election mode".
	ErrElectionMode = errors.New("oned cluster in election mode")
	// ErrReplicatingLog: "Cannot process request, oned cluster is replicating log".
	ErrReplicatingLog = errors.New("oned cluster is replicating log")
	// ErrForwardGRPC: a follower cannot forward an XML-RPC write to a
	// leader that has only a gRPC endpoint (7.2+).
	ErrForwardGRPC = errors.New("forwarding xml-rpc message to gRPC leader is not supported")
	// ErrWrongZone: the command went to an oned of another zone ("…
	// have to be added/set through the target zone endpoints").
	ErrWrongZone = errors.New("not sent through the target zone endpoints")
)

// Conditions of this package's own.
var (
	// ErrNotHA: the zone has no HA servers (empty SERVER_POOL), so it has
	// no Raft leader.
	ErrNotHA = errors.New("zone has no HA servers")
	// ErrMultipleLeaders: more than one server reports LEADER.
	ErrMultipleLeaders = errors.New("more than one leader")
	// ErrTimeout: a wait ran out of time (WithTimeout).
	ErrTimeout = errors.New("wait timed out")
	// ErrServerExists: ServerAdd found a server with that name and other
	// endpoints, or more than one server with that name.
	ErrServerExists = errors.New("server name already in zone")
	// ErrServerNotFound: no single server with that name in the zone.
	ErrServerNotFound = errors.New("server not found")
	// ErrZoneNotFound: the zone is not in `onezone list -x` (ServerAdd).
	ErrZoneNotFound = errors.New("zone not found")
	// ErrInvalidArgument: an argument was rejected before anything ran.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrUnknownCommand: the installed onezone has no such subcommand
	// (enable and disable exist from 6.2). The Ruby CLI parser answers an
	// unknown command with "Command '…' not found" on stderr, its help
	// and exit 0 (src/cli/command_parser.rb), which is not a success.
	ErrUnknownCommand = errors.New("onezone has no such command")
)

// APIError is an OpenNebula API error as the CLI prints it on stderr:
// "[one.zone.addserver] Servers have to be added through the target zone
// endpoints". It wraps the command's *transport.ExitError, and errors.Is
// matches the refusal sentinels (ErrZoneDisabled, ErrNoLeader, ...).
type APIError struct {
	Method  string // "one.zone.addserver"
	Message string // the text after "] "
	Err     error  // the *transport.ExitError
}

func (e *APIError) Error() string { return "[" + e.Method + "] " + e.Message }

func (e *APIError) Unwrap() error { return e.Err }

// Is matches the refusal sentinels by the message oned sends.
func (e *APIError) Is(target error) bool {
	m := strings.ToLower(e.Message)
	switch target {
	case ErrZoneDisabled:
		return strings.Contains(m, "zone disabled")
	case ErrNoLeader:
		return strings.Contains(m, "no leader found")
	case ErrElectionMode:
		return strings.Contains(m, "election mode")
	case ErrReplicatingLog:
		return strings.Contains(m, "replicating log")
	case ErrForwardGRPC:
		return strings.Contains(m, "forwarding xml-rpc message to grpc leader")
	case ErrWrongZone:
		return strings.Contains(m, "through the target zone endpoints")
	}
	return false
}

var apiErrorLine = regexp.MustCompile(`^\[(one\.[A-Za-z0-9_.]+)\] ?(.*)$`)

// ClassifyError turns an error whose chain holds a *transport.ExitError
// with an OpenNebula API error on stderr into an *APIError wrapping it.
// Other errors are returned unchanged. The host and vm packages use it
// too, so a refusal matches the same sentinels everywhere.
func ClassifyError(err error) error {
	ee, ok := errors.AsType[*transport.ExitError](err)
	if !ok {
		return err
	}
	method, msg, ok := parseAPIError(string(ee.Stderr))
	if !ok {
		return err
	}
	return &APIError{Method: method, Message: msg, Err: err}
}

// parseAPIError finds the first "[one.x.y] message" line; the message runs
// to the end of stderr, trimmed.
func parseAPIError(stderr string) (method, msg string, ok bool) {
	sc := bufio.NewScanner(strings.NewReader(stderr))
	sc.Buffer(nil, 1<<20)
	var rest []string
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if method == "" {
			m := apiErrorLine.FindStringSubmatch(strings.TrimSpace(line))
			if m == nil {
				continue
			}
			method = m[1]
			rest = append(rest, m[2])
			continue
		}
		rest = append(rest, line)
	}
	if method == "" {
		return "", "", false
	}
	return method, strings.TrimSpace(strings.Join(rest, "\n")), true
}

// ParseError reports remote output that could not be understood. Nothing
// is guessed from such output. Its fields are Source, the command whose
// output it was ("onezone show -x"), Path, which locates the bad value
// when known ("ZONE/SERVER_POOL/SERVER[2]/TERM"), and Err, what is wrong.
type ParseError onecli.ParseError

func (e *ParseError) Error() string { return onecli.ParseMessage(e.Source, e.Path, e.Err) }

func (e *ParseError) Unwrap() error { return e.Err }

func parseErr(src, path string, format string, args ...any) error {
	return &ParseError{Source: src, Path: path, Err: fmt.Errorf(format, args...)}
}
