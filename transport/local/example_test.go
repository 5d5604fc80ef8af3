package local_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/transport/local"
)

func Example() {
	tr, err := local.New(local.WithHostName("fe1"))
	if err != nil {
		panic(err)
	}
	defer tr.Close()
	ctx := context.Background()

	// Arguments reach the program as they are: no shell in between.
	out, err := transport.Output(ctx, tr, transport.Cmd("echo", "$(id)", "'quoted'"))
	fmt.Print(string(out))
	fmt.Println(err)

	// A timeout stops the whole process group.
	sleep := transport.Cmd("sleep", "60")
	sleep.Timeout = 50 * time.Millisecond
	_, err = tr.Run(ctx, sleep)
	fmt.Println(errors.Is(err, transport.ErrTimeout), err)

	// Output:
	// $(id) 'quoted'
	// <nil>
	// true host fe1: sleep 60: timed out after 50ms
}
