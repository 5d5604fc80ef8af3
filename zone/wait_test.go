package zone

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
	"go.uber.org/zap/zaptest"

	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/transport/fake"
)

// srv describes one server for showXML; state "" means unreachable.
type srv struct {
	state               string
	term, commit, index int64
}

func showXML(zoneID int, servers ...srv) string {
	var b strings.Builder
	fmt.Fprintf(&b, "<ZONE>\n  <ID>%d</ID>\n  <NAME>z</NAME>\n  <STATE>0</STATE>\n  <TEMPLATE>\n    <ENDPOINT><![CDATA[http://vip:2633/RPC2]]></ENDPOINT>\n  </TEMPLATE>\n", zoneID)
	if len(servers) == 0 {
		b.WriteString("  <SERVER_POOL/>\n</ZONE>\n")
		return b.String()
	}
	b.WriteString("  <SERVER_POOL>\n")
	for i, s := range servers {
		fmt.Fprintf(&b, "    <SERVER>\n      <ENDPOINT><![CDATA[http://fe%d:2633/RPC2]]></ENDPOINT>\n      <ID><![CDATA[%d]]></ID>\n      <NAME><![CDATA[fe%d]]></NAME>\n", i+1, i, i+1)
		if s.state == "" {
			b.WriteString("      <STATE>-</STATE><TERM>-</TERM><VOTEDFOR>-</VOTEDFOR><COMMIT>-</COMMIT><LOG_INDEX>-</LOG_INDEX><FEDLOG_INDEX>-</FEDLOG_INDEX>\n")
		} else {
			fmt.Fprintf(&b, "      <STATE>%s</STATE><TERM>%d</TERM><VOTEDFOR>0</VOTEDFOR><COMMIT>%d</COMMIT><LOG_INDEX>%d</LOG_INDEX><FEDLOG_INDEX>-1</FEDLOG_INDEX>\n",
				s.state, s.term, s.commit, s.index)
		}
		b.WriteString("    </SERVER>\n")
	}
	b.WriteString("  </SERVER_POOL>\n</ZONE>\n")
	return b.String()
}

const (
	leader   = "3"
	follower = "2"
	cand     = "1"
)

// replies answers `onezone show 0 -x` with the i-th reply (the last one
// repeated); a reply starting with "!" is an exit 255 with that stderr.
func replies(f *fake.Transport, zoneID int, rs ...string) *atomic.Int64 {
	var n atomic.Int64
	f.Expect(fake.Exact("onezone", "show", fmt.Sprint(zoneID), "-x")).Any().Handle(
		func(ctx context.Context, c transport.Command) (transport.Result, error) {
			i := int(n.Add(1)) - 1
			r := rs[min(i, len(rs)-1)]
			if stderr, ok := strings.CutPrefix(r, "!"); ok {
				return transport.Result{ExitCode: 255, Stderr: []byte(stderr)}, nil
			}
			return transport.Result{Stdout: []byte(r)}, nil
		})
	return &n
}

func TestCheckSync(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		servers []srv
		maxLag  int64
		want    []Problem
	}{
		{name: "in sync", servers: []srv{{leader, 4, 10, 10}, {follower, 4, 10, 10}, {follower, 4, 10, 10}}},
		{name: "no HA"},
		{name: "follower ahead counts as caught up", servers: []srv{{leader, 4, 10, 10}, {follower, 4, 11, 12}}},
		{name: "lag within max", servers: []srv{{leader, 4, 10, 10}, {follower, 4, 8, 9}}, maxLag: 2},
		{name: "behind", servers: []srv{{leader, 4, 10, 12}, {follower, 4, 10, 12}, {follower, 4, 7, 9}},
			want: []Problem{{Kind: Behind, ServerID: 2, Name: "fe3", State: RaftFollower, Term: 4, LeaderTerm: 4, LogLag: 3, CommitLag: 3}}},
		{name: "commit behind only", servers: []srv{{leader, 4, 10, 10}, {follower, 4, 9, 10}},
			want: []Problem{{Kind: Behind, ServerID: 1, Name: "fe2", State: RaftFollower, Term: 4, LeaderTerm: 4, LogLag: 0, CommitLag: 1}}},
		{name: "unreachable and term", servers: []srv{{leader, 5, 10, 10}, {}, {follower, 4, 10, 10}},
			want: []Problem{
				{Kind: Unreachable, ServerID: 1, Name: "fe2", State: RaftUnknown},
				{Kind: TermMismatch, ServerID: 2, Name: "fe3", State: RaftFollower, Term: 4, LeaderTerm: 5},
			}},
		{name: "candidate", servers: []srv{{leader, 5, 10, 10}, {cand, 6, 10, 10}},
			want: []Problem{{Kind: NotFollower, ServerID: 1, Name: "fe2", State: RaftCandidate, Term: 6, LeaderTerm: 5}}},
		{name: "no leader", servers: []srv{{follower, 5, 10, 10}, {cand, 6, 10, 10}},
			want: []Problem{{Kind: NoLeader, ServerID: -1}}},
		{name: "two leaders", servers: []srv{{leader, 5, 10, 10}, {leader, 6, 10, 10}},
			want: []Problem{{Kind: MultipleLeaders, ServerID: -1, Leaders: []string{"fe1 (0, term 5)", "fe2 (1, term 6)"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			z, err := ParseShow([]byte(showXML(0, tt.servers...)))
			require.NoError(t, err)
			err = z.CheckSync(tt.maxLag)
			if tt.want == nil {
				assert.NoError(t, err)
				return
			}
			nis, ok := errors.AsType[*NotInSyncError](err)
			require.True(t, ok, "%v", err)
			assert.Equal(t, tt.want, nis.Problems)
			require.NotNil(t, nis.Last)
			assert.Equal(t, z, *nis.Last)
			assert.Nil(t, nis.Cause)
			assert.Nil(t, nis.Err)
		})
	}
}

func TestWaitInSyncCatchesUp(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := fake.New("fe1")
		n := replies(f, 0,
			showXML(0, srv{leader, 4, 100, 100}, srv{follower, 4, 100, 100}, srv{}),
			"!Failed to open TCP connection to localhost:2633\n",
			showXML(0, srv{leader, 4, 100, 105}, srv{follower, 4, 100, 105}, srv{follower, 4, 90, 95}),
			showXML(0, srv{leader, 4, 105, 105}, srv{follower, 4, 105, 105}, srv{follower, 4, 105, 105}),
		)
		start := time.Now()
		z, err := WaitInSync(t.Context(), f, 0, WithLogger(zaptest.NewLogger(t)), WithPollInterval(time.Second, 4*time.Second))
		require.NoError(t, err)
		assert.Equal(t, int64(4), n.Load())
		l, ok := z.Leader()
		require.True(t, ok)
		assert.Equal(t, int64(105), l.Raft.LogIndex)
		elapsed := time.Since(start)
		assert.Greater(t, elapsed, time.Duration(0), "it waited on the fake clock")
		assert.Less(t, elapsed, 20*time.Second)
		f.AssertExpectations(t)
	})
}

func TestWaitInSyncTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := fake.New("fe1")
		replies(f, 0, showXML(0, srv{leader, 4, 200, 212}, srv{follower, 4, 200, 212}, srv{follower, 4, 190, 200}))
		start := time.Now()
		_, err := WaitInSync(t.Context(), f, 0, WithTimeout(time.Minute), WithMaxLag(2))
		elapsed := time.Since(start)
		nis, ok := errors.AsType[*NotInSyncError](err)
		require.True(t, ok, "%v", err)
		assert.ErrorIs(t, err, ErrTimeout)
		assert.Equal(t, 0, nis.ZoneID)
		require.Len(t, nis.Problems, 1)
		p := nis.Problems[0]
		assert.Equal(t, Behind, p.Kind)
		assert.Equal(t, "fe3", p.Name)
		assert.Equal(t, 2, p.ServerID)
		assert.Equal(t, int64(12), p.LogLag)
		assert.Equal(t, int64(10), p.CommitLag)
		require.NotNil(t, nis.Last)
		assert.Len(t, nis.Last.Servers, 3)
		assert.NoError(t, nis.Err)
		assert.Contains(t, err.Error(), "server 2 (fe3) behind the leader by 12 log entries and 10 commits")
		// backoff stops before the next wait would pass MaxElapsedTime.
		assert.LessOrEqual(t, elapsed, time.Minute)
		assert.Greater(t, elapsed, time.Minute-2*DefaultMaxInterval)
	})
}

func TestWaitInSyncTimeoutLastAttemptFailed(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := fake.New("fe1")
		replies(f, 0,
			showXML(0, srv{leader, 4, 10, 10}, srv{}),
			"!Failed to open TCP connection to localhost:2633 (Connection refused)\n")
		_, err := WaitInSync(t.Context(), f, 0, WithTimeout(30*time.Second))
		nis, ok := errors.AsType[*NotInSyncError](err)
		require.True(t, ok, "%v", err)
		require.Len(t, nis.Problems, 1)
		assert.Equal(t, Unreachable, nis.Problems[0].Kind)
		require.NotNil(t, nis.Last)
		ee, ok := errors.AsType[*transport.ExitError](err)
		require.True(t, ok, "last underlying error is joined")
		assert.Equal(t, 255, ee.Code)
		assert.Contains(t, err.Error(), "last error:")
		assert.ErrorIs(t, err, ErrTimeout)
	})
}

func TestWaitInSyncNeverObserved(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := fake.New("fe1")
		replies(f, 0, "![one.zone.info] Error getting zone [0].\n")
		_, err := WaitInSync(t.Context(), f, 0, WithTimeout(10*time.Second))
		nis, ok := errors.AsType[*NotInSyncError](err)
		require.True(t, ok, "%v", err)
		assert.Nil(t, nis.Last)
		assert.Empty(t, nis.Problems)
		_, ok = errors.AsType[*APIError](err)
		assert.True(t, ok)
		assert.Contains(t, err.Error(), "never observed")
	})
}

