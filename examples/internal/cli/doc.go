// Package cli holds what the example binaries share: the inventory file
// (YAML, secrets read from files or the environment), SSH transports with
// strict known_hosts checking, the embedded simulated cloud, the common
// flags (--inventory, --simulate, --dry-run, --resume, --journal, --json),
// parsing them (Parse), the exit codes, and running a plan (Execute:
// printing the plan, dry-run recording or the lock on every front-end
// (Lock, with --break-lock and --force-break-lock; --rebuild-journal),
// progress, the
// report as text or JSON, the exit code and advice on stderr), so that
// each binary keeps only its flags, its inventory → plan, and what is
// specific to it.
package cli
