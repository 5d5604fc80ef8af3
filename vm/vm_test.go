package vm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/internal/parsetest"
	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/transport/fake"
	"github.com/upgradekit/upgradekit/zone"
)

func readSample(t testing.TB, name string) []byte { return parsetest.ReadSample(t, name) }

func TestParseListSample(t *testing.T) {
	t.Parallel()
	vms, err := ParseList(readSample(t, "onevm-list.xml"))
	require.NoError(t, err)
	want := []VM{
		{ID: 12, Name: "web-01", UID: 0, GID: 0, UName: "oneadmin", GName: "oneadmin", State: StateActive, LCMState: LCMRunning,
			DeployID: "8b2f55e4-1d2c-4f0e-9a51-3c1b2a7f6d10", Hostname: "kvm-node-01", HostID: 0},
		{ID: 13, Name: "db-01", UID: 2, GID: 1, UName: "alice", GName: "users", State: StateActive, LCMState: LCMMigrate, Lock: LockUse,
			DeployID: "2c9d0a61-77b4-4a9f-8e0e-4bd6f3a1c2e7", Hostname: "kvm-node-02", HostID: 1},
		{ID: 14, Name: "build-agent", UName: "oneadmin", GName: "oneadmin", State: StatePoweroff, LCMState: LCMInit,
			DeployID: "5f1e7a3b-0c2d-4e8f-9b1a-6d7c8e9f0a1b", Hostname: "kvm-node-01", HostID: 0},
		{ID: 15, Name: "broken-vm", UName: "oneadmin", GName: "oneadmin", State: StateActive, LCMState: LCMBootFailure,
			Hostname: "kvm-node-02", HostID: 1, Error: "Fri Nov 21 09:40:00 2025: Error executing image transfer script: ..."},
		{ID: 16, Name: "queued", UID: 2, GID: 1, UName: "alice", GName: "users", State: StatePending, LCMState: LCMInit, HostID: -1,
			SchedMessage: "Fri Nov 21 10:21:40 2025 : Cannot dispatch VM: No hosts enabled to run VMs"},
	}
	wantClass := []Class{Settled, Transient, Settled, Failed, Settled}
	require.Len(t, vms, len(want))
	for i, w := range want {
		v := vms[i]
		assert.Equal(t, w.ID, v.ID, "vm %d ID", i)
		assert.Equal(t, w.Name, v.Name, "vm %d NAME", i)
		assert.Equal(t, w.UID, v.UID, "vm %d UID", i)
		assert.Equal(t, w.GID, v.GID, "vm %d GID", i)
		assert.Equal(t, w.UName, v.UName, "vm %d UNAME", i)
		assert.Equal(t, w.GName, v.GName, "vm %d GNAME", i)
		assert.Equal(t, w.State, v.State, "vm %d STATE", i)
		assert.Equal(t, w.LCMState, v.LCMState, "vm %d LCM_STATE", i)
		assert.Equal(t, w.Lock, v.Lock, "vm %d LOCK", i)
		assert.Equal(t, w.DeployID, v.DeployID, "vm %d DEPLOY_ID", i)
		assert.Equal(t, w.Hostname, v.Hostname, "vm %d HOSTNAME", i)
		assert.Equal(t, w.HostID, v.HostID, "vm %d HID", i)
		assert.Equal(t, w.Error, v.Error, "vm %d ERROR", i)
		assert.Equal(t, w.SchedMessage, v.SchedMessage, "vm %d SCHED_MESSAGE", i)
		assert.Equal(t, wantClass[i], Classify(v), "vm %d class", i)
	}
	assert.Equal(t, "ACTIVE/BOOT_FAILURE", vms[3].StateName())
	assert.Equal(t, "POWEROFF", vms[2].StateName())
}

