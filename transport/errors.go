package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Conditions callers branch on. Transports wrap them, so test with
// errors.Is.
var (
	// ErrUnknownHostKey: the host presented a key that no known_hosts
	// entry covers, and the policy does not trust new keys.
	ErrUnknownHostKey = errors.New("unknown host key")
	// ErrHostKeyChanged: known_hosts has a different key for the host.
	// Never retried: it may be an attack.
	ErrHostKeyChanged = errors.New("host key changed")
	// ErrAuthFailed: the host rejected every credential offered. It can be
	// retried while hosts are still being provisioned.
	ErrAuthFailed = errors.New("authentication rejected")
	// ErrConnectionLost: the connection died. See *ConnectionLostError for
	// whether the command may already have started.
	ErrConnectionLost = errors.New("connection lost")
	// ErrTimeout: a Command.Timeout or dial/handshake deadline expired.
	ErrTimeout = errors.New("timeout")
	// ErrClosed: the transport was closed.
	ErrClosed = errors.New("transport closed")
	// ErrTruncated: output exceeded Command.MaxOutput and a parser needs it whole.
	ErrTruncated = errors.New("output truncated")
)

// ExitError reports a command that ran and exited non-zero. Output and
// Check return it; Run reports the same fact as Result.ExitCode.
type ExitError struct {
	Host   string
	Cmd    string // redacted
	Code   int
	Signal string
	// Stderr is the captured standard error, redacted, complete up to
	// Command.MaxOutput.
	Stderr []byte
}

// stderrTailMax bounds how much stderr Error() shows.
const stderrTailMax = 512

func (e *ExitError) Error() string {
	var b strings.Builder
	if e.Host != "" {
		b.WriteString("host " + e.Host + ": ")
	}
	b.WriteString(e.Cmd)
	if e.Signal != "" {
		b.WriteString(": killed by signal " + e.Signal)
	} else {
		fmt.Fprintf(&b, ": exit status %d", e.Code)
	}
	if tail := StderrTail(e.Stderr, stderrTailMax); tail != "" {
		b.WriteString(": " + tail)
	}
	return b.String()
}

// StderrTail returns the last non-empty lines of stderr, at most max bytes,
// joined with "; ".
func StderrTail(stderr []byte, max int) string {
	s := strings.TrimSpace(string(bytes.ToValidUTF8(stderr, []byte("?"))))
	if s == "" || max <= 0 {
		return ""
	}
	lines := strings.Split(s, "\n")
	var kept []string
	size := 0
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l == "" {
			continue
		}
		if size+len(l) > max {
			if len(kept) == 0 {
				cut := l[len(l)-max:]
				for len(cut) > 0 && !utf8.RuneStart(cut[0]) {
					cut = cut[1:] // never split a character
				}
				kept = append(kept, "..."+cut)
			}
			break
		}
		kept = append(kept, l)
		size += len(l) + 2
	}
	for i, j := 0, len(kept)-1; i < j; i, j = i+1, j-1 {
		kept[i], kept[j] = kept[j], kept[i]
	}
	return strings.Join(kept, "; ")
}

// ConnectionLostError reports a connection that died while a command was
// being started or run.
type ConnectionLostError struct {
	Host string
	// Started is true when the remote command may already have started
	// (and so may have had effects); false means it certainly did not run.
	Started bool
	Err     error
}

func (e *ConnectionLostError) Error() string {
	state := "before the command started"
	if e.Started {
		state = "after the command may have started"
	}
	msg := "connection lost " + state
	if e.Host != "" {
		msg = "host " + e.Host + ": " + msg
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Is makes errors.Is(err, ErrConnectionLost) true.
func (e *ConnectionLostError) Is(target error) bool { return target == ErrConnectionLost }

func (e *ConnectionLostError) Unwrap() error { return e.Err }

// TimeoutError reports a command stopped because Command.Timeout expired.
type TimeoutError struct {
	Host  string
	Cmd   string // redacted
	After time.Duration
}

func (e *TimeoutError) Error() string {
	msg := fmt.Sprintf("%s: timed out after %s", e.Cmd, e.After)
	if e.Host != "" {
		msg = "host " + e.Host + ": " + msg
	}
	return msg
}

// Is makes errors.Is(err, ErrTimeout) and errors.Is(err,
// context.DeadlineExceeded) true.
func (e *TimeoutError) Is(target error) bool {
	return target == ErrTimeout || target == context.DeadlineExceeded
}

// ChecksumError reports a file transfer whose SHA-256 differed between the
// two ends. The destination was left untouched.
type ChecksumError struct {
	Host        string
	Path        string
	Local       string
	Remote      string
	LocalBytes  int64
	RemoteBytes int64
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("host %s: %s: checksum mismatch: sent %d bytes sha256 %s, received %d bytes sha256 %s",
		e.Host, e.Path, e.LocalBytes, e.Local, e.RemoteBytes, e.Remote)
}

// HostError attaches a host name to an error from a fan-out over many
// hosts. errors.Join of *HostError keeps every host's error reachable with
// errors.Is and errors.As.
type HostError struct {
	Host string
	Err  error
}

func (e *HostError) Error() string { return "host " + e.Host + ": " + e.Err.Error() }

func (e *HostError) Unwrap() error { return e.Err }
