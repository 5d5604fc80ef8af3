package host

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/internal/parsetest"
)

func readSample(t testing.TB, name string) []byte { return parsetest.ReadSample(t, name) }

func TestParseListSample(t *testing.T) {
	t.Parallel()
	hosts, err := ParseList(readSample(t, "onehost-list.xml"))
	require.NoError(t, err)
	want := []Host{
		{ID: 0, Name: "kvm-node-01", State: StateMonitored, PrevState: StateMonitored, Version: "7.4.0", VMs: []int{12, 14}},
		{ID: 1, Name: "kvm-node-02", State: StateDisabled, PrevState: StateMonitored, Version: "7.2.0", VMs: []int{13, 15}},
		{ID: 2, Name: "kvm-node-03", State: StateOffline, PrevState: StateDisabled, Version: "7.2.0"},
		{ID: 3, Name: "kvm-node-04", State: StateError, PrevState: StateMonitored, Version: "7.2.0",
			Error: "Fri Nov 21 10:20:11 2025 : Error monitoring Host kvm-node-04 (3): -"},
	}
	require.Len(t, hosts, len(want))
	for i, w := range want {
		h := hosts[i]
		assert.Equal(t, w.ID, h.ID, "host %d ID", i)
		assert.Equal(t, w.Name, h.Name, "host %d NAME", i)
		assert.Equal(t, w.State, h.State, "host %d STATE", i)
		assert.Equal(t, w.PrevState, h.PrevState, "host %d PREV_STATE", i)
		assert.Equal(t, "kvm", h.IMMAD, "host %d IM_MAD", i)
		assert.Equal(t, "kvm", h.VMMAD, "host %d VM_MAD", i)
		assert.Equal(t, 0, h.ClusterID, "host %d CLUSTER_ID", i)
		assert.Equal(t, "default", h.Cluster, "host %d CLUSTER", i)
		assert.Equal(t, w.Version, h.Version, "host %d VERSION", i)
		assert.Equal(t, w.Error, h.Error, "host %d ERROR", i)
		assert.Equal(t, w.VMs, h.VMs, "host %d VMS", i)
		assert.Equal(t, w.Name, h.Template["HOSTNAME"], "host %d TEMPLATE/HOSTNAME", i)
		assert.Equal(t, "", h.Template["RESERVED_CPU"], "host %d empty CDATA", i)
	}
	assert.Equal(t, "Intel(R) Xeon(R) Silver 4214R CPU @ 2.40GHz", hosts[0].Template["MODELNAME"])
	_, has := hosts[2].Template["CPUSPEED"]
	assert.False(t, has)
}

