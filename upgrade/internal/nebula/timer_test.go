package nebula

import (
	"time"

	"github.com/cenkalti/backoff/v4"
)

type backoffTimer = backoff.Timer

// stepTimer is a backoff.Timer that advances a fake clock and fires at
// once.
type stepTimer struct {
	now *time.Time
	c   chan time.Time
}

func (s *stepTimer) Start(d time.Duration) {
	*s.now = s.now.Add(d)
	s.c = make(chan time.Time, 1)
	s.c <- *s.now
}

func (s *stepTimer) Stop() {}

func (s *stepTimer) C() <-chan time.Time { return s.c }
