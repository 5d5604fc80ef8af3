// Package clitest helps test the example binaries: it runs a command's
// run function and captures its output, builds the binary, and splits
// --json output into events and the report.
package clitest
