package transporttest_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/transport/local"
	"github.com/upgradekit/upgradekit/transport/transporttest"
)

// The suite against the reference transport, small file: the full runs
// live in transport/local and transport/fake.
func TestRunLocal(t *testing.T) {
	transporttest.Run(t, func(t *testing.T) transport.Transport {
		tr, err := local.New()
		require.NoError(t, err)
		return tr
	}, transporttest.Config{LargeFileBytes: 1 << 20})
}

func TestHostileArgsIsFresh(t *testing.T) {
	t.Parallel()
	a := transporttest.HostileArgs()
	a[0] = "changed"
	require.NotEqual(t, "changed", transporttest.HostileArgs()[0])
	require.Contains(t, a, "")
	require.Contains(t, a, "a\nb")
}
