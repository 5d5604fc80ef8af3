package clitest_test

import (
	"context"
	"fmt"
	"io"

	"github.com/upgradekit/upgradekit/examples/internal/clitest"
)

func ExampleRun() {
	greet := func(_ context.Context, args []string, stdout, stderr io.Writer) int {
		if len(args) != 1 {
			fmt.Fprintln(stderr, "greet: want one name")
			return 2
		}
		fmt.Fprintf(stdout, "hello %s\n", args[0])
		return 0
	}
	code, out, errs := clitest.Run(greet, "fe1")
	fmt.Printf("%d %q %q\n", code, out, errs)
	code, out, errs = clitest.Run(greet)
	fmt.Printf("%d %q %q\n", code, out, errs)
	// Output:
	// 0 "hello fe1\n" ""
	// 2 "" "greet: want one name\n"
}
