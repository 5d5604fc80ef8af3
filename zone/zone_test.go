package zone

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/transport/fake"
)

func TestShowOnFake(t *testing.T) {
	t.Parallel()
	f := fake.New("fe1")
	f.Expect(fake.Exact("onezone", "show", "0", "-x")).Reply(string(readSample(t, "onezone-show-3node.xml")))
	z, err := Show(t.Context(), f, 0)
	require.NoError(t, err)
	assert.Len(t, z.Servers, 3)
	f.AssertExpectations(t)
	calls := f.Calls()
	require.Len(t, calls, 1)
	assert.True(t, calls[0].Command.ReadOnly, "show is a read-only query")
	assert.Empty(t, calls[0].Command.User)
	assert.False(t, calls[0].Command.Sudo)
}

func TestShowOptions(t *testing.T) {
	t.Parallel()
	f := fake.New("fe1")
	f.Expect(fake.Exact("onezone", "show", "100", "-x", "--endpoint", "http://192.168.150.2:2633/RPC2")).
		Reply(string(readSample(t, "onezone-show-federation-slave-zone100.xml")))
	z, err := Show(t.Context(), f, 100, WithEndpoint("http://192.168.150.2:2633/RPC2"), WithUser("oneadmin"))
	require.NoError(t, err)
	assert.Equal(t, "S-EU-GE", z.Name)
	f.AssertExpectations(t)
	assert.Equal(t, "oneadmin", f.Calls()[0].Command.User)
}

func TestShowErrors(t *testing.T) {
	t.Parallel()
	t.Run("exit 255 without API form", func(t *testing.T) {
		t.Parallel()
		f := fake.New("fe1")
		f.Expect(fake.Exact("onezone", "show", "0", "-x")).Exit(255, "Failed to open TCP connection to localhost:2633\n")
		_, err := Show(t.Context(), f, 0)
		ee, ok := errors.AsType[*transport.ExitError](err)
		require.True(t, ok, "%v", err)
		assert.Equal(t, 255, ee.Code)
		_, isAPI := errors.AsType[*APIError](err)
		assert.False(t, isAPI)
		f.AssertExpectations(t)
	})
	t.Run("API error", func(t *testing.T) {
		t.Parallel()
		f := fake.New("fe1")
		f.Expect(fake.Exact("onezone", "show", "7", "-x")).Exit(255, "[one.zone.info] Error getting zone [7].\n")
		_, err := Show(t.Context(), f, 7)
		api, ok := errors.AsType[*APIError](err)
		require.True(t, ok, "%v", err)
		assert.Equal(t, "one.zone.info", api.Method)
		assert.Equal(t, "Error getting zone [7].", api.Message)
		_, ok = errors.AsType[*transport.ExitError](err)
		assert.True(t, ok, "APIError wraps the ExitError")
	})
	t.Run("truncated output", func(t *testing.T) {
		t.Parallel()
		f := fake.New("fe1")
		f.Expect(fake.Exact("onezone", "show", "0", "-x")).Reply(string(readSample(t, "onezone-show-3node.xml"))).Truncate(300)
		_, err := Show(t.Context(), f, 0)
		_, ok := errors.AsType[*ParseError](err)
		assert.True(t, ok, "%v", err)
	})
	t.Run("other zone answered", func(t *testing.T) {
		t.Parallel()
		f := fake.New("fe1")
		f.Expect(fake.Exact("onezone", "show", "1", "-x")).Reply(string(readSample(t, "onezone-show-3node.xml")))
		_, err := Show(t.Context(), f, 1)
		_, ok := errors.AsType[*ParseError](err)
		assert.True(t, ok, "%v", err)
		assert.Contains(t, err.Error(), "asked for zone 1, got zone 0")
	})
	t.Run("negative id runs nothing", func(t *testing.T) {
		t.Parallel()
		f := fake.New("fe1")
		_, err := Show(t.Context(), f, -1)
		assert.ErrorIs(t, err, ErrInvalidArgument)
		assert.Empty(t, f.Calls())
	})
	t.Run("connection lost", func(t *testing.T) {
		t.Parallel()
		f := fake.New("fe1")
		f.Expect(fake.Exact("onezone", "show", "0", "-x")).ConnectionLost(false)
		_, err := Show(t.Context(), f, 0)
		assert.ErrorIs(t, err, transport.ErrConnectionLost)
	})
	t.Run("bad options", func(t *testing.T) {
		t.Parallel()
		f := fake.New("fe1")
		for _, o := range []Option{WithEndpoint("-x"), WithEndpoint(""), WithUser(""), WithMaxLag(-1), WithPollInterval(0, 1), WithLogger(nil), WithClock(nil)} {
			_, err := Show(t.Context(), f, 0, o)
			assert.Error(t, err)
		}
		assert.Empty(t, f.Calls())
	})
}

