// Package osloconf reads and edits oslo.config INI files (nova.conf,
// keystone.conf, ...) without disturbing them: every line it does not
// change is written back byte for byte, so comments, commented-out
// defaults, blank lines, ordering, repeated (multi-valued) keys and the
// operator's spacing all survive an edit.
//
// gopkg.in/ini.v1 was tried first and rejected for this: it rewrites
// "#option = x" comments as "# option = x", drops the [DEFAULT] header,
// blank lines and trailing comments, and re-aligns every key of a section
// unless the package-global PrettyFormat is switched off (mutable global
// state that this SDK does not touch).
//
// The syntax follows oslo.config's own parser (oslo_config/iniparser.py):
// "[section]" headers, "key = value" or "key: value" lines, full-line
// comments starting with '#' or ';', continuation lines starting with
// whitespace, and no inline comments (a '#' inside a value is part of it).
package osloconf
