package upgrade

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// QuorumLock is a Locker made of one lock per host of a cluster (a
// HostLock on every front-end): a run holds it when it holds a majority
// of them, so two runs never both hold it, whichever host either one
// calls its leader, and one host down does not stop a run. Another run's
// lock on any of the hosts refuses the run (ErrLockHeld).
type QuorumLock struct {
	locks []Locker

	mu     sync.Mutex
	failed map[int]time.Time // record writes: host index → last failure
}

var _ Locker = (*QuorumLock)(nil)

// NewQuorumLock returns the lock made of locks (at least one), taken in
// the order given.
func NewQuorumLock(locks ...Locker) (*QuorumLock, error) {
	if len(locks) == 0 {
		return nil, errors.New("upgrade: NewQuorumLock: no lock")
	}
	for i, l := range locks {
		if l == nil {
			return nil, fmt.Errorf("upgrade: NewQuorumLock: lock %d is nil", i)
		}
	}
	return &QuorumLock{locks: locks, failed: map[int]time.Time{}}, nil
}

// Quorum is the number of locks a run must hold.
func (q *QuorumLock) Quorum() int { return len(q.locks)/2 + 1 }

// Lock implements Locker. A lock that cannot be reached is reported to
// notify (EventLockHeartbeatFail) and counted as not held.
func (q *QuorumLock) Lock(ctx context.Context, h Holder, notify func(Event)) (Lease, error) {
	if notify == nil {
		notify = func(Event) {}
	}
	var (
		held []Lease
		errs []error
	)
	release := func() {
		for _, l := range held {
			_ = l.Unlock(context.WithoutCancel(ctx))
		}
	}
	for _, l := range q.locks {
		lease, err := l.Lock(ctx, h, notify)
		switch {
		case err == nil:
			held = append(held, lease)
		case errors.Is(err, ErrLockHeld) || ctx.Err() != nil:
			release()
			return nil, err
		default:
			errs = append(errs, err)
			notify(Event{Kind: EventLockHeartbeatFail, Err: err})
		}
	}
	if len(held) < q.Quorum() {
		release()
		return nil, fmt.Errorf("lock: took %d of %d, a majority needs %d: %w", len(held), len(q.locks), q.Quorum(), errors.Join(errs...))
	}
	ql := &quorumLease{leases: held, quorum: q.Quorum(), lost: make(chan struct{}), stop: make(chan struct{})}
	ql.wg.Add(len(held))
	for _, l := range held {
		go func() {
			defer ql.wg.Done()
			select {
			case <-l.Lost():
				ql.mu.Lock()
				ql.nlost++
				if len(ql.leases)-ql.nlost < ql.quorum {
					ql.lostOnce.Do(func() { close(ql.lost) })
				}
				ql.mu.Unlock()
			case <-ql.stop:
			}
		}()
	}
	return ql, nil
}

// Break breaks the lock on every host whose holder is dead; it returns
// the *LockAliveError of every host whose holder shows signs of life
// (those stay), and the errors of the hosts it could not reach.
func (q *QuorumLock) Break(ctx context.Context) error {
	var errs []error
	for _, l := range q.locks {
		if b, ok := l.(interface{ Break(context.Context) error }); ok {
			errs = append(errs, b.Break(ctx))
		}
	}
	return errors.Join(errs...)
}

// ForceBreak breaks the lock on every host, alive holder or not.
func (q *QuorumLock) ForceBreak(ctx context.Context) error {
	var errs []error
	for _, l := range q.locks {
		if b, ok := l.(interface{ ForceBreak(context.Context) error }); ok {
			errs = append(errs, b.ForceBreak(ctx))
		}
	}
	return errors.Join(errs...)
}

// Locks returns the host locks.
func (q *QuorumLock) Locks() []Locker { return q.locks }

type quorumLease struct {
	leases   []Lease
	quorum   int
	mu       sync.Mutex
	nlost    int
	lost     chan struct{}
	lostOnce sync.Once
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

var _ Fencer = (*quorumLease)(nil)

func (q *quorumLease) Lost() <-chan struct{} { return q.lost }

// Held implements Fencer: a majority of the host locks must still be
// ours. The hosts are asked at once; the answer comes as soon as a
// majority confirmed (a frozen host does not hold the step up).
func (q *quorumLease) Held(ctx context.Context) error {
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan error, len(q.leases))
	var wg sync.WaitGroup
	for _, l := range q.leases {
		wg.Go(func() {
			var err error
			if f, ok := l.(Fencer); ok {
				err = f.Held(hctx)
			}
			results <- err
		})
	}
	defer wg.Wait()
	ok := 0
	var errs []error
	for range q.leases {
		err := <-results
		if err == nil {
			if ok++; ok >= q.quorum {
				return nil
			}
			continue
		}
		errs = append(errs, err)
		if len(errs) > len(q.leases)-q.quorum {
			break // no majority left
		}
	}
	if e := errors.Join(errs...); errors.Is(e, ErrLockLost) {
		return fmt.Errorf("holding %d locks, a majority needs %d: %w", ok, q.quorum, e)
	}
	return fmt.Errorf("cannot confirm the lock: holding %d locks, a majority needs %d: %w", ok, q.quorum, errors.Join(errs...))
}

// Unlock releases every host lock; it fails if fewer than a majority
// were still ours.
func (q *quorumLease) Unlock(ctx context.Context) error {
	q.stopOnce.Do(func() { close(q.stop) })
	q.wg.Wait()
	ok := 0
	var errs []error
	for _, l := range q.leases {
		if err := l.Unlock(ctx); err != nil {
			errs = append(errs, err)
			continue
		}
		ok++
	}
	if ok >= q.quorum {
		return nil
	}
	return errors.Join(errs...)
}

// fence checks, before a step changes anything, that the run still holds
// its lock (Fencer): another run that broke it may be running.
func (x *run) fence(ctx context.Context) error {
	f, ok := x.lease.(Fencer)
	if !ok {
		return nil
	}
	if err := f.Held(ctx); err != nil {
		return fmt.Errorf("lock check before the step: %w", err)
	}
	return nil
}
