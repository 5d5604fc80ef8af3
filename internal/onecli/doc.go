// Package onecli holds the pieces the OpenNebula CLI packages (zone, host,
// vm) share: strict XML decoding, the parse-error message and the
// validation of their common options.
package onecli
