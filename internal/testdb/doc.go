// Package testdb starts private MariaDB servers for tests: through
// dockertest when a Docker engine answers, otherwise a local mariadbd in a
// temporary directory with its own socket and port on 127.0.0.1.
//
// Where no server can be started, Start skips the test, except when the
// environment has CI=true: there a missing server fails the test, so a CI
// run can never pass by skipping the database tests.
package testdb
