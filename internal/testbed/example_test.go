package testbed_test

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"

	"github.com/upgradekit/upgradekit/internal/testbed"
)

// Start three front-ends with their own /etc/one, reach them with
// OpenSSH through the generated client configuration, and crash one.
// (Not run by go test: it needs root and sshd; tests use testbed.New.)
func Example() {
	ctx := context.Background()
	bed, err := testbed.Start(ctx, testbed.Config{
		Hosts:      3,
		FirstAddr:  netip.MustParseAddr("127.22.9.1"),
		Port:       22999,
		NamePrefix: "fe",
		Env:        map[string]string{"ROLE": "frontend"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer bed.Close()
	out, _ := exec.Command("ssh", "-F", bed.SSHConfigFile, "fe1", `echo "$UPGRADEKIT_HOST $ROLE"`).Output()
	fmt.Printf("%s", out) // fe1 frontend
	_ = bed.Host("fe2").Kill()
	_ = bed.Host("fe2").Start(ctx)
}
