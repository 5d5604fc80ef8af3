package host

import (
	"encoding/xml"
	"fmt"
	"strconv"

	"github.com/upgradekit/upgradekit/internal/onecli"
)

// State is a host's STATE (include/Host.h).
type State int

// Host states. oned 5.12+ produces only 0, 2, 3, 4 and 8; 1, 5, 6 and 7
// are commented out in the C++ but still in host.xsd, the Ruby OCA and the
// docs, so they are accepted.
const (
	StateInit                State = 0
	StateMonitoringMonitored State = 1 // not produced since 5.12
	StateMonitored           State = 2
	StateError               State = 3
	StateDisabled            State = 4
	StateMonitoringError     State = 5 // not produced since 5.12
	StateMonitoringInit      State = 6 // not produced since 5.12
	StateMonitoringDisabled  State = 7 // not produced since 5.12
	StateOffline             State = 8
)

var stateNames = [...]string{"INIT", "MONITORING_MONITORED", "MONITORED", "ERROR", "DISABLED",
	"MONITORING_ERROR", "MONITORING_INIT", "MONITORING_DISABLED", "OFFLINE"}

func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "STATE(" + strconv.Itoa(int(s)) + ")"
}

// Valid reports whether s is one of the nine known states.
func (s State) Valid() bool { return s >= StateInit && s <= StateOffline }

// Mode is what an operator chose for a host, of which State is the
// monitored result: enabled (INIT, MONITORED, ERROR and the old
// MONITORING_* values but MONITORING_DISABLED), disabled, or offline.
// It is what `onehost enable|disable|offline` sets.
type Mode int

// Modes.
const (
	ModeUnknown  Mode = iota // an invalid State
	ModeEnabled              // onehost enable
	ModeDisabled             // onehost disable
	ModeOffline              // onehost offline
)

func (m Mode) String() string {
	switch m {
	case ModeEnabled:
		return "enabled"
	case ModeDisabled:
		return "disabled"
	case ModeOffline:
		return "offline"
	}
	return "unknown"
}

// verb is the onehost subcommand that sets m.
func (m Mode) verb() string {
	switch m {
	case ModeEnabled:
		return "enable"
	case ModeDisabled:
		return "disable"
	case ModeOffline:
		return "offline"
	}
	return ""
}

// Mode returns the mode s belongs to.
func (s State) Mode() Mode {
	switch s {
	case StateInit, StateMonitoringMonitored, StateMonitored, StateError, StateMonitoringError, StateMonitoringInit:
		return ModeEnabled
	case StateDisabled, StateMonitoringDisabled:
		return ModeDisabled
	case StateOffline:
		return ModeOffline
	}
	return ModeUnknown
}

// Host is one HOST of `onehost list -x` (xsd/host.xsd), reduced to what
// upgrades need.
type Host struct {
	ID        int
	Name      string
	State     State
	PrevState State
	IMMAD     string
	VMMAD     string
	ClusterID int
	Cluster   string
	// Version is TEMPLATE/VERSION, the remotes version the host's probes
	// report ("" when absent); onehost sync compares it with the
	// front-end's /var/lib/one/remotes/VERSION.
	Version string
	// Error is TEMPLATE/ERROR, the last monitoring error ("" when none).
	Error string
	// VMs are the IDs of the VMs on the host.
	VMs []int
	// Template holds the simple TEMPLATE attributes.
	Template map[string]string
}

// ParseError reports remote output that could not be understood. Nothing
// is guessed from such output. Its fields are Source, the command (e.g.
// "onehost list -x"), Path, where when known (e.g.
// "HOST_POOL/HOST[2]/STATE"), and Err, what is wrong.
type ParseError onecli.ParseError

func (e *ParseError) Error() string { return onecli.ParseMessage(e.Source, e.Path, e.Err) }

func (e *ParseError) Unwrap() error { return e.Err }

const srcList = "onehost list -x"

