package upgrade_test

import (
	"errors"
	"fmt"

	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/upgrade"
)

// A Redactor masks a run's secrets wherever they show; the runner puts one
// between every command and every output channel (see Plan.WithSecrets).
func ExampleRedactor() {
	tok := transport.NewSecret("s3cret")
	r := upgrade.NewRedactor(tok)
	err := r.Error(errors.New("E: Failed to fetch https://s3cret@repo.example/InRelease 401"))
	fmt.Println(err)
	fmt.Println(r.String("token=s3cret"))
	// Output:
	// E: Failed to fetch https://[REDACTED]@repo.example/InRelease 401
	// token=[REDACTED]
}
