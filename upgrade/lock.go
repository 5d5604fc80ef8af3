package upgrade

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/upgradekit/upgradekit/transport"
)

// Holder identifies who holds a lock; it is written into the lock.
type Holder struct {
	// Host is the machine the runner runs on.
	Host string `json:"host"`
	PID  int    `json:"pid"`
	User string `json:"user"`
	// RunID identifies the run (it is also in every journal record).
	RunID string    `json:"run"`
	Time  time.Time `json:"time"`
	// Heartbeat is how often the holder refreshes the lock (set by the
	// lock): a breaker judges the holder alive while the lock is younger
	// than two heartbeats.
	Heartbeat time.Duration `json:"heartbeat,omitempty"`
}

func (h Holder) String() string {
	return fmt.Sprintf("run %s (user %s, pid %d on %s, since %s)", h.RunID, h.User, h.PID, h.Host, h.Time.UTC().Format(time.RFC3339))
}

// Locker makes sure only one run works on a target at a time.
type Locker interface {
	// Lock takes the lock for h or fails with an error matching
	// ErrLockHeld (a *LockHeldError names the holder). notify receives
	// lock events (heartbeat failures, a broken stale lock); it may be
	// called from the lease's heartbeat goroutine.
	Lock(ctx context.Context, h Holder, notify func(Event)) (Lease, error)
}

// Lease is a held lock.
type Lease interface {
	// Lost is closed when the lock was found taken over by someone else.
	Lost() <-chan struct{}
	// Unlock stops the heartbeat and releases the lock if it is still
	// ours; it returns an error matching ErrLockLost otherwise.
	Unlock(ctx context.Context) error
}

// Fencer is implemented by leases that can confirm on the spot that the
// lock is still theirs (a fencing token: the holder record they wrote is
// still the one in place). The runner asks before every step that
// changes something, so a run whose lock was broken stops before its
// next change instead of at its next heartbeat.
type Fencer interface {
	// Held returns nil if the lock is still ours, an error matching
	// ErrLockLost if it is not, or the error that kept it from knowing.
	Held(ctx context.Context) error
}

// ErrLockAlive: Break refused to break a lock whose holder shows signs of
// life. See *LockAliveError.
var ErrLockAlive = errors.New("the lock's holder shows signs of life")

// LockAliveError is returned by Break for a lock whose holder seems
// alive: a heartbeat younger than two heartbeat intervals, or a process
// still running on this machine.
type LockAliveError struct {
	Lock   string // where the lock is
	Holder Holder
	Age    time.Duration // since its last heartbeat
	Why    string
}

func (e *LockAliveError) Error() string {
	return fmt.Sprintf("lock %s: %s: held by %s, %s", e.Lock, ErrLockAlive, e.Holder, e.Why)
}

// Is makes errors.Is(err, ErrLockAlive) true.
func (e *LockAliveError) Is(target error) bool { return target == ErrLockAlive }

// signsOfLife says whether the holder of a lock last refreshed age ago
// seems alive: a process of this machine's that still exists (or one that
// no longer does: dead whatever the age), else a heartbeat younger than
// two of the holder's intervals (def when the holder does not say).
func (h Holder) signsOfLife(age, def time.Duration) (alive bool, why string) {
	if me, err := os.Hostname(); err == nil && h.Host == me && h.PID > 0 {
		if processExists(h.PID) {
			return true, fmt.Sprintf("its process %d is running on this machine", h.PID)
		}
		return false, fmt.Sprintf("its process %d no longer exists", h.PID)
	}
	every := h.Heartbeat
	if every <= 0 {
		every = def
	}
	if age < 2*every {
		return true, fmt.Sprintf("its last heartbeat was %s ago (every %s)", age.Round(time.Second), every)
	}
	return false, fmt.Sprintf("no heartbeat for %s (every %s)", age.Round(time.Second), every)
}

// LockOption configures HostLock and FileLock.
type LockOption interface {
	applyLock(*lockOptions) error
}

type lockOptions struct {
	stale     time.Duration
	heartbeat time.Duration
	now       func() time.Time
}

type lockOptionFunc func(*lockOptions) error

func (f lockOptionFunc) applyLock(o *lockOptions) error { return f(o) }

