package vm

import (
	"encoding/xml"
	"fmt"
	"strconv"

	"github.com/upgradekit/upgradekit/internal/onecli"
)

// State is a VM's STATE (include/VirtualMachine.h).
type State int

// VM states. 7 (FAILED) is retired.
const (
	StateInit           State = 0
	StatePending        State = 1
	StateHold           State = 2
	StateActive         State = 3
	StateStopped        State = 4
	StateSuspended      State = 5
	StateDone           State = 6
	StateFailed         State = 7 // retired
	StatePoweroff       State = 8
	StateUndeployed     State = 9
	StateCloning        State = 10
	StateCloningFailure State = 11
)

var stateNames = [...]string{"INIT", "PENDING", "HOLD", "ACTIVE", "STOPPED", "SUSPENDED", "DONE", "FAILED",
	"POWEROFF", "UNDEPLOYED", "CLONING", "CLONING_FAILURE"}

func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "STATE(" + strconv.Itoa(int(s)) + ")"
}

// LCMState is a VM's LCM_STATE; it only means something when STATE is
// ACTIVE, and is 0 otherwise.
type LCMState int

func (s LCMState) String() string {
	if n, ok := lcmNames[s]; ok {
		return n
	}
	return "LCM_STATE(" + strconv.Itoa(int(s)) + ")"
}

// Lock is a VM's LOCK/LOCKED level (include/PoolObjectSQL.h); 0 means no lock.
type Lock int

// Lock levels.
const (
	LockNone   Lock = 0
	LockUse    Lock = 1
	LockManage Lock = 2
	LockAdmin  Lock = 3
)

func (l Lock) String() string {
	switch l {
	case LockNone:
		return "NONE"
	case LockUse:
		return "USE"
	case LockManage:
		return "MANAGE"
	case LockAdmin:
		return "ADMIN"
	}
	return "LOCK(" + strconv.Itoa(int(l)) + ")"
}

// VM is one VM of `onevm list -x` (the short body,
// VirtualMachine::to_xml_short), reduced to what upgrades need.
type VM struct {
	ID           int
	Name         string
	UID, GID     int
	UName, GName string
	State        State
	LCMState     LCMState
	Lock         Lock
	DeployID     string
	// Hostname and HostID are from the last HISTORY record: the host the
	// VM is on or was last on. HostID is -1 and Hostname "" when the VM
	// never ran.
	Hostname string
	HostID   int
	// Error is USER_TEMPLATE/ERROR, SchedMessage USER_TEMPLATE/SCHED_MESSAGE.
	Error        string
	SchedMessage string
}

// StateName returns "STATE" or "ACTIVE/LCM_STATE" (e.g. "ACTIVE/BOOT_FAILURE").
func (v VM) StateName() string {
	if v.State == StateActive {
		return v.State.String() + "/" + v.LCMState.String()
	}
	return v.State.String()
}

// Class is how an upgrade treats a VM's state (include/VirtualMachine.h).
type Class int

// Classes.
const (
	// Unknown: a retired or unknown STATE/LCM_STATE. Treated like Failed
	// by WaitSettled: waiting cannot be shown to help.
	Unknown Class = iota
	// Settled: PENDING, HOLD, STOPPED, SUSPENDED, DONE, POWEROFF,
	// UNDEPLOYED, ACTIVE/RUNNING and ACTIVE/UNKNOWN (settled but
	// unhealthy). PENDING VMs may be deployed as soon as oned is back.
	Settled
	// Transient: INIT, CLONING and every other live ACTIVE LCM state;
	// it will settle by itself (BACKUP can take long).
	Transient
	// Failed: CLONING_FAILURE and the ACTIVE *_FAILURE LCM states (36-42,
	// 44, 46-50, 61). They need `onevm recover`; waiting is useless.
	Failed
)

func (c Class) String() string {
	switch c {
	case Settled:
		return "settled"
	case Transient:
		return "transient"
	case Failed:
		return "failed"
	}
	return "unknown"
}

// Classify returns v's class from STATE and, for ACTIVE VMs, LCM_STATE,
// exactly as the upgrade splits them.
func Classify(v VM) Class {
	switch v.State {
	case StatePending, StateHold, StateStopped, StateSuspended, StateDone, StatePoweroff, StateUndeployed:
		return Settled
	case StateInit, StateCloning:
		return Transient
	case StateCloningFailure:
		return Failed
	case StateActive:
		return classifyLCM(v.LCMState)
	}
	return Unknown // 7 FAILED (retired) and anything unknown
}

func classifyLCM(s LCMState) Class {
	switch {
	case s == LCMRunning, s == LCMUnknown:
		return Settled
	case s >= 36 && s <= 42, s == 44, s >= 46 && s <= 50, s == 61:
		return Failed
	case s == 13, s == 14, s == 55, s == 58:
		return Unknown // retired
	case s >= 0 && s <= 71:
		return Transient
	}
	return Unknown
}

