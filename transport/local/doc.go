// Package local is a transport.Transport that runs commands on this
// machine with os/exec, with the same semantics as transport/ssh: argv
// never passes through a shell, Env is set on the process (inlined after
// `sudo -n --`, whose env_reset would drop it), SecretEnv reaches the
// command through its stdin, output is captured bounded by MaxOutput or
// streamed to the Command's writers, and Timeout or a cancelled context
// stops the command's whole process group (SIGTERM, then SIGKILL after a
// grace period) and returns promptly.
//
// It is useful on the front-end itself, in examples and as the reference
// transport of the conformance suite.
package local
