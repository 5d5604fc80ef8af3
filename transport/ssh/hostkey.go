package ssh

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/upgradekit/upgradekit/transport"
)

// ErrKnownHostsMissing: a known_hosts file the Strict policy must check
// host keys against does not exist, so every host would be refused as
// unknown. New and Pool.Get report it, naming the file, before any host
// is dialled.
var ErrKnownHostsMissing = errors.New("known_hosts file missing")

// HostKeyPolicy decides what happens to a host key that no known_hosts
// entry covers. A key that differs from a known one is always refused
// with transport.ErrHostKeyChanged. Share one policy between clients: it
// serialises writes to its file.
type HostKeyPolicy struct {
	tofuFile string
	mu       sync.Mutex // serialises TOFU writes

	cacheMu sync.Mutex
	cache   map[string]cachedDB // parsed known_hosts, by file list
}

type cachedDB struct {
	stamps []fileStamp
	cb     ssh.HostKeyCallback
}

type fileStamp struct {
	size  int64
	mtime int64
}

// load returns the parsed known_hosts files, reusing the last parse while
// no file changed: a pool dialing hundreds of hosts parses them once.
func (p *HostKeyPolicy) load(files []string) (ssh.HostKeyCallback, error) {
	stamps := make([]fileStamp, len(files))
	for i, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			return nil, err
		}
		stamps[i] = fileStamp{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	}
	key := strings.Join(files, "\x00")
	p.cacheMu.Lock()
	defer p.cacheMu.Unlock()
	if c, ok := p.cache[key]; ok && slices.Equal(c.stamps, stamps) {
		return c.cb, nil
	}
	cb, err := knownhosts.New(files...)
	if err != nil {
		return nil, err
	}
	if p.cache == nil {
		p.cache = map[string]cachedDB{}
	}
	p.cache[key] = cachedDB{stamps: stamps, cb: cb}
	return cb, nil
}

// Strict refuses unknown hosts with transport.ErrUnknownHostKey, and
// known_hosts files that do not exist with ErrKnownHostsMissing. It is
// the default.
func Strict() *HostKeyPolicy { return &HostKeyPolicy{} }

// TrustOnFirstUse accepts the key of a host that no known_hosts file
// lists and records it in file (created if needed), which is also read
// as a known_hosts file from then on. Later connections are checked
// strictly against it.
func TrustOnFirstUse(file string) *HostKeyPolicy { return &HostKeyPolicy{tofuFile: file} }

// checkFiles refuses, under the Strict policy, a hop whose known_hosts
// files are missing: each one listed in Config.KnownHostsFiles, or all of
// those taken from the OpenSSH configuration (or its default).
func (p *HostKeyPolicy) checkFiles(t target) error {
	if p.tofuFile != "" {
		return nil
	}
	var missing []error
	for _, f := range t.knownHosts {
		if _, err := os.Stat(f); errors.Is(err, fs.ErrNotExist) {
			missing = append(missing, err)
		}
	}
	if len(missing) == 0 || (t.khOptional && len(missing) < len(t.knownHosts)) {
		return nil
	}
	return fmt.Errorf("ssh: host %s: %w: %w", t.name, ErrKnownHostsMissing, errors.Join(missing...))
}

// hostKeyCheck verifies one hop's host key and remembers why it refused
// one, so that the handshake error can be classified at the source.
type hostKeyCheck struct {
	host   string // name for messages
	policy *HostKeyPolicy
	cb     ssh.HostKeyCallback
	files  []string              // the known_hosts files read
	known  []knownhosts.KnownKey // the keys they hold for the host
	err    error                 // set when the callback refused the key
}

// newHostKeyCheck loads the known_hosts files (missing ones count as
// empty) and returns the checker and the host key algorithms to offer for
// addr: the types of the keys known for it, or nil (any) when none is.
func newHostKeyCheck(name, addr string, files []string, p *HostKeyPolicy) (*hostKeyCheck, []string, error) {
	var existing []string
	for _, f := range append(slices.Clone(files), p.tofuFile) {
		if f == "" || slices.Contains(existing, f) {
			continue
		}
		if _, err := os.Stat(f); err == nil {
			existing = append(existing, f)
		}
	}
	hc := &hostKeyCheck{host: name, policy: p, files: existing}
	if len(existing) > 0 {
		cb, err := p.load(existing)
		if err != nil {
			return nil, nil, fmt.Errorf("ssh: known_hosts: %w", err)
		}
		hc.cb = cb
	}
	return hc, hc.algorithms(addr), nil
}

// probeKey is a key no known_hosts line holds: checking it makes
// knownhosts list every key it knows for a host in KeyError.Want.
type probeKey struct{}

