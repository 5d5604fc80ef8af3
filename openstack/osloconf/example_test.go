package osloconf_test

import (
	"fmt"

	"github.com/upgradekit/upgradekit/openstack/osloconf"
)

func Example() {
	f, err := osloconf.Parse([]byte("[DEFAULT]\n# keep me\ndebug = false\n\n[upgrade_levels]\n#compute = <None>\n"))
	if err != nil {
		panic(err)
	}
	// Pin the compute RPC API during a rolling upgrade...
	if _, err := f.Set("upgrade_levels", "compute", "auto"); err != nil {
		panic(err)
	}
	fmt.Print(string(f.Bytes()))
	// ...and unpin it afterwards: the file is back to what it was.
	f.Unset("upgrade_levels", "compute")
	fmt.Println("---")
	fmt.Print(string(f.Bytes()))
	// Output:
	// [DEFAULT]
	// # keep me
	// debug = false
	//
	// [upgrade_levels]
	// #compute = <None>
	// compute = auto
	// ---
	// [DEFAULT]
	// # keep me
	// debug = false
	//
	// [upgrade_levels]
	// #compute = <None>
}