// StaleAfter sets how long after its last heartbeat a lock is considered
// abandoned and broken by the next Lock (default 2 minutes).
func StaleAfter(d time.Duration) LockOption {
	return lockOptionFunc(func(o *lockOptions) error {
		if d <= 0 {
			return errors.New("upgrade: StaleAfter must be positive")
		}
		o.stale = d
		return nil
	})
}

// HeartbeatEvery sets how often a held lock is refreshed (default a
// quarter of the stale timeout). It must be shorter than the stale
// timeout.
func HeartbeatEvery(d time.Duration) LockOption {
	return lockOptionFunc(func(o *lockOptions) error {
		if d <= 0 {
			return errors.New("upgrade: HeartbeatEvery must be positive")
		}
		o.heartbeat = d
		return nil
	})
}

// LockClock sets the clock FileLock uses to judge staleness (HostLock
// uses the remote host's clock).
func LockClock(now func() time.Time) LockOption {
	return lockOptionFunc(func(o *lockOptions) error {
		o.now = now
		return nil
	})
}

func newLockOptions(opts []LockOption) (lockOptions, error) {
	o := lockOptions{stale: 2 * time.Minute, now: time.Now}
	for _, op := range opts {
		if err := op.applyLock(&o); err != nil {
			return o, err
		}
	}
	if o.heartbeat == 0 {
		o.heartbeat = o.stale / 4
	}
	if o.heartbeat >= o.stale {
		return o, errors.New("upgrade: lock heartbeat must be shorter than the stale timeout")
	}
	return o, nil
}

func randomToken() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// HostLock is a Locker taken on a host through a transport: an exclusive
// `mkdir` of a directory holding the holder's identity, refreshed by a
// heartbeat (the directory's mtime, judged by the host's own clock), with
// a stale timeout after which the next Lock breaks it.
type HostLock struct {
	t    transport.Transport
	dir  string
	host string
	o    lockOptions
}

var _ Locker = (*HostLock)(nil)

// NewHostLock returns a lock at directory dir (an absolute path whose
// parent exists, e.g. /var/lock/upgradekit) on the host behind t.
func NewHostLock(t transport.Transport, dir string, opts ...LockOption) (*HostLock, error) {
	if !path.IsAbs(dir) || path.Clean(dir) == "/" || path.Clean(dir) != dir {
		return nil, fmt.Errorf("upgrade: lock directory %q must be a clean absolute path other than /", dir)
	}
	o, err := newLockOptions(opts)
	if err != nil {
		return nil, err
	}
	return &HostLock{t: t, dir: dir, host: transport.HostName(t), o: o}, nil
}

const (
	// Exit 3 from the guarded scripts: the lock is not (or no longer) ours.
	lockScriptOwnerCheck = `[ "$(cat -- "$1/holder" 2>/dev/null)" = "$2" ] || exit 3; `
	lockScriptWrite      = `printf '%s\n' "$2" > "$1/holder"`
	lockScriptInspect    = `stat -c %Y -- "$1" && date +%s && { cat -- "$1/holder" 2>/dev/null || true; }`
	lockScriptBreak      = `mv -T -- "$1" "$1.broken.$3" && rm -rf -- "$1.broken.$3"`
	lockScriptHeartbeat  = lockScriptOwnerCheck + `touch -c -- "$1"`
	lockScriptRelease    = lockScriptOwnerCheck + `rm -rf -- "$1"`
)

