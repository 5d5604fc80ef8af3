package rolling_test

import (
	"testing"

	"github.com/upgradekit/upgradekit/upgrade/internal/proctest"
)

// TestSecretNeverShownRolling prints the repository token on the standard
// error of every command of every step and every rollback of the Rolling
// procedure (and fails a step, then a rollback, with it): the token
// appears in no error, event, log line, journal record or report.
func TestSecretNeverShownRolling(t *testing.T) {
	t.Parallel()
	proctest.SecretLeaks(t, proctest.Rolling())
}

// TestSecretNeverShownRejoin prints the repository token on the standard
// error of every command of every step and every rollback of the Rejoin
// procedure (and fails a step, then a rollback, with it): the token
// appears in no error, event, log line, journal record or report.
func TestSecretNeverShownRejoin(t *testing.T) {
	t.Parallel()
	proctest.SecretLeaks(t, proctest.Rejoin())
}
