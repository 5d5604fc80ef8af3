package transport

import (
	"fmt"
	"sync"
	"time"
)

// Result is the outcome of a command that ran to completion.
type Result struct {
	// Host names the host the command ran on, when the transport knows it.
	Host string
	// Cmd is the command as String renders it (redacted).
	Cmd string
	// ExitCode is the command's exit status, or -1 if it was killed by a
	// signal (see Signal).
	ExitCode int
	// Signal names the signal that killed the command ("TERM", "KILL"), or "".
	Signal string
	// Stdout and Stderr hold the captured streams (nil when Command.Stdout
	// or Stderr was set). When a stream exceeded Command.MaxOutput its
	// first and last halves are kept around an omission marker.
	Stdout, Stderr []byte
	// StdoutTruncated and StderrTruncated report a capture past MaxOutput.
	StdoutTruncated, StderrTruncated bool
	// Duration is the wall time from start to exit.
	Duration time.Duration
}

// Success reports whether the command exited 0.
func (r Result) Success() bool { return r.ExitCode == 0 && r.Signal == "" }

// Capture is a bounded, concurrency-safe writer that keeps the first and
// last halves of what it is given, like os/exec's capture for
// Cmd.CombinedOutput errors. Transports use it for Result.Stdout/Stderr.
type Capture struct {
	mu      sync.Mutex
	limit   int
	head    []byte
	tail    []byte // ring buffer once full
	tailPos int
	written int64
}

// NewCapture returns a Capture that keeps at most limit bytes; limit <= 0
// means DefaultMaxOutput.
func NewCapture(limit int) *Capture {
	if limit <= 0 {
		limit = DefaultMaxOutput
	}
	return &Capture{limit: limit}
}

// Write implements io.Writer; it never fails.
func (c *Capture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(p)
	c.written += int64(n)
	headMax := c.limit - c.limit/2
	if room := headMax - len(c.head); room > 0 {
		k := min(room, len(p))
		c.head = append(c.head, p[:k]...)
		p = p[k:]
	}
	tailMax := c.limit / 2
	if len(p) == 0 || tailMax == 0 {
		return n, nil
	}
	if len(p) >= tailMax {
		c.tail = append(c.tail[:0], p[len(p)-tailMax:]...)
		c.tailPos = 0
		return n, nil
	}
	if len(c.tail) < tailMax {
		room := tailMax - len(c.tail)
		k := min(room, len(p))
		c.tail = append(c.tail, p[:k]...)
		p = p[k:]
	}
	for len(p) > 0 {
		k := copy(c.tail[c.tailPos:], p)
		p = p[k:]
		c.tailPos = (c.tailPos + k) % tailMax
	}
	return n, nil
}

// Truncated reports whether more than the limit was written.
func (c *Capture) Truncated() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.written > int64(c.limit)
}

// Written returns the number of bytes written, kept or not.
func (c *Capture) Written() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.written
}

// Bytes returns the kept bytes; when truncated, head and tail are joined
// by a line saying how many bytes were omitted. It returns nil when
// nothing was written.
func (c *Capture) Bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.written == 0 {
		return nil
	}
	out := make([]byte, 0, len(c.head)+len(c.tail)+64)
	out = append(out, c.head...)
	if omitted := c.written - int64(len(c.head)+len(c.tail)); omitted > 0 {
		out = fmt.Appendf(out, "\n... omitting %d bytes ...\n", omitted)
	}
	out = append(out, c.tail[c.tailPos:]...)
	out = append(out, c.tail[:c.tailPos]...)
	return out
}
