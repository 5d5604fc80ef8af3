// Package proctest is the shared harness of the OpenNebula procedures'
// end-to-end tests on the simulator (package sim): a fault injected into
// every step of a plan, and the process killed at every step boundary
// and resumed.
//
// A Procedure says how to build a fresh simulated cloud and the plan
// upgrading it. FaultMatrix runs the plan once per step (and fault kind)
// with an Injector that fails the first mutating command the step issues
// and checks the outcome: before the point of no return the cloud is back
// where it was; at or after it, a resume with the fault removed finishes
// the upgrade. KillMatrix runs the plan in a child process (the test
// binary re-executed through its TestHelperProcess) whose cloud is saved
// to a file when it reaches step boundary k (see Persister), SIGKILLs it
// there, resumes in process from the same journal and state file, and
// checks that the upgrade completed and that no step ran twice.
// RollbackKillMatrix does the same while a run rolls back
// (DuringRollback: the resume must finish the rollback) and during the
// resume after a full rollback (AfterRollback); RollbackThenResume and
// RollbackWithUnreachable check a resume after a rollback and a rollback
// with a front-end unreachable. The rollback matrices sample their
// boundaries deterministically unless PROCTEST_FULL=1.
//
// SecretLeaks prints the repository token on every command's output and
// checks it is shown nowhere; its pieces (LockedBuffer, ShownLogger,
// ShowRun, NotShown) also serve other procedures' leak tests, such as
// upgrade/controlplane's.
//
// Snapshot captures what a run must not lose or change: releases, units,
// per-table database checksums, host states and the keys of the VM, host
// and user rows of every front-end's database.
package proctest
