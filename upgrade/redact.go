package upgrade

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/upgradekit/upgradekit/transport"
)

// Redactor masks a run's secrets (repository tokens, passwords) in text.
// The runner puts one between every output channel — errors, events,
// logs, journal records, the report — and every command: each command
// it sends carries the secrets in Command.Redact, so a transport's
// ExitError and logs mask them at the source, forward and rollback alike.
// A Redactor is immutable and safe for concurrent use; the zero value and
// nil mask nothing.
type Redactor struct {
	vals []string // longest first
}

// NewRedactor returns a redactor of secrets (zero secrets are ignored).
// Besides each value as it is, it masks the forms the value takes in JSON
// strings and URLs.
func NewRedactor(secrets ...transport.Secret) *Redactor {
	var vals []string
	for _, s := range secrets {
		v := s.Reveal()
		if v == "" {
			continue
		}
		js, _ := json.Marshal(v)
		for _, form := range []string{v, string(js[1 : len(js)-1]), url.QueryEscape(v), url.PathEscape(v), url.UserPassword("", v).String()[1:]} {
			if form != "" && !slices.Contains(vals, form) {
				vals = append(vals, form)
			}
		}
	}
	slices.SortStableFunc(vals, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	return &Redactor{vals: vals}
}

// Active reports whether r masks anything.
func (r *Redactor) Active() bool { return r != nil && len(r.vals) > 0 }

const redactedText = "[REDACTED]"

// String returns s with every secret masked.
func (r *Redactor) String(s string) string {
	if !r.Active() {
		return s
	}
	for _, v := range r.vals {
		s = strings.ReplaceAll(s, v, redactedText)
	}
	return s
}

func (r *Redactor) contains(s string) bool {
	if !r.Active() {
		return false
	}
	for _, v := range r.vals {
		if strings.Contains(s, v) {
			return true
		}
	}
	return false
}

func (r *Redactor) bytes(b []byte) []byte {
	if !r.contains(string(b)) {
		return b
	}
	return []byte(r.String(string(b)))
}

// Error returns err, or, if its text holds a secret, an error whose text
// is masked and that unwraps to err (errors.Is and errors.As still see
// err's chain).
func (r *Redactor) Error(err error) error {
	if err == nil || !r.contains(err.Error()) {
		return err
	}
	return &redactedError{msg: r.String(err.Error()), err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// Event returns e with its texts and error masked.
func (r *Redactor) Event(e Event) Event {
	if !r.Active() {
		return e
	}
	e.Err = r.Error(e.Err)
	e.Reason, e.Line, e.Cmd = r.String(e.Reason), r.String(e.Line), r.String(e.Cmd)
	return e
}

// Record returns rec with its texts and data value masked.
func (r *Redactor) Record(rec Record) Record {
	if !r.Active() {
		return rec
	}
	rec.Reason, rec.Error = r.String(rec.Reason), r.String(rec.Error)
	if len(rec.Value) > 0 && r.contains(string(rec.Value)) {
		rec.Value = json.RawMessage(r.String(string(rec.Value)))
	}
	return rec
}

// Report masks the texts of rep in place.
func (r *Redactor) Report(rep *Report) {
	if !r.Active() {
		return
	}
	rep.Err = r.String(rep.Err)
	for i := range rep.Notes {
		rep.Notes[i] = r.String(rep.Notes[i])
	}
	for i := range rep.Preflight {
		c := &rep.Preflight[i]
		c.Err, c.Reason = r.String(c.Err), r.String(c.Reason)
	}
	for i := range rep.Steps {
		s := &rep.Steps[i]
		s.Err, s.RollbackErr, s.Reason, s.Description = r.String(s.Err), r.String(s.RollbackErr), r.String(s.Reason), r.String(s.Description)
	}
	for i := range rep.Hosts {
		h := &rep.Hosts[i]
		h.Err, h.Reason = r.String(h.Err), r.String(h.Reason)
	}
}

// Logger returns l with every message and field masked.
func (r *Redactor) Logger(l *zap.Logger) *zap.Logger {
	if !r.Active() {
		return l
	}
	return l.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core { return &redactCore{Core: c, r: r} }))
}

type redactCore struct {
	zapcore.Core
	r *Redactor
}

func (c *redactCore) With(fs []zapcore.Field) zapcore.Core {
	return &redactCore{Core: c.Core.With(c.r.fields(fs)), r: c.r}
}

func (c *redactCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *redactCore) Write(e zapcore.Entry, fs []zapcore.Field) error {
	e.Message = c.r.String(e.Message)
	return c.Core.Write(e, c.r.fields(fs))
}

// fields masks the fields that carry text; a field of another kind whose
// rendering holds a secret becomes its masked rendering.
func (r *Redactor) fields(fs []zapcore.Field) []zapcore.Field {
	out := make([]zapcore.Field, len(fs))
	for i, f := range fs {
		switch f.Type {
		case zapcore.StringType:
			f.String = r.String(f.String)
		case zapcore.ByteStringType:
			if b, ok := f.Interface.([]byte); ok && r.contains(string(b)) {
				f = zap.String(f.Key, r.String(string(b)))
			}
		case zapcore.ErrorType:
			if err, ok := f.Interface.(error); ok && err != nil && r.contains(err.Error()) {
				f = zap.String(f.Key, r.String(err.Error()))
			}
		case zapcore.StringerType, zapcore.ReflectType, zapcore.ObjectMarshalerType, zapcore.ArrayMarshalerType:
			enc := zapcore.NewMapObjectEncoder()
			f.AddTo(enc)
			if s := fmt.Sprint(enc.Fields); r.contains(s) {
				f = zap.String(f.Key, r.String(fmt.Sprint(enc.Fields[f.Key])))
			}
		}
		out[i] = f
	}
	return out
}

// Transport returns t with r's secrets added to every command's Redact
// list (the command sent is unchanged: only what is shown of it is
// masked), the captured output of every command (Result.Stdout and
// Stderr) and transport errors masked. Files moved by Upload and Download
// are not output and stay as they are.
func (r *Redactor) Transport(t transport.Transport) transport.Transport {
	if !r.Active() {
		return t
	}
	rt := &redactTransport{t: t, r: r}
	if d, ok := t.(transport.Dialer); ok {
		return &redactDialer{redactTransport: rt, d: d}
	}
	return rt
}

type redactTransport struct {
	t transport.Transport
	r *Redactor
}

var (
	_ transport.Transport  = (*redactTransport)(nil)
	_ transport.Namer      = (*redactTransport)(nil)
	_ transport.Uploader   = (*redactTransport)(nil)
	_ transport.Downloader = (*redactTransport)(nil)
	_ transport.Dialer     = (*redactDialer)(nil)
)

func (t *redactTransport) Host() string { return transport.HostName(t.t) }

func (t *redactTransport) Run(ctx context.Context, cmd transport.Command) (transport.Result, error) {
	cmd.Redact = append(slices.Clip(cmd.Redact), t.r.vals...)
	res, err := t.t.Run(ctx, cmd)
	res.Cmd = t.r.String(res.Cmd)
	res.Stdout, res.Stderr = t.r.bytes(res.Stdout), t.r.bytes(res.Stderr)
	return res, t.r.Error(err)
}

func (t *redactTransport) Upload(ctx context.Context, dst string, src io.Reader, opts transport.FileOptions) (transport.Transfer, error) {
	tr, err := transport.Upload(ctx, t.t, dst, src, opts)
	return tr, t.r.Error(err)
}

func (t *redactTransport) Download(ctx context.Context, src string, w io.Writer, opts transport.FileOptions) (transport.Transfer, error) {
	tr, err := transport.Download(ctx, t.t, src, w, opts)
	return tr, t.r.Error(err)
}

func (t *redactTransport) Close() error { return nil }

type redactDialer struct {
	*redactTransport
	d transport.Dialer
}

func (t *redactDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := t.d.DialContext(ctx, network, addr)
	return c, t.r.Error(err)
}
