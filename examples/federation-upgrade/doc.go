// Command federation-upgrade upgrades an OpenNebula federation (a master
// zone and its slave zones, each a single front-end or an HA cluster) with
// the coordinated procedure of package upgrade/federation: zones disabled
// (slaves first), all stopped, the master upgraded, its federated backup
// restored in every slave (minor upgrades), the slaves upgraded, zones
// enabled (master first); a patch release, which keeps the shared
// database version, zone by zone instead, none disabled. It prints the
// plan, runs it with a live progress display (or JSON events), and prints
// the report with per-step timings and each zone's downtime window.
//
//	go run ./examples/federation-upgrade                 # simulated federation, 7.2.0 → 7.4.1
//	go run ./examples/federation-upgrade --dry-run
//	go run ./examples/federation-upgrade --inventory federation.yaml
//	go run ./examples/federation-upgrade --inventory federation.yaml --resume
//
// The inventory lists the master zone first (`zones:`), each zone with
// its endpoint (the VIP) and, optionally, its current leader.
//
// Exit codes: 0 done, 1 failed (nothing changed or rolled back), 2 usage,
// 3 failed past the point of no return, or a rollback that could not undo
// everything: fix the cause and run again with --resume (which finishes
// an unfinished rollback; --direction forward or backward chooses).
package main
