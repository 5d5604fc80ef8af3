package upgrade

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// RetryPolicy retries a failed step attempt with exponential backoff.
type RetryPolicy struct {
	// MaxAttempts is the total number of attempts; 0 or 1 means no retry.
	MaxAttempts int
	// Initial is the first wait (default 1s); Max caps a wait (default
	// 30s); Multiplier grows it (default 2).
	Initial, Max time.Duration
	Multiplier   float64
	// MaxElapsed stops retrying once this much time has passed since the
	// first attempt; zero means no limit other than MaxAttempts (the
	// backoff library's own 15-minute default is never used).
	MaxElapsed time.Duration
	// Jitter is the randomization factor in [0, 1); zero means
	// deterministic waits.
	Jitter float64
}

// attempt runs the step under its policy; it returns the number of
// attempts made. On failure the error is the last attempt's, wrapped
// with the context error when the run was cancelled while waiting.
func (x *run) attempt(ctx context.Context, u *unit, st *State) (int, error) {
	var pol Policy
	if p, ok := u.step.(Policied); ok {
		pol = p.Policy()
	}
	attempts := 0
	op := func() error {
		attempts++
		actx, cancel := ctx, context.CancelFunc(func() {})
		if pol.Timeout > 0 {
			actx, cancel = context.WithTimeout(ctx, pol.Timeout)
		}
		defer cancel()
		err := u.step.Run(actx, st)
		if err != nil && pol.Timeout > 0 && errors.Is(actx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			err = fmt.Errorf("attempt timed out after %s: %w", pol.Timeout, err)
		}
		if err != nil && ctx.Err() != nil {
			return backoff.Permanent(err)
		}
		if _, skip := errors.AsType[*SkipError](err); skip {
			return backoff.Permanent(err) // a skip is a decision, not a failure
		}
		return err
	}
	if pol.Retry.MaxAttempts <= 1 {
		err := op()
		var perm *backoff.PermanentError
		if errors.As(err, &perm) {
			err = perm.Err
		}
		return attempts, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = orDefault(pol.Retry.Initial, time.Second)
	b.MaxInterval = orDefault(pol.Retry.Max, 30*time.Second)
	b.Multiplier = pol.Retry.Multiplier
	if b.Multiplier < 1 {
		b.Multiplier = 2
	}
	b.RandomizationFactor = pol.Retry.Jitter
	b.MaxElapsedTime = pol.Retry.MaxElapsed // 0: no elapsed limit, MaxAttempts bounds it
	b.Reset()
	bo := backoff.WithContext(backoff.WithMaxRetries(b, uint64(pol.Retry.MaxAttempts-1)), ctx)
	var last error
	err := backoff.RetryNotify(op, bo, func(err error, wait time.Duration) {
		last = err
		x.emit(Event{Kind: EventRetrying, Step: u.name, Host: u.host, Attempt: attempts, Wait: wait, Err: err})
	})
	if err != nil && last != nil && !errors.Is(err, last) && attempts > 0 {
		// Cancelled while waiting: say why the attempts were failing.
		err = fmt.Errorf("%w; last attempt: %w", err, last)
	}
	return attempts, err
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
