package host

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// maxListSeed bounds the seeds of FuzzParseList. The fuzzer minimises
// every input that finds new coverage, in a number of runs that grows
// with the square of its length (go/src/internal/fuzz/minimize.go), and
// fuzzes nothing meanwhile: an input grown from the 7.6 KB
// onehost-list.xml seed kept it there for the whole -fuzzminimizetime,
// a handful of executions a minute. Small seeds that still reach every
// field the parser reads keep it fuzzing; TestParseListSample covers the
// full sample.
const maxListSeed = 256

// listSeeds are FuzzParseList's seeds: the elements ParseList reads, cut
// from the sample (CDATA, TEMPLATE items, VMS, PREV_STATE, CLUSTER_ID).
var listSeeds = []string{
	`<HOST_POOL><HOST><ID>0</ID><NAME>kvm-node-01</NAME><STATE>2</STATE><PREV_STATE>2</PREV_STATE>` +
		`<IM_MAD><![CDATA[kvm]]></IM_MAD><VM_MAD>kvm</VM_MAD><CLUSTER_ID>0</CLUSTER_ID><CLUSTER>default</CLUSTER></HOST></HOST_POOL>`,
	`<HOST_POOL><HOST><ID>1</ID><NAME>b</NAME><STATE>8</STATE><VMS><ID>12</ID><ID>14</ID></VMS>` +
		`<TEMPLATE><VERSION><![CDATA[7.4.0]]></VERSION><NUMA><ID>0</ID></NUMA></TEMPLATE></HOST></HOST_POOL>`,
	`<HOST_POOL><HOST><ID>3</ID><NAME>c</NAME><STATE>3</STATE><PREV_STATE>2</PREV_STATE><CLUSTER_ID>-1</CLUSTER_ID>` +
		`<TEMPLATE><ERROR>MONITOR FAILURE</ERROR></TEMPLATE></HOST></HOST_POOL>`,
	"<HOST_POOL><HOST><ID>0</ID><NAME>a</NAME><STATE>7</STATE><VMS><ID>1</ID></VMS></HOST></HOST_POOL>",
	"<HOST_POOL/>",
}

func TestListFuzzSeeds(t *testing.T) {
	t.Parallel()
	var all []Host
	for _, s := range listSeeds {
		assert.LessOrEqual(t, len(s), maxListSeed, "a large seed stalls the fuzzer in minimisation: %.40q", s)
		hs, err := ParseList([]byte(s))
		require.NoError(t, err, s)
		all = append(all, hs...)
	}
	reached := func(what string, ok func(Host) bool) {
		assert.True(t, slices.ContainsFunc(all, ok), "no seed reaches %s", what)
	}
	reached("VMS/ID", func(h Host) bool { return len(h.VMs) > 0 })
	reached("TEMPLATE/VERSION", func(h Host) bool { return h.Version != "" })
	reached("TEMPLATE/ERROR", func(h Host) bool { return h.Error != "" })
	reached("PREV_STATE", func(h Host) bool { return h.PrevState != h.State })
	reached("CLUSTER_ID", func(h Host) bool { return h.ClusterID >= 0 })
	reached("IM_MAD", func(h Host) bool { return h.IMMAD != "" })
}

func FuzzParseList(f *testing.F) {
	for _, s := range listSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		hs, err := ParseList(data)
		if err != nil {
			if hs != nil {
				t.Fatalf("hosts with an error: %v", err)
			}
			return
		}
		ids := map[int]bool{}
		for _, h := range hs {
			if ids[h.ID] || h.ID < 0 || !h.State.Valid() || !h.PrevState.Valid() || h.State.Mode() == ModeUnknown {
				t.Fatalf("invalid host %+v", h)
			}
			ids[h.ID] = true
		}
	})
}

func FuzzParseSync(f *testing.F) {
	secs := []string{"* Adding a to upgrade\n[==--] 1/1 a \rAll hosts updated successfully.\n",
		"No hosts are going to be updated.\n", "Failed to update the following hosts:\n* a\n"}
	for _, s := range secs {
		f.Add([]byte(s), []byte(""), 0)
		f.Add([]byte(""), []byte(s), 255)
	}
	f.Fuzz(func(t *testing.T, stdout, stderr []byte, code int) {
		r, err := ParseSync(stdout, stderr, code)
		if code != 0 && err == nil {
			t.Fatal("non-zero exit without an error")
		}
		if err != nil {
			if r.Updated != nil || r.NothingToDo {
				t.Fatal("result with an error")
			}
			return
		}
		if r.NothingToDo == (len(r.Updated) > 0) {
			t.Fatalf("inconsistent result %+v", r)
		}
	})
}
