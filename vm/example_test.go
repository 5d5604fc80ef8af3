package vm_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/upgradekit/upgradekit/transport/fake"
	"github.com/upgradekit/upgradekit/vm"
)

const pool = `<VM_POOL>
  <VM><ID>12</ID><NAME>web-01</NAME><STATE>3</STATE><LCM_STATE>3</LCM_STATE>
    <HISTORY_RECORDS><HISTORY><SEQ>0</SEQ><HOSTNAME><![CDATA[kvm-node-01]]></HOSTNAME><HID>0</HID></HISTORY></HISTORY_RECORDS></VM>
  <VM><ID>13</ID><NAME>db-01</NAME><STATE>3</STATE><LCM_STATE>4</LCM_STATE><LOCK><LOCKED>1</LOCKED></LOCK>
    <HISTORY_RECORDS><HISTORY><SEQ>1</SEQ><HOSTNAME><![CDATA[kvm-node-02]]></HOSTNAME><HID>1</HID></HISTORY></HISTORY_RECORDS></VM>
  <VM><ID>15</ID><NAME>broken-vm</NAME><STATE>3</STATE><LCM_STATE>36</LCM_STATE><HISTORY_RECORDS/></VM>
  <VM><ID>16</ID><NAME>queued</NAME><STATE>1</STATE><LCM_STATE>0</LCM_STATE><HISTORY_RECORDS/></VM>
</VM_POOL>`

func ExampleList() {
	f := fake.New("fe1")
	f.Expect(fake.Exact("onevm", "list", "-x")).Reply(pool)

	vms, err := vm.List(context.Background(), f)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, v := range vms {
		fmt.Printf("%d %s %s on %q lock=%s: %s\n", v.ID, v.Name, v.StateName(), v.Hostname, v.Lock, vm.Classify(v))
	}
	// Output:
	// 12 web-01 ACTIVE/RUNNING on "kvm-node-01" lock=NONE: settled
	// 13 db-01 ACTIVE/MIGRATE on "kvm-node-02" lock=USE: transient
	// 15 broken-vm ACTIVE/BOOT_FAILURE on "" lock=NONE: failed
	// 16 queued PENDING on "" lock=NONE: settled
}

func ExampleWaitSettled() {
	f := fake.New("fe1")
	f.Expect(fake.Exact("onevm", "list", "-x")).Reply(pool)

	// broken-vm will not settle by waiting: WaitSettled fails at once.
	_, err := vm.WaitSettled(context.Background(), f)
	var failed *vm.FailedError
	if errors.As(err, &failed) {
		fmt.Println(err)
	}
	// Output:
	// 1 VMs in a failure state: 15 (broken-vm) ACTIVE/BOOT_FAILURE
}

func ExampleClassify() {
	for _, v := range []vm.VM{
		{State: vm.StatePoweroff},
		{State: vm.StateActive, LCMState: vm.LCMBackup},
		{State: vm.StateActive, LCMState: vm.LCMPrologMigrateUnknownFailure},
		{State: vm.StateActive, LCMState: vm.LCMUnknown},
	} {
		fmt.Println(v.StateName(), vm.Classify(v))
	}
	// Output:
	// POWEROFF settled
	// ACTIVE/BACKUP transient
	// ACTIVE/PROLOG_MIGRATE_UNKNOWN_FAILURE failed
	// ACTIVE/UNKNOWN settled
}
