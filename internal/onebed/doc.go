// Package onebed runs real OpenNebula front-ends, built from OpenNebula's
// source by testbed/opennebula/build.sh, on loopback for tests: each
// front-end is an oned with its own ONE_LOCATION (bin, lib and share shared
// with the build, etc and var its own), its own MariaDB server (from
// internal/testdb), its own XML-RPC port and the dummy drivers; StartZone
// forms a zone of several such front-ends with Raft over XML-RPC, in the
// order OpenNebula's HA guide gives.
//
// The suite is opt-in: the environment variable UPGRADEKIT_ONE_BUILDS names
// the directory holding one install per version (e.g. /work/onebuild/7.4.0,
// made by `build.sh SRC release-7.4.0 /work/onebuild/7.4.0`). Without it,
// Require skips the test with a message saying how to build and run it,
// also under CI=true: the source cannot be brought to CI.
//
// Client is a minimal XML-RPC client of oned's API (one.zone.raftstatus,
// one.vm.allocate, ...), enough to follow the leader and to drive the bed
// without the Ruby CLI; Server.CLI runs OpenNebula's own CLI (onezone,
// onedb, onehost, ...) against one front-end, as an operator would.
//
// Load is a client that keeps writing while a procedure runs: it creates
// documents through any server of the zone (moving to the next after an
// error), records every write as acknowledged, failed or indeterminate,
// and Check turns that record and what each server holds into a verdict
// ("nothing acknowledged lost, nothing failed applied") with the longest
// time without an acknowledged write, as measured by the client.
//
// Everything started is stopped by Close (oned by SIGTERM then SIGKILL of
// its process group, and any process left running from the front-end's
// directory, e.g. the dummy monitor client, which can outlive oned).
package onebed