// Lock implements Locker.
func (l *HostLock) Lock(ctx context.Context, h Holder, notify func(Event)) (Lease, error) {
	if notify == nil {
		notify = func(Event) {}
	}
	if h.Heartbeat == 0 {
		h.Heartbeat = l.o.heartbeat
	}
	content, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		res, err := l.t.Run(ctx, transport.Cmd("mkdir", "--", l.dir))
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w", l.dir, err)
		}
		if res.Success() {
			if err := transport.Check(ctx, l.t, transport.Shell(lockScriptWrite, l.dir, string(content))); err != nil {
				return nil, fmt.Errorf("lock %s: write holder: %w", l.dir, err)
			}
			notify(Event{Kind: EventLockAcquired, Host: l.host})
			ls := startLease(ctx, l.o, l.host, notify, func(ctx context.Context) (bool, error) {
				res, err := l.t.Run(ctx, transport.Shell(lockScriptHeartbeat, l.dir, string(content)))
				if err != nil {
					return false, err
				}
				if res.ExitCode == 3 {
					return true, nil
				}
				return false, transport.ResultError(transport.Command{Path: "lock heartbeat"}, res)
			}, func(ctx context.Context) error {
				res, err := l.t.Run(ctx, transport.Shell(lockScriptRelease, l.dir, string(content)))
				if err != nil {
					return err
				}
				if res.ExitCode == 3 {
					return fmt.Errorf("lock %s: %w", l.dir, ErrLockLost)
				}
				return transport.ResultError(transport.Command{Path: "lock release"}, res)
			})
			ls.held = func(ctx context.Context) error {
				ctx, cancel := context.WithTimeout(ctx, l.o.heartbeat)
				defer cancel()
				res, err := l.t.Run(ctx, transport.Shell(lockScriptOwnerCheck+"true", l.dir, string(content)).MarkReadOnly())
				if err != nil {
					return fmt.Errorf("lock %s: fencing check: %w", l.dir, err)
				}
				if res.ExitCode == 3 {
					return fmt.Errorf("lock %s: %w: another run broke it", l.dir, ErrLockLost)
				}
				return transport.ResultError(transport.Command{Path: "lock fencing check"}, res)
			}
			return ls, nil
		}
		mkdirErr := transport.ResultError(transport.Cmd("mkdir", "--", l.dir), res)
		holder, raw, age, exists, err := l.inspect(ctx)
		if err != nil {
			return nil, err
		}
		if !exists {
			if attempt < 2 {
				continue // released between mkdir and inspect
			}
			return nil, fmt.Errorf("lock %s: %w", l.dir, mkdirErr)
		}
		if age <= l.o.stale || attempt >= 2 {
			return nil, fmt.Errorf("lock %s: %w", l.dir, &LockHeldError{Holder: holder, Age: age})
		}
		// Stale: break it only if it is still the lock we judged stale.
		res, err = l.t.Run(ctx, transport.Shell(lockScriptOwnerCheck+lockScriptBreak, l.dir, raw, randomToken()))
		if err != nil {
			return nil, fmt.Errorf("lock %s: break stale lock: %w", l.dir, err)
		}
		if res.Success() {
			notify(Event{Kind: EventLockBroken, Host: l.host, Reason: fmt.Sprintf("held by %s, no heartbeat for %s", holder, age)})
		}
	}
}

// inspect reads the lock's age (by the host's clock) and holder.
func (l *HostLock) inspect(ctx context.Context) (h Holder, raw string, age time.Duration, exists bool, err error) {
	res, err := l.t.Run(ctx, transport.Shell(lockScriptInspect, l.dir).MarkReadOnly())
	if err != nil {
		return h, "", 0, false, fmt.Errorf("lock %s: inspect: %w", l.dir, err)
	}
	if !res.Success() {
		return h, "", 0, false, nil
	}
	lines := strings.SplitN(string(res.Stdout), "\n", 3)
	if len(lines) < 2 {
		return h, "", 0, false, fmt.Errorf("lock %s: inspect: unexpected output %q", l.dir, res.Stdout)
	}
	mtime, err1 := strconv.ParseInt(strings.TrimSpace(lines[0]), 10, 64)
	now, err2 := strconv.ParseInt(strings.TrimSpace(lines[1]), 10, 64)
	if err1 != nil || err2 != nil {
		return h, "", 0, false, fmt.Errorf("lock %s: inspect: unexpected output %q", l.dir, res.Stdout)
	}
	if len(lines) == 3 {
		raw = strings.TrimRight(lines[2], "\n")
		_ = json.Unmarshal([]byte(raw), &h) // a half-written holder is shown as unknown
	}
	return h, raw, time.Duration(now-mtime) * time.Second, true, nil
}

