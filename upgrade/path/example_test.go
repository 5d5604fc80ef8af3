package path_test

import (
	"errors"
	"fmt"

	"github.com/upgradekit/upgradekit/upgrade/path"
)

func ExampleChoose() {
	for _, c := range [][2]string{{"7.4.0", "7.4.1"}, {"7.2.0", "7.4.1"}, {"6.10.3", "7.4.1"}, {"7.4.1", "7.2.0"}} {
		d, err := path.Choose(c[0], c[1], path.DBVersions{})
		var re *path.RefusedError
		switch {
		case errors.As(err, &re):
			fmt.Printf("%s → %s: refused (%v), via %v\n", c[0], c[1], re.Err, re.Via)
		case err != nil:
			fmt.Println(err)
		default:
			fmt.Printf("%s → %s: %s\n", c[0], c[1], d.Procedure)
		}
	}
	// Output:
	// 7.4.0 → 7.4.1: rolling
	// 7.2.0 → 7.4.1: full
	// 6.10.3 → 7.4.1: refused (unsupported upgrade jump), via [7.0.0 7.2.0]
	// 7.4.1 → 7.2.0: refused (downgrade refused), via []
}
