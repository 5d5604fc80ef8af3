package transport

import (
	"context"
	"errors"
	"fmt"
)

// Output runs cmd on t and returns its captured stdout. A non-zero exit
// becomes an *ExitError; output truncated past Command.MaxOutput is an
// error matching ErrTruncated, so parsers never see half a document.
func Output(ctx context.Context, t Transport, cmd Command) ([]byte, error) {
	res, err := t.Run(ctx, cmd)
	if err != nil {
		return nil, err
	}
	if err := ResultError(cmd, res); err != nil {
		return res.Stdout, err
	}
	if res.StdoutTruncated {
		return res.Stdout, fmt.Errorf("%s: %w: more than %d bytes", cmd, ErrTruncated, maxOutput(cmd))
	}
	return res.Stdout, nil
}

// Check runs cmd on t and returns an *ExitError if it exited non-zero.
func Check(ctx context.Context, t Transport, cmd Command) error {
	res, err := t.Run(ctx, cmd)
	if err != nil {
		return err
	}
	return ResultError(cmd, res)
}

// ResultError returns an *ExitError for a result that did not exit 0, or nil.
func ResultError(cmd Command, res Result) error {
	if res.Success() {
		return nil
	}
	return &ExitError{
		Host:   res.Host,
		Cmd:    cmd.String(),
		Code:   res.ExitCode,
		Signal: res.Signal,
		Stderr: []byte(cmd.RedactString(string(res.Stderr))),
	}
}

// ExitCode returns the exit code carried by an *ExitError in err's chain,
// and whether there was one.
func ExitCode(err error) (int, bool) {
	if e, ok := errors.AsType[*ExitError](err); ok {
		return e.Code, true
	}
	return 0, false
}

func maxOutput(c Command) int {
	if c.MaxOutput > 0 {
		return c.MaxOutput
	}
	return DefaultMaxOutput
}

// CommandContext derives the context a transport runs cmd under: ctx
// bounded by cmd.Timeout when it is positive. Transport implementations
// call it and, when the returned context's deadline caused the failure,
// report it with TimeoutErr.
func CommandContext(ctx context.Context, cmd Command) (context.Context, context.CancelFunc) {
	if cmd.Timeout > 0 {
		return context.WithTimeoutCause(ctx, cmd.Timeout, errCommandTimeout)
	}
	return context.WithCancel(ctx)
}

var errCommandTimeout = errors.New("command timeout")

// TimeoutErr returns a *TimeoutError if cctx (from CommandContext) ended
// because cmd.Timeout expired, or nil otherwise.
func TimeoutErr(cctx context.Context, host string, cmd Command) error {
	if context.Cause(cctx) == errCommandTimeout {
		return &TimeoutError{Host: host, Cmd: cmd.String(), After: cmd.Timeout}
	}
	return nil
}
