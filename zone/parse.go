package zone

import (
	"bytes"
	"encoding/csv"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/upgradekit/upgradekit/internal/onecli"
)

const (
	srcShow       = "onezone show -x"
	srcList       = "onezone list --csv"
	srcRaftStatus = "one.zone.raftstatus"
	srcListXML    = "onezone list -x"
)

type xmlAny = onecli.XMLAny

type xmlZone struct {
	XMLName    xml.Name       `xml:"ZONE"`
	ID         *string        `xml:"ID"`
	Name       *string        `xml:"NAME"`
	State      *string        `xml:"STATE"`
	Template   *xmlTemplate   `xml:"TEMPLATE"`
	ServerPool *xmlServerPool `xml:"SERVER_POOL"`
}

type xmlTemplate struct {
	Items []xmlAny `xml:",any"`
}

type xmlServerPool struct {
	Servers []xmlServer `xml:"SERVER"`
}

type xmlServer struct {
	Endpoint     *string `xml:"ENDPOINT"`
	EndpointGRPC *string `xml:"ENDPOINT_GRPC"`
	ID           *string `xml:"ID"`
	Name         *string `xml:"NAME"`
	State        *string `xml:"STATE"`
	Term         *string `xml:"TERM"`
	VotedFor     *string `xml:"VOTEDFOR"`
	Commit       *string `xml:"COMMIT"`
	LogIndex     *string `xml:"LOG_INDEX"`
	FedLogIndex  *string `xml:"FEDLOG_INDEX"`
}

// ParseShow parses the output of `onezone show <id> -x`: the stored zone
// plus the six Raft values the CLI appends to every SERVER (share/doc/xsd/zone.xsd).
// A server whose six values are all "-" (or all absent) has Raft == nil;
// a mix of "-" and numbers is an error.
func ParseShow(data []byte) (Zone, error) {
	var x xmlZone
	if err := onecli.DecodeOne(data, &x); err != nil {
		return Zone{}, &ParseError{Source: srcShow, Err: err}
	}
	return parseZone(x, srcShow, "ZONE")
}

// parseZone checks and converts one ZONE element of src's output; path
// locates it ("ZONE", "ZONE_POOL/ZONE[2]").
func parseZone(x xmlZone, src, path string) (Zone, error) {
	var z Zone
	var err error
	if z.ID, err = reqInt(x.ID, src, path+"/ID", 0); err != nil {
		return Zone{}, err
	}
	if x.Name == nil {
		return Zone{}, parseErr(src, path+"/NAME", "missing")
	}
	z.Name = *x.Name
	st, err := reqInt(x.State, src, path+"/STATE", 0)
	if err != nil {
		return Zone{}, err
	}
	if st != int(Enabled) && st != int(Disabled) {
		return Zone{}, parseErr(src, path+"/STATE", "unknown zone state %d", st)
	}
	z.State = State(st)
	if x.Template == nil {
		return Zone{}, parseErr(src, path+"/TEMPLATE", "missing")
	}
	z.Template = map[string]string{}
	for _, it := range x.Template.Items {
		if len(it.Children) == 0 {
			z.Template[it.XMLName.Local] = it.Text
		}
	}
	z.Endpoint = z.Template["ENDPOINT"]
	z.EndpointGRPC = z.Template["ENDPOINT_GRPC"]
	if x.ServerPool == nil {
		return Zone{}, parseErr(src, path+"/SERVER_POOL", "missing")
	}
	seen := map[int]bool{}
	for i, xs := range x.ServerPool.Servers {
		s, err := parseServer(xs, src, fmt.Sprintf("%s/SERVER_POOL/SERVER[%d]", path, i+1))
		if err != nil {
			return Zone{}, err
		}
		if seen[s.ID] {
			return Zone{}, parseErr(src, fmt.Sprintf("%s/SERVER_POOL/SERVER[%d]/ID", path, i+1), "duplicate server ID %d", s.ID)
		}
		seen[s.ID] = true
		z.Servers = append(z.Servers, s)
	}
	return z, nil
}

