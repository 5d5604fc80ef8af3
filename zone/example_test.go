package zone_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/upgradekit/upgradekit/transport/fake"
	"github.com/upgradekit/upgradekit/zone"
)

const threeNodes = `<ZONE>
  <ID>0</ID>
  <NAME>OpenNebula</NAME>
  <STATE>0</STATE>
  <TEMPLATE>
    <ENDPOINT><![CDATA[http://10.0.0.10:2633/RPC2]]></ENDPOINT>
  </TEMPLATE>
  <SERVER_POOL>
    <SERVER>
      <ENDPOINT><![CDATA[http://10.0.0.11:2633/RPC2]]></ENDPOINT>
      <ID><![CDATA[0]]></ID>
      <NAME><![CDATA[fe1]]></NAME>
      <STATE>3</STATE><TERM>5</TERM><VOTEDFOR>0</VOTEDFOR><COMMIT>184240</COMMIT><LOG_INDEX>184241</LOG_INDEX><FEDLOG_INDEX>-1</FEDLOG_INDEX>
    </SERVER>
    <SERVER>
      <ENDPOINT><![CDATA[http://10.0.0.12:2633/RPC2]]></ENDPOINT>
      <ID><![CDATA[1]]></ID>
      <NAME><![CDATA[fe2]]></NAME>
      <STATE>-</STATE><TERM>-</TERM><VOTEDFOR>-</VOTEDFOR><COMMIT>-</COMMIT><LOG_INDEX>-</LOG_INDEX><FEDLOG_INDEX>-</FEDLOG_INDEX>
    </SERVER>
  </SERVER_POOL>
</ZONE>
`

func ExampleShow() {
	f := fake.New("fe1")
	f.Expect(fake.Exact("onezone", "show", "0", "-x")).Reply(threeNodes)

	z, err := zone.Show(context.Background(), f, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range z.Servers {
		fmt.Printf("%d %s reachable=%v state=%s\n", s.ID, s.Name, s.Reachable(), s.State())
	}
	fmt.Println(z.CheckSync(0))
	// Output:
	// 0 fe1 reachable=true state=LEADER
	// 1 fe2 reachable=false state=UNKNOWN
	// zone 0 not in sync: server 1 (fe2) unreachable
}

func ExampleWaitInSync() {
	f := fake.New("fe1")
	f.Expect(fake.Exact("onezone", "show", "0", "-x")).Any().Reply(threeNodes)

	_, err := zone.WaitInSync(context.Background(), f, 0,
		zone.WithTimeout(50*time.Millisecond), zone.WithPollInterval(10*time.Millisecond, 10*time.Millisecond))
	var nis *zone.NotInSyncError
	if errors.As(err, &nis) {
		fmt.Println("timed out:", errors.Is(err, zone.ErrTimeout))
		fmt.Println("lagging:", nis.Problems[0])
	}
	// Output:
	// timed out: true
	// lagging: server 1 (fe2) unreachable
}

func ExampleList() {
	f := fake.New("fe1")
	f.Expect(fake.Exact("onezone", "list", "--csv")).Reply("CURRENT,ID,NAME,ENDPOINT,FED_INDEX,STAT\n" +
		"*,0,M-EU-FR,http://192.168.150.1:2633/RPC2,715438,on\n" +
		",100,S-EU-GE,http://192.168.150.2:2633/RPC2,-,on\n")

	zones, err := zone.List(context.Background(), f)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, z := range zones {
		fmt.Println(z.ID, z.Name, z.FedIndex, z.FedIndex.Known())
	}
	fmt.Println(zone.CheckFederation(zones))
	// Output:
	// 0 M-EU-FR 715438 true
	// 100 S-EU-GE - false
	// federation not in sync: zone 0 (M-EU-FR) at 715438; zone 100 (S-EU-GE) unreachable
}

func ExampleDisable() {
	f := fake.New("fe1")
	f.Expect(fake.Exact("onezone", "disable", "100", "--endpoint", "http://192.168.150.2:2633/RPC2")).
		Exit(255, "[one.zone.enable] Cannot process request, zone disabled\n")

	err := zone.Disable(context.Background(), f, 100, zone.WithEndpoint("http://192.168.150.2:2633/RPC2"))
	var api *zone.APIError
	if errors.As(err, &api) {
		fmt.Println(api.Method, "|", api.Message, "|", errors.Is(err, zone.ErrZoneDisabled))
	}
	// Output:
	// one.zone.enable | Cannot process request, zone disabled | true
}

func ExampleServerAdd() {
	const stored = `<ZONE_POOL>
  <ZONE>
    <ID>0</ID>
    <NAME>OpenNebula</NAME>
    <STATE>0</STATE>
    <TEMPLATE>
      <ENDPOINT><![CDATA[http://10.0.0.10:2633/RPC2]]></ENDPOINT>
    </TEMPLATE>
    <SERVER_POOL>
      <SERVER>
        <ENDPOINT><![CDATA[http://10.0.0.11:2633/RPC2]]></ENDPOINT>
        <ID><![CDATA[0]]></ID>
        <NAME><![CDATA[fe1]]></NAME>
      </SERVER>
    </SERVER_POOL>
  </ZONE>
</ZONE_POOL>`
	withFe2 := strings.Replace(stored, "    </SERVER_POOL>", `      <SERVER>
        <ENDPOINT><![CDATA[http://10.0.0.12:2633/RPC2]]></ENDPOINT>
        <ID><![CDATA[1]]></ID>
        <NAME><![CDATA[fe2]]></NAME>
      </SERVER>
    </SERVER_POOL>`, 1)
	f := fake.New("fe1")
	// The stored servers are read from `onezone list -x`, which asks no
	// server for its Raft status (the new one is not reachable yet).
	f.Expect(fake.Exact("onezone", "list", "-x")).Reply(stored)
	f.Expect(fake.Exact("onezone", "server-add", "0", "--name", "fe2", "--rpc", "http://10.0.0.12:2633/RPC2")).
		Reply("http://10.0.0.12:2633/RPC2:\n")
	f.Expect(fake.Exact("onezone", "list", "-x")).Reply(withFe2)
	id, err := zone.ServerAdd(context.Background(), f, 0, "fe2", "http://10.0.0.12:2633/RPC2", "")
	fmt.Println(id, err, len(f.Calls()))

	// Run again: fe2 is already in the zone with these endpoints, so
	// nothing is added (the strict fake has no server-add left).
	f.Expect(fake.Exact("onezone", "list", "-x")).Reply(withFe2)
	id, err = zone.ServerAdd(context.Background(), f, 0, "fe2", "http://10.0.0.12:2633/RPC2", "")
	fmt.Println(id, err, len(f.Calls()))
	// Output:
	// 1 <nil> 3
	// 1 <nil> 4
}

func ExampleParseFedIndex() {
	for _, s := range []string{"-", "-1", "18446744073709551615", "715438"} {
		f, _ := zone.ParseFedIndex(s)
		n, ok := f.Index()
		fmt.Println(s, f.Known(), f.Federated(), f.NoRecord(), n, ok)
	}
	// Output:
	// - false false false 0 false
	// -1 true false false 0 false
	// 18446744073709551615 true true true 0 false
	// 715438 true true false 715438 true
}
