package ha_test

import (
	"testing"

	"github.com/upgradekit/upgradekit/upgrade/internal/proctest"
)

// TestSecretNeverShownHA prints the repository token on the standard
// error of every command of every step and every rollback of the HA
// procedure (and fails a step, then a rollback, with it): the token
// appears in no error, event, log line, journal record or report.
func TestSecretNeverShownHA(t *testing.T) {
	t.Parallel()
	proctest.SecretLeaks(t, proctest.HA())
}
