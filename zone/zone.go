package zone

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/upgradekit/upgradekit/transport"
)

// run runs c and returns stdout; a non-zero exit becomes an error wrapping
// *transport.ExitError, classified into *APIError when stderr holds one.
func run(ctx context.Context, t transport.Transport, o *options, c transport.Command) ([]byte, error) {
	c = o.command(c)
	o.log.Debug("run", zap.String("host", transport.HostName(t)), zap.Stringer("cmd", c))
	out, err := transport.Output(ctx, t, c)
	if err != nil {
		return out, ClassifyError(err)
	}
	return out, nil
}

func checkZoneID(id int) error {
	if id < 0 {
		return fmt.Errorf("zone ID %d: %w", id, ErrInvalidArgument)
	}
	return nil
}

// Show runs `onezone show <zoneID> -x` and parses it (ParseShow). An
// unreachable server costs the CLI up to 5 s.
func Show(ctx context.Context, t transport.Transport, zoneID int, opts ...Option) (Zone, error) {
	o, err := newOptions(opts)
	if err != nil {
		return Zone{}, err
	}
	return show(ctx, t, o, zoneID)
}

func show(ctx context.Context, t transport.Transport, o *options, zoneID int) (Zone, error) {
	if err := checkZoneID(zoneID); err != nil {
		return Zone{}, err
	}
	out, err := run(ctx, t, o, transport.Query("onezone", "show", strconv.Itoa(zoneID), "-x"))
	if err != nil {
		return Zone{}, fmt.Errorf("zone %d: show: %w", zoneID, err)
	}
	z, err := ParseShow(out)
	if err != nil {
		return Zone{}, fmt.Errorf("zone %d: %w", zoneID, err)
	}
	if z.ID != zoneID {
		return Zone{}, fmt.Errorf("zone %d: %w", zoneID, parseErr(srcShow, "ZONE/ID", "asked for zone %d, got zone %d", zoneID, z.ID))
	}
	return z, nil
}

// List runs `onezone list --csv` and parses it (ParseListCSV). The CSV is
// used rather than `onezone list -x`, whose XML has no federation index,
// and rather than one `onezone show -x` per zone: a single command whose
// FED_INDEX the CLI reads from each zone's ENDPOINT (the zone's VIP, so
// its leader), "-" when that endpoint does not answer.
func List(ctx context.Context, t transport.Transport, opts ...Option) ([]Summary, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	return list(ctx, t, o)
}

func list(ctx context.Context, t transport.Transport, o *options) ([]Summary, error) {
	out, err := run(ctx, t, o, transport.Query("onezone", "list", "--csv"))
	if err != nil {
		return nil, fmt.Errorf("zone list: %w", err)
	}
	return ParseListCSV(out)
}

// Leader runs `onezone show <zoneID> -x` once and returns the one server
// in state LEADER. It fails with ErrNotHA for a zone without HA servers,
// ErrNoLeader when none is leader and ErrMultipleLeaders when several are.
func Leader(ctx context.Context, t transport.Transport, zoneID int, opts ...Option) (Server, error) {
	o, err := newOptions(opts)
	if err != nil {
		return Server{}, err
	}
	z, err := show(ctx, t, o, zoneID)
	if err != nil {
		return Server{}, err
	}
	return leaderOf(z)
}

func leaderOf(z Zone) (Server, error) {
	if !z.HA() {
		return Server{}, fmt.Errorf("zone %d: %w", z.ID, ErrNotHA)
	}
	ls := z.Leaders()
	switch len(ls) {
	case 0:
		return Server{}, fmt.Errorf("zone %d: %w", z.ID, ErrNoLeader)
	case 1:
		return ls[0], nil
	}
	names := make([]string, len(ls))
	for i, l := range ls {
		names[i] = l.Name
	}
	return Server{}, fmt.Errorf("zone %d: %w: %s", z.ID, ErrMultipleLeaders, strings.Join(names, ", "))
}

