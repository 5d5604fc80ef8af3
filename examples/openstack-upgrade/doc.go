// Command openstack-upgrade upgrades an OpenStack control plane with the
// procedure of package upgrade/controlplane: it prints the plan, runs it
// with a live progress display (or JSON events), and prints the report
// with per-step timings and per-service downtime windows.
//
//	go run ./examples/openstack-upgrade                 # simulated Zed cloud → 2023.1 Antelope
//	go run ./examples/openstack-upgrade --dry-run       # what would run, nothing changed
//	go run ./examples/openstack-upgrade --inventory cloud.yaml
//	go run ./examples/openstack-upgrade --inventory cloud.yaml --resume
//
// The inventory format is cli.OpenStackFile's. Exit codes: 0 done, 1
// failed (nothing changed or rolled back), 2 usage, 3 failed past the
// point of no return or a rollback failed: fix the cause and run again
// with --resume.
package main
