// Package nebulatest connects the OpenNebula procedures to the simulator
// (package sim) for tests: an inventory read from a simulated cloud, its
// transports, and the Kit options that put waits and backups on the
// simulator's virtual clock.
package nebulatest