// Disable runs `onezone disable <zoneID>`: oned then refuses every write
// call but info calls, raft internals and enable (src/rm/xml-rpc/RequestXRPC.cc). The command
// must reach an oned of the target zone; in a federation pass that zone's
// endpoint with WithEndpoint. On a federation slave the new state goes
// through the master, so disable slaves before the master. Disabling a
// disabled zone succeeds.
//
// Risk: OpenNebula issue #8120 (open, 7.4.0→7.4.1) reports HA clusters
// left without a leader after the HA guide's optional `onezone disable`,
// with the zone impossible to re-enable. Treat disabling an HA zone as
// risky and prefer disabling hosts.
//
// The command exists from OpenNebula 6.2; an older onezone answers with its
// help and exit 0, reported as ErrUnknownCommand.
func Disable(ctx context.Context, t transport.Transport, zoneID int, opts ...Option) error {
	return setState(ctx, t, zoneID, "disable", opts)
}

// Enable runs `onezone enable <zoneID>`, with the same endpoint rules as
// Disable; in a federation enable the master before the slaves. See
// Disable about OpenNebula issue #8120.
func Enable(ctx context.Context, t transport.Transport, zoneID int, opts ...Option) error {
	return setState(ctx, t, zoneID, "enable", opts)
}

func setState(ctx context.Context, t transport.Transport, zoneID int, verb string, opts []Option) error {
	o, err := newOptions(opts)
	if err != nil {
		return err
	}
	if err := checkZoneID(zoneID); err != nil {
		return err
	}
	c := o.command(transport.Cmd("onezone", verb, strconv.Itoa(zoneID)))
	o.log.Debug("run", zap.String("host", transport.HostName(t)), zap.Stringer("cmd", c))
	res, err := t.Run(ctx, c)
	if err == nil {
		err = transport.ResultError(c, res)
	}
	if err != nil {
		return fmt.Errorf("zone %d: %s: %w", zoneID, verb, ClassifyError(err))
	}
	if strings.Contains(string(res.Stderr), "Command '"+verb) && strings.Contains(string(res.Stderr), "' not found") {
		return fmt.Errorf("zone %d: %s: %w (OpenNebula before 6.2)", zoneID, verb, ErrUnknownCommand)
	}
	return nil
}

// ServerAdd adds an HA server to the zone and returns its new server ID:
// oned gives the zone's highest server ID + 1, recomputed from the stored
// server list on every load (OpenNebula/one include/ZoneServer.h), so the
// ID of a deleted highest server is given out again. It runs, in order:
//
//	onezone list -x
//	onezone server-add <zoneID> --name <name> --rpc <rpc> [--grpc-endpoint <grpc>]
//	onezone list -x
//
// rpc is the XML-RPC endpoint (http:// or https://, omitted from argv when
// ""), grpc the 7.2+ gRPC endpoint host:port (omitted when ""); at least
// one is needed. The CLI does not print the new ID (7.2+ prints a
// leftover "<rpc>:<grpc>" line, ignored), so it is read back by NAME from
// the zone's stored SERVER entries in `onezone list -x` (share/doc/xsd/zone_pool.xsd; src/cli/onezone, src/rm/api/ZoneAPI.cc).
// `onezone show -x` would do too, but it asks every server for its Raft
// status with a 5 s timeout each, and the new server is always unreachable
// at first: list -x asks none. When a server of that name already exists
// with the same endpoints its ID is returned and server-add is not run
// (already done); with other endpoints the result is ErrServerExists. A
// zone missing from the list is ErrZoneNotFound. The command must reach an
// oned of the target zone. The zone's majority grows at once: the new
// server shows as unreachable until its oned runs.
func ServerAdd(ctx context.Context, t transport.Transport, zoneID int, name, rpcEndpoint, grpcEndpoint string, opts ...Option) (int, error) {
	o, err := newOptions(opts)
	if err != nil {
		return -1, err
	}
	if err := checkZoneID(zoneID); err != nil {
		return -1, err
	}
	if err := checkServerArgs(name, rpcEndpoint, grpcEndpoint); err != nil {
		return -1, fmt.Errorf("zone %d: server-add: %w", zoneID, err)
	}
	z, err := stored(ctx, t, o, zoneID)
	if err != nil {
		return -1, fmt.Errorf("zone %d: server-add %s: %w", zoneID, name, err)
	}
	if id, done, err := existingServer(z, name, rpcEndpoint, grpcEndpoint); err != nil || done {
		return id, err
	}
	args := []string{"server-add", strconv.Itoa(zoneID), "--name", name}
	if rpcEndpoint != "" {
		args = append(args, "--rpc", rpcEndpoint)
	}
	if grpcEndpoint != "" {
		args = append(args, "--grpc-endpoint", grpcEndpoint)
	}
	if _, err := run(ctx, t, o, transport.Cmd("onezone", args...)); err != nil {
		return -1, fmt.Errorf("zone %d: server-add %s: %w", zoneID, name, err)
	}
	z, err = stored(ctx, t, o, zoneID)
	if err != nil {
		return -1, fmt.Errorf("zone %d: server-add %s: read back: %w", zoneID, name, err)
	}
	s, ok := z.Server(name)
	if !ok {
		return -1, fmt.Errorf("zone %d: server-add %s: read back: %w", zoneID, name, ErrServerNotFound)
	}
	return s.ID, nil
}

