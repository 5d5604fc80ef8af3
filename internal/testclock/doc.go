// Package testclock is a virtual clock for tests of the waits: its
// timers advance it and fire at once, recording every wait, so a wait
// run on it never sleeps in real time.
package testclock