// Break removes the lock a dead run left behind, when waiting for the
// stale timeout is not wanted. It refuses, with a *LockAliveError, while
// the holder shows signs of life (see LockAliveError); ForceBreak does
// not ask.
func (l *HostLock) Break(ctx context.Context) error {
	holder, raw, age, exists, err := l.inspect(ctx)
	if err != nil || !exists {
		return err
	}
	if alive, why := holder.signsOfLife(age, l.o.heartbeat); alive {
		return &LockAliveError{Lock: l.host + ":" + l.dir, Holder: holder, Age: age, Why: why}
	}
	// Only the lock judged dead: one taken meanwhile stays.
	res, err := l.t.Run(ctx, transport.Shell(lockScriptOwnerCheck+lockScriptBreak, l.dir, raw, randomToken()))
	if err != nil {
		return fmt.Errorf("lock %s: break: %w", l.dir, err)
	}
	if res.ExitCode == 3 {
		return fmt.Errorf("lock %s: taken again while being broken: %w", l.dir, &LockHeldError{Holder: holder, Age: age})
	}
	return transport.ResultError(transport.Command{Path: "lock break"}, res)
}

// ForceBreak removes the lock whoever holds it, alive or not. If its
// holder is alive, two runs then change the cluster at once until the
// holder's next fencing check (before its next step) stops it.
func (l *HostLock) ForceBreak(ctx context.Context) error {
	return transport.Check(ctx, l.t, transport.Shell(`[ ! -e "$1" ] || { `+lockScriptBreak+`; }`, l.dir, "", randomToken()))
}

// Transport returns the transport of the lock's host.
func (l *HostLock) Transport() transport.Transport { return l.t }

// Inspect returns the lock's holder and the time since its last
// heartbeat; ok is false when the lock is free.
func (l *HostLock) Inspect(ctx context.Context) (h Holder, age time.Duration, ok bool, err error) {
	h, _, age, ok, err = l.inspect(ctx)
	return h, age, ok, err
}

// lease runs a heartbeat until Unlock.
type lease struct {
	lost     chan struct{}
	lostOnce sync.Once
	stop     context.CancelFunc
	wg       sync.WaitGroup
	release  func(ctx context.Context) error
	unlock   sync.Once
	host     string
	notify   func(Event)
	err      error
	held     func(ctx context.Context) error // fencing check; nil: none
}

var _ Fencer = (*lease)(nil)

// Held implements Fencer.
func (l *lease) Held(ctx context.Context) error {
	select {
	case <-l.lost:
		return ErrLockLost
	default:
	}
	if l.held == nil {
		return nil
	}
	return l.held(ctx)
}

// startLease starts the heartbeat goroutine, owned by the lease and
// stopped by Unlock. Heartbeats that keep failing for the stale timeout
// count as a lost lock: by then another run may have broken it.
func startLease(ctx context.Context, o lockOptions, host string, notify func(Event),
	beat func(ctx context.Context) (lost bool, err error), release func(ctx context.Context) error) *lease {
	hctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	l := &lease{lost: make(chan struct{}), stop: stop, release: release, host: host, notify: notify}
	every := o.heartbeat
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		lastOK := time.Now()
		for {
			select {
			case <-hctx.Done():
				return
			case <-t.C:
			}
			bctx, cancel := context.WithTimeout(hctx, every)
			lost, err := beat(bctx)
			cancel()
			if hctx.Err() != nil {
				return
			}
			switch {
			case lost:
				notify(Event{Kind: EventLockHeartbeatFail, Host: host, Err: ErrLockLost})
				l.lostOnce.Do(func() { close(l.lost) })
				return
			case err != nil:
				if time.Since(lastOK) >= o.stale {
					notify(Event{Kind: EventLockHeartbeatFail, Host: host, Err: fmt.Errorf("%w: no heartbeat for %s: %w", ErrLockLost, o.stale, err)})
					l.lostOnce.Do(func() { close(l.lost) })
					return
				}
				notify(Event{Kind: EventLockHeartbeatFail, Host: host, Err: err})
			default:
				lastOK = time.Now()
			}
		}
	}()
	return l
}

func (l *lease) Lost() <-chan struct{} { return l.lost }

func (l *lease) Unlock(ctx context.Context) error {
	l.unlock.Do(func() {
		l.stop()
		l.wg.Wait()
		l.err = l.release(ctx)
		if l.err == nil {
			l.notify(Event{Kind: EventLockReleased, Host: l.host})
		}
	})
	return l.err
}

// FileLock is a Locker on a local file (O_EXCL create), for tests and
// single-machine tools; it has the same holder, heartbeat and stale rules
// as HostLock, judged by its clock (LockClock).
type FileLock struct {
	path string
	o    lockOptions
}

