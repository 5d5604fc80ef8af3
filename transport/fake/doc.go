// Package fake is a strict, scripted transport.Transport for unit tests.
//
// A Transport answers only the commands it was told to expect. Each
// expectation matches a command's argv (Exact, Prefix or a Func) and
// scripts the reply: stdout, stderr and exit code, or a Handle function
// that computes it. Faults are injected the same way: a Delay, a Hang
// until the context ends, a ConnectionLost before or after the command
// started, output cut short with Truncate.
//
// Strict by default: a command no expectation matches fails that Run with
// an error wrapping ErrUnexpected, and AssertExpectations reports it
// together with every expectation that was not met. A lenient fake, which
// answers unexpected commands with exit 0 and no output, has to be asked
// for with the Lenient option; it can hide a typo in a command.
//
// Expectations are tried in the order they were registered; one that has
// been used up (Times, 1 by default) is skipped, so a sequence of replies
// to the same command is written as consecutive expectations.
//
// Every call is recorded under a mutex, with its command, the bytes it
// read from stdin, its result and its error, so a fake may be shared by
// concurrent goroutines and inspected afterwards with Calls. NewCluster
// gives one fake per host for multi-host code.
//
// The fake honours the Command fields a real transport does: Stdout and
// Stderr writers receive the output, otherwise it is captured bounded by
// MaxOutput; Timeout stops Delay, Hang and handlers with an error
// matching transport.ErrTimeout. It also implements transport.Uploader
// and transport.Downloader on an in-memory file table (SetFile, File), so
// code that copies files can be tested without a host.
package fake
