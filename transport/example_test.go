package transport_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/transport/fake"
	"github.com/upgradekit/upgradekit/transport/local"
)

// Output returns stdout and turns a non-zero exit into an *ExitError
// with the host, the command and the tail of stderr.
func ExampleOutput() {
	fe := fake.New("fe1")
	fe.Expect(fake.Exact("onezone", "show", "0", "-x")).Reply("<ZONE><ID>0</ID></ZONE>")
	fe.Expect(fake.Exact("onezone", "show", "7", "-x")).Exit(255, "[one.zone.info] Error getting zone [7].\n")

	ctx := context.Background()
	out, err := transport.Output(ctx, fe, transport.Query("onezone", "show", "0", "-x"))
	fmt.Println(string(out), err)

	_, err = transport.Output(ctx, fe, transport.Query("onezone", "show", "7", "-x"))
	code, _ := transport.ExitCode(err)
	fmt.Println(code, err)

	// Output:
	// <ZONE><ID>0</ID></ZONE> <nil>
	// 255 host fe1: onezone show 7 -x: exit status 255: [one.zone.info] Error getting zone [7].
}

// A non-zero exit is data for Run and an error for Check; a command
// whose codes mean something (systemctl is-active exits 3 when inactive)
// uses Run and reads ExitCode.
func ExampleCheck() {
	tr, err := local.New()
	if err != nil {
		panic(err)
	}
	defer tr.Close()
	ctx := context.Background()

	res, err := tr.Run(ctx, transport.Shell(`exit 3`))
	fmt.Println(res.ExitCode, err)

	err = transport.Check(ctx, tr, transport.Shell(`echo "unit not loaded" >&2; exit 3`))
	var exitErr *transport.ExitError
	fmt.Println(errors.As(err, &exitErr), exitErr.Code, strings.TrimSpace(string(exitErr.Stderr)))

	// Output:
	// 3 <nil>
	// true 3 unit not loaded
}

// Shell is the one way to get a shell. Values go in as positional
// arguments ($1, $2, ...), never spliced into the script.
func ExampleShell() {
	tr, err := local.New()
	if err != nil {
		panic(err)
	}
	defer tr.Close()

	name := `O'Brien; rm -rf / $(id)`
	out, err := transport.Output(context.Background(), tr,
		transport.Shell(`printf 'hello, %s\n' "$1"`, name))
	fmt.Print(string(out), err, "\n")

	// Output:
	// hello, O'Brien; rm -rf / $(id)
	// <nil>
}

// Quote and Join produce what a POSIX shell reads back as the same words;
// transports use them, callers rarely need to.
func ExampleJoin() {
	fmt.Println(transport.Quote("plain"))
	fmt.Println(transport.Quote("it's"))
	fmt.Println(transport.Join([]string{"mysql", "-e", "SELECT 1", ""}))

	// Output:
	// plain
	// 'it'\''s'
	// mysql -e 'SELECT 1' ''
}

// Secrets travel in SecretEnv: the command sees the variable, while
// String, logs and errors show [REDACTED] and the value never reaches any
// process's argv.
func ExampleCommand_SecretEnv() {
	tr, err := local.New()
	if err != nil {
		panic(err)
	}
	defer tr.Close()

	cmd := transport.Shell(`echo "got a password of ${#MYSQL_PWD} characters"`)
	cmd.SecretEnv = map[string]transport.Secret{"MYSQL_PWD": transport.NewSecret("hunter2")}
	out, err := transport.Output(context.Background(), tr, cmd)
	fmt.Print(string(out))
	fmt.Println(err)
	fmt.Println(cmd)

	// Output:
	// got a password of 7 characters
	// <nil>
	// env MYSQL_PWD=[REDACTED] /bin/sh -c 'echo "got a password of ${#MYSQL_PWD} characters"' sh
}