func TestParseListCases(t *testing.T) {
	t.Parallel()
	vm := func(body string) string { return "<VM_POOL><VM>" + body + "</VM></VM_POOL>" }
	const base = "<ID>1</ID><NAME>a</NAME><STATE>3</STATE><LCM_STATE>3</LCM_STATE>"
	tests := []struct {
		name, in, wantErr string
		check             func(t *testing.T, vs []VM)
	}{
		{name: "empty pool", in: "<VM_POOL/>", check: func(t *testing.T, vs []VM) { assert.Empty(t, vs); assert.NotNil(t, vs) }},
		{name: "history highest SEQ wins", in: vm(base + `<HISTORY_RECORDS><HISTORY><SEQ>2</SEQ><HOSTNAME>b</HOSTNAME><HID>5</HID></HISTORY><HISTORY><SEQ>1</SEQ><HOSTNAME>a</HOSTNAME><HID>4</HID></HISTORY></HISTORY_RECORDS>`),
			check: func(t *testing.T, vs []VM) { assert.Equal(t, "b", vs[0].Hostname); assert.Equal(t, 5, vs[0].HostID) }},
		{name: "unknown numbers kept", in: vm("<ID>1</ID><NAME>a</NAME><STATE>12</STATE><LCM_STATE>99</LCM_STATE><LOCK><LOCKED>4</LOCKED></LOCK>"),
			check: func(t *testing.T, vs []VM) {
				assert.Equal(t, Unknown, Classify(vs[0]))
				assert.Equal(t, "STATE(12)", vs[0].State.String())
				assert.Equal(t, "LCM_STATE(99)", vs[0].LCMState.String())
				assert.Equal(t, "LOCK(4)", vs[0].Lock.String())
			}},
		{name: "empty", in: "", wantErr: "no XML element"},
		{name: "wrong root", in: "<HOST_POOL/>", wantErr: "expected element type <VM_POOL>"},
		{name: "missing state", in: vm("<ID>1</ID><NAME>a</NAME><LCM_STATE>3</LCM_STATE>"), wantErr: "STATE: missing"},
		{name: "missing lcm", in: vm("<ID>1</ID><NAME>a</NAME><STATE>3</STATE>"), wantErr: "LCM_STATE: missing"},
		{name: "missing name", in: vm("<ID>1</ID><STATE>3</STATE><LCM_STATE>3</LCM_STATE>"), wantErr: "NAME: missing"},
		{name: "state text", in: vm("<ID>1</ID><NAME>a</NAME><STATE>runn</STATE><LCM_STATE>3</LCM_STATE>"), wantErr: "invalid integer"},
		{name: "negative lcm", in: vm("<ID>1</ID><NAME>a</NAME><STATE>3</STATE><LCM_STATE>-3</LCM_STATE>"), wantErr: "out of range"},
		{name: "lock without level", in: vm(base + "<LOCK/>"), wantErr: "LOCKED: missing"},
		{name: "history without HID", in: vm(base + "<HISTORY_RECORDS><HISTORY><SEQ>0</SEQ></HISTORY></HISTORY_RECORDS>"), wantErr: "HID: missing"},
		{name: "duplicate id", in: "<VM_POOL><VM>" + base + "</VM><VM>" + base + "</VM></VM_POOL>", wantErr: "duplicate VM ID 1"},
		{name: "two documents", in: "<VM_POOL/><VM_POOL/>", wantErr: "more than one root"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			parsetest.Check[*ParseError](t, ParseList, tt.in, tt.wantErr, tt.check)
		})
	}
}

func TestParseListEveryPrefixFails(t *testing.T) {
	t.Parallel()
	doc := readSample(t, "onevm-list.xml")
	// Every prefix costs O(n²) parsing; a stride keeps it fast under -race
	// while still cutting inside every element.
	parsetest.EveryPrefixFails[*ParseError](t, doc, 1500, ParseList)
}

