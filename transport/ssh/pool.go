package ssh

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/upgradekit/upgradekit/transport"
)

// Pool holds one Client per host, created and connected lazily, sharing
// options (logger, host key policy and its parsed known_hosts, agent).
// It is safe for concurrent use.
type Pool struct {
	base Config
	o    *options

	mu      sync.Mutex
	configs map[string]Config
	clients map[string]*Client
	closed  bool
}

// NewPool returns a pool whose hosts use base with Host (and Name) set to
// the host's name, unless Add gave the host a Config of its own.
func NewPool(base Config, opts ...Option) (*Pool, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	return &Pool{base: base.Clone(), o: o, configs: map[string]Config{}, clients: map[string]*Client{}}, nil
}

// Add registers the Config of host name; Get(name) will use it. It fails
// if a client for name already exists.
func (p *Pool) Add(name string, cfg Config) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.clients[name]; ok {
		return fmt.Errorf("ssh: pool: host %s already in use", name)
	}
	if cfg.Name == "" {
		cfg.Name = name
	}
	p.configs[name] = cfg.Clone()
	return nil
}

// Get returns the host's Client, creating it (without connecting) on
// first use.
func (p *Pool) Get(host string) (*Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, fmt.Errorf("ssh: pool: %w", transport.ErrClosed)
	}
	if c, ok := p.clients[host]; ok {
		return c, nil
	}
	cfg, ok := p.configs[host]
	if !ok {
		cfg = p.base.Clone()
		cfg.Host, cfg.Name = host, host
	}
	c, err := newClient(cfg, p.o)
	if err != nil {
		return nil, err
	}
	p.clients[host] = c
	return c, nil
}

// Hosts returns the names of the hosts with a client, sorted.
func (p *Pool) Hosts() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Sorted(maps.Keys(p.clients))
}

// Close closes every client. Closing twice returns nil.
func (p *Pool) Close() error {
	p.mu.Lock()
	clients := slices.Collect(maps.Values(p.clients))
	p.clients, p.closed = map[string]*Client{}, true
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() { _ = c.Close() })
	}
	wg.Wait()
	return nil
}

// PoolStats sums the pool's client counters.
type PoolStats struct {
	Clients    int // hosts with a client
	Connected  int // clients holding a live connection
	Active     int64
	Dials      int64
	Reconnects int64
	Runs       int64
}

// Stats returns the pool's counters.
func (p *Pool) Stats() PoolStats {
	p.mu.Lock()
	clients := slices.Collect(maps.Values(p.clients))
	p.mu.Unlock()
	s := PoolStats{Clients: len(clients)}
	for _, c := range clients {
		cs := c.Stats()
		if cs.Connected {
			s.Connected++
		}
		s.Active += cs.Active
		s.Dials += cs.Dials
		s.Reconnects += cs.Reconnects
		s.Runs += cs.Runs
	}
	return s
}

// HostResult is one host's outcome in Map.
type HostResult[T any] struct {
	Host  string
	Value T
	// Err is the host's error as fn returned it (nil on success).
	Err error
}

// Map calls fn for every host with that host's Client, at most limit at a
// time (limit <= 0 means all at once), and waits for all of them. One
// host's failure does not stop the others. It returns the results in the
// order of hosts and an error joining a *transport.HostError per failed
// host, so errors.Is and errors.As reach every host's error. Hosts not
// started before ctx ended fail with ctx's error.
func Map[T any](ctx context.Context, p *Pool, hosts []string, limit int,
	fn func(ctx context.Context, host string, t transport.Transport) (T, error)) ([]HostResult[T], error) {
	results := make([]HostResult[T], len(hosts))
	var g errgroup.Group
	if limit > 0 {
		g.SetLimit(limit)
	}
	for i, h := range hosts {
		results[i].Host = h
		g.Go(func() error {
			if err := ctx.Err(); err != nil {
				results[i].Err = context.Cause(ctx)
				return nil
			}
			c, err := p.Get(h)
			if err != nil {
				results[i].Err = err
				return nil
			}
			results[i].Value, results[i].Err = fn(ctx, h, c)
			return nil
		})
	}
	_ = g.Wait()
	var errs []error
	for _, r := range results {
		if r.Err != nil {
			errs = append(errs, &transport.HostError{Host: r.Host, Err: r.Err})
		}
	}
	return results, errors.Join(errs...)
}

// Each calls fn for every host, at most limit at a time, like Map without
// values.
func (p *Pool) Each(ctx context.Context, hosts []string, limit int,
	fn func(ctx context.Context, host string, t transport.Transport) error) error {
	_, err := Map(ctx, p, hosts, limit, func(ctx context.Context, host string, t transport.Transport) (struct{}, error) {
		return struct{}{}, fn(ctx, host, t)
	})
	return err
}

// Run runs cmd on every host (at most limit at a time) and returns each
// host's result; a non-zero exit is in the result, not the error.
func (p *Pool) Run(ctx context.Context, hosts []string, limit int, cmd transport.Command) ([]HostResult[transport.Result], error) {
	return Map(ctx, p, hosts, limit, func(ctx context.Context, _ string, t transport.Transport) (transport.Result, error) {
		return t.Run(ctx, cmd)
	})
}
