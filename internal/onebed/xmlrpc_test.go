package onebed

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// An answer as xmlrpc-c (oned's XML-RPC library) writes it: untyped
// string values, i4 codes, whitespace between elements.
const okAnswer = `<?xml version="1.0" encoding="UTF-8"?>
<methodResponse>
<params>
<param><value><array><data>
<value><boolean>1</boolean></value>
<value><string>&lt;RAFT&gt;&lt;SERVER_ID&gt;0&lt;/SERVER_ID&gt;&lt;STATE&gt;3&lt;/STATE&gt;&lt;/RAFT&gt;</string></value>
<value><i4>0</i4></value>
</data></array></value></param>
</params>
</methodResponse>`

func TestDecodeResponseOneAnswer(t *testing.T) {
	v, err := DecodeResponse([]byte(okAnswer))
	require.NoError(t, err)
	got, err := OneResult("one.zone.raftstatus", v)
	require.NoError(t, err)
	assert.Equal(t, "<RAFT><SERVER_ID>0</SERVER_ID><STATE>3</STATE></RAFT>", got)
}

func TestDecodeResponseRefusedCall(t *testing.T) {
	raw := `<methodResponse><params><param><value><array><data>
<value><boolean>0</boolean></value>
<value>[one.vm.allocate] Cannot process request, oned cluster is replicating log</value>
<value><i4>8192</i4></value><value><i4>-1</i4></value>
</data></array></value></param></params></methodResponse>`
	v, err := DecodeResponse([]byte(raw))
	require.NoError(t, err)
	_, err = OneResult("one.vm.allocate", v)
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "[one.vm.allocate] Cannot process request, oned cluster is replicating log", ae.Message)
	assert.Equal(t, int64(0x2000), ae.Code)
}

func TestDecodeResponseFault(t *testing.T) {
	raw := `<methodResponse><fault><value><struct>
<member><name>faultCode</name><value><i4>-501</i4></value></member>
<member><name>faultString</name><value><string>Not enough parameters</string></value></member>
</struct></value></fault></methodResponse>`
	_, err := DecodeResponse([]byte(raw))
	var f *Fault
	require.ErrorAs(t, err, &f)
	assert.Equal(t, int64(-501), f.Code)
	assert.Equal(t, "Not enough parameters", f.String)
}

func TestDecodeResponseMalformed(t *testing.T) {
	for name, raw := range map[string]string{
		"empty":          "",
		"not xml-rpc":    "<html>502</html>",
		"truncated":      okAnswer[:120],
		"bad int":        `<methodResponse><params><param><value><i4>x</i4></value></param></params></methodResponse>`,
		"bad bool":       `<methodResponse><params><param><value><boolean>2</boolean></value></param></params></methodResponse>`,
		"unknown type":   `<methodResponse><params><param><value><nil/></value></param></params></methodResponse>`,
		"two types":      `<methodResponse><params><param><value><i4>1</i4><i4>2</i4></value></param></params></methodResponse>`,
		"array no data":  `<methodResponse><params><param><value><array><value/></array></value></param></params></methodResponse>`,
		"struct garbage": `<methodResponse><params><param><value><struct><x/></struct></value></param></params></methodResponse>`,
		"too deep":       `<methodResponse><params><param><value>` + strings.Repeat("<array><data><value>", 100),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := DecodeResponse([]byte(raw))
			assert.ErrorIs(t, err, ErrMalformed)
		})
	}
}

func TestOneResultNotAnAnswer(t *testing.T) {
	for _, v := range []any{"x", []any{"yes", "v"}, []any{true}} {
		_, err := OneResult("m", v)
		assert.ErrorIs(t, err, ErrMalformed, "%#v", v)
	}
}

func TestEncodeCallRoundTrip(t *testing.T) {
	raw, err := EncodeCall("one.vm.allocate", "oneadmin:<pw&>", "NAME=\"a\"", 7, int64(1)<<40, true, false)
	require.NoError(t, err)
	assert.Contains(t, string(raw), "<string>oneadmin:&lt;pw&amp;&gt;</string>")
	assert.Contains(t, string(raw), "<i4>7</i4>")
	assert.Contains(t, string(raw), "<i8>1099511627776</i8>")
	assert.Contains(t, string(raw), "<boolean>1</boolean>")
	_, err = EncodeCall("m", 1.5)
	assert.Error(t, err)
}

// TestClientCall runs Call against an HTTP server answering as oned does,
// and checks what it sent.
func TestClientCall(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = string(b)
		io.WriteString(w, okAnswer)
	}))
	defer srv.Close()
	c := &Client{Endpoint: srv.URL + "/RPC2", Session: "oneadmin:pw"}
	v, err := c.Call(context.Background(), "one.zone.raftstatus")
	require.NoError(t, err)
	assert.Contains(t, v, "<STATE>3</STATE>")
	assert.Contains(t, got, "<methodName>one.zone.raftstatus</methodName>")
	assert.Contains(t, got, "<string>oneadmin:pw</string>")

	srv2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusServiceUnavailable)
	}))
	defer srv2.Close()
	_, err = (&Client{Endpoint: srv2.URL}).Call(context.Background(), "one.system.version")
	require.Error(t, err)
	assert.False(t, errors.Is(err, ErrMalformed))
}

func FuzzDecodeResponse(f *testing.F) {
	f.Add([]byte(okAnswer))
	f.Add([]byte(`<methodResponse><fault><value><struct><member><name>faultCode</name><value><i4>1</i4></value></member></struct></value></fault></methodResponse>`))
	f.Add([]byte(`<methodResponse><params><param><value><array><data><value><boolean>0</boolean></value><value>x</value></data></array></value></param></params></methodResponse>`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		v, err := DecodeResponse(raw)
		if err != nil {
			var f *Fault
			if !errors.Is(err, ErrMalformed) && !errors.As(err, &f) {
				t.Fatalf("error neither malformed nor fault: %v", err)
			}
			return
		}
		_, _ = OneResult("m", v)
	})
}