// ParseError reports remote output that could not be understood. Nothing
// is guessed from such output. Its fields are Source, the command
// ("onevm list -x"), Path, where when known (e.g.
// "VM_POOL/VM[3]/LCM_STATE"), and Err, what is wrong.
type ParseError onecli.ParseError

func (e *ParseError) Error() string { return onecli.ParseMessage(e.Source, e.Path, e.Err) }

func (e *ParseError) Unwrap() error { return e.Err }

const srcList = "onevm list -x"

func listErr(path, format string, args ...any) error {
	return &ParseError{Source: srcList, Path: path, Err: fmt.Errorf(format, args...)}
}

type xmlPool struct {
	XMLName xml.Name `xml:"VM_POOL"`
	VMs     []xmlVM  `xml:"VM"`
}

type xmlVM struct {
	ID       *string `xml:"ID"`
	UID      *string `xml:"UID"`
	GID      *string `xml:"GID"`
	UName    string  `xml:"UNAME"`
	GName    string  `xml:"GNAME"`
	Name     *string `xml:"NAME"`
	State    *string `xml:"STATE"`
	LCMState *string `xml:"LCM_STATE"`
	DeployID string  `xml:"DEPLOY_ID"`
	Lock     *struct {
		Locked *string `xml:"LOCKED"`
	} `xml:"LOCK"`
	UserTemplate struct {
		Error        string `xml:"ERROR"`
		SchedMessage string `xml:"SCHED_MESSAGE"`
	} `xml:"USER_TEMPLATE"`
	History []struct {
		Seq      *string `xml:"SEQ"`
		Hostname string  `xml:"HOSTNAME"`
		HID      *string `xml:"HID"`
	} `xml:"HISTORY_RECORDS>HISTORY"`
}

func atoi(p *string, path string, minimum int) (int, error) {
	if p == nil {
		return 0, listErr(path, "missing")
	}
	n, err := onecli.Atoi(*p, minimum)
	if err != nil {
		return 0, &ParseError{Source: srcList, Path: path, Err: err}
	}
	return n, nil
}

// ParseList parses `onevm list -x` (VM_POOL of short VM bodies). ID, NAME,
// STATE and LCM_STATE are required; unknown STATE/LCM_STATE numbers are
// kept (Classify says Unknown), non-numbers are errors. With several
// HISTORY records the one with the highest SEQ is the last.
func ParseList(data []byte) ([]VM, error) {
	var x xmlPool
	if err := onecli.DecodeOne(data, &x); err != nil {
		return nil, &ParseError{Source: srcList, Err: err}
	}
	vms := make([]VM, 0, len(x.VMs))
	seen := map[int]bool{}
	for i, xv := range x.VMs {
		path := fmt.Sprintf("VM_POOL/VM[%d]", i+1)
		v := VM{HostID: -1, UName: xv.UName, GName: xv.GName, DeployID: xv.DeployID,
			Error: xv.UserTemplate.Error, SchedMessage: xv.UserTemplate.SchedMessage}
		var err error
		if v.ID, err = atoi(xv.ID, path+"/ID", 0); err != nil {
			return nil, err
		}
		if seen[v.ID] {
			return nil, listErr(path+"/ID", "duplicate VM ID %d", v.ID)
		}
		seen[v.ID] = true
		if xv.Name == nil {
			return nil, listErr(path+"/NAME", "missing")
		}
		v.Name = *xv.Name
		if xv.UID != nil {
			if v.UID, err = atoi(xv.UID, path+"/UID", 0); err != nil {
				return nil, err
			}
		}
		if xv.GID != nil {
			if v.GID, err = atoi(xv.GID, path+"/GID", 0); err != nil {
				return nil, err
			}
		}
		st, err := atoi(xv.State, path+"/STATE", 0)
		if err != nil {
			return nil, err
		}
		v.State = State(st)
		lcm, err := atoi(xv.LCMState, path+"/LCM_STATE", 0)
		if err != nil {
			return nil, err
		}
		v.LCMState = LCMState(lcm)
		if xv.Lock != nil {
			l, err := atoi(xv.Lock.Locked, path+"/LOCK/LOCKED", 0)
			if err != nil {
				return nil, err
			}
			v.Lock = Lock(l)
		}
		lastSeq := -1
		for j, h := range xv.History {
			hp := fmt.Sprintf("%s/HISTORY_RECORDS/HISTORY[%d]", path, j+1)
			seq, err := atoi(h.Seq, hp+"/SEQ", 0)
			if err != nil {
				return nil, err
			}
			hid, err := atoi(h.HID, hp+"/HID", 0)
			if err != nil {
				return nil, err
			}
			if seq > lastSeq {
				lastSeq, v.HostID, v.Hostname = seq, hid, h.Hostname
			}
		}
		vms = append(vms, v)
	}
	return vms, nil
}
