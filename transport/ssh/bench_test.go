package ssh_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/transport"
	sshx "github.com/upgradekit/upgradekit/transport/ssh"
)

// BenchmarkRun measures one command over a pooled connection: a session
// per command on a real loopback sshd.
func BenchmarkRun(b *testing.B) {
	bed := newBedB(b)
	c, err := sshx.Dial(b.Context(), hostConfig(bed, bed.Hosts[0]))
	require.NoError(b, err)
	defer c.Close()
	b.ResetTimer()
	for b.Loop() {
		if err := transport.Check(b.Context(), c, transport.Cmd("true")); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawSession is the floor: x/crypto/ssh's Session.Run alone.
func BenchmarkRawSession(b *testing.B) {
	bed := newBedB(b)
	c, err := sshx.Dial(b.Context(), hostConfig(bed, bed.Hosts[0]))
	require.NoError(b, err)
	defer c.Close()
	raw := sshx.RawClientForTest(c)
	for b.Loop() {
		s, err := raw.NewSession()
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Run("true"); err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}

// BenchmarkUpload measures transport.Upload (SHA-256 on both ends,
// temp file and rename) of 32 MiB.
func BenchmarkUpload(b *testing.B) {
	bed := newBedB(b)
	c, err := sshx.Dial(b.Context(), hostConfig(bed, bed.Hosts[0]))
	require.NoError(b, err)
	defer c.Close()
	data := bytes.Repeat([]byte("upgradekit"), 32<<20/10)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := transport.Upload(b.Context(), c, "/root/bench.bin", bytes.NewReader(data), transport.FileOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
