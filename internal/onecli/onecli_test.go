package onecli

import (
	"encoding/xml"
	"errors"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
)

var errInvalid = errors.New("invalid argument")

func TestDecodeOne(t *testing.T) {
	t.Parallel()
	type root struct {
		XMLName xml.Name `xml:"R"`
		A       string   `xml:"A"`
	}
	tests := []struct {
		name, in, wantErr string
	}{
		{name: "ok", in: "<R><A>x</A></R>\n<!-- c --><?pi?>"},
		{name: "empty", in: "", wantErr: "no XML element"},
		{name: "truncated", in: "<R><A>x</A>", wantErr: "unexpected EOF"},
		{name: "other root", in: "<S/>", wantErr: "expected element type <R>"},
		{name: "text after", in: "<R/>x", wantErr: "text after the root element"},
		{name: "two roots", in: "<R/><R/>", wantErr: "more than one root element"},
		{name: "bad after", in: "<R/><", wantErr: "after the root element"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var r root
			err := DecodeOne([]byte(tt.in), &r)
			if tt.wantErr == "" {
				require.NoError(t, err)
				assert.Equal(t, "x", r.A)
				return
			}
			assert.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestParseMessage(t *testing.T) {
	t.Parallel()
	err := errors.New("bad")
	assert.Equal(t, "parse onevm list -x output: VM_POOL/VM[1]/ID: bad", ParseMessage("onevm list -x", "VM_POOL/VM[1]/ID", err))
	assert.Equal(t, "parse onevm list -x output: bad", ParseMessage("onevm list -x", "", err))
}

func TestSetters(t *testing.T) {
	t.Parallel()
	var s string
	require.NoError(t, SetUser("p", &s, "oneadmin", errInvalid))
	assert.Equal(t, "oneadmin", s)
	for _, u := range []string{"", "-x"} {
		err := SetUser("p", &s, u, errInvalid)
		require.ErrorIs(t, err, errInvalid)
		assert.Equal(t, `p: WithUser("`+u+`"): invalid argument`, err.Error())
	}
	assert.Equal(t, "oneadmin", s, "unchanged on error")

	require.NoError(t, SetEndpoint("p", &s, "http://fe1:2633/RPC2", errInvalid))
	assert.Equal(t, "http://fe1:2633/RPC2", s)
	for _, u := range []string{"", "-x", "a b", "a\x00"} {
		require.ErrorIs(t, SetEndpoint("p", &s, u, errInvalid), errInvalid, "%q", u)
	}

	var first, largest time.Duration
	require.NoError(t, SetPollInterval("p", &first, &largest, time.Second, time.Minute, errInvalid))
	assert.Equal(t, []time.Duration{time.Second, time.Minute}, []time.Duration{first, largest})
	err := SetPollInterval("p", &first, &largest, time.Minute, time.Second, errInvalid)
	require.ErrorIs(t, err, errInvalid)
	assert.Equal(t, "p: WithPollInterval(1m0s, 1s): invalid argument", err.Error())
	require.ErrorIs(t, SetPollInterval("p", &first, &largest, 0, time.Second, errInvalid), errInvalid)

	var l *zap.Logger
	assert.EqualError(t, SetLogger("p", &l, nil), "p: WithLogger(nil)")
	require.NoError(t, SetLogger("p", &l, zap.NewNop()))
	assert.NotNil(t, l)

	var now func() time.Time
	assert.EqualError(t, SetClock("p", &now, nil), "p: WithClock(nil)")
	var nt func() backoff.Timer
	assert.EqualError(t, SetTimer("p", &nt, nil), "p: WithTimer(nil)")
	assert.Nil(t, Timer(nt))
}

func TestApply(t *testing.T) {
	t.Parallel()
	type opt interface{ n() int }
	var got []opt
	stop := errors.New("stop")
	err := Apply([]opt{nil, optN(1), nil, optN(2), optN(3)}, func(o opt) error {
		got = append(got, o)
		if o.n() == 2 {
			return stop
		}
		return nil
	})
	require.ErrorIs(t, err, stop)
	assert.Equal(t, []opt{optN(1), optN(2)}, got)
}

type optN int

func (o optN) n() int { return int(o) }

func TestBackOff(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := BackOff(time.Second, time.Minute, time.Hour, func() time.Time { return at })
	assert.Equal(t, time.Second, b.InitialInterval)
	assert.Equal(t, time.Minute, b.MaxInterval)
	assert.Equal(t, time.Hour, b.MaxElapsedTime)
	assert.Equal(t, at, b.Clock.Now())
}

func TestAtoi(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		min     int
		want    int
		wantErr string
	}{
		{in: " 12\n", want: 12},
		{in: "-1", min: -1, want: -1},
		{in: "-1", wantErr: "-1 out of range (minimum 0)"},
		{in: "+1", wantErr: `invalid integer "+1"`},
		{in: "", wantErr: `invalid integer ""`},
		{in: "2147483648", wantErr: "invalid integer"},
		{in: "1x", wantErr: "invalid integer"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			n, err := Atoi(tt.in, tt.min)
			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, n)
		})
	}
}