func listErr(path, format string, args ...any) error {
	return &ParseError{Source: srcList, Path: path, Err: fmt.Errorf(format, args...)}
}

type xmlPool struct {
	XMLName xml.Name  `xml:"HOST_POOL"`
	Hosts   []xmlHost `xml:"HOST"`
}

type xmlHost struct {
	ID        *string `xml:"ID"`
	Name      *string `xml:"NAME"`
	State     *string `xml:"STATE"`
	PrevState *string `xml:"PREV_STATE"`
	IMMAD     string  `xml:"IM_MAD"`
	VMMAD     string  `xml:"VM_MAD"`
	ClusterID *string `xml:"CLUSTER_ID"`
	Cluster   string  `xml:"CLUSTER"`
	VMs       struct {
		IDs []string `xml:"ID"`
	} `xml:"VMS"`
	Template struct {
		Items []xmlAny `xml:",any"`
	} `xml:"TEMPLATE"`
}

type xmlAny = onecli.XMLAny

func atoi(s, path string, minimum int) (int, error) {
	n, err := onecli.Atoi(s, minimum)
	if err != nil {
		return 0, &ParseError{Source: srcList, Path: path, Err: err}
	}
	return n, nil
}

func parseState(p *string, path string) (State, error) {
	if p == nil {
		return 0, listErr(path, "missing")
	}
	n, err := atoi(*p, path, 0)
	if err != nil {
		return 0, err
	}
	if !State(n).Valid() {
		return 0, listErr(path, "unknown host state %d", n)
	}
	return State(n), nil
}

// ParseList parses `onehost list -x` (HOST_POOL, full HOST bodies). Hosts
// are returned in document order. A STATE outside 0-8 is an error.
func ParseList(data []byte) ([]Host, error) {
	var x xmlPool
	if err := onecli.DecodeOne(data, &x); err != nil {
		return nil, &ParseError{Source: srcList, Err: err}
	}
	hosts := make([]Host, 0, len(x.Hosts))
	seen := map[int]bool{}
	for i, xh := range x.Hosts {
		path := fmt.Sprintf("HOST_POOL/HOST[%d]", i+1)
		var h Host
		var err error
		if xh.ID == nil {
			return nil, listErr(path+"/ID", "missing")
		}
		if h.ID, err = atoi(*xh.ID, path+"/ID", 0); err != nil {
			return nil, err
		}
		if seen[h.ID] {
			return nil, listErr(path+"/ID", "duplicate host ID %d", h.ID)
		}
		seen[h.ID] = true
		if xh.Name == nil {
			return nil, listErr(path+"/NAME", "missing")
		}
		h.Name = *xh.Name
		if h.State, err = parseState(xh.State, path+"/STATE"); err != nil {
			return nil, err
		}
		h.PrevState = h.State
		if xh.PrevState != nil {
			if h.PrevState, err = parseState(xh.PrevState, path+"/PREV_STATE"); err != nil {
				return nil, err
			}
		}
		h.IMMAD, h.VMMAD, h.Cluster = xh.IMMAD, xh.VMMAD, xh.Cluster
		h.ClusterID = -1
		if xh.ClusterID != nil {
			if h.ClusterID, err = atoi(*xh.ClusterID, path+"/CLUSTER_ID", -1); err != nil {
				return nil, err
			}
		}
		for j, s := range xh.VMs.IDs {
			id, err := atoi(s, fmt.Sprintf("%s/VMS/ID[%d]", path, j+1), 0)
			if err != nil {
				return nil, err
			}
			h.VMs = append(h.VMs, id)
		}
		h.Template = map[string]string{}
		for _, it := range xh.Template.Items {
			if len(it.Children) == 0 {
				h.Template[it.XMLName.Local] = it.Text
			}
		}
		h.Version = h.Template["VERSION"]
		h.Error = h.Template["ERROR"]
		hosts = append(hosts, h)
	}
	return hosts, nil
}
