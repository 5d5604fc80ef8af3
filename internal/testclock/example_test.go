package testclock_test

import (
	"fmt"
	"time"

	"github.com/upgradekit/upgradekit/internal/testclock"
)

func Example() {
	c := testclock.New()
	start := c.Now()
	c.NewTimer().Start(10 * time.Minute)
	timers, waits := c.Recorded()
	fmt.Println(c.Now().Sub(start), timers, waits)
	// Output: 10m0s 1 [10m0s]
}