func TestListOnFake(t *testing.T) {
	t.Parallel()
	f := fake.New("fe1")
	f.Expect(fake.Exact("onezone", "list", "--csv")).Reply(string(readSample(t, "onezone-list-federation.csv")))
	zs, err := List(t.Context(), f)
	require.NoError(t, err)
	require.Len(t, zs, 3)
	assert.Equal(t, 101, zs[2].ID)
	f.AssertExpectations(t)
	assert.True(t, f.Calls()[0].Command.ReadOnly)
}

func TestLeaderOnFake(t *testing.T) {
	t.Parallel()
	three := string(readSample(t, "onezone-show-3node.xml"))
	tests := []struct {
		name    string
		reply   string
		want    string
		wantErr error
	}{
		{"leader", three, "fe1", nil},
		{"slave zone", string(readSample(t, "onezone-show-federation-slave-zone100.xml")), "ge-fe2", nil},
		{"solo", string(readSample(t, "onezone-show-solo.xml")), "", ErrNotHA},
		{"no leader", strings.Replace(three, "<STATE>3</STATE>", "<STATE>1</STATE>", 1), "", ErrNoLeader},
		{"two leaders", strings.Replace(three, "<STATE>2</STATE>", "<STATE>3</STATE>", 1), "", ErrMultipleLeaders},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			id := "0"
			if tt.name == "slave zone" {
				id = "100"
			}
			f := fake.New("fe1")
			f.Expect(fake.Exact("onezone", "show", id, "-x")).Reply(tt.reply)
			zid := 0
			if id == "100" {
				zid = 100
			}
			s, err := Leader(t.Context(), f, zid)
			f.AssertExpectations(t)
			if tt.wantErr != nil {
				assert.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, s.Name)
			assert.Equal(t, RaftLeader, s.State())
		})
	}
}

func TestEnableDisable(t *testing.T) {
	t.Parallel()
	t.Run("disable", func(t *testing.T) {
		t.Parallel()
		f := fake.New("fe1")
		f.Expect(fake.Exact("onezone", "disable", "0"))
		require.NoError(t, Disable(t.Context(), f, 0))
		f.AssertExpectations(t)
		assert.False(t, f.Calls()[0].Command.ReadOnly, "disable mutates")
	})
	t.Run("enable with endpoint", func(t *testing.T) {
		t.Parallel()
		f := fake.New("fe1")
		f.Expect(fake.Exact("onezone", "enable", "100", "--endpoint", "http://192.168.150.2:2633/RPC2"))
		require.NoError(t, Enable(t.Context(), f, 100, WithEndpoint("http://192.168.150.2:2633/RPC2")))
		f.AssertExpectations(t)
	})
	t.Run("wrong zone", func(t *testing.T) {
		t.Parallel()
		f := fake.New("fe1")
		f.Expect(fake.Exact("onezone", "enable", "100")).
			Exit(255, "[one.zone.enable] Enable/disable mode have to be set through the target zone endpoints\n")
		err := Enable(t.Context(), f, 100)
		assert.ErrorIs(t, err, ErrWrongZone)
		api, ok := errors.AsType[*APIError](err)
		require.True(t, ok)
		assert.Equal(t, "one.zone.enable", api.Method)
		code, ok := transport.ExitCode(err)
		assert.True(t, ok)
		assert.Equal(t, 255, code)
		f.AssertExpectations(t)
	})
}

// TestDisableUnknownCommand: a 6.0 onezone has no disable; its CLI parser
// prints "Command '…' not found" and the help and exits 0, which must not
// read as success.
func TestDisableUnknownCommand(t *testing.T) {
	t.Parallel()
	f := fake.New("fe1")
	f.Expect(fake.Exact("onezone", "disable", "0", "--endpoint", "http://localhost:2633/RPC2")).
		Stdout("## SYNOPSIS\n\n`onezone` <command> [<args>] [<options>]\n").
		Stderr("Command 'disable 0 --endpoint http://localhost:2633/RPC2' not found\n")
	err := Disable(t.Context(), f, 0, WithEndpoint("http://localhost:2633/RPC2"))
	assert.ErrorIs(t, err, ErrUnknownCommand)
	f.AssertExpectations(t)
}

