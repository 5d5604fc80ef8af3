// Package onedconf reads and edits OpenNebula's oned.conf, preserving the
// file byte for byte except for the values it changes.
//
// The format is OpenNebula's template syntax: `NAME = value`,
// `NAME = "quoted"` (quoted values may span lines), `NAME =` (empty),
// vector attributes `NAME = [ A = "b", C = d ]` written on one line or
// many, repeated attributes (several VM_MAD or IM_MAD vectors) and `#`
// comments. Parse builds a File that remembers where every value's bytes
// are; Get reads a value by path ("PORT", "FEDERATION/SERVER_ID",
// "VM_MAD[1]/NAME"), Set rewrites only that value (keeping its quoting)
// or adds the attribute next to its neighbours with the same indentation,
// and Bytes returns the result.
//
// ReadRemote and WriteRemote move the file through a transport with
// SHA-256 checks and keep its mode and owner; Update and SetServerID are
// read-modify-write helpers that write only when something changed, e.g.
// to restore a follower's FEDERATION/SERVER_ID after /etc/one was copied
// from the leader (OpenNebula's HA upgrade guide, upgrading_ha).
package onedconf
