package onecli

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.uber.org/zap"
)

// ParseMessage is the text of a parse error of source's output at path
// (path may be empty).
func ParseMessage(source, path string, err error) string {
	msg := "parse " + source + " output"
	if path != "" {
		msg += ": " + path
	}
	return msg + ": " + err.Error()
}

// ParseError is the layout of the parse errors of zone, host and vm. Each
// declares its own type from it (type ParseError onecli.ParseError), so
// errors.As still tells them apart.
type ParseError struct {
	Source string // the command, e.g. "onehost list -x"
	Path   string // where, when known, e.g. "HOST_POOL/HOST[2]/STATE"
	Err    error
}

// DecodeOne decodes exactly one root element from data into v: empty
// input, a different root, truncation and anything but whitespace,
// comments or processing instructions after the root are errors.
func DecodeOne(data []byte, v any) error {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	if err := d.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("no XML element in output")
		}
		return err
	}
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("after the root element: %w", err)
		}
		switch tok := tok.(type) {
		case xml.CharData:
			if len(bytes.TrimSpace(tok)) != 0 {
				return errors.New("text after the root element")
			}
		case xml.Comment, xml.ProcInst:
		default:
			return errors.New("more than one root element")
		}
	}
}

// XMLAny is any XML element with its text and children.
type XMLAny struct {
	XMLName  xml.Name
	Text     string   `xml:",chardata"`
	Children []XMLAny `xml:",any"`
}

// Atoi parses a decimal int32 of at least minimum, surrounding space
// allowed, a leading '+' not.
func Atoi(s string, minimum int) (int, error) {
	t := strings.TrimSpace(s)
	n, err := strconv.ParseInt(t, 10, 32)
	if err != nil || t == "" || t[0] == '+' {
		return 0, fmt.Errorf("invalid integer %q", s)
	}
	if int(n) < minimum {
		return 0, fmt.Errorf("%d out of range (minimum %d)", n, minimum)
	}
	return int(n), nil
}

// Clock adapts a now function to backoff.Clock.
type Clock func() time.Time

// Now returns c().
func (c Clock) Now() time.Time { return c() }

// CheckUser validates a WithUser argument; pkg prefixes the error, which
// wraps invalid.
func CheckUser(pkg, user string, invalid error) error {
	if user == "" || strings.HasPrefix(user, "-") {
		return fmt.Errorf("%s: WithUser(%q): %w", pkg, user, invalid)
	}
	return nil
}

// CheckEndpoint validates a WithEndpoint argument.
func CheckEndpoint(pkg, url string, invalid error) error {
	if url == "" || strings.HasPrefix(url, "-") || strings.ContainsAny(url, " \t\n\x00") {
		return fmt.Errorf("%s: WithEndpoint(%q): %w", pkg, url, invalid)
	}
	return nil
}

// CheckPollInterval validates a WithPollInterval pair.
func CheckPollInterval(pkg string, first, largest time.Duration, invalid error) error {
	if first <= 0 || largest < first {
		return fmt.Errorf("%s: WithPollInterval(%s, %s): %w", pkg, first, largest, invalid)
	}
	return nil
}

// CheckNotNil returns the error for option(nil) when isNil.
func CheckNotNil(pkg, option string, isNil bool) error {
	if isNil {
		return errors.New(pkg + ": " + option + "(nil)")
	}
	return nil
}

// Apply applies the non-nil opts in order with apply and returns the
// first error.
func Apply[T any](opts []T, apply func(T) error) error {
	for _, opt := range opts {
		if any(opt) == nil {
			continue
		}
		if err := apply(opt); err != nil {
			return err
		}
	}
	return nil
}

// SetLogger sets *dst to l for WithLogger (nil is refused).
func SetLogger(pkg string, dst **zap.Logger, l *zap.Logger) error {
	return set(pkg, "WithLogger", dst, l, l == nil)
}

// SetUser sets *dst to user for WithUser.
func SetUser(pkg string, dst *string, user string, invalid error) error {
	if err := CheckUser(pkg, user, invalid); err != nil {
		return err
	}
	*dst = user
	return nil
}

// SetEndpoint sets *dst to url for WithEndpoint.
func SetEndpoint(pkg string, dst *string, url string, invalid error) error {
	if err := CheckEndpoint(pkg, url, invalid); err != nil {
		return err
	}
	*dst = url
	return nil
}

// SetPollInterval sets *dstFirst and *dstLargest for WithPollInterval.
func SetPollInterval(pkg string, dstFirst, dstLargest *time.Duration, first, largest time.Duration, invalid error) error {
	if err := CheckPollInterval(pkg, first, largest, invalid); err != nil {
		return err
	}
	*dstFirst, *dstLargest = first, largest
	return nil
}

// SetClock sets *dst to now for WithClock (nil is refused).
func SetClock(pkg string, dst *func() time.Time, now func() time.Time) error {
	return set(pkg, "WithClock", dst, now, now == nil)
}

// SetTimer sets *dst to newTimer for WithTimer (nil is refused).
func SetTimer(pkg string, dst *func() backoff.Timer, newTimer func() backoff.Timer) error {
	return set(pkg, "WithTimer", dst, newTimer, newTimer == nil)
}

func set[T any](pkg, option string, dst *T, v T, isNil bool) error {
	if err := CheckNotNil(pkg, option, isNil); err != nil {
		return err
	}
	*dst = v
	return nil
}

// Timer returns a fresh timer from newTimer, or nil (the backoff
// package's real-time default) when newTimer is nil.
func Timer(newTimer func() backoff.Timer) backoff.Timer {
	if newTimer == nil {
		return nil
	}
	return newTimer()
}

// BackOff returns a fresh exponential backoff from interval to
// maxInterval, bounded by timeout measured with now.
func BackOff(interval, maxInterval, timeout time.Duration, now func() time.Time) *backoff.ExponentialBackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = interval
	b.MaxInterval = maxInterval
	b.MaxElapsedTime = timeout
	b.Clock = Clock(now)
	return b
}
