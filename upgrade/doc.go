// Package upgrade is the engine that runs an upgrade procedure as a plan
// of steps, so that an operator can see exactly what will happen, run it,
// survive a crash or a failure half way, and know afterwards what happened
// and how long the service was down. It knows nothing of OpenNebula or
// OpenStack: procedures built on it live in upgrade/<procedure> packages.
//
// # Plans and steps
//
// A Plan is a tree of named nodes: steps (Step, or Func for one built
// from functions), phases (Phase) that group steps in order, and PerHost
// fan-outs that run the same sub-plan on many hosts in parallel. Full
// names join the path with "/": "leader/upgrade-db",
// "followers/fe2/restore". A step needs only Name and Run; the runner
// detects optional abilities by type assertion: Prechecker (run during
// preflight), Checker ("already done?", for idempotence and resume),
// Rollbacker, Describer (dry-run intent), Depender (ordering
// constraints) and Policied (timeout, retries). Steps share typed values
// through Key[T] on the State.
//
// The plan and the run's options are validated whole before anything
// runs: duplicate names, unknown skip/only/force names, dependencies that
// are missing, run later or are skipped, hosts missing from the inventory.
//
// # Running
//
// NewRunner(plan, options...).Run(ctx) takes the lock (WithLocker: a
// HostLock on a host through its transport, or a FileLock), replays the
// journal (WithJournal, default FileStore; format in JournalVersion),
// runs the preflight checks, then the steps. Each step is journaled
// in_progress (fsync'd) before it runs and done or failed after. A
// resumed run skips done steps; a step left in progress by a crash is
// re-run only if its Checker says it is not done, or with WithForce; if
// neither, Run fails with a *DirtyStepError naming it (the operator then
// verifies by hand and resumes with WithForce or WithMarkDone). The file
// journal survives SIGKILL at any point: a torn last line is dropped with
// a note, corruption before it is an error.
//
// A step that finds nothing to do, or lacks something it needs, returns
// Skip(reason) (a *SkipError, also when wrapped): it is journaled and
// reported as skipped with that reason, an EventStepSkipped carries it,
// and it is neither retried, counted as failed nor rolled back; a resumed
// run evaluates it again. FuncStep.SkipWhen gates a step on what the run
// recorded (a plan whose shape preflight decides), FuncStep.KeepWhen keeps
// a step's change on a rollback once a part of the plan stands on its own.
//
// On failure the runner rolls back, in reverse start order, every
// attempted step that implements Rollbacker, each rollback journaled, on
// a context that the run's cancellation does not stop. A plan's
// PointOfNoReturn step, once started, makes rollback refused with a
// *NoReturnError telling the operator to fix and resume forward. A failed
// run returns a *PartialError with the completed, failed and pending steps.
//
// # Dry run
//
// WithDryRun(rec) wraps every host transport with DryRun: commands marked
// read-only (transport.Query) run for real, the others are recorded and
// succeed with empty output. The Recorder writes, per host in order, the
// complete list of commands a real run would execute, as text or JSON.
// File downloads run (reading changes nothing), uploads are recorded as
// "would upload <n> bytes to <path> (mode, owner)" and succeed, and
// connections dialled through a host (read-only database probes) pass
// through; see DryRun.
//
// # Events and report
//
// Every state change is an Event delivered to WithObserver functions;
// NewConsole renders progress as plain text and JSONLines writes JSON
// lines. Steps call State.ServiceDown and State.ServiceUp around an
// outage; the Report carries per-step and per-host durations, skips and
// their reasons, the measured downtime windows, each service's downtime
// and the total downtime, both as the length of the union of windows so
// that overlapping windows (API down while writes are down) count once.
package upgrade