// TestClassifyEveryState checks every STATE and, for ACTIVE, every
// LCM_STATE against include/VirtualMachine.h, written out independently.
func TestClassifyEveryState(t *testing.T) {
	t.Parallel()
	in := func(n int, set ...[2]int) bool {
		for _, r := range set {
			if n >= r[0] && n <= r[1] {
				return true
			}
		}
		return false
	}
	r := func(a, b int) [2]int { return [2]int{a, b} }
	wantLCM := func(n int) Class {
		switch {
		case n == 3, n == 16:
			return Settled
		case in(n, r(36, 42), r(44, 44), r(46, 50), r(61, 61)):
			return Failed
		case in(n, r(0, 2), r(4, 12), r(15, 15), r(17, 35), r(43, 43), r(45, 45), r(51, 54), r(56, 57), r(59, 60), r(62, 71)):
			return Transient
		}
		return Unknown // 13, 14, 55, 58 retired; > 71
	}
	wantState := map[State]Class{
		StateInit: Transient, StatePending: Settled, StateHold: Settled, StateStopped: Settled, StateSuspended: Settled,
		StateDone: Settled, StateFailed: Unknown, StatePoweroff: Settled, StateUndeployed: Settled, StateCloning: Transient,
		StateCloningFailure: Failed, 12: Unknown, -1: Unknown,
	}
	for s, want := range wantState {
		t.Run(s.String(), func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, want, Classify(VM{State: s}))
			// LCM_STATE is ignored unless ACTIVE.
			assert.Equal(t, want, Classify(VM{State: s, LCMState: LCMBootFailure}))
		})
	}
	counts := map[Class]int{}
	for n := -1; n <= 80; n++ {
		got := Classify(VM{State: StateActive, LCMState: LCMState(n)})
		assert.Equal(t, wantLCM(n), got, "ACTIVE/%s", LCMState(n))
		counts[got]++
	}
	// 2 settled, 14 failed (36-42, 44, 46-50, 61), 4 retired and the out of
	// range values unknown, the rest of 0-71 transient.
	assert.Equal(t, 2, counts[Settled])
	assert.Equal(t, 14, counts[Failed])
	assert.Equal(t, 72-2-14-4, counts[Transient])
	for n := range 72 {
		_, named := lcmNames[LCMState(n)]
		assert.Equal(t, n != 55 && n != 58, named, "LCM %d has a name", n)
	}
	assert.Equal(t, "PROLOG_MIGRATE_UNKNOWN_FAILURE", LCMPrologMigrateUnknownFailure.String())
	assert.Equal(t, LCMState(71), LCMRestore)
	for _, c := range []Class{Unknown, Settled, Transient, Failed} {
		assert.NotEmpty(t, c.String())
	}
}

func vmXML(vms ...[3]int) string { // {id, state, lcm}
	var b strings.Builder
	b.WriteString("<VM_POOL>\n")
	for _, v := range vms {
		fmt.Fprintf(&b, "  <VM><ID>%d</ID><NAME>vm%d</NAME><STATE>%d</STATE><LCM_STATE>%d</LCM_STATE><HISTORY_RECORDS/></VM>\n", v[0], v[0], v[1], v[2])
	}
	b.WriteString("</VM_POOL>\n")
	return b.String()
}

func replies(f *fake.Transport, rs ...string) *atomic.Int64 {
	var n atomic.Int64
	f.Expect(fake.Exact("onevm", "list", "-x")).Any().Handle(func(ctx context.Context, c transport.Command) (transport.Result, error) {
		i := int(n.Add(1)) - 1
		r := rs[min(i, len(rs)-1)]
		if stderr, ok := strings.CutPrefix(r, "!"); ok {
			return transport.Result{ExitCode: 255, Stderr: []byte(stderr)}, nil
		}
		return transport.Result{Stdout: []byte(r)}, nil
	})
	return &n
}

func TestListOnFake(t *testing.T) {
	t.Parallel()
	f := fake.New("fe1")
	f.Expect(fake.Exact("onevm", "list", "-x", "--endpoint", "http://vip:2633/RPC2")).Reply(string(readSample(t, "onevm-list.xml")))
	vms, err := List(t.Context(), f, WithEndpoint("http://vip:2633/RPC2"), WithUser("oneadmin"))
	require.NoError(t, err)
	assert.Len(t, vms, 5)
	f.AssertExpectations(t)
	c := f.Calls()[0].Command
	assert.True(t, c.ReadOnly)
	assert.Equal(t, "oneadmin", c.User)

	f2 := fake.New("fe1")
	f2.Expect(fake.Exact("onevm", "list", "-x")).Exit(255, "[one.vmpool.info] Cannot process request, oned cluster in election mode\n")
	_, err = List(t.Context(), f2)
	assert.ErrorIs(t, err, zone.ErrElectionMode)
	code, _ := transport.ExitCode(err)
	assert.Equal(t, 255, code)
}