func parseServer(xs xmlServer, src, path string) (Server, error) {
	var s Server
	var err error
	if s.ID, err = reqInt(xs.ID, src, path+"/ID", 0); err != nil {
		return Server{}, err
	}
	if xs.Name == nil {
		return Server{}, parseErr(src, path+"/NAME", "missing")
	}
	s.Name = *xs.Name
	if xs.Endpoint != nil {
		s.Endpoint = *xs.Endpoint
	}
	if xs.EndpointGRPC != nil {
		s.EndpointGRPC = *xs.EndpointGRPC
	}
	raw := []*string{xs.State, xs.Term, xs.VotedFor, xs.Commit, xs.LogIndex, xs.FedLogIndex}
	var absent, dash int
	for _, r := range raw {
		switch {
		case r == nil:
			absent++
		case strings.TrimSpace(*r) == "-":
			dash++
		}
	}
	switch {
	case absent == len(raw), dash == len(raw):
		return s, nil
	case absent > 0:
		return Server{}, parseErr(src, path, "only some of STATE, TERM, VOTEDFOR, COMMIT, LOG_INDEX, FEDLOG_INDEX present")
	case dash > 0:
		return Server{}, parseErr(src, path, `some raft values are "-" and some are not`)
	}
	var r RaftStatus
	if r.State, err = parseRaftState(strings.TrimSpace(*xs.State)); err != nil {
		return Server{}, &ParseError{Source: src, Path: path + "/STATE", Err: err}
	}
	if r.Term, err = parseInt64(*xs.Term, src, path+"/TERM", 0); err != nil {
		return Server{}, err
	}
	vf, err := parseInt64(*xs.VotedFor, src, path+"/VOTEDFOR", -1)
	if err != nil {
		return Server{}, err
	}
	r.VotedFor = int(vf)
	if r.Commit, err = parseInt64(*xs.Commit, src, path+"/COMMIT", -1); err != nil {
		return Server{}, err
	}
	if r.LogIndex, err = parseInt64(*xs.LogIndex, src, path+"/LOG_INDEX", -1); err != nil {
		return Server{}, err
	}
	if r.FedIndex, err = ParseFedIndex(*xs.FedLogIndex); err != nil || !r.FedIndex.Known() {
		if err == nil {
			err = errors.New(`"-" for a reachable server`)
		}
		return Server{}, &ParseError{Source: src, Path: path + "/FEDLOG_INDEX", Err: err}
	}
	s.Raft = &r
	return s, nil
}

func reqInt(p *string, src, path string, minimum int64) (int, error) {
	if p == nil {
		return 0, parseErr(src, path, "missing")
	}
	n, err := parseInt64(*p, src, path, minimum)
	return int(n), err
}

type xmlZonePool struct {
	XMLName xml.Name  `xml:"ZONE_POOL"`
	Zones   []xmlZone `xml:"ZONE"`
}

// ParseListXML parses the output of `onezone list -x` (share/doc/xsd/zone_pool.xsd): every
// zone with its stored fields and its stored SERVER entries (ENDPOINT,
// ENDPOINT_GRPC, ID, NAME). The CLI asks no server for its Raft status
// here, so every Server has Raft == nil, and Raft values in the output
// are an error. An empty pool is an error too: zone 0 always exists.
func ParseListXML(data []byte) ([]Zone, error) {
	var x xmlZonePool
	if err := onecli.DecodeOne(data, &x); err != nil {
		return nil, &ParseError{Source: srcListXML, Err: err}
	}
	if len(x.Zones) == 0 {
		return nil, parseErr(srcListXML, "ZONE_POOL", "no ZONE")
	}
	zs := make([]Zone, 0, len(x.Zones))
	seen := map[int]bool{}
	for i, xz := range x.Zones {
		path := fmt.Sprintf("ZONE_POOL/ZONE[%d]", i+1)
		if xz.ServerPool != nil {
			for j, xs := range xz.ServerPool.Servers {
				for _, r := range []*string{xs.State, xs.Term, xs.VotedFor, xs.Commit, xs.LogIndex, xs.FedLogIndex} {
					if r != nil {
						return nil, parseErr(srcListXML, fmt.Sprintf("%s/SERVER_POOL/SERVER[%d]", path, j+1), "raft values in a stored server entry")
					}
				}
			}
		}
		z, err := parseZone(xz, srcListXML, path)
		if err != nil {
			return nil, err
		}
		if seen[z.ID] {
			return nil, parseErr(srcListXML, path+"/ID", "duplicate zone ID %d", z.ID)
		}
		seen[z.ID] = true
		zs = append(zs, z)
	}
	return zs, nil
}

// parseInt64 parses a decimal integer >= minimum that fits in an int32 ID
// or an int64 index.
func parseInt64(s, src, path string, minimum int64) (int64, error) {
	t := strings.TrimSpace(s)
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || t == "" || t[0] == '+' {
		return 0, parseErr(src, path, "invalid integer %q", s)
	}
	if n < minimum {
		return 0, parseErr(src, path, "%d out of range (minimum %d)", n, minimum)
	}
	if strings.HasSuffix(path, "ID") && n > 1<<31-1 {
		return 0, parseErr(src, path, "%d out of range", n)
	}
	return n, nil
}

type xmlRaft struct {
	XMLName     xml.Name `xml:"RAFT"`
	ServerID    *string  `xml:"SERVER_ID"`
	State       *string  `xml:"STATE"`
	Term        *string  `xml:"TERM"`
	VotedFor    *string  `xml:"VOTEDFOR"`
	Commit      *string  `xml:"COMMIT"`
	LogIndex    *string  `xml:"LOG_INDEX"`
	LogTerm     *string  `xml:"LOG_TERM"`
	FedLogIndex *string  `xml:"FEDLOG_INDEX"`
}

