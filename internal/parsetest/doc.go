// Package parsetest holds the test helpers the parsers of the OpenNebula
// CLI packages (zone, host, vm) share: reading samples, checking one
// table case and cutting a document at every prefix.
package parsetest
