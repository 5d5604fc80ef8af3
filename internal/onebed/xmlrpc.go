package onebed

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Client calls oned's XML-RPC API at one endpoint.
type Client struct {
	// Endpoint is the server's XML-RPC URL, ending in /RPC2.
	Endpoint string
	// Session is "user:password", sent as the first parameter of every call.
	Session string
	// HTTP is the client used; nil means http.DefaultClient. Bound each
	// call with its context.
	HTTP *http.Client
}

// Fault is an XML-RPC fault returned by the server.
type Fault struct {
	Code   int64
	String string
}

func (f *Fault) Error() string { return fmt.Sprintf("xml-rpc fault %d: %s", f.Code, f.String) }

// APIError is an OpenNebula call that answered with success = false: the
// request reached oned and was refused (e.g. "[one.vm.allocate] Cannot
// process request, oned cluster is replicating log").
type APIError struct {
	Method  string
	Message string
	// Code is OpenNebula's error code (the third element of the answer),
	// e.g. 0x0100 AUTHENTICATION, 0x2000 ACTION (see
	// include/Request.h in OpenNebula/one).
	Code int64
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s: %s (code %#x)", e.Method, e.Message, e.Code)
}

// ErrMalformed wraps every answer that is not a well-formed XML-RPC
// methodResponse.
var ErrMalformed = errors.New("malformed xml-rpc response")

// Call calls method with the session and args (string, int, int64, bool)
// and returns the value OpenNebula answered with on success (the second
// element of its [success, value, code, ...] array): a string or an int64.
func (c *Client) Call(ctx context.Context, method string, args ...any) (any, error) {
	body, err := EncodeCall(method, append([]any{c.Session}, args...)...)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "text/xml")
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: http %s", method, resp.Status)
	}
	v, err := DecodeResponse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	return OneResult(method, v)
}

// OneResult interprets OpenNebula's answer array [success, value, code, ...].
func OneResult(method string, v any) (any, error) {
	arr, ok := v.([]any)
	if !ok || len(arr) < 2 {
		return nil, fmt.Errorf("%s: %w: answer is not an array of 2 or more", method, ErrMalformed)
	}
	okv, isBool := arr[0].(bool)
	if !isBool {
		return nil, fmt.Errorf("%s: %w: first element is not a boolean", method, ErrMalformed)
	}
	if !okv {
		e := &APIError{Method: method}
		e.Message, _ = arr[1].(string)
		if len(arr) > 2 {
			e.Code, _ = arr[2].(int64)
		}
		return nil, e
	}
	return arr[1], nil
}

// EncodeCall returns the XML of a methodCall.
func EncodeCall(method string, args ...any) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0"?><methodCall><methodName>`)
	if err := xml.EscapeText(&b, []byte(method)); err != nil {
		return nil, err
	}
	b.WriteString(`</methodName><params>`)
	for i, a := range args {
		b.WriteString(`<param><value>`)
		switch v := a.(type) {
		case string:
			b.WriteString(`<string>`)
			if err := xml.EscapeText(&b, []byte(v)); err != nil {
				return nil, err
			}
			b.WriteString(`</string>`)
		case int:
			fmt.Fprintf(&b, `<i4>%d</i4>`, v)
		case int64:
			fmt.Fprintf(&b, `<i8>%d</i8>`, v)
		case bool:
			if v {
				b.WriteString(`<boolean>1</boolean>`)
			} else {
				b.WriteString(`<boolean>0</boolean>`)
			}
		default:
			return nil, fmt.Errorf("xml-rpc: parameter %d: unsupported type %T", i, a)
		}
		b.WriteString(`</value></param>`)
	}
	b.WriteString(`</params></methodCall>`)
	return b.Bytes(), nil
}

// DecodeResponse parses a methodResponse: its one parameter as a Go value
// (string, int64, bool, float64, []any, map[string]any), or a *Fault.
func DecodeResponse(raw []byte) (any, error) {
	d := xml.NewDecoder(bytes.NewReader(raw))
	if err := expectStart(d, "methodResponse"); err != nil {
		return nil, err
	}
	se, err := nextStart(d)
	if err != nil {
		return nil, err
	}
	switch se.Name.Local {
	case "fault":
		if err := expectStart(d, "value"); err != nil {
			return nil, err
		}
		v, err := decodeValue(d, 0)
		if err != nil {
			return nil, err
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%w: fault is not a struct", ErrMalformed)
		}
		f := &Fault{}
		f.Code, _ = m["faultCode"].(int64)
		f.String, _ = m["faultString"].(string)
		return nil, f
	case "params":
		if err := expectStart(d, "param"); err != nil {
			return nil, err
		}
		if err := expectStart(d, "value"); err != nil {
			return nil, err
		}
		return decodeValue(d, 0)
	default:
		return nil, fmt.Errorf("%w: unexpected <%s>", ErrMalformed, se.Name.Local)
	}
}

