package onebed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClassify(t *testing.T) {
	assert.Equal(t, Acked, Classify(nil))
	assert.Equal(t, Failed, Classify(&APIError{Message: "[one.document.allocate] Cannot process request, no leader found"}))
	assert.Equal(t, Failed, Classify(fmt.Errorf("x: %w", &APIError{Message: "Cannot process request, oned cluster in election mode"})))
	assert.Equal(t, Indeterminate, Classify(&APIError{Message: "Error inserting document: Cannot replicate log record on followers: timeout"}))
	// A follower's forward to a dead leader that could not connect sent
	// nothing; one cut after connecting may have been applied.
	assert.Equal(t, Failed, Classify(&APIError{Message: "[one.document.allocate] libcurl failed to execute the HTTP POST transaction, " +
		"explaining:  Failed to connect to 127.0.0.1 port 41759 after 0 ms: Couldn't connect to server"}))
	assert.Equal(t, Indeterminate, Classify(&APIError{Message: "[one.document.allocate] libcurl failed to execute the HTTP POST transaction, " +
		"explaining:  Empty reply from server"}))
	assert.Equal(t, Failed, Classify(&net.OpError{Op: "dial", Err: errors.New("connection refused")}))
	assert.Equal(t, Indeterminate, Classify(&net.OpError{Op: "read", Err: errors.New("reset")}))
	assert.Equal(t, Indeterminate, Classify(context.DeadlineExceeded))
}

func TestCheckVerdict(t *testing.T) {
	t0 := time.Unix(0, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	writes := []Write{
		{Name: "load-0", Outcome: Acked, ID: 10, Start: at(0), End: at(0)},
		{Name: "load-1", Outcome: Failed, Start: at(1), End: at(1)},
		{Name: "load-2", Outcome: Indeterminate, Start: at(2), End: at(12)},
		{Name: "load-3", Outcome: Acked, ID: 12, Start: at(13), End: at(13)},
	}
	good := map[string][]int64{"load-0": {10}, "load-2": {11}, "load-3": {12}, "other": {1}}
	v := Check(writes, map[string]map[string][]int64{"s0": good, "s1": good}, "load-")
	assert.True(t, v.OK(), v.Problems)
	assert.Equal(t, [3]int{2, 1, 1}, [3]int{v.Acked, v.Failed, v.Indeterminate})
	assert.Equal(t, 13*time.Second, v.WritesDown)

	lost := map[string][]int64{"load-2": {11}, "load-3": {12}}
	applied := map[string][]int64{"load-0": {10}, "load-1": {20}, "load-3": {12}}
	twice := map[string][]int64{"load-0": {10}, "load-2": {11, 14}, "load-3": {12}}
	for name, held := range map[string]map[string][]int64{"acked lost": lost, "failed applied": applied, "applied twice": twice} {
		v := Check(writes, map[string]map[string][]int64{"s0": good, "s1": held}, "load-")
		assert.False(t, v.OK(), name)
	}
}

// TestLoadRecordsOutcomes runs the generator against two fake servers:
// one refuses as a follower without a leader, the other acknowledges,
// then hangs past the call timeout.
func TestLoadRecordsOutcomes(t *testing.T) {
	answer := func(ok bool, v string) string {
		b := "0"
		if ok {
			b = "1"
		}
		return `<methodResponse><params><param><value><array><data><value><boolean>` + b +
			`</boolean></value><value>` + v + `</value><value><i4>0</i4></value></data></array></value></param></params></methodResponse>`
	}
	refuser := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, answer(false, "[one.document.allocate] Cannot process request, no leader found"))
	}))
	defer refuser.Close()
	var n atomic.Int64
	hang := make(chan struct{})
	acker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		assert.Contains(t, string(b), "one.document.allocate")
		if k := n.Add(1); k <= 3 {
			io.WriteString(w, `<methodResponse><params><param><value><array><data><value><boolean>1</boolean></value><value><i4>`+
				fmt.Sprint(100+k)+`</i4></value><value><i4>0</i4></value></data></array></value></param></params></methodResponse>`)
			return
		}
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer acker.Close()
	defer close(hang)

	l := StartLoad(context.Background(), LoadConfig{Endpoints: []string{refuser.URL, acker.URL}, Session: "a:b",
		Interval: time.Millisecond, CallTimeout: 50 * time.Millisecond})
	require.Eventually(t, func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return len(l.writes) >= 6
	}, 30*time.Second, 5*time.Millisecond)
	ws := l.Stop()
	require.GreaterOrEqual(t, len(ws), 6)
	assert.Equal(t, Failed, ws[0].Outcome, ws[0].Err)
	assert.Contains(t, ws[0].Err, "no leader found")
	for i := 1; i <= 3; i++ {
		assert.Equal(t, Acked, ws[i].Outcome, ws[i].Err)
		assert.Equal(t, int64(100+i), ws[i].ID)
		assert.Equal(t, fmt.Sprintf("load-%06d", i), ws[i].Name)
	}
	assert.Equal(t, Indeterminate, ws[4].Outcome)
	assert.True(t, strings.HasPrefix(ws[4].Server, acker.URL))
	assert.Equal(t, refuser.URL, ws[5].Server, "moves on after an error")
}

