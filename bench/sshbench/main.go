package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
	"golang.org/x/sync/errgroup"

	"github.com/upgradekit/upgradekit/internal/testbed"
	"github.com/upgradekit/upgradekit/transport"
	sshx "github.com/upgradekit/upgradekit/transport/ssh"
)

// kex is the key exchange every tool is forced to use: OpenSSH 9.2's
// default (sntrup761x25519) costs ~110 ms of client CPU per connection and
// x/crypto/ssh does not implement it.
const kex = "curve25519-sha256"

type options struct {
	hosts        int
	seq          int
	size         int64
	rounds       int
	uploadRounds int
	only         map[string]bool
	ansible      bool
	quickack     bool
	dir          string
}

func main() {
	var o options
	var only string
	flag.IntVar(&o.hosts, "hosts", 200, "hosts for the fan-out benchmarks")
	flag.IntVar(&o.seq, "seq", 100, "sequential commands to one host")
	flag.Int64Var(&o.size, "size", 1<<30, "bytes uploaded to each of 2 hosts")
	flag.IntVar(&o.rounds, "rounds", 3, "repetitions of the fan-out and sequential runs (median reported)")
	flag.IntVar(&o.uploadRounds, "upload-rounds", 2, "interleaved repetitions of the upload comparison (best reported)")
	flag.StringVar(&only, "only", "fanout,seq,upload", "benchmarks to run: fanout (includes memory), seq, upload")
	flag.BoolVar(&o.ansible, "ansible", true, "include ansible -m raw in the fan-out comparison when installed")
	flag.BoolVar(&o.quickack, "quickack", false, "add a quickack route for the bench's 127.21.0.0/16 while it runs")
	flag.StringVar(&o.dir, "dir", "", "work directory holding the hosts' files and upload targets (default: a new directory in /dev/shm, so that uploads measure the transport rather than a disk shared with other jobs)")
	flag.Parse()
	o.only = map[string]bool{}
	for _, s := range strings.Split(only, ",") {
		o.only[strings.TrimSpace(s)] = true
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "sshbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	if o.quickack {
		if out, err := exec.Command("ip", "route", "add", "local", "127.21.0.0/16", "dev", "lo", "table", "local", "quickack", "1").CombinedOutput(); err != nil {
			return fmt.Errorf("quickack route: %v: %s", err, out)
		}
		defer exec.Command("ip", "route", "del", "local", "127.21.0.0/16", "dev", "lo", "table", "local").Run()
	}
	n := o.hosts
	if !o.only["fanout"] {
		n = 2
	}
	n = max(n, 2)
	if o.dir == "" {
		if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
			d, err := os.MkdirTemp("/dev/shm", "sshbench-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(d)
			o.dir = d
		}
	}
	start := time.Now()
	bed, err := testbed.Start(ctx, testbed.Config{
		Hosts:     n,
		FirstAddr: netip.MustParseAddr("127.21.0.1"),
		Port:      22000,
		Dir:       o.dir,
		Mounts:    []string{"/root"}, // own empty home: no ~/.bashrc
	})
	if err != nil {
		return err
	}
	defer bed.Close()
	fmt.Printf("# sshbench %s\n\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Printf("- %d sshd hosts (OpenSSH %s) started in %s; key exchange %s for every tool; quickack route: %v\n",
		n, sshdVersion(), time.Since(start).Round(time.Millisecond), kex, o.quickack)
	fmt.Printf("- load average at start: %s; %d CPUs; %s; files in %s\n\n", loadavg(), runtime.NumCPU(), cpuModel(), bed.Dir)
	b := &bench{o: o, bed: bed}
	if o.only["fanout"] {
		if err := b.fanout(ctx); err != nil {
			return err
		}
	}
	if o.only["seq"] {
		if err := b.sequential(ctx); err != nil {
			return err
		}
	}
	if o.only["upload"] {
		if err := b.upload(ctx); err != nil {
			return err
		}
	}
	fmt.Printf("\n- load average at end: %s\n", loadavg())
	return nil
}

