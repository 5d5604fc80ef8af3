// Package shell is the mvdan.cc/sh glue the simulators share: it
// interprets a script like /bin/sh -c, with the interpreter's builtins,
// and routes every external command and every file access to a simulated
// node described by a [Config].
package shell
