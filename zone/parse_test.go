package zone

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/internal/parsetest"
)

func readSample(t testing.TB, name string) []byte { return parsetest.ReadSample(t, name) }

func raft(state RaftState, term int64, voted int, commit, index int64, fed FedIndex) *RaftStatus {
	return &RaftStatus{State: state, Term: term, VotedFor: voted, Commit: commit, LogIndex: index, FedIndex: fed}
}

func TestParseShowSamples(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file string
		want Zone
	}{
		{"onezone-show-3node.xml", Zone{
			ID: 0, Name: "OpenNebula", State: Enabled,
			Endpoint: "http://10.0.0.10:2633/RPC2", EndpointGRPC: "localhost:2634",
			Template: map[string]string{"ENDPOINT": "http://10.0.0.10:2633/RPC2", "ENDPOINT_GRPC": "localhost:2634"},
			Servers: []Server{
				{ID: 0, Name: "fe1", Endpoint: "http://10.0.0.11:2633/RPC2", Raft: raft(RaftLeader, 4, 0, 184233, 184233, FedIndexNotFederated)},
				{ID: 1, Name: "fe2", Endpoint: "http://10.0.0.12:2633/RPC2", Raft: raft(RaftFollower, 4, 0, 184233, 184233, FedIndexNotFederated)},
				{ID: 2, Name: "fe3", Endpoint: "http://10.0.0.13:2633/RPC2", Raft: raft(RaftFollower, 4, 0, 184233, 184233, FedIndexNotFederated)},
			},
		}},
		{"onezone-show-3node-degraded.xml", Zone{
			ID: 0, Name: "OpenNebula", State: Disabled,
			Endpoint: "http://10.0.0.10:2633/RPC2",
			Template: map[string]string{"ENDPOINT": "http://10.0.0.10:2633/RPC2"},
			Servers: []Server{
				{ID: 0, Name: "fe1", Endpoint: "http://10.0.0.11:2633/RPC2", Raft: raft(RaftLeader, 5, 0, 184240, 184241, FedIndexNotFederated)},
				{ID: 1, Name: "fe2", Endpoint: "http://10.0.0.12:2633/RPC2"},
				{ID: 2, Name: "fe3", Endpoint: "http://10.0.0.13:2633/RPC2", Raft: raft(RaftFollower, 5, 0, 184240, 184241, FedIndexNotFederated)},
			},
		}},
		{"onezone-show-solo.xml", Zone{
			ID: 0, Name: "OpenNebula", State: Enabled,
			Endpoint: "http://localhost:2633/RPC2", EndpointGRPC: "localhost:2634",
			Template: map[string]string{"ENDPOINT": "http://localhost:2633/RPC2", "ENDPOINT_GRPC": "localhost:2634"},
		}},
		{"onezone-show-federation-slave-zone100.xml", Zone{
			ID: 100, Name: "S-EU-GE", State: Enabled,
			Endpoint: "http://192.168.150.2:2633/RPC2",
			Template: map[string]string{"ENDPOINT": "http://192.168.150.2:2633/RPC2", "ONEFLOW_ENDPOINT": "http://192.168.150.2:2474/"},
			Servers: []Server{
				{ID: 0, Name: "ge-fe1", Endpoint: "http://192.168.150.21:2633/RPC2", Raft: raft(RaftFollower, 12, 1, 930211, 930211, FedIndexAt(715438))},
				{ID: 1, Name: "ge-fe2", Endpoint: "http://192.168.150.22:2633/RPC2", Raft: raft(RaftLeader, 12, 1, 930211, 930211, FedIndexAt(715438))},
				{ID: 2, Name: "ge-fe3", Endpoint: "http://192.168.150.23:2633/RPC2", Raft: raft(RaftFollower, 12, 1, 930211, 930211, FedIndexAt(715438))},
			},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			z, err := ParseShow(readSample(t, tt.file))
			require.NoError(t, err)
			assert.Equal(t, tt.want.ID, z.ID)
			assert.Equal(t, tt.want.Name, z.Name)
			assert.Equal(t, tt.want.State, z.State)
			assert.Equal(t, tt.want.Endpoint, z.Endpoint)
			assert.Equal(t, tt.want.EndpointGRPC, z.EndpointGRPC)
			assert.Equal(t, tt.want.Template, z.Template)
			assert.Equal(t, tt.want.HA(), z.HA())
			require.Len(t, z.Servers, len(tt.want.Servers))
			for i, want := range tt.want.Servers {
				got := z.Servers[i]
				assert.Equal(t, want.ID, got.ID, "server %d ID", i)
				assert.Equal(t, want.Name, got.Name, "server %d NAME", i)
				assert.Equal(t, want.Endpoint, got.Endpoint, "server %d ENDPOINT", i)
				assert.Equal(t, want.EndpointGRPC, got.EndpointGRPC, "server %d ENDPOINT_GRPC", i)
				assert.Equal(t, want.Reachable(), got.Reachable(), "server %d reachable", i)
				assert.Equal(t, want.State(), got.State(), "server %d state", i)
				assert.Equal(t, want.Raft, got.Raft, "server %d raft", i)
			}
		})
	}
}

