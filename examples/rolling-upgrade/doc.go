// Command rolling-upgrade upgrades an OpenNebula HA cluster without
// stopping it as a whole, with package upgrade/rolling:
//
//   - --mode rolling (default): the rolling patch upgrade, one front-end at
//     a time, the leader last after a leadership handoff (3 or more
//     front-ends; patch releases only);
//   - --mode rejoin: the break-and-rejoin minor upgrade: the followers
//     leave the zone, the leader is upgraded alone, the followers are
//     re-seeded from it and added back.
//
// It prints the plan, runs it with a live progress display (or JSON
// events), and prints the report with per-step timings and the downtime
// windows.
//
//	go run ./examples/rolling-upgrade                      # simulated 3-node cluster, 7.4.0 → 7.4.1
//	go run ./examples/rolling-upgrade --mode rejoin        # simulated, 7.2.0 → 7.4.1
//	go run ./examples/rolling-upgrade --dry-run
//	go run ./examples/rolling-upgrade --inventory cloud.yaml --mode rejoin
//	go run ./examples/rolling-upgrade --inventory cloud.yaml --mode rejoin --resume
//
// Exit codes: 0 done, 1 failed (nothing changed or rolled back), 2 usage,
// 3 failed past the point of no return, or a rollback that could not undo
// everything: fix the cause and run again with --resume (which finishes
// an unfinished rollback; --direction forward or backward chooses).
package main
