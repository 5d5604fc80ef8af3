package rolling

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/upgrade/internal/nebula"
	"github.com/upgradekit/upgradekit/zone"
)

// ErrMalformed: remote output could not be parsed.
var ErrMalformed = errors.New("malformed output")

// ErrServerExists: a server of that name is in the zone with other
// endpoints.
var ErrServerExists = zone.ErrServerExists

// ParseZoneServers returns the servers of zone zoneID from `onezone list
// -x` (ZONE_POOL: stored fields only, no Raft state, share/doc/xsd/zone_pool.xsd), parsed
// by zone.ParseListXML. A zone missing from the pool is an error; a zone
// without servers gives none. Errors wrap ErrMalformed (and, for what
// zone.ParseListXML rejects, its *zone.ParseError).
func ParseZoneServers(data []byte, zoneID int) ([]Server, error) {
	zones, err := zone.ParseListXML(data)
	if err != nil {
		return nil, fmt.Errorf("%w: onezone list -x: %w", ErrMalformed, err)
	}
	i := slices.IndexFunc(zones, func(z zone.Zone) bool { return z.ID == zoneID })
	if i < 0 {
		return nil, fmt.Errorf("%w: onezone list -x: no zone %d", ErrMalformed, zoneID)
	}
	var out []Server
	for _, s := range zones[i].Servers {
		if s.Name == "" {
			return nil, fmt.Errorf("%w: onezone list -x: zone %d: server %d has no name", ErrMalformed, zoneID, s.ID)
		}
		out = append(out, Server{ID: s.ID, Name: s.Name, Endpoint: s.Endpoint, EndpointGRPC: s.EndpointGRPC})
	}
	return out, nil
}

// zoneServers runs `onezone list -x` on the local oned of the host
// behind t: unlike `onezone show`, it asks no server for its Raft state,
// so a server that does not run yet costs nothing (onezone show waits up
// to 5 s for it).
func zoneServers(ctx context.Context, k *nebula.Kit, t transport.Transport, zoneID int) ([]Server, error) {
	out, err := transport.Output(ctx, t, transport.Query("onezone", "list", "-x", "--endpoint", nebula.LocalEndpoint))
	if err != nil {
		return nil, zone.ClassifyError(err)
	}
	return ParseZoneServers(out, zoneID)
}

// addServer adds srv to zone zoneID through the leader behind t and
// returns its new ID, read back by name with `onezone list -x` (server-add
// prints no ID). A server of that name with the same endpoints is already
// added: its ID is returned.
func addServer(ctx context.Context, k *nebula.Kit, t transport.Transport, zoneID int, srv Server) (int, error) {
	find := func(list []Server) (int, bool, error) {
		for _, s := range list {
			if s.Name != srv.Name {
				continue
			}
			if s.Endpoint != srv.Endpoint {
				return 0, true, fmt.Errorf("%w: %s has endpoint %s, want %s", ErrServerExists, s.Name, s.Endpoint, srv.Endpoint)
			}
			return s.ID, true, nil
		}
		return 0, false, nil
	}
	list, err := zoneServers(ctx, k, t, zoneID)
	if err != nil {
		return 0, err
	}
	if id, ok, err := find(list); ok || err != nil {
		return id, err
	}
	args := []string{"server-add", strconv.Itoa(zoneID), "--name", srv.Name}
	if srv.Endpoint != "" {
		args = append(args, "--rpc", srv.Endpoint)
	}
	if srv.EndpointGRPC != "" {
		args = append(args, "--grpc-endpoint", srv.EndpointGRPC)
	}
	args = append(args, "--endpoint", nebula.LocalEndpoint)
	if err := transport.Check(ctx, t, transport.Cmd("onezone", args...)); err != nil {
		return 0, zone.ClassifyError(err)
	}
	list, err = zoneServers(ctx, k, t, zoneID)
	if err != nil {
		return 0, err
	}
	id, ok, err := find(list)
	if err == nil && !ok {
		err = fmt.Errorf("onezone server-add %d %s succeeded but the server is not listed", zoneID, srv.Name)
	}
	return id, err
}
