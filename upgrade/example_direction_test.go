package upgrade_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/upgradekit/upgradekit/upgrade"
)

// A rollback that could not undo everything (a host was unreachable) is
// finished by the next run, which goes backward by itself; the run after
// it goes forward and runs every step again.
func ExampleWithDirection() {
	reachable := false
	plan := func() *upgrade.Plan {
		undo := func(name string) func(ctx context.Context, s *upgrade.State) error {
			return func(ctx context.Context, s *upgrade.State) error {
				if name == "packages" && !reachable {
					return errors.New("host unreachable")
				}
				fmt.Println("  undo", name)
				return nil
			}
		}
		do := func(name string) func(ctx context.Context, s *upgrade.State) error {
			return func(ctx context.Context, s *upgrade.State) error {
				fmt.Println("  run", name)
				if name == "migrate" && !reachable {
					return errors.New("migration failed")
				}
				return nil
			}
		}
		return upgrade.NewPlan("p",
			upgrade.Func("config", do("config")).RollbackWith(undo("config")),
			upgrade.Func("packages", do("packages")).RollbackWith(undo("packages")),
			upgrade.Func("migrate", do("migrate")),
		)
	}
	store := &upgrade.MemoryStore{}
	run := func() {
		r, err := upgrade.NewRunner(plan(), upgrade.WithJournal(store))
		if err != nil {
			fmt.Println(err)
			return
		}
		rep, err := r.Run(context.Background())
		fmt.Printf("went %s", rep.Direction)
		if pe, ok := errors.AsType[*upgrade.PartialError](err); ok {
			fmt.Printf(": rolled back %v, could not roll back %v", pe.RolledBack, pe.RollbackFailed)
		}
		fmt.Println()
	}
	run()
	reachable = true
	run()
	run()
	// Output:
	//   run config
	//   run packages
	//   run migrate
	//   undo config
	// went forward: rolled back [config], could not roll back [packages]
	//   undo packages
	// went backward: rolled back [packages], could not roll back []
	//   run config
	//   run packages
	//   run migrate
	// went forward
}