func (probeKey) Type() string                             { return "upgradekit-probe" }
func (probeKey) Marshal() []byte                          { return []byte("upgradekit-probe") }
func (probeKey) Verify([]byte, *ssh.Signature) error      { return errors.New("probe key") }
func (hc *hostKeyCheck) probeRemote(addr string) net.Addr { return tcpAddr(addr) }

func tcpAddr(addr string) *net.TCPAddr {
	h, p, _ := net.SplitHostPort(addr)
	port, _ := net.LookupPort("tcp", p)
	ip := net.ParseIP(h)
	if ip == nil {
		ip = net.IPv4zero
	}
	return &net.TCPAddr{IP: ip, Port: port}
}

func (hc *hostKeyCheck) algorithms(addr string) []string {
	if hc.cb == nil {
		return nil
	}
	ke, ok := errors.AsType[*knownhosts.KeyError](hc.cb(addr, hc.probeRemote(addr), probeKey{}))
	if !ok || len(ke.Want) == 0 {
		return nil
	}
	hc.known = ke.Want
	var algos []string
	for _, k := range ke.Want {
		for _, a := range algorithmsFor(k.Key.Type()) {
			if !slices.Contains(algos, a) {
				algos = append(algos, a)
			}
		}
	}
	return algos
}

// algorithmsFor maps a known_hosts key type to the host key algorithms
// that produce it.
func algorithmsFor(keyType string) []string {
	switch keyType {
	case ssh.KeyAlgoRSA:
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	default:
		return []string{keyType}
	}
}

// check is the ssh.HostKeyCallback.
func (hc *hostKeyCheck) check(hostname string, remote net.Addr, key ssh.PublicKey) error {
	var err error
	if hc.cb == nil {
		err = &knownhosts.KeyError{}
	} else {
		err = hc.cb(hostname, remote, key)
	}
	if err == nil {
		return nil
	}
	fp := ssh.FingerprintSHA256(key)
	if ke, ok := errors.AsType[*knownhosts.KeyError](err); ok {
		if len(ke.Want) > 0 {
			w := ke.Want[0]
			hc.err = fmt.Errorf("host %s: %w: presented %s %s, %s:%d has %s %s",
				hc.host, transport.ErrHostKeyChanged, key.Type(), fp, w.Filename, w.Line, w.Key.Type(), ssh.FingerprintSHA256(w.Key))
			return hc.err
		}
		if hc.policy.tofuFile != "" {
			if err := hc.policy.record(hostname, key); err != nil {
				hc.err = fmt.Errorf("host %s: record host key: %w", hc.host, err)
				return hc.err
			}
			return nil
		}
		where := fmt.Sprintf("is in none of %q", hc.files)
		if len(hc.files) == 0 {
			where = "and no known_hosts file was given"
		}
		hc.err = fmt.Errorf("host %s: %w: %s %s %s", hc.host, transport.ErrUnknownHostKey, key.Type(), fp, where)
		return hc.err
	}
	if _, ok := errors.AsType[*knownhosts.RevokedError](err); ok {
		hc.err = fmt.Errorf("host %s: %w: %w", hc.host, transport.ErrHostKeyChanged, err)
		return hc.err
	}
	hc.err = fmt.Errorf("host %s: host key: %w", hc.host, err)
	return hc.err
}

func (p *HostKeyPolicy) record(hostname string, key ssh.PublicKey) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := os.MkdirAll(filepath.Dir(p.tofuFile), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(p.tofuFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString(knownhosts.Line([]string{knownhosts.Normalize(hostname)}, key) + "\n")
	return errors.Join(err, f.Close())
}

// algorithmMismatch turns the handshake's failure to agree on a host key
// algorithm into the key-changed error it is: the known_hosts files pin
// the host to the types of the keys they hold, and the host offers none
// of them (its keys were replaced by keys of another type, or it is
// another host). nil when err is not that.
func (hc *hostKeyCheck) algorithmMismatch(err error) error {
	ne, ok := errors.AsType[*ssh.AlgorithmNegotiationError](err)
	if !ok || ne.What != "host key" || len(hc.known) == 0 {
		return nil
	}
	var have []string
	for _, k := range hc.known {
		have = append(have, fmt.Sprintf("%s %s (%s:%d)", k.Key.Type(), ssh.FingerprintSHA256(k.Key), k.Filename, k.Line))
	}
	return fmt.Errorf("host %s: %w: it offers only %s host keys, known_hosts has %s",
		hc.host, transport.ErrHostKeyChanged, strings.Join(ne.RequestedAlgorithms, ", "), strings.Join(have, ", "))
}
