package fake_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/transport/fake"
)

// StopOned is the kind of function users write for their own upgrade: stop
// OpenNebula on a front-end and make sure it is down.
func StopOned(ctx context.Context, fe transport.Transport) error {
	if err := transport.Check(ctx, fe, transport.Cmd("systemctl", "stop", "opennebula").AsRoot()); err != nil {
		return fmt.Errorf("stop oned: %w", err)
	}
	// is-active exits 3 for an inactive unit: data, not an error.
	res, err := fe.Run(ctx, transport.Query("systemctl", "is-active", "opennebula"))
	if err != nil {
		return fmt.Errorf("check oned: %w", err)
	}
	if res.ExitCode == 0 {
		return fmt.Errorf("oned still %s after stop", strings.TrimSpace(string(res.Stdout)))
	}
	return nil
}

// Testing StopOned without a front-end. In a test, finish with
// fe.AssertExpectations(t): it fails the test for any command that was
// not expected and any expectation that was not met.
func Example() {
	ctx := context.Background()

	// The happy path: stop works, then is-active says "inactive" (exit 3).
	fe := fake.New("fe1")
	fe.Expect(fake.Exact("systemctl", "stop", "opennebula"))
	fe.Expect(fake.Exact("systemctl", "is-active", "opennebula")).Stdout("inactive\n").Exit(3)

	fmt.Println("happy path:", StopOned(ctx, fe))
	for _, c := range fe.Calls() {
		fmt.Println("  ran", c.Command)
	}

	// The unit refuses to stop: StopOned must report it with the stderr.
	fe = fake.New("fe1")
	fe.Expect(fake.Exact("systemctl", "stop", "opennebula")).
		Exit(1, "Job for opennebula.service canceled.\n")
	fmt.Println("stop fails:", StopOned(ctx, fe))

	// The unit is still up after the stop.
	fe = fake.New("fe1")
	fe.Expect(fake.Exact("systemctl", "stop", "opennebula"))
	fe.Expect(fake.Exact("systemctl", "is-active", "opennebula")).Reply("active\n")
	fmt.Println("still up:", StopOned(ctx, fe))

	// The front-end drops the connection during the check.
	fe = fake.New("fe1")
	fe.Expect(fake.Exact("systemctl", "stop", "opennebula"))
	fe.Expect(fake.Prefix("systemctl", "is-active")).ConnectionLost(false)
	err := StopOned(ctx, fe)
	fmt.Println("connection lost:", errors.Is(err, transport.ErrConnectionLost))

	// Output:
	// happy path: <nil>
	//   ran sudo -n -- systemctl stop opennebula
	//   ran systemctl is-active opennebula
	// stop fails: stop oned: host fe1: sudo -n -- systemctl stop opennebula: exit status 1: Job for opennebula.service canceled.
	// still up: oned still active after stop
	// connection lost: true
}