func TestParseShowDegradedDerived(t *testing.T) {
	t.Parallel()
	z, err := ParseShow(readSample(t, "onezone-show-3node-degraded.xml"))
	require.NoError(t, err)
	l, ok := z.Leader()
	require.True(t, ok)
	assert.Equal(t, "fe1", l.Name)
	assert.Equal(t, RaftUnknown, z.Servers[1].State())
	assert.False(t, z.Servers[1].Reachable())
	s, ok := z.Server("fe3")
	require.True(t, ok)
	assert.Equal(t, 2, s.ID)
	_, ok = z.Server("fe9")
	assert.False(t, ok)
	var nis *NotInSyncError
	require.ErrorAs(t, z.CheckSync(0), &nis)
	require.Len(t, nis.Problems, 1)
	assert.Equal(t, Unreachable, nis.Problems[0].Kind)
	assert.Equal(t, "fe2", nis.Problems[0].Name)
}

const showHead = `<ZONE><ID>0</ID><NAME>z</NAME><STATE>0</STATE><TEMPLATE><ENDPOINT><![CDATA[http://x:2633/RPC2]]></ENDPOINT></TEMPLATE><SERVER_POOL>`
const showTail = `</SERVER_POOL></ZONE>`

func server(id, fields string) string {
	return `<SERVER><ENDPOINT><![CDATA[http://a:2633/RPC2]]></ENDPOINT><ID><![CDATA[` + id + `]]></ID><NAME><![CDATA[fe` + id + `]]></NAME>` + fields + `</SERVER>`
}

func raftFields(state, term, vote, commit, index, fed string) string {
	return "<STATE>" + state + "</STATE><TERM>" + term + "</TERM><VOTEDFOR>" + vote + "</VOTEDFOR><COMMIT>" + commit +
		"</COMMIT><LOG_INDEX>" + index + "</LOG_INDEX><FEDLOG_INDEX>" + fed + "</FEDLOG_INDEX>"
}

