package proctest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/upgradekit/upgradekit/sim"
	"github.com/upgradekit/upgradekit/transport"
)

// Persister saves a simulated cloud to a file at the moment a process is
// about to be killed, consistently with what the steps saw: Freeze stops
// every transport of Wrap for good (a command in flight may still take
// effect in the cloud, but its caller never sees it return, so no step
// records it done), then writes the cloud. What the file holds is what a
// SIGKILL at that instant leaves behind, without paying a save after every
// command.
type Persister struct {
	c      *sim.Cloud
	path   string
	frozen atomic.Bool
	// afterChange, when set, is called after each mutating command or
	// upload returns (before its caller sees the result).
	afterChange func(ctx context.Context)
}

// NewPersister returns a persister of c to path.
func NewPersister(c *sim.Cloud, path string) *Persister {
	return &Persister{c: c, path: path}
}

// SaveCloud writes c to path atomically.
func SaveCloud(c *sim.Cloud, path string) error {
	var buf bytes.Buffer
	if err := c.Save(&buf); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// LoadCloud reads a cloud saved with SaveCloud.
func LoadCloud(path string) (*sim.Cloud, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return sim.Load(f)
}

// Freeze stops the transports and writes the cloud.
func (p *Persister) Freeze() error {
	p.frozen.Store(true)
	if err := SaveCloud(p.c, p.path); err != nil {
		return fmt.Errorf("proctest: persist cloud: %w", err)
	}
	return nil
}

// hold blocks a frozen transport's caller until the process is killed.
func (p *Persister) hold() {
	for p.frozen.Load() {
		time.Sleep(time.Minute)
	}
}

// Wrap returns hosts with every transport stopped by Freeze.
func (p *Persister) Wrap(hosts map[string]transport.Transport) map[string]transport.Transport {
	out := make(map[string]transport.Transport, len(hosts))
	for name, t := range hosts {
		out[name] = &persistTransport{t: t, host: name, p: p}
	}
	return out
}

type persistTransport struct {
	t    transport.Transport
	host string
	p    *Persister
}

var (
	_ transport.Transport  = (*persistTransport)(nil)
	_ transport.Namer      = (*persistTransport)(nil)
	_ transport.Uploader   = (*persistTransport)(nil)
	_ transport.Downloader = (*persistTransport)(nil)
)

func (t *persistTransport) Host() string { return t.host }

func (t *persistTransport) Close() error { return nil }

func (t *persistTransport) Run(ctx context.Context, c transport.Command) (transport.Result, error) {
	t.p.hold()
	res, err := t.t.Run(ctx, c)
	if !c.ReadOnly && t.p.afterChange != nil {
		t.p.afterChange(ctx)
	}
	t.p.hold()
	return res, err
}

func (t *persistTransport) Upload(ctx context.Context, dst string, r io.Reader, opts transport.FileOptions) (transport.Transfer, error) {
	t.p.hold()
	tr, err := transport.Upload(ctx, t.t, dst, r, opts)
	if t.p.afterChange != nil {
		t.p.afterChange(ctx)
	}
	t.p.hold()
	return tr, err
}

func (t *persistTransport) Download(ctx context.Context, src string, w io.Writer, opts transport.FileOptions) (transport.Transfer, error) {
	t.p.hold()
	tr, err := transport.Download(ctx, t.t, src, w, opts)
	t.p.hold()
	return tr, err
}

// Hosts returns the transports of every node of c, by name.
func Hosts(c *sim.Cloud) map[string]transport.Transport { return c.Transports() }
