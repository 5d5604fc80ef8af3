// Package vfs is the file system of a simulated node: FS keeps regular
// files and directories with mode and ownership in memory (safe for
// concurrent use, serialisable through Snapshot and Load), and OS offers
// the same methods on the real file system for the multi-call binary.
package vfs
