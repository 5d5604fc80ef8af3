package rolling

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseZoneServers(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/onezone-list-federation.xml")
	require.NoError(t, err)
	for _, tc := range []struct {
		zone int
		want []Server
		err  bool
	}{
		{0, []Server{
			{ID: 0, Name: "fr-fe1", Endpoint: "http://192.168.150.11:2633/RPC2"},
			{ID: 1, Name: "fr-fe2", Endpoint: "http://192.168.150.12:2633/RPC2"},
			{ID: 2, Name: "fr-fe3", Endpoint: "http://192.168.150.13:2633/RPC2"},
		}, false},
		{100, []Server{
			{ID: 0, Name: "ge-fe1", Endpoint: "http://192.168.150.21:2633/RPC2"},
			{ID: 1, Name: "ge-fe2", Endpoint: "http://192.168.150.22:2633/RPC2"},
			{ID: 2, Name: "ge-fe3", Endpoint: "http://192.168.150.23:2633/RPC2"},
		}, false},
		{101, nil, false},
		{7, nil, true},
	} {
		got, err := ParseZoneServers(data, tc.zone)
		if tc.err {
			require.ErrorIs(t, err, ErrMalformed)
			continue
		}
		require.NoError(t, err, tc.zone)
		assert.Equal(t, tc.want, got, tc.zone)
	}
	// Each bad pool is a complete `onezone list -x` but for one defect.
	zoneXML := func(id, servers string) string {
		return "<ZONE><ID>" + id + "</ID><NAME>OpenNebula</NAME><STATE>0</STATE><TEMPLATE/><SERVER_POOL>" + servers + "</SERVER_POOL></ZONE>"
	}
	good := "<ZONE_POOL>" + zoneXML("0", "<SERVER><ID>1</ID><NAME>a</NAME></SERVER>") + "</ZONE_POOL>"
	got, err := ParseZoneServers([]byte(good), 0)
	require.NoError(t, err)
	assert.Equal(t, []Server{{ID: 1, Name: "a"}}, got)
	for _, bad := range []string{
		"", "<ZONE_POOL>" + zoneXML("x", "") + "</ZONE_POOL>",
		"<ZONE_POOL>" + zoneXML("0", "<SERVER><ID>-1</ID><NAME>a</NAME></SERVER>") + "</ZONE_POOL>",
		"<ZONE_POOL>" + zoneXML("0", "<SERVER><ID>1</ID></SERVER>") + "</ZONE_POOL>",
		"<ZONE_POOL>" + zoneXML("0", "<SERVER><ID>1</ID><NAME></NAME></SERVER>") + "</ZONE_POOL>",
		"<ZONE_POOL>" + zoneXML("0", "") + zoneXML("0", "") + "</ZONE_POOL>",
	} {
		_, err := ParseZoneServers([]byte(bad), 0)
		assert.ErrorIs(t, err, ErrMalformed, bad)
	}
}

func FuzzParseZoneServers(f *testing.F) {
	data, err := os.ReadFile("testdata/onezone-list-federation.xml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data, 0)
	f.Add(data, 100)
	f.Add([]byte("<ZONE_POOL><ZONE><ID>0</ID><NAME>OpenNebula</NAME><STATE>0</STATE><TEMPLATE/><SERVER_POOL/></ZONE></ZONE_POOL>"), 0)
	f.Fuzz(func(t *testing.T, data []byte, zoneID int) {
		got, err := ParseZoneServers(data, zoneID)
		if err != nil {
			if got != nil {
				t.Fatalf("servers %v with error %v", got, err)
			}
			return
		}
		for _, s := range got {
			if s.ID < 0 || s.Name == "" {
				t.Fatalf("bad server %+v accepted", s)
			}
		}
	})
}
