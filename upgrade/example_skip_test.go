package upgrade_test

import (
	"context"
	"fmt"

	"github.com/upgradekit/upgradekit/upgrade"
)

// A step skips itself with a reason; the report shows it skipped, not
// done or failed.
func ExampleSkip() {
	p := upgrade.NewPlan("p",
		upgrade.Func("checksums", func(ctx context.Context, s *upgrade.State) error {
			return upgrade.Skip("no database connection configured")
		}),
	)
	r, err := upgrade.NewRunner(p, upgrade.WithObserver(func(e upgrade.Event) {
		if e.Kind == upgrade.EventStepSkipped {
			fmt.Println("event:", e.Step, "skipped:", e.Reason)
		}
	}))
	if err != nil {
		fmt.Println(err)
		return
	}
	rep, err := r.Run(context.Background())
	fmt.Println("run error:", err)
	fmt.Println("report:", rep.Steps[0].Name, rep.Steps[0].Status, "-", rep.Steps[0].Reason)
	// Output:
	// event: checksums skipped: no database connection configured
	// run error: <nil>
	// report: checksums skipped - no database connection configured
}