func TestWaitInSyncContext(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := fake.New("fe1")
		replies(f, 0, showXML(0, srv{leader, 4, 10, 10}, srv{cand, 5, 10, 10}))
		ctx, cancel := context.WithTimeout(t.Context(), 45*time.Second)
		defer cancel()
		_, err := WaitInSync(ctx, f, 0, WithTimeout(0))
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.NotErrorIs(t, err, ErrTimeout)
		nis, ok := errors.AsType[*NotInSyncError](err)
		require.True(t, ok, "%v", err)
		assert.Equal(t, NotFollower, nis.Problems[0].Kind)
	})
	t.Run("already cancelled", func(t *testing.T) {
		t.Parallel()
		f := fake.New("fe1")
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := WaitInSync(ctx, f, 0)
		assert.ErrorIs(t, err, context.Canceled)
		assert.Empty(t, f.Calls(), "ctx is checked first")
	})
}

func TestWaitInSyncParseErrorStops(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := fake.New("fe1")
		n := replies(f, 0, "<ZONE><ID>0</ID>")
		start := time.Now()
		_, err := WaitInSync(t.Context(), f, 0)
		_, ok := errors.AsType[*ParseError](err)
		assert.True(t, ok, "%v", err)
		assert.Equal(t, int64(1), n.Load())
		assert.Equal(t, time.Duration(0), time.Since(start))
	})
}

func TestWaitInSyncSolo(t *testing.T) {
	t.Parallel()
	f := fake.New("fe1")
	replies(f, 0, showXML(0))
	z, err := WaitInSync(t.Context(), f, 0)
	require.NoError(t, err)
	assert.False(t, z.HA())
}

func TestWaitLeader(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := fake.New("fe1")
		n := replies(f, 0,
			showXML(0, srv{}, srv{}, srv{}),
			showXML(0, srv{follower, 4, 10, 10}, srv{cand, 5, 10, 10}, srv{}),
			showXML(0, srv{follower, 5, 10, 10}, srv{leader, 5, 10, 10}, srv{}),
		)
		l, err := WaitLeader(t.Context(), f, 0)
		require.NoError(t, err)
		assert.Equal(t, "fe2", l.Name)
		assert.Equal(t, int64(3), n.Load())
	})
	synctest.Test(t, func(t *testing.T) {
		f := fake.New("fe1")
		replies(f, 0, showXML(0, srv{follower, 4, 10, 10}, srv{cand, 5, 10, 10}))
		_, err := WaitLeader(t.Context(), f, 0, WithTimeout(20*time.Second))
		assert.ErrorIs(t, err, ErrNoLeader)
		assert.ErrorIs(t, err, ErrTimeout)
	})
	t.Run("not HA", func(t *testing.T) {
		t.Parallel()
		f := fake.New("fe1")
		replies(f, 0, showXML(0))
		_, err := WaitLeader(t.Context(), f, 0)
		assert.ErrorIs(t, err, ErrNotHA)
	})
}

func TestWaitFederationInSync(t *testing.T) {
	t.Parallel()
	const hdr = "CURRENT,ID,NAME,ENDPOINT,FED_INDEX,STAT\n"
	synctest.Test(t, func(t *testing.T) {
		f := fake.New("fe1")
		f.Expect(fake.Exact("onezone", "list", "--csv")).Reply(hdr + "*,0,a,e,10,on\n,100,b,e,-,on\n")
		f.Expect(fake.Exact("onezone", "list", "--csv")).Exit(255, "boom\n")
		f.Expect(fake.Exact("onezone", "list", "--csv")).Reply(hdr + "*,0,a,e,12,on\n,100,b,e,11,on\n")
		f.Expect(fake.Exact("onezone", "list", "--csv")).Reply(hdr + "*,0,a,e,12,on\n,100,b,e,12,on\n")
		zs, err := WaitFederationInSync(t.Context(), f)
		require.NoError(t, err)
		require.Len(t, zs, 2)
		n, _ := zs[1].FedIndex.Index()
		assert.Equal(t, uint64(12), n)
		f.AssertExpectations(t)
	})
	synctest.Test(t, func(t *testing.T) {
		f := fake.New("fe1")
		f.Expect(fake.Exact("onezone", "list", "--csv")).Any().Reply(hdr + "*,0,a,e,12,on\n,100,b,e,11,on\n")
		_, err := WaitFederationInSync(t.Context(), f, WithTimeout(15*time.Second))
		fe, ok := errors.AsType[*FederationError](err)
		require.True(t, ok, "%v", err)
		assert.ErrorIs(t, err, ErrTimeout)
		assert.Len(t, fe.Zones, 2)
		assert.Contains(t, err.Error(), "zone 100 (b) at 11, 1 behind")
	})
}