func TestParseShowEdgeCases(t *testing.T) {
	t.Parallel()
	ok := raftFields("2", "4", "0", "10", "10", "-1")
	tests := []struct {
		name    string
		in      string
		wantErr string // "" means success
		check   func(t *testing.T, z Zone)
	}{
		{name: "namespaced as in the XSD", in: `<ZONE xmlns="http://opennebula.org/XMLSchema"><ID>3</ID><NAME>n</NAME><STATE>1</STATE><TEMPLATE/><SERVER_POOL/></ZONE>`,
			check: func(t *testing.T, z Zone) { assert.Equal(t, 3, z.ID); assert.Equal(t, Disabled, z.State) }},
		{name: "xml declaration and trailing newline", in: `<?xml version="1.0"?>` + "\n" + showHead + showTail + "\n",
			check: func(t *testing.T, z Zone) { assert.False(t, z.HA()) }},
		{name: "no raft fields at all", in: showHead + server("0", "") + showTail,
			check: func(t *testing.T, z Zone) { assert.False(t, z.Servers[0].Reachable()) }},
		{name: "no-record fed index", in: showHead + server("0", raftFields("3", "1", "0", "5", "5", "18446744073709551615")) + showTail,
			check: func(t *testing.T, z Zone) {
				f := z.Servers[0].Raft.FedIndex
				assert.True(t, f.NoRecord())
				assert.True(t, f.Federated())
				_, has := f.Index()
				assert.False(t, has)
			}},
		{name: "fed index 2^64-2 is a real index", in: showHead + server("0", raftFields("3", "1", "0", "5", "5", "18446744073709551614")) + showTail,
			check: func(t *testing.T, z Zone) {
				n, has := z.Servers[0].Raft.FedIndex.Index()
				assert.True(t, has)
				assert.Equal(t, uint64(math.MaxUint64-1), n)
			}},
		{name: "vector template attribute skipped", in: `<ZONE><ID>0</ID><NAME>n</NAME><STATE>0</STATE><TEMPLATE><V><A>1</A></V><ENDPOINT>e</ENDPOINT></TEMPLATE><SERVER_POOL/></ZONE>`,
			check: func(t *testing.T, z Zone) { assert.Equal(t, map[string]string{"ENDPOINT": "e"}, z.Template) }},
		{name: "empty", in: "", wantErr: "no XML element"},
		{name: "whitespace", in: "  \n", wantErr: "no XML element"},
		{name: "not xml", in: "Connection refused - connect(2)", wantErr: "no XML element"},
		{name: "wrong root", in: `<ZONE_POOL><ZONE><ID>0</ID></ZONE></ZONE_POOL>`, wantErr: "expected element type <ZONE>"},
		{name: "truncated", in: showHead + server("0", ok), wantErr: "EOF"},
		{name: "two documents", in: showHead + showTail + showHead + showTail, wantErr: "more than one root"},
		{name: "trailing text", in: showHead + showTail + "oops", wantErr: "text after"},
		{name: "missing ID", in: `<ZONE><NAME>n</NAME><STATE>0</STATE><TEMPLATE/><SERVER_POOL/></ZONE>`, wantErr: "ZONE/ID: missing"},
		{name: "missing SERVER_POOL", in: `<ZONE><ID>0</ID><NAME>n</NAME><STATE>0</STATE><TEMPLATE/></ZONE>`, wantErr: "ZONE/SERVER_POOL: missing"},
		{name: "missing TEMPLATE", in: `<ZONE><ID>0</ID><NAME>n</NAME><STATE>0</STATE><SERVER_POOL/></ZONE>`, wantErr: "ZONE/TEMPLATE: missing"},
		{name: "bad zone state", in: `<ZONE><ID>0</ID><NAME>n</NAME><STATE>2</STATE><TEMPLATE/><SERVER_POOL/></ZONE>`, wantErr: "unknown zone state 2"},
		{name: "negative zone id", in: `<ZONE><ID>-1</ID><NAME>n</NAME><STATE>0</STATE><TEMPLATE/><SERVER_POOL/></ZONE>`, wantErr: "out of range"},
		{name: "mixed dash and numbers", in: showHead + server("0", raftFields("-", "4", "0", "10", "10", "-1")) + showTail, wantErr: `some raft values are "-"`},
		{name: "partly absent", in: showHead + server("0", "<STATE>2</STATE>") + showTail, wantErr: "only some of"},
		{name: "raft state 4", in: showHead + server("0", raftFields("4", "4", "0", "10", "10", "-1")) + showTail, wantErr: "invalid raft state"},
		{name: "term not a number", in: showHead + server("0", raftFields("2", "x", "0", "10", "10", "-1")) + showTail, wantErr: "TERM: invalid integer"},
		{name: "negative term", in: showHead + server("0", raftFields("2", "-3", "0", "10", "10", "-1")) + showTail, wantErr: "TERM: -3 out of range"},
		{name: "fed index -2", in: showHead + server("0", raftFields("2", "1", "0", "10", "10", "-2")) + showTail, wantErr: "invalid federation index"},
		{name: "fed index overflow", in: showHead + server("0", raftFields("2", "1", "0", "10", "10", "18446744073709551616")) + showTail, wantErr: "invalid federation index"},
		{name: "duplicate server id", in: showHead + server("0", ok) + server("0", ok) + showTail, wantErr: "duplicate server ID 0"},
		{name: "server without name", in: showHead + `<SERVER><ID>0</ID></SERVER>` + showTail, wantErr: "NAME: missing"},
		{name: "bad entity", in: `<ZONE><ID>0</ID><NAME>&bogus;</NAME></ZONE>`, wantErr: "invalid character entity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if pe := parsetest.Check[*ParseError](t, ParseShow, tt.in, tt.wantErr, tt.check); pe != nil {
				assert.Equal(t, srcShow, pe.Source)
			}
		})
	}
}

