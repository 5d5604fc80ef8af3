package zone

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// State is a zone's STATE (include/Zone.h).
type State int

// Zone states. The state is stored in the zone body in the database, so it
// survives restarts and onedb backup/restore.
const (
	Enabled  State = 0
	Disabled State = 1
)

func (s State) String() string {
	switch s {
	case Enabled:
		return "ENABLED"
	case Disabled:
		return "DISABLED"
	}
	return "STATE(" + strconv.Itoa(int(s)) + ")"
}

// RaftState is a Raft server's STATE (include/RaftManager.h). oned has no
// error state: a server the CLI could not ask is RaftUnknown here (the
// XML holds "-", the table prints "error").
type RaftState int

// Raft states.
const (
	RaftUnknown   RaftState = -1 // the CLI could not ask the server
	RaftSolo      RaftState = 0
	RaftCandidate RaftState = 1
	RaftFollower  RaftState = 2
	RaftLeader    RaftState = 3
)

func (s RaftState) String() string {
	switch s {
	case RaftUnknown:
		return "UNKNOWN"
	case RaftSolo:
		return "SOLO"
	case RaftCandidate:
		return "CANDIDATE"
	case RaftFollower:
		return "FOLLOWER"
	case RaftLeader:
		return "LEADER"
	}
	return "RAFTSTATE(" + strconv.Itoa(int(s)) + ")"
}

func parseRaftState(s string) (RaftState, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < int(RaftSolo) || n > int(RaftLeader) {
		return RaftUnknown, fmt.Errorf("invalid raft state %q", s)
	}
	return RaftState(n), nil
}

// FedIndex is a federation log index (FEDLOG_INDEX in onezone show and
// one.zone.raftstatus, FED_INDEX in onezone list). It is one of four
// distinct things, and only those four can be represented:
//
//   - unknown: the CLI could not ask the server (the literal "-"); the zero value;
//   - not federated: -1;
//   - federated with no federated record yet: 18446744073709551615 (UINT64_MAX,
//     LogDB::last_federated);
//   - a real index, 0 <= n < UINT64_MAX.
type FedIndex struct {
	kind fedKind
	n    uint64
}

type fedKind uint8

const (
	fedUnknown fedKind = iota
	fedNotFederated
	fedNoRecord
	fedIndex
)

// Special FedIndex values.
var (
	FedIndexUnknown      = FedIndex{}
	FedIndexNotFederated = FedIndex{kind: fedNotFederated}
	FedIndexNoRecord     = FedIndex{kind: fedNoRecord}
)

// FedIndexAt returns the FedIndex for a real index n. n = UINT64_MAX is
// how oned prints "no record yet", so it gives FedIndexNoRecord.
func FedIndexAt(n uint64) FedIndex {
	if n == math.MaxUint64 {
		return FedIndexNoRecord
	}
	return FedIndex{kind: fedIndex, n: n}
}

// ParseFedIndex parses the text form oned and the CLI print: "-", "-1",
// "18446744073709551615" or a non-negative integer.
func ParseFedIndex(s string) (FedIndex, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "-":
		return FedIndexUnknown, nil
	case "-1":
		return FedIndexNotFederated, nil
	}
	if s == "" || s[0] == '+' || s[0] == '-' {
		return FedIndex{}, fmt.Errorf("invalid federation index %q", s)
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return FedIndex{}, fmt.Errorf("invalid federation index %q", s)
	}
	return FedIndexAt(n), nil
}

// Known reports whether the index was read (it is not "-").
func (f FedIndex) Known() bool { return f.kind != fedUnknown }

// Federated reports whether the server is part of a federation: a real
// index or "no record yet".
func (f FedIndex) Federated() bool { return f.kind == fedNoRecord || f.kind == fedIndex }

// NoRecord reports the federated-but-no-record-yet value (UINT64_MAX).
func (f FedIndex) NoRecord() bool { return f.kind == fedNoRecord }

// Index returns the real index and true, or 0 and false for the three
// special values.
func (f FedIndex) Index() (uint64, bool) { return f.n, f.kind == fedIndex }

// String returns the form oned prints: "-", "-1", "18446744073709551615"
// or the index.
func (f FedIndex) String() string {
	switch f.kind {
	case fedNotFederated:
		return "-1"
	case fedNoRecord:
		return strconv.FormatUint(math.MaxUint64, 10)
	case fedIndex:
		return strconv.FormatUint(f.n, 10)
	}
	return "-"
}