func TestServerAdd(t *testing.T) {
	t.Parallel()
	// onezone list -x: zone 0 has fr-fe1..3 (IDs 0-2); no Raft values.
	three := string(readSample(t, "onezone-list-federation.xml"))
	withFe4 := strings.Replace(three, "    </SERVER_POOL>", `      <SERVER>
        <ENDPOINT><![CDATA[http://10.0.0.14:2633/RPC2]]></ENDPOINT>
        <ENDPOINT_GRPC><![CDATA[]]></ENDPOINT_GRPC>
        <ID><![CDATA[3]]></ID>
        <NAME><![CDATA[fe4]]></NAME>
      </SERVER>
    </SERVER_POOL>`, 1)
	require.NotEqual(t, three, withFe4)
	list := fake.Exact("onezone", "list", "-x")

	t.Run("adds and reads the ID back", func(t *testing.T) {
		t.Parallel()
		f := fake.New("fe1")
		f.Expect(list).Reply(three)
		f.Expect(fake.Exact("onezone", "server-add", "0", "--name", "fe4", "--rpc", "http://10.0.0.14:2633/RPC2")).
			Reply("http://10.0.0.14:2633/RPC2:\n")
		f.Expect(list).Reply(withFe4)
		id, err := ServerAdd(t.Context(), f, 0, "fe4", "http://10.0.0.14:2633/RPC2", "")
		require.NoError(t, err)
		assert.Equal(t, 3, id)
		f.AssertExpectations(t)
		calls := f.Calls()
		require.Len(t, calls, 3)
		assert.True(t, calls[0].Command.ReadOnly)
		assert.False(t, calls[1].Command.ReadOnly)
		assert.True(t, calls[2].Command.ReadOnly)
	})
	t.Run("with gRPC endpoint", func(t *testing.T) {
		t.Parallel()
		f := fake.New("fe1")
		grpcFe4 := strings.Replace(withFe4, "<ENDPOINT_GRPC><![CDATA[]]></ENDPOINT_GRPC>\n        <ID><![CDATA[3]]>",
			"<ENDPOINT_GRPC><![CDATA[10.0.0.14:2634]]></ENDPOINT_GRPC>\n        <ID><![CDATA[3]]>", 1)
		f.Expect(list).Reply(three)
		f.Expect(fake.Exact("onezone", "server-add", "0", "--name", "fe4", "--rpc", "http://10.0.0.14:2633/RPC2", "--grpc-endpoint", "10.0.0.14:2634")).
			Reply("http://10.0.0.14:2633/RPC2:10.0.0.14:2634\n")
		f.Expect(list).Reply(grpcFe4)
		id, err := ServerAdd(t.Context(), f, 0, "fe4", "http://10.0.0.14:2633/RPC2", "10.0.0.14:2634")
		require.NoError(t, err)
		assert.Equal(t, 3, id)
		f.AssertExpectations(t)
	})
	t.Run("gRPC only", func(t *testing.T) {
		t.Parallel()
		f := fake.New("fe1")
		f.Expect(list).Reply(three)
		f.Expect(fake.Exact("onezone", "server-add", "0", "--name", "fe5", "--grpc-endpoint", "10.0.0.15:2634"))
		f.Expect(list).Reply(three)
		_, err := ServerAdd(t.Context(), f, 0, "fe5", "", "10.0.0.15:2634")
		assert.ErrorIs(t, err, ErrServerNotFound, "not in the read-back")
		f.AssertExpectations(t)
	})
	t.Run("already there", func(t *testing.T) {
		t.Parallel()
		f := fake.New("fe1")
		f.Expect(list).Reply(withFe4)
		id, err := ServerAdd(t.Context(), f, 0, "fe4", "http://10.0.0.14:2633/RPC2", "")
		require.NoError(t, err)
		assert.Equal(t, 3, id)
		f.AssertExpectations(t)
	})
	t.Run("name taken with other endpoint", func(t *testing.T) {
		t.Parallel()
		f := fake.New("fe1")
		f.Expect(list).Reply(withFe4)
		_, err := ServerAdd(t.Context(), f, 0, "fe4", "http://10.9.9.9:2633/RPC2", "")
		assert.ErrorIs(t, err, ErrServerExists)
		f.AssertExpectations(t)
	})
	t.Run("refused by another zone", func(t *testing.T) {
		t.Parallel()
		f := fake.New("fe1")
		f.Expect(list).Reply(three)
		f.Expect(fake.Prefix("onezone", "server-add")).
			Exit(255, "[one.zone.addserver] Servers have to be added through the target zone endpoints\n")
		_, err := ServerAdd(t.Context(), f, 0, "fe4", "http://10.0.0.14:2633/RPC2", "")
		assert.ErrorIs(t, err, ErrWrongZone)
		f.AssertExpectations(t)
	})
	t.Run("zone disabled", func(t *testing.T) {
		t.Parallel()
		f := fake.New("fe1")
		f.Expect(list).Reply(three)
		f.Expect(fake.Prefix("onezone", "server-add")).Exit(255, "[one.zone.addserver] Cannot process request, zone disabled\n")
		_, err := ServerAdd(t.Context(), f, 0, "fe4", "http://10.0.0.14:2633/RPC2", "")
		assert.ErrorIs(t, err, ErrZoneDisabled)
	})
	t.Run("invalid arguments run nothing", func(t *testing.T) {
		t.Parallel()
		f := fake.New("fe1")
		for _, a := range [][3]string{{"", "http://a:2633/RPC2", ""}, {"-n", "http://a:2633/RPC2", ""}, {"fe4", "", ""},
			{"fe4", "10.0.0.14:2633", ""}, {"fe4", "", "-g"}, {"fe\n4", "http://a", ""}} {
			_, err := ServerAdd(t.Context(), f, 0, a[0], a[1], a[2])
			assert.ErrorIs(t, err, ErrInvalidArgument, "%q", a)
		}
		assert.Empty(t, f.Calls())
	})
	t.Run("zone not in the list", func(t *testing.T) {
		t.Parallel()
		f := fake.New("fe1")
		f.Expect(list).Reply(three)
		_, err := ServerAdd(t.Context(), f, 5, "fe4", "http://10.0.0.14:2633/RPC2", "")
		assert.ErrorIs(t, err, ErrZoneNotFound)
		f.AssertExpectations(t)
	})
	t.Run("in a slave zone", func(t *testing.T) {
		t.Parallel()
		f := fake.New("ge-fe1")
		f.Expect(list).Reply(three)
		_, err := ServerAdd(t.Context(), f, 100, "ge-fe2", "http://192.168.150.22:2633/RPC2", "")
		require.NoError(t, err, "already there with the same endpoints (empty gRPC)")
		f.AssertExpectations(t)
	})
	t.Run("malformed read-back", func(t *testing.T) {
		t.Parallel()
		f := fake.New("fe1")
		f.Expect(list).Reply(three)
		f.Expect(fake.Prefix("onezone", "server-add"))
		f.Expect(list).Reply(three[:200])
		_, err := ServerAdd(t.Context(), f, 0, "fe4", "http://10.0.0.14:2633/RPC2", "")
		pe, ok := errors.AsType[*ParseError](err)
		require.True(t, ok, "%v", err)
		assert.Equal(t, "onezone list -x", pe.Source)
		assert.Contains(t, err.Error(), "read back")
		f.AssertExpectations(t)
	})
}

