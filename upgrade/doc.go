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
// HostLock on a host through its transport, a QuorumLock over one on
// every front-end, or a FileLock), replays the
// journal (WithJournal, default FileStore; format in JournalVersion),
// runs the preflight checks, then the steps. Each step is journaled
// in_progress (fsync'd) before it runs and done or failed after. A
// resumed run skips done steps; a step left in progress by a crash is
// re-run only if its Checker says it is not done, or with WithForce; if
// neither, Run fails with a *DirtyStepError naming it (the operator then
// verifies by hand and resumes with WithForce or WithMarkDone). The file
// journal survives SIGKILL and failed writes at any point: each record
// carries its checksum, a write or fsync that fails is repaired (the file
// cut to its last whole record) before anything else is appended, a torn
// last record is truncated away with a note and kept as evidence (the
// step it names counts as in progress), and corruption before it is an
// error. FileStore reaches its file through a JournalFS, so tests can
// inject short writes, ENOSPC, EIO and failed fsyncs.
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
// attempted step that implements Rollbacker, on a context that the run's
// cancellation does not stop. A step whose rollback fails does not stop
// the others: the *PartialError lists it in RollbackFailed and the
// Report's HostStates say where each host stands. The rollback is
// journaled (its start, each undo, its end): a step it undid or passed is
// pending again, so a resume runs it again; a rollback killed half way,
// or one that could not undo everything, is finished by the next run,
// which goes backward unless WithDirection says otherwise (the report's
// Direction says which way a run went). A plan's PointOfNoReturn step,
// once started, makes rollback refused with a *NoReturnError telling the
// operator to fix and resume forward. A failed run returns a
// *PartialError with the completed, failed and pending steps.
//
// # Lock, fencing and the cluster's record
//
// Only one run works on a cluster: the lock is refreshed by a heartbeat,
// broken by the next run once stale, and HostLock.Break refuses a holder
// that shows signs of life (*LockAliveError; ForceBreak does not ask).
// Leases are Fencers: before every step that changes something the run
// checks that the lock is still its own, and stops (ErrLockLost, no
// rollback) if another run broke it. Lockers that are RunRecorders
// (HostLock, QuorumLock, FileLock) also keep a RunRecord next to the lock
// from the first step on: run, plan fingerprint, the point reached and a
// compact copy of the journal. A run whose journal does not know the
// recorded run refuses with a *RunInFlightError; RebuildJournal writes the
// journal back from the record. The record is cleared when the run
// finishes or rolls everything back. WithRemoteMarks marks every
// mutating command on its host while it runs, and a run waits for the
// commands a killed run left running before it changes anything.
//
// # Secrets
//
// A Redactor masks the plan's secrets (Plan.WithSecrets) and WithSecrets
// values in every command's captured output, and in the run's errors,
// events, logs, journal records and report.
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
