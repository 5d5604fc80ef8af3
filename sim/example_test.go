package sim_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/upgradekit/upgradekit/sim"
	"github.com/upgradekit/upgradekit/transport"
)

// A three-node HA cluster: stop the leader's oned and watch the zone
// elect a new one on virtual time.
func Example() {
	cloud, err := sim.HA(3, "7.2.0")
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	fe1, fe2 := cloud.MustFrontend("fe1"), cloud.MustFrontend("fe2")

	if err := transport.Check(ctx, fe1, transport.Cmd("systemctl", "stop", "opennebula")); err != nil {
		panic(err)
	}
	_ = cloud.Clock().Sleep(ctx, 10*time.Second)

	out, err := transport.Output(ctx, fe2, transport.Query("onezone", "show", "0"))
	if err != nil {
		panic(err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "leader") || strings.Contains(line, "error") {
			fmt.Println(line)
		}
	}
	fmt.Println("API downtime:", cloud.APIDowntime(0).Round(time.Second))
	// Output:
	//  0 fe1             error      -          -          -          -     -
	//  1 fe2             leader     6          184233     184233     1     -1
	// API downtime: 6s
}

// onedb refuses to restore on a follower while the leader answers at the
// client endpoint (the VIP); pointing ONE_XMLRPC at localhost fixes it.
func ExampleCloud_Frontend_restore() {
	cloud, _ := sim.HA(3, "7.4.0")
	ctx := context.Background()
	fe1, fe2 := cloud.MustFrontend("fe1"), cloud.MustFrontend("fe2")
	_ = transport.Check(ctx, fe1, transport.Cmd("onedb", "backup", "-f", "--", "/var/tmp/leader.sql"))
	data, _ := cloud.ReadFile("fe1", "/var/tmp/leader.sql")
	_, _ = transport.Upload(ctx, fe2, "/var/tmp/leader.sql", strings.NewReader(string(data)), transport.FileOptions{})
	_ = transport.Check(ctx, fe2, transport.Cmd("systemctl", "stop", "opennebula"))

	res, _ := fe2.Run(ctx, transport.Cmd("onedb", "restore", "-f", "--", "/var/tmp/leader.sql"))
	fmt.Print(res.ExitCode, " ", string(res.Stderr))

	cmd := transport.Cmd("onedb", "restore", "-f", "--", "/var/tmp/leader.sql")
	cmd.Env = map[string]string{"ONE_XMLRPC": "http://localhost:2633/RPC2"}
	res, _ = fe2.Run(ctx, cmd)
	fmt.Print(res.ExitCode, " ", string(res.Stdout))
	// Output:
	// 255 OpenNebula found listening on 'http://10.0.0.10:2633/RPC2'
	// 0 MySQL DB opennebula at localhost restored.
}

// Faults: a command failing on its second call, and an unreachable host.
func ExampleCloud_Inject() {
	cloud, _ := sim.Solo("7.4.0")
	ctx := context.Background()
	fe := cloud.MustFrontend("fe1")
	_ = cloud.Inject(sim.Fault{Argv: []string{"onecfg", "status"}, Nth: 2, Exit: 255, Stderr: "ERROR: Unknown config version\n"})
	for i := 0; i < 3; i++ {
		res, _ := fe.Run(ctx, transport.Query("onecfg", "status"))
		fmt.Println(res.ExitCode)
	}
	_ = cloud.SetUnreachable("kvm1", true)
	_, err := cloud.MustHost("kvm1").Run(ctx, transport.Cmd("true"))
	fmt.Println(err)
	// Output:
	// 0
	// 255
	// 0
	// host kvm1: connection lost before the command started: dial tcp 10.0.1.1:22: connect: no route to host
}

// Waiting on virtual time: a backoff loop whose timer is the cloud's
// clock waits for a leader after a full stop without any real sleeping.
func ExampleClock_NewTimer() {
	cloud, _ := sim.HA(3, "7.4.0")
	ctx := context.Background()
	for _, n := range []string{"fe3", "fe2", "fe1"} {
		_ = transport.Check(ctx, cloud.MustFrontend(n), transport.Cmd("systemctl", "stop", "opennebula"))
	}
	for _, n := range []string{"fe1", "fe2", "fe3"} {
		_ = transport.Check(ctx, cloud.MustFrontend(n), transport.Cmd("systemctl", "start", "opennebula"))
	}
	started := cloud.Now()
	b := backoff.NewExponentialBackOff()
	b.Clock = cloud.Clock()
	b.RandomizationFactor = 0 // deterministic polls: the output below does not depend on jitter
	probe := transport.Query("onezone", "show", "0", "-x", "--endpoint", "http://localhost:2633/RPC2")
	err := backoff.RetryNotifyWithTimer(func() error {
		out, err := transport.Output(ctx, cloud.MustFrontend("fe2"), probe)
		if err != nil {
			return err
		}
		if !strings.Contains(string(out), "<STATE>3</STATE>") {
			return errors.New("no leader yet")
		}
		return nil
	}, b, nil, cloud.Clock().NewTimer())
	took := cloud.Now().Sub(started)
	fmt.Println(err, took > 15*time.Second && took < 30*time.Second)
	// Output:
	// <nil> true
}
