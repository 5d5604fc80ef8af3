package ssh

import (
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"golang.org/x/crypto/ssh"
)

// chanPipe is one direction of an in-memory connection whose writes do
// not wait for the reader (net.Pipe's do, which deadlocks the SSH version
// exchange) and whose blocking is visible to synctest.
type chanPipe struct {
	in     chan []byte
	out    chan []byte
	buf    []byte
	closed chan struct{}
	once   *sync.Once
}

func bufferedPipe() (net.Conn, net.Conn) {
	a2b, b2a := make(chan []byte, 1024), make(chan []byte, 1024)
	closed := make(chan struct{})
	once := &sync.Once{}
	return &chanPipe{in: b2a, out: a2b, closed: closed, once: once},
		&chanPipe{in: a2b, out: b2a, closed: closed, once: once}
}

func (p *chanPipe) Read(b []byte) (int, error) {
	if len(p.buf) == 0 {
		select {
		case p.buf = <-p.in:
		case <-p.closed:
			return 0, io.EOF
		}
	}
	n := copy(b, p.buf)
	p.buf = p.buf[n:]
	return n, nil
}

func (p *chanPipe) Write(b []byte) (int, error) {
	select {
	case p.out <- append([]byte(nil), b...):
		return len(b), nil
	case <-p.closed:
		return 0, io.ErrClosedPipe
	}
}

func (p *chanPipe) Close() error {
	p.once.Do(func() { close(p.closed) })
	return nil
}

func (p *chanPipe) LocalAddr() net.Addr              { return pipeAddr{} }
func (p *chanPipe) RemoteAddr() net.Addr             { return pipeAddr{} }
func (p *chanPipe) SetDeadline(time.Time) error      { return nil }
func (p *chanPipe) SetReadDeadline(time.Time) error  { return nil }
func (p *chanPipe) SetWriteDeadline(time.Time) error { return nil }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// pipeConn returns a conn whose peer is an in-memory x/crypto server that
// answers keepalives while answer is true and ignores them otherwise.
func pipeConn(t *testing.T, answer *atomic.Bool) (*conn, func()) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	signer, err := ssh.NewSignerFromKey(priv)
	require.NoError(t, err)
	srvCfg := &ssh.ServerConfig{NoClientAuth: true}
	srvCfg.AddHostKey(signer)
	cliSide, srvSide := bufferedPipe()
	srvDone := make(chan struct{})
	go func() {
		defer close(srvDone)
		sc, chans, reqs, err := ssh.NewServerConn(srvSide, srvCfg)
		if err != nil {
			return
		}
		go func() {
			for nc := range chans {
				_ = nc.Reject(ssh.Prohibited, "no")
			}
		}()
		for r := range reqs {
			if answer.Load() {
				_ = r.Reply(true, nil)
			}
		}
		_ = sc.Close()
	}()
	cc, chans, reqs, err := ssh.NewClientConn(cliSide, "pipe", &ssh.ClientConfig{
		User:            "u",
		HostKeyCallback: ssh.FixedHostKey(signer.PublicKey()),
	})
	require.NoError(t, err)
	cn := &conn{client: ssh.NewClient(cc, chans, reqs), dead: make(chan struct{}), stop: make(chan struct{}), log: zap.NewNop()}
	return cn, func() {
		cn.close()
		_ = srvSide.Close()
		<-srvDone
	}
}

func TestKeepAliveClosesAfterMaxMisses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var answer atomic.Bool
		answer.Store(true)
		cn, cleanup := pipeConn(t, &answer)
		defer cleanup()
		cn.start(time.Second, 3)

		time.Sleep(time.Hour)
		synctest.Wait()
		assert.False(t, cn.isDead(), "a peer that answers stays connected")

		answer.Store(false)
		// The probe sent at the next tick goes unanswered; it counts as a
		// miss at each later tick, and the third miss closes the connection.
		time.Sleep(3*time.Second + 500*time.Millisecond)
		synctest.Wait()
		assert.False(t, cn.isDead(), "two misses are tolerated")
		time.Sleep(time.Second)
		synctest.Wait()
		assert.True(t, cn.isDead(), "the third miss closes the connection")
	})
}

func TestKeepAliveStopsOnClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var answer atomic.Bool
		cn, cleanup := pipeConn(t, &answer)
		cn.start(time.Second, 3)
		time.Sleep(1500 * time.Millisecond) // one probe outstanding
		cleanup()                           // must not hang on the probe
		assert.True(t, cn.isDead())
	})
}