// Every strict prefix of a real document is an error, never a zone.
func TestParseShowEveryPrefixFails(t *testing.T) {
	t.Parallel()
	for _, f := range []string{"onezone-show-3node.xml", "onezone-show-3node-degraded.xml", "onezone-show-solo.xml"} {
		t.Run(f, func(t *testing.T) {
			parsetest.EveryPrefixFails[*ParseError](t, readSample(t, f), 0, ParseShow)
		})
	}
}

func TestParseRaftStatusSamples(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file string
		want RaftInfo
	}{
		{"raftstatus-leader.xml", RaftInfo{ServerID: 0, State: RaftLeader, Term: 4, VotedFor: 0, Commit: 184233, LogIndex: 184233, LogTerm: 4, FedIndex: FedIndexNotFederated}},
		{"raftstatus-solo.xml", RaftInfo{ServerID: -1, State: RaftSolo, Term: 0, VotedFor: -1, Commit: 0, LogIndex: -1, LogTerm: -1, FedIndex: FedIndexNotFederated}},
		{"raftstatus-federated-follower.xml", RaftInfo{ServerID: 0, State: RaftFollower, Term: 12, VotedFor: 1, Commit: 930211, LogIndex: 930211, LogTerm: 12, FedIndex: FedIndexAt(715438)}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			r, err := ParseRaftStatus(readSample(t, tt.file))
			require.NoError(t, err)
			assert.Equal(t, tt.want.ServerID, r.ServerID)
			assert.Equal(t, tt.want.State, r.State)
			assert.Equal(t, tt.want.Term, r.Term)
			assert.Equal(t, tt.want.VotedFor, r.VotedFor)
			assert.Equal(t, tt.want.Commit, r.Commit)
			assert.Equal(t, tt.want.LogIndex, r.LogIndex)
			assert.Equal(t, tt.want.LogTerm, r.LogTerm)
			assert.Equal(t, tt.want.FedIndex, r.FedIndex)
			assert.Equal(t, RaftStatus{State: r.State, Term: r.Term, VotedFor: r.VotedFor, Commit: r.Commit, LogIndex: r.LogIndex, FedIndex: r.FedIndex}, r.Status())
		})
	}
}