type bench struct {
	o   options
	bed *testbed.Bed
}

func (b *bench) pool(hosts []*testbed.Host, opts ...sshx.Option) (*sshx.Pool, error) {
	base := sshx.Config{
		User:            b.bed.User,
		IdentityFiles:   []string{b.bed.ClientKeyFile},
		KnownHostsFiles: []string{b.bed.KnownHostsFile},
		KeyExchanges:    []string{kex},
	}
	p, err := sshx.NewPool(base, opts...)
	if err != nil {
		return nil, err
	}
	for _, h := range hosts {
		c := base.Clone()
		c.Host = h.HostPort()
		if err := p.Add(h.Name, c); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (b *bench) sshArgs() []string {
	return []string{"-F", b.bed.SSHConfigFile, "-o", "KexAlgorithms=" + kex}
}

func trueOnAll(ctx context.Context, p *sshx.Pool, names []string) error {
	return p.Each(ctx, names, 0, func(ctx context.Context, _ string, t transport.Transport) error {
		return transport.Check(ctx, t, transport.Cmd("true"))
	})
}

func (b *bench) fanout(ctx context.Context) error {
	hosts := b.bed.Hosts
	names := b.bed.Names()
	fmt.Printf("## One `true` on %d hosts (median of %d)\n\n| tool | time |\n|---|---|\n", len(hosts), b.o.rounds)

	hostsFile := filepath.Join(b.bed.Dir, "pssh-hosts")
	if err := os.WriteFile(hostsFile, []byte(strings.Join(names, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	// The tools alternate so that a change in the machine's load
	// during the run hits both.
	var psshTimes, freshTimes, bareTimes []time.Duration
	var psshCPU, freshCPU time.Duration
	for range max(b.o.rounds, 1) {
		_, c0 := cpuTimes()
		args := []string{"-h", hostsFile, "-p", fmt.Sprint(len(hosts)), "-t", "120"}
		for _, a := range b.sshArgs() {
			args = append(args, "-X", a)
		}
		d, err := timeCmd(ctx, "parallel-ssh", append(args, "true")...)
		if err != nil {
			return fmt.Errorf("parallel-ssh: %w", err)
		}
		_, c1 := cpuTimes()
		psshTimes, psshCPU = append(psshTimes, d), psshCPU+c1-c0

		s0, _ := cpuTimes()
		p, err := b.pool(hosts)
		if err != nil {
			return err
		}
		start := time.Now()
		err = trueOnAll(ctx, p, names)
		d = time.Since(start)
		_ = p.Close()
		if err != nil {
			return fmt.Errorf("upgradekit new connections: %w", err)
		}
		s1, _ := cpuTimes()
		freshTimes, freshCPU = append(freshTimes, d), freshCPU+s1-s0

		// Reference: a bare x/crypto/ssh loop (ssh.Dial, one session,
		// Run, Close) with the same known_hosts check, key and kex.
		d, err = b.bareLoop(ctx)
		if err != nil {
			return fmt.Errorf("bare x/crypto loop: %w", err)
		}
		bareTimes = append(bareTimes, d)
	}
	pssh, fresh, bare := med(psshTimes), med(freshTimes), med(bareTimes)
	n := time.Duration(len(psshTimes))
	fmt.Printf("| parallel-ssh -p %d (%s) | %s (runs %s; client CPU %s per run) |\n", len(hosts), kex, fmtDur(pssh), fmtDurs(psshTimes), fmtDur(psshCPU/n))
	fmt.Printf("| upgradekit ssh.Pool, new connections | %s (%.2fx parallel-ssh; runs %s; client CPU %s per run) |\n",
		fmtDur(fresh), pssh.Seconds()/fresh.Seconds(), fmtDurs(freshTimes), fmtDur(freshCPU/n))
	fmt.Printf("| reference: bare x/crypto/ssh loop (Dial, Session.Run, Close) | %s (%.2fx parallel-ssh; runs %s) |\n", fmtDur(bare), pssh.Seconds()/bare.Seconds(), fmtDurs(bareTimes))

	before := heapAndStacks()
	p, err := b.pool(hosts)
	if err != nil {
		return err
	}
	defer p.Close()
	if err := trueOnAll(ctx, p, names); err != nil {
		return err
	}
	pooled, err := median(b.o.rounds, func() (time.Duration, error) {
		start := time.Now()
		err := trueOnAll(ctx, p, names)
		return time.Since(start), err
	})
	if err != nil {
		return fmt.Errorf("upgradekit pooled: %w", err)
	}
	fmt.Printf("| upgradekit ssh.Pool, pooled connections | %s |\n", fmtDur(pooled))
	time.Sleep(200 * time.Millisecond) // let idle goroutines park
	after := heapAndStacks()
	st := p.Stats()

	if b.o.ansible {
		if _, err := exec.LookPath("ansible"); err == nil {
			d, err := b.ansible(ctx)
			if err != nil {
				fmt.Printf("| ansible -m raw -f %d | failed: %v |\n", len(hosts), err)
			} else {
				fmt.Printf("| ansible -m raw -f %d (one run) | %s |\n", len(hosts), fmtDur(d))
			}
		}
	}
	per := (after.heap - before.heap) / int64(st.Connected)
	perAll := (after.heap + after.stacks - before.heap - before.stacks) / int64(st.Connected)
	fmt.Printf("\nMemory per idle pooled connection (%d connected, runtime/metrics after GC): heap %.1f KiB, heap+goroutine stacks %.1f KiB\n\n",
		st.Connected, float64(per)/1024, float64(perAll)/1024)
	return nil
}

func (b *bench) bareLoop(ctx context.Context) (time.Duration, error) {
	cb, err := knownhosts.New(b.bed.KnownHostsFile)
	if err != nil {
		return 0, err
	}
	cfg := &ssh.ClientConfig{
		User:            b.bed.User,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(b.bed.ClientSigner)},
		HostKeyCallback: cb,
		Config:          ssh.Config{KeyExchanges: []string{kex}},
		Timeout:         time.Minute,
	}
	var g errgroup.Group
	start := time.Now()
	for _, h := range b.bed.Hosts {
		g.Go(func() error {
			c, err := ssh.Dial("tcp", h.HostPort(), cfg)
			if err != nil {
				return err
			}
			defer c.Close()
			s, err := c.NewSession()
			if err != nil {
				return err
			}
			defer s.Close()
			return s.Run("true")
		})
	}
	err = g.Wait()
	return time.Since(start), err
}

func (b *bench) ansible(ctx context.Context) (time.Duration, error) {
	dir := filepath.Join(b.bed.Dir, "ansible")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	inv := filepath.Join(dir, "inventory")
	var s strings.Builder
	s.WriteString("[all]\n" + strings.Join(b.bed.Names(), "\n") + "\n[all:vars]\n")
	fmt.Fprintf(&s, "ansible_ssh_common_args='%s'\n", strings.Join(b.sshArgs(), " "))
	if err := os.WriteFile(inv, []byte(s.String()), 0o644); err != nil {
		return 0, err
	}
	cmd := exec.CommandContext(ctx, "ansible", "all", "-i", inv, "-m", "raw", "-a", "true", "-f", fmt.Sprint(len(b.bed.Hosts)))
	cmd.Env = append(os.Environ(), "ANSIBLE_HOME="+dir, "ANSIBLE_LOCAL_TEMP="+dir+"/tmp",
		"ANSIBLE_SSH_ARGS=", "ANSIBLE_HOST_KEY_CHECKING=True", "ANSIBLE_CONFIG="+dir+"/none.cfg")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("%w: %s", err, tail(out))
	}
	return time.Since(start), nil
}

func (b *bench) sequential(ctx context.Context) error {
	h := b.bed.Hosts[0]
	fmt.Printf("## %d sequential `true` on one host (median of %d, connection already up)\n\n| tool | time |\n|---|---|\n", b.o.seq, b.o.rounds)
	cp := filepath.Join(b.bed.Dir, "cm-%C")
	cm := append(b.sshArgs(), "-o", "ControlMaster=auto", "-o", "ControlPath="+cp, "-o", "ControlPersist=120")
	if _, err := timeCmd(ctx, "ssh", append(cm, h.Name, "true")...); err != nil {
		return fmt.Errorf("ControlMaster: %w", err)
	}
	defer exec.Command("ssh", append(cm, "-O", "exit", h.Name)...).Run()
	master, err := median(b.o.rounds, func() (time.Duration, error) {
		start := time.Now()
		for range b.o.seq {
			if _, err := timeCmd(ctx, "ssh", append(cm, h.Name, "true")...); err != nil {
				return 0, err
			}
		}
		return time.Since(start), nil
	})
	if err != nil {
		return fmt.Errorf("ControlMaster: %w", err)
	}
	fmt.Printf("| OpenSSH ControlMaster (`ssh -o ControlPath=...`) | %s |\n", fmtDur(master))

	p, err := b.pool([]*testbed.Host{h})
	if err != nil {
		return err
	}
	defer p.Close()
	c, err := p.Get(h.Name)
	if err != nil {
		return err
	}
	if err := c.Connect(ctx); err != nil {
		return err
	}
	ours, err := median(b.o.rounds, func() (time.Duration, error) {
		start := time.Now()
		for range b.o.seq {
			if err := transport.Check(ctx, c, transport.Cmd("true")); err != nil {
				return 0, err
			}
		}
		return time.Since(start), nil
	})
	if err != nil {
		return err
	}
	fmt.Printf("| upgradekit ssh.Client (one session per command) | %s (%.2f of ControlMaster) |\n\n", fmtDur(ours), ours.Seconds()/master.Seconds())
	return nil
}

func (b *bench) upload(ctx context.Context) error {
	hosts := b.bed.Hosts[:2]
	src := filepath.Join(b.bed.Dir, "upload.bin")
	sum, err := writeRandom(src, b.o.size)
	if err != nil {
		return err
	}
	defer os.Remove(src)
	total := float64(2*b.o.size) / (1 << 20)
	fmt.Printf("## Upload of %d MiB to 2 hosts in parallel (total %.0f MiB; best of %d interleaved rounds; every copy's SHA-256 checked afterwards)\n\n| tool | time | MiB/s total |\n|---|---|---|\n",
		b.o.size>>20, total, max(b.o.uploadRounds, 1))
	type tool struct {
		name string
		run  func(h *testbed.Host, dst string) error
	}
	sshCmd := "ssh " + strings.Join(b.sshArgs(), " ")
	tools := []tool{
		{"scp (default cipher chacha20-poly1305)", func(h *testbed.Host, dst string) error {
			_, err := timeCmd(ctx, "scp", append(b.sshArgs(), "-q", src, h.Name+":"+dst)...)
			return err
		}},
		{"scp -c aes128-gcm@openssh.com", func(h *testbed.Host, dst string) error {
			_, err := timeCmd(ctx, "scp", append(b.sshArgs(), "-q", "-c", "aes128-gcm@openssh.com", src, h.Name+":"+dst)...)
			return err
		}},
		{"rsync -e ssh", func(h *testbed.Host, dst string) error {
			_, err := timeCmd(ctx, "rsync", "-e", sshCmd, src, h.Name+":"+dst)
			return err
		}},
		{"rsync -e 'ssh -c aes128-gcm@openssh.com'", func(h *testbed.Host, dst string) error {
			_, err := timeCmd(ctx, "rsync", "-e", sshCmd+" -c aes128-gcm@openssh.com", src, h.Name+":"+dst)
			return err
		}},
	}
	var p *sshx.Pool
	tools = append(tools, tool{"upgradekit transport.Upload (aes128-gcm, SHA-256 both ends, temp+rename)", func(h *testbed.Host, dst string) error {
		c, err := p.Get(h.Name)
		if err != nil {
			return err
		}
		f, err := os.Open(src)
		if err != nil {
			return err
		}
		defer f.Close()
		tr, err := transport.Upload(ctx, c, dst, f, transport.FileOptions{Mode: 0o644})
		if err != nil {
			return err
		}
		if tr.SHA256 != sum {
			return fmt.Errorf("upload reported sha256 %s, want %s", tr.SHA256, sum)
		}
		return nil
	}})
	if p, err = b.pool(hosts); err != nil {
		return err
	}
	defer p.Close()
	rounds := max(b.o.uploadRounds, 1)
	times := make([][]time.Duration, len(tools))
	for range rounds {
		for i, tl := range tools {
			dst := "/root/upload.bin"
			start := time.Now()
			var wg sync.WaitGroup
			errs := make([]error, len(hosts))
			for j, h := range hosts {
				wg.Go(func() { errs[j] = tl.run(h, dst) })
			}
			wg.Wait()
			d := time.Since(start)
			if err := errors.Join(errs...); err != nil {
				return fmt.Errorf("%s: %w", tl.name, err)
			}
			for _, h := range hosts {
				got, err := fileSHA256(h.Path(dst))
				if err != nil {
					return err
				}
				if got != sum {
					return fmt.Errorf("%s: %s: sha256 %s, want %s", tl.name, h.Name, got, sum)
				}
				_ = os.Remove(h.Path(dst))
			}
			times[i] = append(times[i], d)
		}
	}
	best := 0.0
	for i, tl := range tools {
		d := slices.Min(times[i])
		rate := total / d.Seconds()
		note := ""
		if i == len(tools)-1 {
			note = fmt.Sprintf(" (%.0f%% of the best peer)", 100*rate/best)
		} else {
			best = max(best, rate)
		}
		fmt.Printf("| %s | %s (runs %s) | %.0f%s |\n", tl.name, fmtDur(d), fmtDurs(times[i]), rate, note)
	}
	fmt.Println()
	return nil
}

func writeRandom(path string, size int64) (string, error) {
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	w := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)
	r := rand.NewChaCha8([32]byte{1, 2, 3})
	buf := make([]byte, 1<<20)
	for left := size; left > 0; {
		k := min(int64(len(buf)), left)
		_, _ = r.Read(buf[:k])
		if _, err := w.Write(buf[:k]); err != nil {
			return "", err
		}
		left -= k
	}
	if err := w.Flush(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), f.Close()
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func timeCmd(ctx context.Context, name string, args ...string) (time.Duration, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return d, fmt.Errorf("%s: %w: %s", name, err, tail(out.Bytes()))
	}
	return d, nil
}

func med(ds []time.Duration) time.Duration {
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds[len(ds)/2]
}

func fmtDurs(ds []time.Duration) string {
	var s []string
	for _, d := range ds {
		s = append(s, fmtDur(d))
	}
	return strings.Join(s, ", ")
}

func median(n int, f func() (time.Duration, error)) (time.Duration, error) {
	var ds []time.Duration
	for range max(n, 1) {
		d, err := f()
		if err != nil {
			return 0, err
		}
		ds = append(ds, d)
	}
	slices.Sort(ds)
	return ds[len(ds)/2], nil
}

// cpuTimes returns the user+system CPU time used so far by this process
// and by its waited-for children (the peers' ssh processes).
func cpuTimes() (self, children time.Duration) {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru)
	children = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return self, children
}

type memSample struct{ heap, stacks int64 }

func heapAndStacks() memSample {
	runtime.GC()
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/stacks:bytes"}}
	metrics.Read(s)
	return memSample{heap: int64(s[0].Value.Uint64()), stacks: int64(s[1].Value.Uint64())}
}

func fmtDur(d time.Duration) string { return d.Round(time.Millisecond).String() }

func tail(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 400 {
		s = "..." + s[len(s)-400:]
	}
	return s
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func sshdVersion() string {
	out, _ := exec.Command("ssh", "-V").CombinedOutput()
	s := strings.TrimSpace(string(out))
	s = strings.TrimPrefix(s, "OpenSSH_")
	if i := strings.IndexByte(s, ','); i > 0 {
		s = s[:i]
	}
	return s
}
