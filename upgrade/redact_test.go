package upgrade_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/transport/fake"
	"github.com/upgradekit/upgradekit/upgrade"
)

func TestRedactorChannels(t *testing.T) {
	t.Parallel()
	const tok = "s3cr\"et/tok"
	r := upgrade.NewRedactor(transport.NewSecret(tok), transport.Secret{})
	require.True(t, r.Active())

	inner := &transport.ExitError{Host: "h", Code: 1}
	err := r.Error(errors.Join(errors.New("fetch https://"+tok+"@x failed"), inner))
	assert.NotContains(t, err.Error(), tok)
	assert.ErrorIs(t, err, inner, "the chain is kept")
	plain := errors.New("nothing secret")
	assert.Same(t, plain, r.Error(plain))

	core, logs := observer.New(zapcore.DebugLevel)
	log := r.Logger(zap.New(core)).With(zap.String("url", "https://"+tok+"@x"))
	log.Info("got "+tok, zap.Error(errors.New("e "+tok)), zap.Stringer("s", stringer(tok)),
		zap.Any("m", map[string]string{"k": tok}), zap.ByteString("b", []byte(tok)))
	for _, e := range logs.All() {
		assert.NotContains(t, e.Message, tok)
		for k, v := range e.ContextMap() {
			assert.NotContains(t, strings.ReplaceAll(toString(v), `\"`, `"`), tok, k)
		}
	}

	rec := r.Record(upgrade.Record{Error: "x " + tok, Value: []byte(`{"u":"s3cr\"et/tok"}`)})
	assert.NotContains(t, rec.Error+string(rec.Value), `cr\"et`)

	f := fake.New("h")
	f.Expect(fake.Exact("apt-get", "update")).Stdout(tok).Exit(100, "E: https://"+tok+"@x 401\n")
	res, err := r.Transport(f).Run(context.Background(), transport.Cmd("apt-get", "update"))
	require.NoError(t, err)
	assert.NotContains(t, string(res.Stdout)+string(res.Stderr), tok)
	assert.Contains(t, string(res.Stderr), "[REDACTED]")
}

type stringer string

func (s stringer) String() string { return string(s) }

func toString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := zapcore.NewJSONEncoder(zapcore.EncoderConfig{}).EncodeEntry(zapcore.Entry{}, []zapcore.Field{zap.Any("v", v)})
	return b.String()
}
