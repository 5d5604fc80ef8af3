package transporttest_test

import (
	"context"
	"fmt"

	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/transport/local"
	"github.com/upgradekit/upgradekit/transport/transporttest"
)

// HostileArgs is the corpus the suite sends through every transport; it
// is handy for a transport's own tests too. Here it goes through the
// local transport and back, byte for byte.
func ExampleHostileArgs() {
	tr, err := local.New()
	if err != nil {
		panic(err)
	}
	defer tr.Close()

	args := transporttest.HostileArgs()
	for _, a := range args[:3] {
		fmt.Println(transport.Quote(a))
	}
	same := 0
	for _, a := range args {
		out, err := transport.Output(context.Background(), tr, transport.Shell(`printf '%s' "$1"`, a))
		if err == nil && string(out) == a {
			same++
		}
	}
	fmt.Println(same == len(args))

	// Output:
	// '$(id)'
	// '`id`'
	// '$(touch /tmp/upgradekit-pwned)'
	// true
}