func TestParseRaftStatusErrors(t *testing.T) {
	t.Parallel()
	full := `<RAFT><SERVER_ID>0</SERVER_ID><STATE>3</STATE><TERM>4</TERM><VOTEDFOR>0</VOTEDFOR><COMMIT>1</COMMIT><LOG_INDEX>1</LOG_INDEX><LOG_TERM>4</LOG_TERM><FEDLOG_INDEX>-1</FEDLOG_INDEX></RAFT>`
	tests := map[string]struct{ in, want string }{
		"empty":         {"", "no XML element"},
		"truncated":     {full[:len(full)-3], "EOF"},
		"missing term":  {strings.Replace(full, "<TERM>4</TERM>", "", 1), "RAFT/TERM: missing"},
		"missing fed":   {strings.Replace(full, "<FEDLOG_INDEX>-1</FEDLOG_INDEX>", "", 1), "FEDLOG_INDEX: missing"},
		"dash fed":      {strings.Replace(full, "<FEDLOG_INDEX>-1<", "<FEDLOG_INDEX>-<", 1), `"-" is not`},
		"dash state":    {strings.Replace(full, "<STATE>3<", "<STATE>-<", 1), "invalid raft state"},
		"state 7":       {strings.Replace(full, "<STATE>3<", "<STATE>7<", 1), "invalid raft state"},
		"server id -2":  {strings.Replace(full, "<SERVER_ID>0<", "<SERVER_ID>-2<", 1), "out of range"},
		"huge id":       {strings.Replace(full, "<SERVER_ID>0<", "<SERVER_ID>99999999999<", 1), "out of range"},
		"wrong root":    {"<ZONE></ZONE>", "expected element type <RAFT>"},
		"plus sign":     {strings.Replace(full, "<TERM>4<", "<TERM>+4<", 1), "invalid integer"},
		"two documents": {full + full, "more than one root"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseRaftStatus([]byte(tt.in))
			var pe *ParseError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, srcRaftStatus, pe.Source)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestParseListCSVSample(t *testing.T) {
	t.Parallel()
	zs, err := ParseListCSV(readSample(t, "onezone-list-federation.csv"))
	require.NoError(t, err)
	want := []Summary{
		{Current: true, ID: 0, Name: "M-EU-FR", Endpoint: "http://192.168.150.1:2633/RPC2", FedIndex: FedIndexAt(715438), State: Enabled},
		{ID: 100, Name: "S-EU-GE", Endpoint: "http://192.168.150.2:2633/RPC2", FedIndex: FedIndexAt(715438), State: Enabled},
		{ID: 101, Name: "S-US-CA", Endpoint: "http://192.168.150.3:2633/RPC2", FedIndex: FedIndexAt(715430), State: Enabled},
	}
	require.Len(t, zs, len(want))
	for i := range want {
		assert.Equal(t, want[i].Current, zs[i].Current, "row %d CURRENT", i)
		assert.Equal(t, want[i].ID, zs[i].ID, "row %d ID", i)
		assert.Equal(t, want[i].Name, zs[i].Name, "row %d NAME", i)
		assert.Equal(t, want[i].Endpoint, zs[i].Endpoint, "row %d ENDPOINT", i)
		assert.Equal(t, want[i].FedIndex, zs[i].FedIndex, "row %d FED_INDEX", i)
		assert.Equal(t, want[i].State, zs[i].State, "row %d STAT", i)
	}
	var fe *FederationError
	require.ErrorAs(t, CheckFederation(zs), &fe)
	assert.Contains(t, fe.Error(), "zone 101 (S-US-CA) at 715430, 8 behind")
}

func TestParseListCSVCases(t *testing.T) {
	t.Parallel()
	const hdr = "CURRENT,ID,NAME,ENDPOINT,FED_INDEX,STAT\n"
	tests := []struct {
		name, in, wantErr string
		check             func(t *testing.T, zs []Summary)
	}{
		{name: "dash and quoted comma", in: hdr + `,0,"a,b",http://e:2633/RPC2,-,off` + "\n",
			check: func(t *testing.T, zs []Summary) {
				require.Len(t, zs, 1)
				assert.Equal(t, "a,b", zs[0].Name)
				assert.False(t, zs[0].FedIndex.Known())
				assert.Equal(t, Disabled, zs[0].State)
			}},
		{name: "columns in another order, no CURRENT", in: "STAT,FED_INDEX,ENDPOINT,NAME,ID\r\non,-1,e,n,7\r\n",
			check: func(t *testing.T, zs []Summary) {
				require.Len(t, zs, 1)
				assert.Equal(t, 7, zs[0].ID)
				assert.Equal(t, FedIndexNotFederated, zs[0].FedIndex)
			}},
		{name: "header only", in: hdr, check: func(t *testing.T, zs []Summary) { assert.Empty(t, zs) }},
		{name: "no record", in: hdr + ",0,z,e,18446744073709551615,on\n",
			check: func(t *testing.T, zs []Summary) { assert.True(t, zs[0].FedIndex.NoRecord()) }},
		{name: "empty", in: "", wantErr: "no header"},
		{name: "cut mid row", in: hdr + ",0,z,e,7154", wantErr: "truncated"},
		{name: "missing column", in: "CURRENT,ID,NAME,ENDPOINT,STAT\n,0,z,e,on\n", wantErr: `missing column "FED_INDEX"`},
		{name: "duplicate column", in: "ID,ID,NAME,ENDPOINT,FED_INDEX,STAT\n", wantErr: "duplicate column"},
		{name: "short row", in: hdr + ",0,z,e,1\n", wantErr: "wrong number of fields"},
		{name: "bad stat", in: hdr + ",0,z,e,1,maybe\n", wantErr: "unknown zone state"},
		{name: "bad current", in: hdr + "x,0,z,e,1,on\n", wantErr: "CURRENT"},
		{name: "bad id", in: hdr + ",zero,z,e,1,on\n", wantErr: "invalid integer"},
		{name: "bad fed", in: hdr + ",0,z,e,-5,on\n", wantErr: "invalid federation index"},
		{name: "duplicate id", in: hdr + ",0,z,e,1,on\n,0,y,e,1,on\n", wantErr: "duplicate zone ID"},
		{name: "bare quote", in: hdr + `,0,a"b,e,1,on` + "\n", wantErr: "bare \""},
		{name: "padded table", in: readTable(t), wantErr: "missing column"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			parsetest.Check[*ParseError](t, ParseListCSV, tt.in, tt.wantErr, tt.check)
		})
	}
}

func readTable(t *testing.T) string { return string(readSample(t, "onezone-list-federation.txt")) }

func TestFedIndex(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in                         string
		known, federated, noRecord bool
		index                      uint64
		hasIndex                   bool
	}{
		{in: "-"},
		{in: "-1", known: true},
		{in: "18446744073709551615", known: true, federated: true, noRecord: true},
		{in: "0", known: true, federated: true, hasIndex: true},
		{in: "715438", known: true, federated: true, index: 715438, hasIndex: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			f, err := ParseFedIndex(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.known, f.Known())
			assert.Equal(t, tt.federated, f.Federated())
			assert.Equal(t, tt.noRecord, f.NoRecord())
			n, ok := f.Index()
			assert.Equal(t, tt.hasIndex, ok)
			assert.Equal(t, tt.index, n)
			assert.Equal(t, tt.in, f.String())
			b, err := f.MarshalText()
			require.NoError(t, err)
			var back FedIndex
			require.NoError(t, back.UnmarshalText(b))
			assert.Equal(t, f, back)
		})
	}
	assert.Equal(t, FedIndexUnknown, FedIndex{}, "zero value is unknown")
	assert.Equal(t, FedIndexNoRecord, FedIndexAt(math.MaxUint64))
	for _, bad := range []string{"", "+1", "-2", "--1", "1.0", "abc", "18446744073709551616"} {
		_, err := ParseFedIndex(bad)
		assert.Error(t, err, bad)
	}
	var f FedIndex
	assert.Error(t, f.UnmarshalText([]byte("x")))
}