// MarshalText implements encoding.TextMarshaler with String's form.
func (f FedIndex) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with ParseFedIndex.
func (f *FedIndex) UnmarshalText(b []byte) error {
	v, err := ParseFedIndex(string(b))
	if err != nil {
		return err
	}
	*f = v
	return nil
}

// Zone is a zone as `onezone show <id> -x` describes it.
type Zone struct {
	ID    int
	Name  string
	State State
	// Endpoint is TEMPLATE/ENDPOINT (the VIP in HA), EndpointGRPC
	// TEMPLATE/ENDPOINT_GRPC ("" when absent).
	Endpoint     string
	EndpointGRPC string
	// Template holds every simple TEMPLATE attribute, ENDPOINT included.
	Template map[string]string
	// Servers is SERVER_POOL in document order; empty means no HA.
	Servers []Server
}

// HA reports whether the zone has HA servers (a non-empty SERVER_POOL).
func (z Zone) HA() bool { return len(z.Servers) > 0 }

// Server returns the server with the given name and true, or false when no
// server or more than one has that name.
func (z Zone) Server(name string) (Server, bool) {
	var found []Server
	for _, s := range z.Servers {
		if s.Name == name {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		return Server{}, false
	}
	return found[0], true
}

// ServerByID returns the server with the given ID.
func (z Zone) ServerByID(id int) (Server, bool) {
	for _, s := range z.Servers {
		if s.ID == id {
			return s, true
		}
	}
	return Server{}, false
}

// Leaders returns every server whose STATE is LEADER. More than one can
// appear briefly when a deposed leader has not yet heard of a new term.
func (z Zone) Leaders() []Server {
	var ls []Server
	for _, s := range z.Servers {
		if s.State() == RaftLeader {
			ls = append(ls, s)
		}
	}
	return ls
}

// Leader returns the one leader, or false when there is none or more than one.
func (z Zone) Leader() (Server, bool) {
	ls := z.Leaders()
	if len(ls) != 1 {
		return Server{}, false
	}
	return ls[0], true
}

// Server is one HA front-end of a zone (a SERVER of SERVER_POOL).
type Server struct {
	ID   int
	Name string
	// Endpoint is the XML-RPC endpoint; EndpointGRPC the gRPC one (7.2+;
	// "" when the element is absent or empty).
	Endpoint     string
	EndpointGRPC string
	// Raft is what one.zone.raftstatus returned for this server, or nil
	// when the CLI could not ask it (all six values "-") or did not try.
	Raft *RaftStatus
}

// Reachable reports whether the CLI got a Raft status from the server.
func (s Server) Reachable() bool { return s.Raft != nil }

// State returns the server's Raft state, RaftUnknown when unreachable.
func (s Server) State() RaftState {
	if s.Raft == nil {
		return RaftUnknown
	}
	return s.Raft.State
}

// RaftStatus is the Raft state onezone show appends to each reachable
// SERVER.
type RaftStatus struct {
	State RaftState
	Term  int64
	// VotedFor is the server ID voted for in Term, -1 for none.
	VotedFor int
	Commit   int64
	// LogIndex is the last log index, -1 in solo mode.
	LogIndex int64
	FedIndex FedIndex
}

// RaftInfo is the body of one.zone.raftstatus (<RAFT>, xsd/raftstatus.xsd).
type RaftInfo struct {
	// ServerID is this server's ID, -1 in solo mode.
	ServerID int
	State    RaftState
	Term     int64
	VotedFor int
	Commit   int64
	LogIndex int64 // -1 in solo mode
	LogTerm  int64 // -1 in solo mode
	FedIndex FedIndex
}

// Status returns the fields onezone show copies into SERVER.
func (r RaftInfo) Status() RaftStatus {
	return RaftStatus{State: r.State, Term: r.Term, VotedFor: r.VotedFor, Commit: r.Commit,
		LogIndex: r.LogIndex, FedIndex: r.FedIndex}
}

// Summary is one row of `onezone list --csv`.
type Summary struct {
	// Current marks the zone whose ENDPOINT equals the client endpoint.
	Current  bool
	ID       int
	Name     string
	Endpoint string
	// FedIndex is FEDLOG_INDEX as returned by one.zone.raftstatus on the
	// zone's ENDPOINT, FedIndexUnknown when that call failed.
	FedIndex FedIndex
	State    State
}
