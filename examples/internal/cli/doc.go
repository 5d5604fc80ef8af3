// Package cli holds what the example binaries share: the inventory file
// (YAML, secrets read from files or the environment), SSH transports with
// strict known_hosts checking, the embedded simulated cloud, the common
// flags (--inventory, --simulate, --dry-run, --resume, --journal, --json),
// the exit codes, and printing the plan.
package cli
