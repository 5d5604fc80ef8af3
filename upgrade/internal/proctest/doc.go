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
//
// Snapshot captures what a run must not lose or change: releases, units,
// per-table database checksums, host states and the keys of the VM, host
// and user rows of every front-end's database.
package proctest