var _ Locker = (*FileLock)(nil)

// NewFileLock returns a lock at path.
func NewFileLock(path string, opts ...LockOption) (*FileLock, error) {
	o, err := newLockOptions(opts)
	if err != nil {
		return nil, err
	}
	return &FileLock{path: path, o: o}, nil
}

// Lock implements Locker.
func (l *FileLock) Lock(ctx context.Context, h Holder, notify func(Event)) (Lease, error) {
	if notify == nil {
		notify = func(Event) {}
	}
	if h.Heartbeat == 0 {
		h.Heartbeat = l.o.heartbeat
	}
	content, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	content = append(content, '\n')
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			_, werr := f.Write(content)
			serr := f.Sync()
			cerr := f.Close()
			if err := errors.Join(werr, serr, cerr); err != nil {
				os.Remove(l.path)
				return nil, fmt.Errorf("lock %s: %w", l.path, err)
			}
			notify(Event{Kind: EventLockAcquired})
			ls := startLease(ctx, l.o, "", notify, func(ctx context.Context) (bool, error) {
				cur, err := os.ReadFile(l.path)
				if err != nil || !bytes.Equal(cur, content) {
					return true, nil
				}
				now := l.o.now()
				return false, os.Chtimes(l.path, now, now)
			}, func(ctx context.Context) error {
				cur, err := os.ReadFile(l.path)
				if err != nil || !bytes.Equal(cur, content) {
					return fmt.Errorf("lock %s: %w", l.path, ErrLockLost)
				}
				return os.Remove(l.path)
			})
			ls.held = func(context.Context) error {
				if cur, err := os.ReadFile(l.path); err != nil || !bytes.Equal(cur, content) {
					return fmt.Errorf("lock %s: %w: another run broke it", l.path, ErrLockLost)
				}
				return nil
			}
			return ls, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("lock %s: %w", l.path, err)
		}
		st, serr := os.Stat(l.path)
		if serr != nil {
			if attempt < 2 {
				continue
			}
			return nil, fmt.Errorf("lock %s: %w", l.path, serr)
		}
		raw, _ := os.ReadFile(l.path)
		var holder Holder
		_ = json.Unmarshal(raw, &holder)
		age := l.o.now().Sub(st.ModTime())
		if age <= l.o.stale || attempt >= 2 {
			return nil, fmt.Errorf("lock %s: %w", l.path, &LockHeldError{Holder: holder, Age: age})
		}
		// Break: rename is atomic, so only one breaker wins; check the
		// content again to not break a lock taken meanwhile.
		tmp := l.path + ".broken." + randomToken()
		if err := os.Rename(l.path, tmp); err == nil {
			got, _ := os.ReadFile(tmp)
			if !bytes.Equal(got, raw) {
				// Someone re-took it between our read and rename: put it back.
				if err := os.Link(tmp, l.path); err == nil {
					os.Remove(tmp)
				}
				continue
			}
			os.Remove(tmp)
			notify(Event{Kind: EventLockBroken, Reason: fmt.Sprintf("held by %s, no heartbeat for %s", holder, age.Round(time.Second))})
		}
	}
}

// Break removes the lock a dead run left behind; it refuses, with a
// *LockAliveError, while the holder shows signs of life.
func (l *FileLock) Break(ctx context.Context) error {
	raw, err := os.ReadFile(l.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	st, err := os.Stat(l.path)
	if err != nil {
		return err
	}
	var holder Holder
	_ = json.Unmarshal(raw, &holder)
	age := l.o.now().Sub(st.ModTime())
	if alive, why := holder.signsOfLife(age, l.o.heartbeat); alive {
		return &LockAliveError{Lock: l.path, Holder: holder, Age: age, Why: why}
	}
	return l.ForceBreak(ctx)
}

// ForceBreak removes the lock whoever holds it, alive or not.
func (l *FileLock) ForceBreak(ctx context.Context) error {
	if err := os.Remove(l.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// processExists reports whether a process pid exists on this machine
// (signal 0 delivered, or refused for lack of permission).
func processExists(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = p.Signal(syscall.Signal(0))
	return err == nil || errors.Is(err, syscall.EPERM)
}