func TestStateStrings(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "ENABLED", Enabled.String())
	assert.Equal(t, "DISABLED", Disabled.String())
	assert.Equal(t, "STATE(9)", State(9).String())
	want := map[RaftState]string{RaftUnknown: "UNKNOWN", RaftSolo: "SOLO", RaftCandidate: "CANDIDATE", RaftFollower: "FOLLOWER", RaftLeader: "LEADER", 9: "RAFTSTATE(9)"}
	for s, w := range want {
		assert.Equal(t, w, s.String())
	}
}

func TestParseAPIError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		stderr, method, msg string
		ok                  bool
		is                  error
	}{
		{"[one.zone.addserver] Servers have to be added through the target zone endpoints\n", "one.zone.addserver", "Servers have to be added through the target zone endpoints", true, ErrWrongZone},
		{"[one.host.status] Cannot process request, zone disabled\n", "one.host.status", "Cannot process request, zone disabled", true, ErrZoneDisabled},
		{"[one.host.status] Cannot process request, no leader found", "one.host.status", "Cannot process request, no leader found", true, ErrNoLeader},
		{"[one.host.status] Cannot process request, oned cluster in election mode\n", "one.host.status", "Cannot process request, oned cluster in election mode", true, ErrElectionMode},
		{"[one.host.status] Cannot process request, oned cluster is replicating log\n", "one.host.status", "Cannot process request, oned cluster is replicating log", true, ErrReplicatingLog},
		{"[one.zone.enable] Enable/disable mode have to be set through the target zone endpoints\n", "one.zone.enable", "Enable/disable mode have to be set through the target zone endpoints", true, ErrWrongZone},
		{"[one.vm.action] Forwarding xml-rpc message to gRPC leader is not supported\n", "one.vm.action", "Forwarding xml-rpc message to gRPC leader is not supported", true, ErrForwardGRPC},
		{"warning: x\n[one.zone.delserver] Error deleting\nsecond line\n", "one.zone.delserver", "Error deleting\nsecond line", true, nil},
		{"To add a server set:\n\t-n <server name>\n", "", "", false, nil},
		{"", "", "", false, nil},
	}
	for _, tt := range tests {
		m, msg, ok := parseAPIError(tt.stderr)
		assert.Equal(t, tt.ok, ok, tt.stderr)
		assert.Equal(t, tt.method, m, tt.stderr)
		assert.Equal(t, tt.msg, msg, tt.stderr)
		if tt.is != nil {
			e := &APIError{Method: m, Message: msg}
			assert.ErrorIs(t, e, tt.is)
			for _, other := range []error{ErrZoneDisabled, ErrNoLeader, ErrElectionMode, ErrReplicatingLog, ErrForwardGRPC, ErrWrongZone} {
				if other != tt.is {
					assert.NotErrorIs(t, e, other, tt.stderr)
				}
			}
		}
	}
}

