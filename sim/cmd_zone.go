package sim

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

func (c *Cloud) sortedNodes() []string {
	names := make([]string, 0, len(c.st.Nodes))
	for k := range c.st.Nodes {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

func (p *proc) apiFail(err error) int {
	var ae *apiError
	if errors.As(err, &ae) {
		p.errf("%s\n", ae.Error())
	} else {
		p.errf("%s\n", err)
	}
	return 255
}

var zoneOpts = append(slices.Clone(commonOpts),
	opt{"name", "n", true}, opt{"rpc", "r", true}, opt{"grpc-endpoint", "g", true}, opt{"db", "", false}, opt{"keep-ha", "", false})

func cmdOnezone(p *proc) int {
	o, err := parseOpts(p.argv[1:], zoneOpts)
	if err != nil {
		p.errf("%s\n", err)
		return 255
	}
	if o.has("version") {
		return p.cliVersion()
	}
	if len(o.args) == 0 {
		p.errf("Usage: onezone COMMAND [args..] [options..]\n")
		return 255
	}
	sub, args := o.args[0], o.args[1:]
	if (sub == "disable" || sub == "enable") && cmpVersion(p.n.version(), "6.2.0") < 0 {
		// `onezone enable/disable` came with zone standby mode in 6.2
		// (src/cli/onezone: absent at release-6.0.3, added at
		// release-6.2.0, OpenNebula issue #5353): the 6.0 CLI prints its
		// help and exits 0, and the zone stays as it was.
		return p.unknownCommand("`onezone` <command> [<args>] [<options>]", []string{"create", "rename", "server-add",
			"server-del", "server-reset", "update", "delete", "list", "show", "set", "serversync"})
	}
	switch sub {
	case "show", "list", "disable", "enable", "server-add", "server-del", "server-reset":
	default:
		p.errf("Unknown command '%s'\n", sub)
		return 255
	}
	n := p.connect(o)
	if n == nil {
		return 255
	}
	c := p.c
	zoneArg := func(method string) (*zone, bool) {
		if len(args) == 0 {
			p.errf("missing argument: zoneid\n")
			return nil, false
		}
		z := c.zoneByArg(args[0])
		if z == nil {
			p.errf("[%s] Error getting zone [%s].\n", method, args[0])
			return nil, false
		}
		return z, true
	}
	switch sub {
	case "show":
		z, ok := zoneArg("one.zone.info")
		if !ok {
			return 255
		}
		st := p.raftStatuses(z)
		switch {
		case o.has("xml"):
			p.outf("%s", zoneXML(z, st, true))
		case o.has("json"):
			p.outf("%s", zoneJSON(z, st))
		default:
			p.outf("%s", zoneText(z, st))
		}
		return 0
	case "list":
		switch {
		case o.has("xml"):
			var w xw
			w.open("ZONE_POOL")
			for _, z := range c.st.Zones {
				w.b.WriteString(indentBlock(zoneXML(z, nil, false), 1))
			}
			w.close("ZONE_POOL")
			p.outf("%s", w.String())
		default:
			cur := p.clientEndpoint(o)
			type row struct{ cur, id, name, ep, fed, stat string }
			var rows []row
			for _, z := range c.st.Zones {
				fed := "-"
				if l := c.answering(p.n, z.endpoint()); l != nil {
					fed = strconv.FormatInt(l.DB.FedLogIndex, 10)
				} else {
					p.spend(5 * time.Second)
				}
				r := row{"", strconv.Itoa(z.ID), z.Name, z.endpoint(), fed, "on"}
				if z.endpoint() == cur {
					r.cur = "*"
				}
				if z.State != 0 {
					r.stat = "off"
				}
				rows = append(rows, r)
			}
			if o.has("csv") {
				p.outf("CURRENT,ID,NAME,ENDPOINT,FED_INDEX,STAT\n")
				for _, r := range rows {
					p.outf("%s,%s,%s,%s,%s,%s\n", r.cur, r.id, r.name, r.ep, r.fed, r.stat)
				}
				return 0
			}
			p.outf("%s\n", strings.TrimRight(fmt.Sprintf("%-1s %4s %-44s %-45s %-10s %s", "C", "ID", "NAME", "ENDPOINT", "FED_INDEX", "STAT"), " "))
			for _, r := range rows {
				p.outf("%s\n", strings.TrimRight(fmt.Sprintf("%-1s %4s %-44s %-45s %-10s %s", r.cur, r.id, trunc(r.name, 44), trunc(r.ep, 45), r.fed, r.stat), " "))
			}
			return 0
		}
		return 0
	case "disable", "enable":
		z, ok := zoneArg("one.zone.info")
		if !ok {
			return 255
		}
		if n.OnedZone != z.ID {
			p.errf("[one.zone.enable] Enable/disable mode have to be set through the target zone endpoints\n")
			return 255
		}
		if z.Mode == "SLAVE" {
			m := c.zone(0)
			if m == nil || c.zoneLeader(m) == nil {
				p.spend(5 * time.Second)
				p.errf("[one.zone.enable] Cannot connect to the federation master\n")
				return 255
			}
			if m.State != 0 {
				p.errf("[one.zone.enable] Cannot process request, zone disabled\n")
				return 255
			}
		}
		newState := 0
		if sub == "disable" {
			newState = 1
		}
		if err := c.write(p, n, "one.zone.enable", true, func(*database) error { z.State = newState; return nil }); err != nil {
			return p.apiFail(err)
		}
		if z.Mode != "STANDALONE" {
			c.fedWrite(func(*database) {})
		}
		c.observe(z, p.now())
		if o.has("verbose") {
			p.outf("ZONE %d: %s zone\n", z.ID, sub)
		}
		return 0
	case "server-add":
		z, ok := zoneArg("one.zone.info")
		if !ok {
			return 255
		}
		name, rpc, grpc := o.get("name"), o.get("rpc"), o.get("grpc-endpoint")
		if name == "" || (rpc == "" && grpc == "") {
			p.errf("To add a server set:\n\t-n <server name>\n\t-r <XML-RPC endpoint>\n\t-g <gRPC endpoint>\n")
			return 255
		}
		if rpc != "" && !strings.HasPrefix(rpc, "http://") && !strings.HasPrefix(rpc, "https://") {
			p.outf("Wrong protocol specified. Only http or https allowed!\n")
			return 255
		}
		if cmpVersion(p.n.version(), "7.2.0") >= 0 {
			p.outf("%s:%s\n", rpc, grpc)
		}
		if n.OnedZone != z.ID {
			p.errf("[one.zone.addserver] Servers have to be added through the target zone endpoints\n")
			return 255
		}
		// The new ID is the largest in the zone's stored SERVER_POOL + 1,
		// computed each time the zone is loaded (include/ZoneServer.h
		// ZoneServers(Template*), add_server): a deleted highest ID is
		// given out again.
		sid := 0
		for _, x := range z.Servers {
			sid = max(sid, x.ID+1)
		}
		err := c.write(p, n, "one.zone.addserver", false, func(*database) error {
			s := &server{ID: sid, Name: name, Endpoint: rpc}
			if cmpVersion(n.version(), "7.2.0") >= 0 {
				g := grpc
				s.GRPC = &g
			}
			z.Servers = append(z.Servers, s)
			return nil
		})
		if err != nil {
			return p.apiFail(err)
		}
		// ZoneAPI::add_server (src/rm/api/ZoneAPI.cc) updates the zone
		// (its own log record) before RaftManager::add_server sets the
		// server's next index to the last record + 1: a follower seeded
		// before the server-add misses that record until the next write.
		if l := c.zoneLeader(z); l != nil && l.SID >= 0 {
			l.setNext(sid, l.DB.LogIndex+1)
		}
		if z.Mode != "STANDALONE" {
			c.fedWrite(func(*database) {})
		}
		c.observe(z, p.now())
		if o.has("verbose") {
			p.outf("ZONE %d: server added\n", z.ID)
		}
		return 0
	case "server-del", "server-reset":
		z, ok := zoneArg("one.zone.info")
		if !ok {
			return 255
		}
		if len(args) < 2 {
			p.errf("missing argument: serverid\n")
			return 255
		}
		var s *server
		cnt := 0
		for _, sv := range z.Servers {
			if strconv.Itoa(sv.ID) == args[1] || sv.Name == args[1] {
				s = sv
				cnt++
			}
		}
		if cnt != 1 {
			p.errf("%s not found or duplicated\n", args[1])
			return 255
		}
		method, verb := "one.zone.delserver", "deleted"
		if sub == "server-reset" {
			method, verb = "one.zone.resetserver", "reset"
		}
		if sub == "server-reset" {
			// ZoneAPI::reset_server writes nothing: it calls
			// RaftManager::reset_index, which sets the server's next
			// index to the last record + 1 on a leader (src/rm/api/
			// ZoneAPI.cc, src/raft/RaftManager.cc).
			if n.OnedZone != z.ID {
				p.errf("[%s] Servers have to be deleted through the target zone endpoints\n", method)
				return 255
			}
			if n.Role == RaftLeader {
				n.setNext(s.ID, n.DB.LogIndex+1)
			}
		} else {
			err := c.write(p, n, method, false, func(*database) error {
				z.Servers = slices.DeleteFunc(z.Servers, func(x *server) bool { return x == s })
				return nil
			})
			if err != nil {
				return p.apiFail(err)
			}
			if l := c.zoneLeader(z); l != nil {
				delete(l.Next, s.ID)
			}
			c.removeRunning(z, s.ID, p.now())
		}
		c.tick(p.now())
		if o.has("verbose") {
			p.outf("ZONE %d: server %s\n", z.ID, verb)
		}
		return 0
	}
	return 255
}

func trunc(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func (c *Cloud) zoneByArg(a string) *zone {
	for _, z := range c.st.Zones {
		if strconv.Itoa(z.ID) == a || z.Name == a {
			return z
		}
	}
	return nil
}

// raftState is what one.zone.raftstatus returned for one server, or nil
// when the server could not be asked.
type raftState struct {
	SID                                        int
	State                                      int
	Term, VotedFor, Commit, LogIndex, FedIndex int64
}

func (p *proc) raftStatuses(z *zone) map[int]*raftState {
	out := map[int]*raftState{}
	for _, s := range z.Servers {
		n := p.c.answering(p.n, s.Endpoint)
		if n == nil {
			p.spend(5 * time.Second)
			continue
		}
		out[s.ID] = raftOf(n)
	}
	return out
}

func raftOf(n *node) *raftState {
	r := &raftState{SID: n.SID, State: n.Role, Term: n.DB.Term, VotedFor: n.DB.VotedFor, Commit: n.DB.Commit, LogIndex: n.DB.LogIndex, FedIndex: n.DB.FedLogIndex}
	if n.SID < 0 {
		r.State, r.Term, r.VotedFor, r.Commit, r.LogIndex = RaftSolo, 0, -1, 0, -1
	}
	return r
}

func fedStr(v int64) string {
	if v < -1 {
		return "18446744073709551615"
	}
	return strconv.FormatInt(v, 10)
}

func sortedTemplate(z *zone) []kv {
	t := slices.Clone(z.Template)
	slices.SortStableFunc(t, func(a, b kv) int { return strings.Compare(a.K, b.K) })
	return t
}

func zoneXML(z *zone, st map[int]*raftState, withRaft bool) string {
	var w xw
	w.open("ZONE")
	w.leaf("ID", strconv.Itoa(z.ID))
	w.leaf("NAME", z.Name)
	w.leaf("STATE", strconv.Itoa(z.State))
	w.open("TEMPLATE")
	for _, t := range sortedTemplate(z) {
		w.cdata(t.K, t.V)
	}
	w.close("TEMPLATE")
	if len(z.Servers) == 0 {
		w.empty("SERVER_POOL")
	} else {
		w.open("SERVER_POOL")
		for _, s := range z.Servers {
			w.open("SERVER")
			w.cdata("ENDPOINT", s.Endpoint)
			if s.GRPC != nil {
				w.cdata("ENDPOINT_GRPC", *s.GRPC)
			}
			w.cdata("ID", strconv.Itoa(s.ID))
			w.cdata("NAME", s.Name)
			if withRaft {
				if r := st[s.ID]; r != nil {
					w.leaf("STATE", strconv.Itoa(r.State))
					w.leaf("TERM", strconv.FormatInt(r.Term, 10))
					w.leaf("VOTEDFOR", strconv.FormatInt(r.VotedFor, 10))
					w.leaf("COMMIT", strconv.FormatInt(r.Commit, 10))
					w.leaf("LOG_INDEX", strconv.FormatInt(r.LogIndex, 10))
					w.leaf("FEDLOG_INDEX", fedStr(r.FedIndex))
				} else {
					for _, k := range []string{"STATE", "TERM", "VOTEDFOR", "COMMIT", "LOG_INDEX", "FEDLOG_INDEX"} {
						w.leaf(k, "-")
					}
				}
			}
			w.close("SERVER")
		}
		w.close("SERVER_POOL")
	}
	w.close("ZONE")
	return w.String()
}

func indentBlock(s string, depth int) string {
	pad := strings.Repeat("  ", depth)
	lines := strings.SplitAfter(s, "\n")
	var b strings.Builder
	for _, l := range lines {
		if l != "" {
			b.WriteString(pad + l)
		}
	}
	return b.String()
}

func jsonStr(s string) string {
	b := strings.Builder{}
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		default:
			if r < 0x20 {
				fmt.Fprintf(&b, `\u%04x`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// zoneJSON renders `onezone show --json`: every value a string, SERVER an array.
func zoneJSON(z *zone, st map[int]*raftState) string {
	var b strings.Builder
	b.WriteString("{\n  \"ZONE\": {\n")
	fmt.Fprintf(&b, "    \"ID\": %s,\n    \"NAME\": %s,\n    \"STATE\": %s,\n", jsonStr(strconv.Itoa(z.ID)), jsonStr(z.Name), jsonStr(strconv.Itoa(z.State)))
	b.WriteString("    \"TEMPLATE\": {")
	t := sortedTemplate(z)
	for i, e := range t {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "\n      %s: %s", jsonStr(e.K), jsonStr(e.V))
	}
	if len(t) > 0 {
		b.WriteString("\n    ")
	}
	b.WriteString("},\n    \"SERVER_POOL\": {")
	if len(z.Servers) > 0 {
		b.WriteString("\n      \"SERVER\": [\n")
		for i, s := range z.Servers {
			var fields [][2]string
			fields = append(fields, [2]string{"ENDPOINT", s.Endpoint})
			if s.GRPC != nil {
				fields = append(fields, [2]string{"ENDPOINT_GRPC", *s.GRPC})
			}
			fields = append(fields, [2]string{"ID", strconv.Itoa(s.ID)}, [2]string{"NAME", s.Name})
			r := st[s.ID]
			vals := []string{"-", "-", "-", "-", "-", "-"}
			if r != nil {
				vals = []string{strconv.Itoa(r.State), strconv.FormatInt(r.Term, 10), strconv.FormatInt(r.VotedFor, 10), strconv.FormatInt(r.Commit, 10), strconv.FormatInt(r.LogIndex, 10), fedStr(r.FedIndex)}
			}
			for j, k := range []string{"STATE", "TERM", "VOTEDFOR", "COMMIT", "LOG_INDEX", "FEDLOG_INDEX"} {
				fields = append(fields, [2]string{k, vals[j]})
			}
			b.WriteString("        {\n")
			for j, f := range fields {
				sep := ","
				if j == len(fields)-1 {
					sep = ""
				}
				fmt.Fprintf(&b, "          %s: %s%s\n", jsonStr(f[0]), jsonStr(f[1]), sep)
			}
			if i < len(z.Servers)-1 {
				b.WriteString("        },\n")
			} else {
				b.WriteString("        }\n")
			}
		}
		b.WriteString("      ]\n    ")
	}
	b.WriteString("}\n  }\n}\n")
	return b.String()
}

var raftNames = map[int]string{RaftSolo: "solo", RaftCandidate: "candidate", RaftFollower: "follower", RaftLeader: "leader"}

func zoneText(z *zone, st map[int]*raftState) string {
	var b strings.Builder
	hdr := func(s string) { fmt.Fprintf(&b, "%-80s\n", s) }
	hdr(fmt.Sprintf("ZONE %d INFORMATION", z.ID))
	state := "ENABLED"
	if z.State != 0 {
		state = "DISABLED"
	}
	fmt.Fprintf(&b, "%-18s: %-20s\n%-18s: %-20s\n%-18s: %-20s\n\n\n", "ID", strconv.Itoa(z.ID), "NAME", z.Name, "STATE", state)
	hdr("ZONE SERVERS")
	fmt.Fprintf(&b, "%2s %-15s %-63s\n", "ID", "NAME", "ENDPOINT")
	for _, s := range z.Servers {
		b.WriteString(strings.TrimRight(fmt.Sprintf("%2d %-15s %-63s", s.ID, trunc(s.Name, 15), trunc(s.Endpoint, 63)), " ") + "\n")
	}
	b.WriteString("\n")
	hdr("HA & FEDERATION SYNC STATUS")
	fmt.Fprintf(&b, "%2s %-15s %-10s %-10s %-10s %-10s %-5s %-10s\n", "ID", "NAME", "STATE", "TERM", "INDEX", "COMMIT", "VOTE", "FED_INDEX")
	for _, s := range z.Servers {
		v := []string{"error", "-", "-", "-", "-", "-"}
		if r := st[s.ID]; r != nil {
			v = []string{raftNames[r.State], strconv.FormatInt(r.Term, 10), strconv.FormatInt(r.LogIndex, 10), strconv.FormatInt(r.Commit, 10), strconv.FormatInt(r.VotedFor, 10), fedStr(r.FedIndex)}
		}
		b.WriteString(strings.TrimRight(fmt.Sprintf("%2d %-15s %-10s %-10s %-10s %-10s %-5s %-10s", s.ID, trunc(s.Name, 15), v[0], v[1], v[2], v[3], v[4], v[5]), " ") + "\n")
	}
	b.WriteString("\n")
	hdr("ZONE TEMPLATE")
	for _, t := range sortedTemplate(z) {
		fmt.Fprintf(&b, "%s=\"%s\"\n", t.K, t.V)
	}
	return b.String()
}
