package upgrade_test

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/transport/fake"
	"github.com/upgradekit/upgradekit/upgrade"
)

// BenchmarkStepOverhead measures the engine's cost per step, including
// the two fsync'd journal records (in_progress, done) of the file store,
// on a plan of 1000 trivial sequential steps.
func BenchmarkStepOverhead(b *testing.B) {
	const steps = 1000
	nodes := make([]upgrade.Node, steps)
	for i := range nodes {
		nodes[i] = upgrade.Func(fmt.Sprintf("s%04d", i), func(ctx context.Context, s *upgrade.State) error { return nil })
	}
	plan := upgrade.NewPlan("bench", nodes...)
	// journal=file is the figure that matters; journal=memory isolates
	// the engine's own cost from the fsyncs.
	for _, journal := range []string{"file", "memory"} {
		b.Run("journal="+journal, func(b *testing.B) {
			var total time.Duration
			for i := 0; b.Loop(); i++ {
				var store upgrade.Store = &upgrade.MemoryStore{}
				if journal == "file" {
					store = upgrade.NewFileStore(filepath.Join(b.TempDir(), fmt.Sprintf("journal-%d", i)))
				}
				r, err := upgrade.NewRunner(plan, upgrade.WithJournal(store))
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				if _, err := r.Run(b.Context()); err != nil {
					b.Fatal(err)
				}
				total += time.Since(start)
				store.Close()
			}
			b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N*steps), "ms/step")
		})
	}
}

// BenchmarkPerHost1000 runs one PerHost step over 1000 fake hosts, one
// command each, and reports wall time and peak heap.
func BenchmarkPerHost1000(b *testing.B) {
	for _, journal := range []string{"memory", "file"} {
		b.Run("journal="+journal, func(b *testing.B) {
			const n = 1000
			names := make([]string, n)
			for i := range names {
				names[i] = fmt.Sprintf("host%04d", i)
			}
			plan := upgrade.NewPlan("bench", upgrade.PerHost("up", names, func(h string) upgrade.Node {
				return upgrade.Func("pkg", func(ctx context.Context, s *upgrade.State) error {
					return transport.Check(ctx, s.Transport(), transport.Cmd("apt-get", "install", "-y", "--", "opennebula"))
				})
			}).WithParallel(upgrade.ParallelPolicy{Concurrency: 100}))
			var peak uint64
			var wall time.Duration
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				c := fake.NewCluster(names...)
				inv := make(map[string]transport.Transport, n)
				for _, h := range names {
					c.Host(h).Expect(fake.Exact("apt-get", "install", "-y", "--", "opennebula")).Delay(time.Millisecond)
					inv[h] = c.Host(h)
				}
				opts := []upgrade.Option{upgrade.WithHosts(inv)}
				if journal == "file" {
					opts = append(opts, upgrade.WithJournal(upgrade.NewFileStore(filepath.Join(b.TempDir(), fmt.Sprintf("j%d", i)))))
				}
				r, err := upgrade.NewRunner(plan, opts...)
				if err != nil {
					b.Fatal(err)
				}
				runtime.GC()
				var base runtime.MemStats
				runtime.ReadMemStats(&base)
				stop := make(chan struct{})
				var wg sync.WaitGroup
				wg.Add(1)
				var localPeak uint64
				go func() {
					defer wg.Done()
					t := time.NewTicker(2 * time.Millisecond)
					defer t.Stop()
					var ms runtime.MemStats
					for {
						runtime.ReadMemStats(&ms)
						localPeak = max(localPeak, ms.HeapInuse)
						select {
						case <-stop:
							return
						case <-t.C:
						}
					}
				}()
				b.StartTimer()
				start := time.Now()
				_, err = r.Run(b.Context())
				wall += time.Since(start)
				b.StopTimer()
				close(stop)
				wg.Wait()
				if err != nil {
					b.Fatal(err)
				}
				peak = max(peak, localPeak)
				b.StartTimer()
			}
			b.ReportMetric(float64(wall.Milliseconds())/float64(b.N), "ms/run")
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		})
	}
}