func TestParseDocuments(t *testing.T) {
	docs, err := ParseDocuments(`<DOCUMENT_POOL><DOCUMENT><ID>3</ID><NAME>a</NAME><TYPE>100</TYPE></DOCUMENT>` +
		`<DOCUMENT><ID>4</ID><NAME>a</NAME></DOCUMENT><DOCUMENT><ID>5</ID><NAME>b</NAME></DOCUMENT></DOCUMENT_POOL>`)
	require.NoError(t, err)
	assert.Equal(t, map[string][]int64{"a": {3, 4}, "b": {5}}, docs)
	_, err = ParseDocuments(`<DOCUMENT_POOL><DOCUMENT><ID>x</ID></DOCUMENT></DOCUMENT_POOL>`)
	assert.ErrorIs(t, err, ErrMalformed)
}

func FuzzParseDocuments(f *testing.F) {
	f.Add(`<DOCUMENT_POOL><DOCUMENT><ID>3</ID><NAME>a</NAME></DOCUMENT></DOCUMENT_POOL>`)
	f.Add(`<DOCUMENT_POOL/>`)
	f.Fuzz(func(t *testing.T, s string) {
		docs, err := ParseDocuments(s)
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatal(err)
		}
		for name, ids := range docs {
			if len(ids) == 0 {
				t.Fatalf("%q has no ids", name)
			}
		}
	})
}

func TestParseRaftStatus(t *testing.T) {
	st, err := ParseRaftStatus(`<RAFT><SERVER_ID>0</SERVER_ID><STATE>3</STATE><TERM>4</TERM><VOTEDFOR>0</VOTEDFOR>` +
		`<COMMIT>184233</COMMIT><LOG_INDEX>184233</LOG_INDEX><LOG_TERM>4</LOG_TERM><FEDLOG_INDEX>-1</FEDLOG_INDEX></RAFT>`)
	require.NoError(t, err)
	assert.Equal(t, RaftStatus{ServerID: 0, State: StateLeader, Term: 4, Commit: 184233, LogIndex: 184233, LogTerm: 4, FedLogIndex: -1}, st)
	_, err = ParseRaftStatus(`<RAFT><STATE>leader</STATE></RAFT>`)
	assert.ErrorIs(t, err, ErrMalformed)
}

func FuzzParseRaftStatus(f *testing.F) {
	f.Add(`<RAFT><SERVER_ID>1</SERVER_ID><STATE>2</STATE><TERM>4</TERM></RAFT>`)
	f.Fuzz(func(t *testing.T, s string) {
		if _, err := ParseRaftStatus(s); err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatal(err)
		}
	})
}
