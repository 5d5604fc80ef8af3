package openstack

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/upgradekit/upgradekit/transport"
)

// StepRun records one tool invocation (or a decision not to run it).
type StepRun struct {
	// Name is what the step does ("expand", "api_db sync").
	Name string
	// Cmd is the command as run, redacted; empty when skipped.
	Cmd string
	// ExitCode is the tool's exit status.
	ExitCode int
	// Duration is the wall time of the run.
	Duration time.Duration
	// Skipped is true when the step was not needed; Reason says why.
	Skipped bool
	Reason  string
	// Output is the tail of stdout and stderr, for the report.
	Output string
}

const outputTail = 2048

func tail(b []byte) string {
	if len(b) > outputTail {
		b = b[len(b)-outputTail:]
	}
	return string(b)
}

// runTool runs a management-tool command. err is non-nil only when the
// command could not run to completion (transport failure, timeout, ctx).
func (o *options) runTool(ctx context.Context, t transport.Transport, svc Service, name string, c transport.Command) (transport.Result, StepRun, error) {
	o.log.Info("running", zap.String("service", svc.Name), zap.String("step", name), zap.String("cmd", c.String()))
	start := o.now()
	res, err := t.Run(ctx, c)
	st := StepRun{Name: name, Cmd: c.String(), ExitCode: res.ExitCode, Duration: o.now().Sub(start)}
	if res.Duration > 0 {
		st.Duration = res.Duration
	}
	if err != nil {
		o.log.Warn("tool did not complete", zap.String("service", svc.Name), zap.String("step", name), zap.Error(err))
		return res, st, o.cmdFailed(svc.Name, name, err)
	}
	st.Output = tail(append(append([]byte(nil), res.Stdout...), c.RedactString(string(res.Stderr))...))
	o.log.Info("finished", zap.String("service", svc.Name), zap.String("step", name), zap.Int("rc", res.ExitCode), zap.Duration("took", st.Duration))
	return res, st, nil
}

// toolErr wraps a non-zero exit as a *ToolError.
func toolErr(svc Service, step string, c transport.Command, res transport.Result) error {
	return &ToolError{Service: svc.Name, Step: step, Code: res.ExitCode, Err: transport.ResultError(c, res)}
}

// mustSucceed runs c and turns a non-zero exit into a *ToolError.
func (o *options) mustSucceed(ctx context.Context, t transport.Transport, svc Service, name string, c transport.Command) (StepRun, error) {
	res, st, err := o.runTool(ctx, t, svc, name, c)
	if err != nil {
		return st, err
	}
	if !res.Success() {
		return st, toolErr(svc, name, c, res)
	}
	return st, nil
}

// opError names an operation that failed; a *transport.ExitError in err
// is shown as its exit status and stderr only, without the command line
// (a shell script would fill the message) or the transport's host name
// (the caller knows the node by its own name).
type opError struct {
	op  string
	err error
}

func (e *opError) Error() string { return e.op + ": " + briefErr(e.err) }

func (e *opError) Unwrap() error { return e.err }

// briefErr renders err with any *transport.ExitError in it reduced to
// its exit status and stderr tail.
func briefErr(err error) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	var ee *transport.ExitError
	if errors.As(err, &ee) {
		msg = strings.Replace(msg, ee.Error(), exitBrief(ee), 1)
	}
	return msg
}

func exitBrief(ee *transport.ExitError) string {
	msg := fmt.Sprintf("exit status %d", ee.Code)
	if ee.Signal != "" {
		msg = "killed by signal " + ee.Signal
	}
	if tail := transport.StderrTail(ee.Stderr, 512); tail != "" {
		msg += ": " + tail
	}
	return msg
}

// cmdFailed wraps err as op of who ("nova: list migrations"), logging the
// full error (the command line with it) at debug level.
func (o *options) cmdFailed(who, op string, err error) error {
	if who != "" {
		op = who + ": " + op
	}
	o.log.Debug("command failed", zap.String("op", op), zap.Error(err))
	return &opError{op: op, err: err}
}

// wrapOp is cmdFailed without a logger.
func wrapOp(op string, err error) error { return &opError{op: op, err: err} }
