package upgradekit_test

import (
	"context"
	"fmt"
	"os"

	"github.com/upgradekit/upgradekit/sim"
	"github.com/upgradekit/upgradekit/system"
	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/upgrade"
	"github.com/upgradekit/upgradekit/zone"
)

// The layers composed: a simulated HA cloud behind the transport, a
// primitive (zone) asking it for the leader, and the engine dry-running a
// small plan built from primitives: the probe runs, the change is only
// recorded.
func Example() {
	ctx := context.Background()
	cloud, err := sim.HA(3, "7.4.0")
	if err != nil {
		fmt.Println(err)
		return
	}
	fe1 := cloud.MustFrontend("fe1")
	l, err := zone.Leader(ctx, fe1, 0)
	fmt.Println("leader:", l.Name, err)

	plan := upgrade.NewPlan("restart-flow",
		upgrade.Func("in-sync", func(ctx context.Context, s *upgrade.State) error {
			t, err := s.HostTransport("fe1")
			if err != nil {
				return err
			}
			_, err = zone.WaitInSync(ctx, t, 0, zone.WithClock(cloud.Now), zone.WithTimer(cloud.Clock().NewTimer))
			return err
		}),
		upgrade.Func("restart", func(ctx context.Context, s *upgrade.State) error {
			t, err := s.HostTransport("fe1")
			if err != nil {
				return err
			}
			return system.Restart(ctx, t, "opennebula-flow")
		}),
	)
	rec := upgrade.NewRecorder()
	r, err := upgrade.NewRunner(plan, upgrade.WithHosts(map[string]transport.Transport{"fe1": fe1}),
		upgrade.WithDryRun(rec), upgrade.WithClock(cloud.Now))
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = r.Run(ctx)
	fmt.Println("dry run:", err)
	_ = rec.WriteText(os.Stdout)
	// Output:
	// leader: fe1 <nil>
	// dry run: <nil>
	// host fe1:
	//     1 run       onezone show 0 -x  [in-sync]
	//     2 would run sudo -n -- systemctl restart -- opennebula-flow  [restart]
}