func TestParseListCases(t *testing.T) {
	t.Parallel()
	h := func(id, state string) string {
		return "<HOST><ID>" + id + "</ID><NAME>h" + id + "</NAME><STATE>" + state + "</STATE><TEMPLATE/></HOST>"
	}
	tests := []struct {
		name, in, wantErr string
		check             func(t *testing.T, hs []Host)
	}{
		{name: "empty pool", in: "<HOST_POOL/>", check: func(t *testing.T, hs []Host) { assert.Empty(t, hs); assert.NotNil(t, hs) }},
		{name: "old monitoring states accepted", in: "<HOST_POOL>" + h("0", "1") + h("1", "5") + h("2", "6") + h("3", "7") + "</HOST_POOL>",
			check: func(t *testing.T, hs []Host) {
				assert.Equal(t, []State{StateMonitoringMonitored, StateMonitoringError, StateMonitoringInit, StateMonitoringDisabled},
					[]State{hs[0].State, hs[1].State, hs[2].State, hs[3].State})
				assert.Equal(t, -1, hs[0].ClusterID, "absent CLUSTER_ID")
				assert.Equal(t, hs[0].State, hs[0].PrevState, "absent PREV_STATE")
			}},
		{name: "init", in: "<HOST_POOL>" + h("0", "0") + "</HOST_POOL>",
			check: func(t *testing.T, hs []Host) { assert.Equal(t, StateInit, hs[0].State) }},
		{name: "empty", in: "", wantErr: "no XML element"},
		{name: "not xml", in: "Failed to open TCP connection", wantErr: "no XML element"},
		{name: "wrong root", in: "<VM_POOL/>", wantErr: "expected element type <HOST_POOL>"},
		{name: "state 9", in: "<HOST_POOL>" + h("0", "9") + "</HOST_POOL>", wantErr: "unknown host state 9"},
		{name: "state -1", in: "<HOST_POOL>" + h("0", "-1") + "</HOST_POOL>", wantErr: "out of range"},
		{name: "state text", in: "<HOST_POOL>" + h("0", "on") + "</HOST_POOL>", wantErr: "invalid integer"},
		{name: "missing state", in: "<HOST_POOL><HOST><ID>0</ID><NAME>a</NAME></HOST></HOST_POOL>", wantErr: "STATE: missing"},
		{name: "missing id", in: "<HOST_POOL><HOST><NAME>a</NAME><STATE>2</STATE></HOST></HOST_POOL>", wantErr: "ID: missing"},
		{name: "missing name", in: "<HOST_POOL><HOST><ID>0</ID><STATE>2</STATE></HOST></HOST_POOL>", wantErr: "NAME: missing"},
		{name: "bad prev state", in: "<HOST_POOL><HOST><ID>0</ID><NAME>a</NAME><STATE>2</STATE><PREV_STATE>12</PREV_STATE></HOST></HOST_POOL>", wantErr: "PREV_STATE: unknown"},
		{name: "bad vm id", in: "<HOST_POOL><HOST><ID>0</ID><NAME>a</NAME><STATE>2</STATE><VMS><ID>x</ID></VMS></HOST></HOST_POOL>", wantErr: "VMS/ID[1]"},
		{name: "duplicate id", in: "<HOST_POOL>" + h("0", "2") + h("0", "4") + "</HOST_POOL>", wantErr: "duplicate host ID 0"},
		{name: "trailing garbage", in: "<HOST_POOL/>x", wantErr: "text after"},
		{name: "huge id", in: "<HOST_POOL>" + h("99999999999", "2") + "</HOST_POOL>", wantErr: "invalid integer"},
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
	doc := readSample(t, "onehost-list.xml")
	// Every prefix costs O(n²) parsing; a stride keeps it fast under -race
	// while still cutting inside every element.
	parsetest.EveryPrefixFails[*ParseError](t, doc, 1500, ParseList)
}

func TestStateModes(t *testing.T) {
	t.Parallel()
	want := map[State]Mode{
		StateInit: ModeEnabled, StateMonitoringMonitored: ModeEnabled, StateMonitored: ModeEnabled, StateError: ModeEnabled,
		StateDisabled: ModeDisabled, StateMonitoringError: ModeEnabled, StateMonitoringInit: ModeEnabled,
		StateMonitoringDisabled: ModeDisabled, StateOffline: ModeOffline, State(9): ModeUnknown, State(-1): ModeUnknown,
	}
	for s, m := range want {
		assert.Equal(t, m, s.Mode(), s.String())
		assert.Equal(t, m != ModeUnknown, s.Valid(), s.String())
	}
	assert.Equal(t, "MONITORED", StateMonitored.String())
	assert.Equal(t, "STATE(9)", State(9).String())
	assert.Equal(t, "offline", ModeOffline.String())
	assert.Equal(t, "unknown", ModeUnknown.String())
}

// syncSections splits samples/onehost-sync.txt at its "###" comment lines
// into the raw output blocks between them.
func syncSections(t *testing.T) []string {
	var secs []string
	var cur strings.Builder
	for _, l := range strings.SplitAfter(string(readSample(t, "onehost-sync.txt")), "\n") {
		if strings.HasPrefix(l, "###") {
			if strings.TrimSpace(cur.String()) != "" {
				secs = append(secs, cur.String())
			}
			cur.Reset()
			continue
		}
		cur.WriteString(l)
	}
	if strings.TrimSpace(cur.String()) != "" {
		secs = append(secs, cur.String())
	}
	return secs
}

func TestParseSyncSample(t *testing.T) {
	t.Parallel()
	secs := syncSections(t)
	require.Len(t, secs, 5)
	require.Contains(t, secs[0], "\r", "the sample keeps its raw carriage returns")

	r, err := ParseSync([]byte(secs[0]), nil, 0)
	require.NoError(t, err)
	assert.Equal(t, []string{"kvm-node-01", "kvm-node-02", "kvm-node-04"}, r.Updated)
	assert.False(t, r.NothingToDo)

	r, err = ParseSync([]byte(secs[1]), nil, 0)
	require.NoError(t, err)
	assert.True(t, r.NothingToDo)
	assert.Empty(t, r.Updated)

	stdout := strings.SplitAfter(secs[0], "All hosts")[0]
	stdout = strings.TrimSuffix(stdout, "All hosts")
	_, err = ParseSync([]byte(stdout), []byte(secs[2]), 255)
	se, ok := errors.AsType[*SyncError](err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, []string{"kvm-node-04"}, se.Failed)
	assert.Equal(t, []string{"kvm-node-01", "kvm-node-02", "kvm-node-04"}, se.Attempted)
	assert.ErrorIs(t, err, ErrSyncFailed)

	_, err = ParseSync(nil, []byte(secs[3]), 255)
	assert.ErrorIs(t, err, ErrSyncAsRoot)
	_, err = ParseSync(nil, []byte(secs[4]), 255)
	assert.ErrorIs(t, err, ErrNotFrontend)
}

func TestParseSyncCases(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		stdout, stderr string
		code           int
		wantErr        error
		parseErr       string
		want           SyncResult
	}{
		{name: "CRLF output", stdout: "* Adding a to upgrade\r\n[====] 1/1 a   \r\nAll hosts updated successfully.\r\n",
			want: SyncResult{Updated: []string{"a"}}},
		{name: "host name with spaces", stdout: "* Adding node a to upgrade\nAll hosts updated successfully.\n",
			want: SyncResult{Updated: []string{"node a"}}},
		{name: "two failed", stderr: "Failed to update the following hosts:\n* a\n* b\n", code: 255, wantErr: ErrSyncFailed},
		{name: "unknown failure", stderr: "something else\n", code: 1, wantErr: ErrSyncFailed},
		{name: "exit 0 silent", code: 0, parseErr: "exit 0 without"},
		{name: "exit 0 truncated before the final line", stdout: "* Adding a to upgrade\n[==--] 1/2 a\r", parseErr: "exit 0 without"},
		{name: "both messages", stdout: "All hosts updated successfully.\nNo hosts are going to be updated.\n", parseErr: "both"},
		{name: "success without hosts", stdout: "All hosts updated successfully.\n", parseErr: "no host announced"},
		{name: "nothing with hosts", stdout: "* Adding a to upgrade\nNo hosts are going to be updated.\n", parseErr: "hosts announced"},
		{name: "failure without names", stderr: "Failed to update the following hosts:\n", code: 255, parseErr: "without host names"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := ParseSync([]byte(tt.stdout), []byte(tt.stderr), tt.code)
			switch {
			case tt.parseErr != "":
				var pe *ParseError
				require.ErrorAs(t, err, &pe)
				assert.Contains(t, err.Error(), tt.parseErr)
			case tt.wantErr != nil:
				assert.ErrorIs(t, err, tt.wantErr)
			default:
				require.NoError(t, err)
				assert.Equal(t, tt.want, r)
			}
		})
	}
}