func TestServerDelReset(t *testing.T) {
	t.Parallel()
	f := fake.New("fe1")
	f.Expect(fake.Exact("onezone", "server-del", "0", "3"))
	f.Expect(fake.Exact("onezone", "server-reset", "0", "2"))
	f.Expect(fake.Exact("onezone", "server-reset", "0", "1")).Exit(255, "[one.zone.resetserver] Cannot process request, oned cluster in election mode\n")
	require.NoError(t, ServerDel(t.Context(), f, 0, 3))
	require.NoError(t, ServerReset(t.Context(), f, 0, 2))
	err := ServerReset(t.Context(), f, 0, 1)
	assert.ErrorIs(t, err, ErrElectionMode)
	assert.ErrorIs(t, ServerDel(t.Context(), f, 0, -1), ErrInvalidArgument)
	assert.ErrorIs(t, ServerDel(t.Context(), f, -1, 0), ErrInvalidArgument)
	f.AssertExpectations(t)
}

func TestFederationInSyncOnFake(t *testing.T) {
	t.Parallel()
	const hdr = "CURRENT,ID,NAME,ENDPOINT,FED_INDEX,STAT\n"
	tests := []struct {
		name, csv string
		ok        bool
	}{
		{"equal", hdr + "*,0,a,e,10,on\n,100,b,e,10,on\n", true},
		{"one zone", hdr + "*,0,a,e,-1,on\n", true},
		{"all no record", hdr + "*,0,a,e,18446744073709551615,on\n,100,b,e,18446744073709551615,on\n", true},
		{"behind", hdr + "*,0,a,e,10,on\n,100,b,e,9,on\n", false},
		{"unreachable", hdr + "*,0,a,e,10,on\n,100,b,e,-,on\n", false},
		{"lone unreachable", hdr + "*,0,a,e,-,on\n", false},
		{"not federated vs federated", hdr + "*,0,a,e,10,on\n,100,b,e,-1,on\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := fake.New("fe1")
			f.Expect(fake.Exact("onezone", "list", "--csv")).Reply(tt.csv)
			zs, err := FederationInSync(context.Background(), f)
			f.AssertExpectations(t)
			assert.NotEmpty(t, zs)
			if tt.ok {
				assert.NoError(t, err)
				return
			}
			fe, ok := errors.AsType[*FederationError](err)
			require.True(t, ok, "%v", err)
			assert.Equal(t, zs, fe.Zones)
			assert.Nil(t, fe.Cause)
		})
	}
}
