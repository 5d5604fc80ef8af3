package nebula

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/upgrade"
)

// ErrTimeout: a wait gave up (the error also carries the last
// observation or the last command error).
var ErrTimeout = errors.New("wait timed out")

// StepFunc is the body of a step.
type StepFunc func(ctx context.Context, s *upgrade.State) error

// Step returns an engine step named name that runs run, described by desc.
// In a dry run the engine records mutating commands instead of running
// them, so what a step reads back afterwards (a backup file name, a
// stopped unit, a new version) is not there: an error in a dry run is
// reported as output and the step goes on, so that the dry run lists every
// command of the procedure. Context errors are never swallowed.
func Step(name, desc string, run StepFunc) *upgrade.FuncStep {
	return upgrade.Func(name, tolerant(run)).Describing(desc)
}

// Idempotent returns a "not done" check: the step is safe to run again,
// so after a crash it is simply re-run.
func Idempotent(context.Context, *upgrade.State) (bool, error) { return false, nil }

func tolerant(run StepFunc) StepFunc {
	return func(ctx context.Context, s *upgrade.State) error {
		err := run(ctx, s)
		if err != nil && s.DryRun() && ctx.Err() == nil {
			s.Output("stderr", "dry run: continuing past: "+err.Error())
			return nil
		}
		return err
	}
}

// Node returns the transport of the named host, or of the step's own host
// (inside PerHost) when name is "".
func Node(s *upgrade.State, name string) (transport.Transport, string, error) {
	if name == "" {
		if t := s.Transport(); t != nil {
			return t, s.Host(), nil
		}
		return nil, "", errors.New("step has no host")
	}
	t, err := s.HostTransport(name)
	return t, name, err
}

// root marks cmd to run as root through sudo when the Kit uses sudo.
func (k *Kit) root(cmd transport.Command) transport.Command {
	if k.o.sudo {
		return cmd.AsRoot()
	}
	return cmd
}

// poll calls fn until it reports done, with a fresh exponential backoff
// bounded by the Kit's wait timeout, on the Kit's clock and timers. fn's
// last error is joined into the timeout error; an error wrapped with
// backoff.Permanent stops at once.
//
// In a dry run fn is called once: what it waits for is the effect of
// commands that were only recorded, so waiting could only time out.
func (k *Kit) poll(ctx context.Context, s *upgrade.State, what string, fn func() (bool, error)) error {
	return k.pollEvery(ctx, s, what, k.o.pollMax, fn)
}

// pollOutage is poll for the waits that end an outage (a leader elected
// again): it polls every first interval, not backing off, so that the
// report's window ends within one interval of the real end.
func (k *Kit) pollOutage(ctx context.Context, s *upgrade.State, what string, fn func() (bool, error)) error {
	return k.pollEvery(ctx, s, what, k.o.pollFirst, fn)
}

func (k *Kit) pollEvery(ctx context.Context, s *upgrade.State, what string, largest time.Duration, fn func() (bool, error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s != nil && s.DryRun() {
		done, err := fn()
		if pe, ok := errors.AsType[*backoff.PermanentError](err); ok {
			err = pe.Err
		}
		if err == nil && !done {
			err = fmt.Errorf("%s: not yet (a real run would wait up to %s)", what, k.o.waitTimeout)
		}
		return err
	}
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval, b.MaxElapsedTime = k.o.pollFirst, largest, k.o.waitTimeout
	b.RandomizationFactor = 0
	b.Clock = clock(k.o.now)
	b.Reset()
	var last error
	errNotYet := errors.New("not yet")
	op := func() error {
		done, err := fn()
		if err != nil {
			if pe, ok := errors.AsType[*backoff.PermanentError](err); ok {
				return pe
			}
			last = err
			return err
		}
		if !done {
			return errNotYet
		}
		return nil
	}
	var timer backoff.Timer
	if k.o.timer != nil {
		timer = k.o.timer()
	}
	err := backoff.RetryNotifyWithTimer(op, backoff.WithContext(b, ctx), nil, timer)
	if err == nil {
		return nil
	}
	if pe, ok := errors.AsType[*backoff.PermanentError](err); ok {
		return pe.Err
	}
	if errors.Is(err, errNotYet) || (last != nil && errors.Is(err, last)) {
		err = ErrTimeout
	}
	return fmt.Errorf("%s: %w (waited up to %s)", what, errors.Join(err, last), k.o.waitTimeout)
}

type clock func() time.Time

func (c clock) Now() time.Time { return c() }

// onNode returns a StepFunc that resolves node (Node: "" is the PerHost
// host) and runs fn with its transport t and name n.
func onNode(node string, fn func(ctx context.Context, s *upgrade.State, t transport.Transport, n string) error) StepFunc {
	return func(ctx context.Context, s *upgrade.State) error {
		t, n, err := Node(s, node)
		if err != nil {
			return err
		}
		return fn(ctx, s, t, n)
	}
}

// checkAtTarget returns a step check that reports whether pkg on node
// (see Node) is already at the target release.
func (k *Kit) checkAtTarget(node, pkg string) func(ctx context.Context, s *upgrade.State) (bool, error) {
	return func(ctx context.Context, s *upgrade.State) (bool, error) {
		t, _, err := Node(s, node)
		if err != nil {
			return false, err
		}
		return k.atTarget(ctx, t, pkg)
	}
}
