// Command ha-upgrade upgrades an OpenNebula HA cluster (or a single
// front-end) with the procedure of package upgrade/ha: it prints the plan,
// runs it with a live progress display (or JSON events), and prints the
// report with per-step timings and the downtime window.
//
//	go run ./examples/ha-upgrade                       # simulated 3-node cluster, 7.2.0 → 7.4.1
//	go run ./examples/ha-upgrade --dry-run             # what would run, nothing changed
//	go run ./examples/ha-upgrade --inventory cloud.yaml
//	go run ./examples/ha-upgrade --inventory cloud.yaml --resume
//	go run ./examples/ha-upgrade --hypervisors-only     # hosts only, in batches with a canary; refused
//	                                                   # while a front-end is older than the target
//	                                                   # (the simulated ones are at 7.2.0)
//
// The run's lock is on every front-end of the inventory (a majority must
// be held). --resume --break-lock removes the lock of a killed run, and
// refuses while its holder shows signs of life; --force-break-lock warns
// and removes it anyway. The front-ends also record the run in flight: a
// run whose journal is lost is refused (exit 3), and --rebuild-journal
// writes that journal back from the record for a --resume.
//
// Exit codes: 0 done, 1 failed (nothing changed or rolled back), 2 usage,
// 3 failed past the point of no return, a rollback that could not undo
// everything, or a run in flight that the journal does not know: fix the
// cause and run again with --resume (which finishes an unfinished
// rollback; --direction forward or backward chooses).
package main