// ParseRaftStatus parses the body one.zone.raftstatus returns
// (`<RAFT><SERVER_ID>…</FEDLOG_INDEX></RAFT>`, xsd/raftstatus.xsd). Every
// element is required and numeric.
func ParseRaftStatus(data []byte) (RaftInfo, error) {
	var x xmlRaft
	if err := onecli.DecodeOne(data, &x); err != nil {
		return RaftInfo{}, &ParseError{Source: srcRaftStatus, Err: err}
	}
	get := func(p *string, name string, minimum int64) (int64, error) {
		if p == nil {
			return 0, parseErr(srcRaftStatus, "RAFT/"+name, "missing")
		}
		return parseInt64(*p, srcRaftStatus, "RAFT/"+name, minimum)
	}
	var r RaftInfo
	id, err := get(x.ServerID, "SERVER_ID", -1)
	if err != nil {
		return RaftInfo{}, err
	}
	r.ServerID = int(id)
	if x.State == nil {
		return RaftInfo{}, parseErr(srcRaftStatus, "RAFT/STATE", "missing")
	}
	if r.State, err = parseRaftState(strings.TrimSpace(*x.State)); err != nil {
		return RaftInfo{}, &ParseError{Source: srcRaftStatus, Path: "RAFT/STATE", Err: err}
	}
	if r.Term, err = get(x.Term, "TERM", 0); err != nil {
		return RaftInfo{}, err
	}
	vf, err := get(x.VotedFor, "VOTEDFOR", -1)
	if err != nil {
		return RaftInfo{}, err
	}
	r.VotedFor = int(vf)
	if r.Commit, err = get(x.Commit, "COMMIT", -1); err != nil {
		return RaftInfo{}, err
	}
	if r.LogIndex, err = get(x.LogIndex, "LOG_INDEX", -1); err != nil {
		return RaftInfo{}, err
	}
	if r.LogTerm, err = get(x.LogTerm, "LOG_TERM", -1); err != nil {
		return RaftInfo{}, err
	}
	if x.FedLogIndex == nil {
		return RaftInfo{}, parseErr(srcRaftStatus, "RAFT/FEDLOG_INDEX", "missing")
	}
	if r.FedIndex, err = ParseFedIndex(*x.FedLogIndex); err != nil || !r.FedIndex.Known() {
		if err == nil {
			err = errors.New(`"-" is not a raftstatus value`)
		}
		return RaftInfo{}, &ParseError{Source: srcRaftStatus, Path: "RAFT/FEDLOG_INDEX", Err: err}
	}
	return r, nil
}

// ParseListCSV parses `onezone list --csv`: a header row naming the
// columns (CURRENT, ID, NAME, ENDPOINT, FED_INDEX, STAT; located by name,
// CURRENT optional) and one row per zone. FED_INDEX "-" means the CLI
// could not ask the zone's endpoint.
func ParseListCSV(data []byte) ([]Summary, error) {
	if len(bytes.TrimSpace(data)) != 0 && !bytes.HasSuffix(data, []byte("\n")) {
		// The CLI ends every row with a newline: a last row without one was cut.
		return nil, parseErr(srcList, "", "output does not end with a newline (truncated)")
	}
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = 0
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, parseErr(srcList, "", "empty output (no header row)")
	}
	if err != nil {
		return nil, &ParseError{Source: srcList, Err: err}
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		if _, dup := col[h]; dup {
			return nil, parseErr(srcList, "header", "duplicate column %q", h)
		}
		col[h] = i
	}
	for _, need := range []string{"ID", "NAME", "ENDPOINT", "FED_INDEX", "STAT"} {
		if _, ok := col[need]; !ok {
			return nil, parseErr(srcList, "header", "missing column %q (header %q)", need, strings.Join(header, ","))
		}
	}
	zones := []Summary{}
	seen := map[int]bool{}
	for line := 2; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return zones, nil
		}
		if err != nil {
			return nil, &ParseError{Source: srcList, Err: err}
		}
		path := fmt.Sprintf("row %d", line)
		var s Summary
		if i, ok := col["CURRENT"]; ok {
			switch strings.TrimSpace(rec[i]) {
			case "*":
				s.Current = true
			case "":
			default:
				return nil, parseErr(srcList, path+" CURRENT", "unexpected value %q", rec[i])
			}
		}
		id, err := parseInt64(rec[col["ID"]], srcList, path+" ID", 0)
		if err != nil {
			return nil, err
		}
		s.ID = int(id)
		if seen[s.ID] {
			return nil, parseErr(srcList, path+" ID", "duplicate zone ID %d", s.ID)
		}
		seen[s.ID] = true
		s.Name = rec[col["NAME"]]
		s.Endpoint = rec[col["ENDPOINT"]]
		if s.FedIndex, err = ParseFedIndex(rec[col["FED_INDEX"]]); err != nil {
			return nil, &ParseError{Source: srcList, Path: path + " FED_INDEX", Err: err}
		}
		switch strings.TrimSpace(rec[col["STAT"]]) {
		case "on":
			s.State = Enabled
		case "off":
			s.State = Disabled
		default:
			return nil, parseErr(srcList, path+" STAT", "unknown zone state %q", rec[col["STAT"]])
		}
		zones = append(zones, s)
	}
}
