// Package path chooses how to upgrade an OpenNebula zone: from the
// installed release, the target release and the database versions, Choose
// picks a Rolling upgrade (a patch release: the database version does not
// change, so HA nodes can be upgraded one at a time), a Full upgrade (a
// minor or major release: the database version changes and the whole zone
// is stopped), or None, and says why. It refuses a downgrade and a jump
// over a minor release (6.10 → 7.4 goes through 7.0 and 7.2) with a
// *RefusedError naming the releases to go through.
//
// Versions follow src/onedb/onedb.rb: the database version is the minor series
// X.Y.0 of the release (7.4.1 → 7.4.0).
package path
