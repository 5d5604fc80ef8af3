package cli_test

import (
	"fmt"

	"github.com/upgradekit/upgradekit/examples/internal/cli"
)

func ExampleParseFile() {
	f, err := cli.ParseFile([]byte(`
target: 7.4.1
repository: {url: "https://downloads.opennebula.io/repo/{series}/Ubuntu/24.04"}
zone:
  frontends:
    - {name: fe1, address: 10.0.0.11}
    - {name: fe2, address: 10.0.0.12}
    - {name: fe3, address: 10.0.0.13}
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	inv, err := f.Inventory()
	fmt.Println(err, inv.Hosts(), inv.Zones[0].Frontends[2].ServerID)
	// Output: <nil> [fe1 fe2 fe3] 2
}
