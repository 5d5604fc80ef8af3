// Package transport runs commands on hosts: the one interface every
// upgradekit primitive talks through.
//
// A Transport runs a Command (argv, never a shell string) and returns a
// Result. A command that ran and exited non-zero is data, not an error:
// Run's error is reserved for failing to run the command to completion
// (dial, authentication, a lost connection, a timeout, a cancelled
// context). The helpers Output and Check sit in front of Run the way
// http.Client sits in front of http.RoundTripper and turn a non-zero exit
// into an *ExitError carrying the host, the redacted command, the code and
// the tail of stderr.
//
// Implementations live in sub-packages: transport/ssh (golang.org/x/crypto/ssh,
// strict host-key checking, a connection pool and fan-out), transport/local
// (os/exec) and transport/fake (a strict scripted fake for unit tests).
// transport/transporttest is the conformance suite all three pass.
//
// Extra abilities are optional interfaces found by type assertion: Dialer
// (network connections from the host, used to reach MySQL over SSH),
// Uploader and Downloader (file transfer; the package functions Upload and
// Download fall back to streaming over Run with SHA-256 checked on both
// ends), and Namer.
//
// Quoting for the remote shell is the transport's job (Quote, Join,
// Command.Wire). Secrets travel as Secret values: in Command.SecretEnv they
// reach the command's environment through its stdin, and WithSecretFile
// puts one in a 0600 file that is removed afterwards; neither ever appears
// in a process's argv, and Command.String, errors and logs mask them.
package transport
