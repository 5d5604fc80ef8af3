package host_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/upgradekit/upgradekit/host"
	"github.com/upgradekit/upgradekit/transport/fake"
	"github.com/upgradekit/upgradekit/zone"
)

const pool = `<HOST_POOL>
  <HOST><ID>0</ID><NAME>kvm-node-01</NAME><STATE>2</STATE><TEMPLATE><VERSION><![CDATA[7.4.0]]></VERSION></TEMPLATE></HOST>
  <HOST><ID>1</ID><NAME>kvm-node-02</NAME><STATE>4</STATE><TEMPLATE><VERSION><![CDATA[7.2.0]]></VERSION></TEMPLATE></HOST>
  <HOST><ID>2</ID><NAME>kvm-node-03</NAME><STATE>8</STATE><TEMPLATE/></HOST>
</HOST_POOL>`

func ExampleList() {
	f := fake.New("fe1")
	f.Expect(fake.Exact("onehost", "list", "-x")).Reply(pool)

	hosts, err := host.List(context.Background(), f)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, h := range hosts {
		fmt.Println(h.ID, h.Name, h.State, h.State.Mode(), h.Version)
	}
	// Output:
	// 0 kvm-node-01 MONITORED enabled 7.4.0
	// 1 kvm-node-02 DISABLED disabled 7.2.0
	// 2 kvm-node-03 OFFLINE offline
}

func ExampleRestore() {
	ctx := context.Background()
	f := fake.New("fe1")
	f.Expect(fake.Exact("onehost", "list", "-x")).Reply(pool)
	snap, _ := host.TakeSnapshot(ctx, f)

	// The upgrade disables every host...
	f.Expect(fake.Exact("onehost", "disable", "0"))
	f.Expect(fake.Exact("onehost", "disable", "1"))
	f.Expect(fake.Exact("onehost", "disable", "2"))
	_ = host.Disable(ctx, f, []int{0, 1, 2})

	// ... and Restore puts back what was there before.
	f.Expect(fake.Exact("onehost", "list", "-x")).Reply(`<HOST_POOL>
  <HOST><ID>0</ID><NAME>kvm-node-01</NAME><STATE>4</STATE></HOST>
  <HOST><ID>1</ID><NAME>kvm-node-02</NAME><STATE>4</STATE></HOST>
  <HOST><ID>2</ID><NAME>kvm-node-03</NAME><STATE>4</STATE></HOST>
</HOST_POOL>`)
	f.Expect(fake.Exact("onehost", "enable", "0"))
	f.Expect(fake.Exact("onehost", "offline", "2"))
	rep, err := host.Restore(ctx, f, snap)
	fmt.Println("error:", err)
	for _, a := range rep.Actions {
		fmt.Printf("%s: was %s, found %s, action %q\n", a.Name, a.Was, a.Found, a.Action)
	}
	// Output:
	// error: <nil>
	// kvm-node-01: was MONITORED, found DISABLED, action "enable"
	// kvm-node-02: was DISABLED, found DISABLED, action ""
	// kvm-node-03: was OFFLINE, found DISABLED, action "offline"
}

func ExampleSync() {
	f := fake.New("fe1")
	f.Expect(fake.Exact("onehost", "sync", "--force")).
		Stdout("* Adding kvm-node-01 to upgrade\n* Adding kvm-node-04 to upgrade\n"+
			"[====----] 1/2 kvm-node-01 \r[========] 2/2 kvm-node-04 \r\n").
		Exit(255, "Failed to update the following hosts:\n* kvm-node-04\n")

	_, err := host.Sync(context.Background(), f, host.WithSyncForce())
	var se *host.SyncError
	if errors.As(err, &se) {
		fmt.Println("failed:", se.Failed, "of", se.Attempted)
	}
	fmt.Println("ran as:", f.Calls()[0].Command.User)
	// Output:
	// failed: [kvm-node-04] of [kvm-node-01 kvm-node-04]
	// ran as: oneadmin
}

func ExampleDisable() {
	f := fake.New("fe1")
	f.Expect(fake.Exact("onehost", "disable", "0")).Exit(255, "[one.host.status] Cannot process request, zone disabled\n")

	err := host.Disable(context.Background(), f, []int{0, 1})
	fmt.Println(errors.Is(err, zone.ErrZoneDisabled), errors.Is(err, host.ErrNotAttempted))
	// Output:
	// true true
}