func TestParseListXML(t *testing.T) {
	t.Parallel()
	zs, err := ParseListXML(readSample(t, "onezone-list-federation.xml"))
	require.NoError(t, err)
	require.Len(t, zs, 3)
	assert.Equal(t, 0, zs[0].ID)
	assert.Equal(t, "M-EU-FR", zs[0].Name)
	assert.Equal(t, "http://192.168.150.1:2633/RPC2", zs[0].Endpoint)
	require.Len(t, zs[0].Servers, 3)
	s, ok := zs[0].Server("fr-fe2")
	require.True(t, ok)
	assert.Equal(t, Server{ID: 1, Name: "fr-fe2", Endpoint: "http://192.168.150.12:2633/RPC2"}, s)
	assert.False(t, s.Reachable(), "list -x has no Raft values")
	assert.Equal(t, 100, zs[1].ID)
	assert.Equal(t, "http://192.168.150.2:2474/", zs[1].Template["ONEFLOW_ENDPOINT"])
	assert.Equal(t, "", zs[1].Servers[2].EndpointGRPC)
	assert.Equal(t, 2, zs[1].Servers[2].ID)
	assert.Equal(t, 101, zs[2].ID)
	assert.Empty(t, zs[2].Servers)
	assert.False(t, zs[2].HA())

	bad := []struct {
		name, data, path string
	}{
		{"empty", "", ""},
		{"show output", string(readSample(t, "onezone-show-3node.xml")), ""},
		{"empty pool", "<ZONE_POOL/>", "ZONE_POOL"},
		{"truncated", string(readSample(t, "onezone-list-federation.xml"))[:300], ""},
		{"bad server ID", "<ZONE_POOL><ZONE><ID>0</ID><NAME>a</NAME><STATE>0</STATE><TEMPLATE/><SERVER_POOL><SERVER><ID>x</ID><NAME>s</NAME></SERVER></SERVER_POOL></ZONE></ZONE_POOL>",
			"ZONE_POOL/ZONE[1]/SERVER_POOL/SERVER[1]/ID"},
		{"raft values", "<ZONE_POOL><ZONE><ID>0</ID><NAME>a</NAME><STATE>0</STATE><TEMPLATE/><SERVER_POOL><SERVER><ID>0</ID><NAME>s</NAME><STATE>3</STATE></SERVER></SERVER_POOL></ZONE></ZONE_POOL>",
			"ZONE_POOL/ZONE[1]/SERVER_POOL/SERVER[1]"},
		{"duplicate zone", "<ZONE_POOL><ZONE><ID>0</ID><NAME>a</NAME><STATE>0</STATE><TEMPLATE/><SERVER_POOL/></ZONE><ZONE><ID>0</ID><NAME>b</NAME><STATE>0</STATE><TEMPLATE/><SERVER_POOL/></ZONE></ZONE_POOL>",
			"ZONE_POOL/ZONE[2]/ID"},
		{"no server pool", "<ZONE_POOL><ZONE><ID>0</ID><NAME>a</NAME><STATE>0</STATE><TEMPLATE/></ZONE></ZONE_POOL>", "ZONE_POOL/ZONE[1]/SERVER_POOL"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			zs, err := ParseListXML([]byte(tc.data))
			assert.Nil(t, zs)
			pe, ok := errors.AsType[*ParseError](err)
			require.True(t, ok, "%v", err)
			assert.Equal(t, srcListXML, pe.Source)
			if tc.path != "" {
				assert.Equal(t, tc.path, pe.Path)
			}
		})
	}
}
