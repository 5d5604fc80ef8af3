// Package vm lists OpenNebula VMs through the onevm CLI on a front-end and
// classifies each one as settled, transient or failed, so an upgrade can
// wait until no VM is in the middle of an operation (the upgrade guides'
// step 1) and stop at once on VMs that need `onevm recover`.
//
// # Commands
//
// The exact argv each function sends (Command.Argv()); WithEndpoint(url)
// appends "--endpoint", url; WithUser runs it as another user through sudo.
//
//	List          onevm list -x          (transport.Query)
//	WaitSettled   onevm list -x          (repeated)
//
// `onevm list -x` returns the short VM bodies of every VM but DONE ones:
// ID, NAME, STATE, LCM_STATE, optional LOCK, and only the last HISTORY
// record (the host). ParseList reads them with encoding/xml; malformed or
// truncated output is a *ParseError.
//
// # Classification
//
// Classify follows include/VirtualMachine.h's states exactly:
//
//   - Settled: STATE PENDING, HOLD, STOPPED, SUSPENDED, DONE, POWEROFF,
//     UNDEPLOYED; ACTIVE with LCM RUNNING or UNKNOWN.
//   - Failed: STATE CLONING_FAILURE; ACTIVE with LCM 36-42, 44, 46-50 or
//     61 (the *_FAILURE states).
//   - Transient: STATE INIT, CLONING; ACTIVE with any other live LCM value
//     (0-2, 4-12, 15, 17-35, 43, 45, 51-54, 56, 57, 59, 60, 62-71).
//   - Unknown: the retired STATE 7 and LCM 13, 14, 55, 58, and values
//     this package does not know.
//
// WaitSettled polls (cenkalti/backoff/v4, fresh per call, bound to ctx)
// until no VM is Transient. A Failed or Unknown VM stops it at once with a
// *FailedError naming them; a timeout gives a *NotSettledError naming the
// VMs still transient, with the last underlying error. API errors on
// stderr become *zone.APIError (errors.Is zone.ErrElectionMode, ...).
// WithTimer and WithClock put the wait on a virtual clock (the
// simulator's Clock().NewTimer and Now): no real sleeping.
package vm