func TestWaitSettled(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := fake.New("fe1")
		n := replies(f,
			vmXML([3]int{1, 3, 3}, [3]int{2, 3, 4}, [3]int{3, 10, 0}),
			"!Failed to open TCP connection\n",
			vmXML([3]int{1, 3, 3}, [3]int{2, 3, 3}, [3]int{3, 10, 0}),
			vmXML([3]int{1, 3, 3}, [3]int{2, 3, 3}, [3]int{3, 1, 0}),
		)
		vms, err := WaitSettled(t.Context(), f)
		require.NoError(t, err)
		assert.Len(t, vms, 3)
		assert.Equal(t, int64(4), n.Load())
	})
	t.Run("failure state stops at once", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			f := fake.New("fe1")
			n := replies(f, vmXML([3]int{1, 3, 4}, [3]int{15, 3, 36}, [3]int{16, 11, 0}, [3]int{17, 7, 0}))
			start := time.Now()
			_, err := WaitSettled(t.Context(), f)
			fe, ok := errors.AsType[*FailedError](err)
			require.True(t, ok, "%v", err)
			assert.ErrorIs(t, err, ErrFailedVMs)
			var ids []int
			for _, v := range fe.VMs {
				ids = append(ids, v.ID)
			}
			assert.Equal(t, []int{15, 16, 17}, ids)
			assert.Contains(t, err.Error(), "15 (vm15) ACTIVE/BOOT_FAILURE")
			assert.Contains(t, err.Error(), "16 (vm16) CLONING_FAILURE")
			assert.Equal(t, int64(1), n.Load())
			assert.Equal(t, time.Duration(0), time.Since(start))
		})
	})
	t.Run("timeout names the transient VMs", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			f := fake.New("fe1")
			replies(f, vmXML([3]int{1, 3, 3}, [3]int{2, 3, 69}), "!boom\n")
			start := time.Now()
			_, err := WaitSettled(t.Context(), f, WithTimeout(10*time.Minute))
			ns, ok := errors.AsType[*NotSettledError](err)
			require.True(t, ok, "%v", err)
			assert.ErrorIs(t, err, ErrTimeout)
			require.Len(t, ns.Transient, 1)
			assert.Equal(t, 2, ns.Transient[0].ID)
			_, ok = errors.AsType[*transport.ExitError](err)
			assert.True(t, ok, "last error joined")
			assert.Contains(t, err.Error(), "2 (vm2) ACTIVE/BACKUP")
			assert.LessOrEqual(t, time.Since(start), 10*time.Minute)
			assert.Greater(t, time.Since(start), 10*time.Minute-2*DefaultMaxInterval)
		})
	})
	t.Run("context", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			f := fake.New("fe1")
			replies(f, vmXML([3]int{2, 3, 1}))
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			_, err := WaitSettled(ctx, f, WithTimeout(0))
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			_, ok := errors.AsType[*NotSettledError](err)
			assert.True(t, ok)
		})
		f := fake.New("fe1")
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := WaitSettled(ctx, f)
		assert.ErrorIs(t, err, context.Canceled)
		assert.Empty(t, f.Calls())
	})
	t.Run("filter", func(t *testing.T) {
		t.Parallel()
		f := fake.New("fe1")
		replies(f, vmXML([3]int{1, 3, 3}, [3]int{2, 3, 36}, [3]int{3, 3, 4}))
		vms, err := WaitSettled(t.Context(), f, WithFilter(func(v VM) bool { return v.ID == 1 }))
		require.NoError(t, err)
		require.Len(t, vms, 1)
		assert.Equal(t, 1, vms[0].ID)
	})
	t.Run("parse error stops", func(t *testing.T) {
		t.Parallel()
		f := fake.New("fe1")
		n := replies(f, "<VM_POOL><VM>")
		_, err := WaitSettled(t.Context(), f)
		_, ok := errors.AsType[*ParseError](err)
		assert.True(t, ok, "%v", err)
		assert.Equal(t, int64(1), n.Load())
	})
	t.Run("bad options", func(t *testing.T) {
		t.Parallel()
		f := fake.New("fe1")
		for _, o := range []Option{WithFilter(nil), WithPollInterval(0, 0), WithUser(""), WithEndpoint("a b"), WithLogger(nil), WithClock(nil)} {
			_, err := WaitSettled(t.Context(), f, o)
			assert.Error(t, err)
		}
		assert.Empty(t, f.Calls())
	})
}
