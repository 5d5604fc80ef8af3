package vm

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// maxListSeed bounds the seeds of FuzzParseList. The fuzzer minimises
// every input that finds new coverage, in a number of runs that grows
// with the square of its length (go/src/internal/fuzz/minimize.go), and
// fuzzes nothing meanwhile: seeded with the 6.5 KB onevm list sample it
// ran 20,652 inputs in 30 s, almost all of them in the first seconds.
const maxListSeed = 256

// listSeeds are FuzzParseList's seeds: the elements ParseList reads, cut
// from the onevm list sample (owner, lock, deploy id, user template,
// history records).
var listSeeds = []string{
	`<VM_POOL><VM><ID>7</ID><UID>0</UID><GID>0</GID><UNAME>oneadmin</UNAME><GNAME>oneadmin</GNAME>` +
		`<NAME>web</NAME><STATE>3</STATE><LCM_STATE>3</LCM_STATE><DEPLOY_ID>one-7</DEPLOY_ID></VM></VM_POOL>`,
	`<VM_POOL><VM><ID>9</ID><NAME>app</NAME><STATE>3</STATE><LCM_STATE>3</LCM_STATE><HISTORY_RECORDS>` +
		`<HISTORY><SEQ>0</SEQ><HOSTNAME>kvm1</HOSTNAME><HID>1</HID></HISTORY></HISTORY_RECORDS></VM></VM_POOL>`,
	`<VM_POOL><VM><ID>8</ID><NAME>db</NAME><STATE>1</STATE><LCM_STATE>0</LCM_STATE><LOCK><LOCKED>1</LOCKED></LOCK>` +
		`<USER_TEMPLATE><ERROR><![CDATA[boom]]></ERROR><SCHED_MESSAGE>no host</SCHED_MESSAGE></USER_TEMPLATE></VM></VM_POOL>`,
	`<VM_POOL><VM><ID>1</ID><NAME>a</NAME><STATE>3</STATE><LCM_STATE>36</LCM_STATE><HISTORY_RECORDS/></VM>` +
		`<VM><ID>2</ID><NAME>b</NAME><STATE>11</STATE><LCM_STATE>0</LCM_STATE></VM></VM_POOL>`,
}

// The seeds stay small and still reach every element ParseList reads.
func TestListFuzzSeeds(t *testing.T) {
	t.Parallel()
	var all []VM
	for _, s := range listSeeds {
		assert.LessOrEqual(t, len(s), maxListSeed, "a large seed stalls the fuzzer in minimisation: %.40q", s)
		vms, err := ParseList([]byte(s))
		require.NoError(t, err, s)
		all = append(all, vms...)
	}
	reached := func(what string, ok func(VM) bool) {
		assert.True(t, slices.ContainsFunc(all, ok), "no seed reaches %s", what)
	}
	reached("HISTORY", func(v VM) bool { return v.HostID >= 0 && v.Hostname != "" })
	reached("LOCK", func(v VM) bool { return v.Lock != 0 })
	reached("USER_TEMPLATE/ERROR", func(v VM) bool { return v.Error != "" })
	reached("USER_TEMPLATE/SCHED_MESSAGE", func(v VM) bool { return v.SchedMessage != "" })
	reached("DEPLOY_ID", func(v VM) bool { return v.DeployID != "" })
	reached("UNAME", func(v VM) bool { return v.UName != "" })
	reached("a failure state", func(v VM) bool { return Classify(v) != Classify(VM{State: 3, LCMState: 3}) })
}

func FuzzParseList(f *testing.F) {
	for _, s := range listSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		vms, err := ParseList(data)
		if err != nil {
			if vms != nil {
				t.Fatalf("VMs with an error: %v", err)
			}
			return
		}
		ids := map[int]bool{}
		for _, v := range vms {
			if ids[v.ID] || v.ID < 0 || v.State < 0 || v.LCMState < 0 || v.Lock < 0 {
				t.Fatalf("invalid VM %+v", v)
			}
			ids[v.ID] = true
			if (v.HostID == -1) != (v.Hostname == "" && v.HostID == -1) {
				t.Fatalf("inconsistent history %+v", v)
			}
			_ = Classify(v)
		}
	})
}