// stored returns zone zoneID as stored, from `onezone list -x` (no Raft
// values: no server is asked for its status).
func stored(ctx context.Context, t transport.Transport, o *options, zoneID int) (Zone, error) {
	out, err := run(ctx, t, o, transport.Query("onezone", "list", "-x"))
	if err != nil {
		return Zone{}, err
	}
	zs, err := ParseListXML(out)
	if err != nil {
		return Zone{}, err
	}
	for _, z := range zs {
		if z.ID == zoneID {
			return z, nil
		}
	}
	return Zone{}, fmt.Errorf("zone %d in onezone list -x: %w", zoneID, ErrZoneNotFound)
}

func checkServerArgs(name, rpc, grpc string) error {
	bad := func(s string) bool {
		return strings.HasPrefix(s, "-") || strings.ContainsAny(s, "\n\r\x00")
	}
	switch {
	case name == "" || bad(name) || strings.TrimSpace(name) != name:
		return fmt.Errorf("server name %q: %w", name, ErrInvalidArgument)
	case rpc == "" && grpc == "":
		return fmt.Errorf("server %s: no endpoint: %w", name, ErrInvalidArgument)
	case rpc != "" && (bad(rpc) || !(strings.HasPrefix(rpc, "http://") || strings.HasPrefix(rpc, "https://"))):
		return fmt.Errorf("XML-RPC endpoint %q (http:// or https:// only): %w", rpc, ErrInvalidArgument)
	case grpc != "" && bad(grpc):
		return fmt.Errorf("gRPC endpoint %q: %w", grpc, ErrInvalidArgument)
	}
	return nil
}

func existingServer(z Zone, name, rpc, grpc string) (int, bool, error) {
	var same []Server
	for _, s := range z.Servers {
		if s.Name == name {
			same = append(same, s)
		}
	}
	switch {
	case len(same) == 0:
		return -1, false, nil
	case len(same) > 1:
		return -1, false, fmt.Errorf("zone %d: server-add %s: %w (%d servers)", z.ID, name, ErrServerExists, len(same))
	case same[0].Endpoint != rpc || same[0].EndpointGRPC != grpc:
		return -1, false, fmt.Errorf("zone %d: server-add %s: %w as ID %d with endpoints %q %q", z.ID, name,
			ErrServerExists, same[0].ID, same[0].Endpoint, same[0].EndpointGRPC)
	}
	return same[0].ID, true, nil
}

// ServerDel runs `onezone server-del <zoneID> <serverID>`: the server
// leaves the zone and Raft.
func ServerDel(ctx context.Context, t transport.Transport, zoneID, serverID int, opts ...Option) error {
	return serverCmd(ctx, t, "server-del", zoneID, serverID, opts)
}

// ServerReset runs `onezone server-reset <zoneID> <serverID>` (send it to
// the leader): the leader sets that follower's next index to its own last
// index + 1. Use it after the follower's database was replaced by a fresh
// backup of the leader.
func ServerReset(ctx context.Context, t transport.Transport, zoneID, serverID int, opts ...Option) error {
	return serverCmd(ctx, t, "server-reset", zoneID, serverID, opts)
}

func serverCmd(ctx context.Context, t transport.Transport, verb string, zoneID, serverID int, opts []Option) error {
	o, err := newOptions(opts)
	if err != nil {
		return err
	}
	if err := checkZoneID(zoneID); err != nil {
		return err
	}
	if serverID < 0 {
		return fmt.Errorf("server ID %d: %w", serverID, ErrInvalidArgument)
	}
	if _, err := run(ctx, t, o, transport.Cmd("onezone", verb, strconv.Itoa(zoneID), strconv.Itoa(serverID))); err != nil {
		return fmt.Errorf("zone %d: %s %d: %w", zoneID, verb, serverID, err)
	}
	return nil
}