const maxDepth = 64

// decodeValue reads the content of a <value> whose start tag was consumed,
// up to and including its end tag.
func decodeValue(d *xml.Decoder, depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("%w: nested too deep", ErrMalformed)
	}
	var text strings.Builder
	var v any
	typed := false
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		switch t := tok.(type) {
		case xml.CharData:
			text.Write(t)
		case xml.EndElement: // </value>
			if !typed {
				return text.String(), nil // untyped value is a string
			}
			return v, nil
		case xml.StartElement:
			if typed {
				return nil, fmt.Errorf("%w: two types in one value", ErrMalformed)
			}
			typed = true
			if v, err = decodeTyped(d, t.Name.Local, depth); err != nil {
				return nil, err
			}
		}
	}
}

func decodeTyped(d *xml.Decoder, typ string, depth int) (any, error) {
	switch typ {
	case "array":
		if err := expectStart(d, "data"); err != nil {
			return nil, err
		}
		out := []any{}
		for {
			tok, err := nextStartOrEnd(d)
			if err != nil {
				return nil, err
			}
			if _, end := tok.(xml.EndElement); end { // </data>
				break
			}
			if se := tok.(xml.StartElement); se.Name.Local != "value" {
				return nil, fmt.Errorf("%w: <%s> in array", ErrMalformed, se.Name.Local)
			}
			v, err := decodeValue(d, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, skipToEnd(d) // </array>
	case "struct":
		out := map[string]any{}
		for {
			tok, err := nextStartOrEnd(d)
			if err != nil {
				return nil, err
			}
			if _, end := tok.(xml.EndElement); end { // </struct>
				return out, nil
			}
			if se := tok.(xml.StartElement); se.Name.Local != "member" {
				return nil, fmt.Errorf("%w: <%s> in struct", ErrMalformed, se.Name.Local)
			}
			if err := expectStart(d, "name"); err != nil {
				return nil, err
			}
			name, err := textUntilEnd(d)
			if err != nil {
				return nil, err
			}
			if err := expectStart(d, "value"); err != nil {
				return nil, err
			}
			v, err := decodeValue(d, depth+1)
			if err != nil {
				return nil, err
			}
			out[name] = v
			if err := skipToEnd(d); err != nil { // </member>
				return nil, err
			}
		}
	}
	s, err := textUntilEnd(d)
	if err != nil {
		return nil, err
	}
	switch typ {
	case "string":
		return s, nil
	case "i4", "int", "i8":
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: <%s>%q", ErrMalformed, typ, s)
		}
		return n, nil
	case "boolean":
		switch strings.TrimSpace(s) {
		case "1":
			return true, nil
		case "0":
			return false, nil
		}
		return nil, fmt.Errorf("%w: <boolean>%q", ErrMalformed, s)
	case "double":
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return nil, fmt.Errorf("%w: <double>%q", ErrMalformed, s)
		}
		return f, nil
	case "dateTime.iso8601", "base64":
		return s, nil
	}
	return nil, fmt.Errorf("%w: unknown type <%s>", ErrMalformed, typ)
}

func nextStart(d *xml.Decoder) (xml.StartElement, error) {
	for {
		tok, err := d.Token()
		if err != nil {
			return xml.StartElement{}, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return t, nil
		case xml.EndElement:
			return xml.StartElement{}, fmt.Errorf("%w: unexpected </%s>", ErrMalformed, t.Name.Local)
		}
	}
}

func nextStartOrEnd(d *xml.Decoder) (xml.Token, error) {
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return t, nil
		case xml.EndElement:
			return t, nil
		}
	}
}

func expectStart(d *xml.Decoder, name string) error {
	se, err := nextStart(d)
	if err != nil {
		return err
	}
	if se.Name.Local != name {
		return fmt.Errorf("%w: <%s> where <%s> was expected", ErrMalformed, se.Name.Local, name)
	}
	return nil
}

// textUntilEnd returns the character data up to the end of the current
// element; a nested element is an error.
func textUntilEnd(d *xml.Decoder) (string, error) {
	var b strings.Builder
	for {
		tok, err := d.Token()
		if err != nil {
			return "", fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		switch t := tok.(type) {
		case xml.CharData:
			b.Write(t)
		case xml.EndElement:
			return b.String(), nil
		case xml.StartElement:
			return "", fmt.Errorf("%w: <%s> inside a scalar", ErrMalformed, t.Name.Local)
		}
	}
}

// skipToEnd consumes whitespace up to the next end tag.
func skipToEnd(d *xml.Decoder) error {
	for {
		tok, err := d.Token()
		if err != nil {
			return fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return nil
		case xml.StartElement:
			return fmt.Errorf("%w: unexpected <%s>", ErrMalformed, t.Name.Local)
		}
	}
}
