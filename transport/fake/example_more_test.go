package fake_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/transport/fake"
)

// A strict fake fails commands nobody expected: a typo cannot pass
// silently.
func ExampleErrUnexpected() {
	fe := fake.New("fe1")
	fe.Expect(fake.Exact("systemctl", "stop", "opennebula"))

	err := transport.Check(context.Background(), fe, transport.Cmd("systemctl", "stop", "opennebual"))
	fmt.Println(errors.Is(err, fake.ErrUnexpected))
	fmt.Println(err)

	// Output:
	// true
	// fake fe1: unexpected command: systemctl stop opennebual
}

// Hang blocks until the context ends, so code that must give up on a
// stuck command can be tested; with Command.Timeout the error matches
// transport.ErrTimeout.
func ExampleExpectation_Hang() {
	fe := fake.New("fe1")
	fe.Expect(fake.Prefix("onedb", "backup")).Hang()

	cmd := transport.Cmd("onedb", "backup", "/var/lib/one/backup.sql")
	cmd.Timeout = 10 * time.Millisecond
	_, err := fe.Run(context.Background(), cmd)
	fmt.Println(errors.Is(err, transport.ErrTimeout))

	// Output:
	// true
}

// A handler computes replies from the command, here from its stdin and
// its environment.
func ExampleExpectation_Handle() {
	fe := fake.New("db1")
	fe.Expect(fake.Exact("mysql", "opennebula")).Handle(func(ctx context.Context, c transport.Command) (transport.Result, error) {
		if c.SecretEnv["MYSQL_PWD"].Reveal() != "s3cret" {
			return transport.Result{ExitCode: 1, Stderr: []byte("ERROR 1045 (28000): Access denied\n")}, nil
		}
		return transport.Result{Stdout: []byte("1\n")}, nil
	})

	cmd := transport.Query("mysql", "opennebula")
	cmd.SecretEnv = map[string]transport.Secret{"MYSQL_PWD": transport.NewSecret("s3cret")}
	cmd.Stdin = stringsReader("SELECT 1;")
	out, err := transport.Output(context.Background(), fe, cmd)
	fmt.Printf("%q %v\n", out, err)
	fmt.Printf("stdin %q, logged as %s\n", fe.Calls()[0].Stdin, fe.Calls()[0].Command)

	// Output:
	// "1\n" <nil>
	// stdin "SELECT 1;", logged as env MYSQL_PWD=[REDACTED] mysql opennebula
}

// A Cluster holds one fake per host; Call.Seq orders calls across hosts.
func ExampleCluster() {
	c := fake.NewCluster("fe1", "fe2")
	for _, h := range c.Hosts() {
		c.Host(h).Expect(fake.Exact("systemctl", "stop", "opennebula"))
	}
	ctx := context.Background()
	for _, h := range []string{"fe2", "fe1"} {
		_ = transport.Check(ctx, c.Host(h), transport.Cmd("systemctl", "stop", "opennebula"))
	}
	for _, call := range c.Calls() {
		fmt.Println(call.Seq, call)
	}

	// Output:
	// 1 fe2: systemctl stop opennebula
	// 2 fe1: systemctl stop opennebula
}

// The fake keeps uploaded files in memory, so code that copies files can
// be tested; transport.Upload uses the fake's Uploader.
func ExampleTransport_File() {
	fe := fake.New("fe1")
	_, err := transport.Upload(context.Background(), fe, "/etc/one/oned.conf",
		stringsReader("DB = [ BACKEND = \"mysql\" ]\n"), transport.FileOptions{Mode: 0o640, Owner: "oneadmin"})
	fmt.Println(err)
	f, _ := fe.File("/etc/one/oned.conf")
	fmt.Printf("%s %s %q\n", f.Mode, f.Owner, f.Data)

	// Output:
	// <nil>
	// -rw-r----- oneadmin "DB = [ BACKEND = \"mysql\" ]\n"
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }
