package transport

import (
	"context"
	"io"
	"io/fs"
	"net"
	"time"
)

// Transport runs commands on one host. Implementations are safe for
// concurrent use by multiple goroutines.
type Transport interface {
	// Run runs cmd to completion. err != nil only if the command could not
	// be run to completion: dial, authentication, session or I/O failures,
	// a timeout or a cancelled ctx. A command that ran and exited non-zero
	// is reported in Result.ExitCode with a nil error; use Output or Check
	// to turn that into an *ExitError.
	Run(ctx context.Context, cmd Command) (Result, error)
	// Close releases the transport's resources. Closing twice is allowed
	// and returns nil the second time.
	Close() error
}

// Dialer is implemented by transports that can open network connections
// from the host they run commands on (an SSH client's direct-tcpip
// channel). onedb uses it to reach MySQL on a front-end over SSH.
type Dialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

// Uploader is implemented by transports with their own file upload. Use
// the package function Upload, which falls back to a streaming upload over
// Run for transports without one.
type Uploader interface {
	Upload(ctx context.Context, dst string, r io.Reader, opts FileOptions) (Transfer, error)
}

// Downloader is implemented by transports with their own file download.
// Use the package function Download, which falls back to Run.
type Downloader interface {
	Download(ctx context.Context, src string, w io.Writer, opts FileOptions) (Transfer, error)
}

// Namer is implemented by transports that know the name of the host they
// talk to; errors and logs use it.
type Namer interface {
	Host() string
}

// HostName returns t's host name if t implements Namer, or "".
func HostName(t Transport) string {
	if n, ok := t.(Namer); ok {
		return n.Host()
	}
	return ""
}

// FileOptions controls how a file is written by Upload or read by
// Download.
type FileOptions struct {
	// Mode is the permission of the uploaded file; 0 means 0644.
	Mode fs.FileMode
	// Owner and Group, when set, are applied with chown after the upload.
	Owner, Group string
	// Sudo runs the remote side as root (sudo -n), for destinations the
	// login user cannot write.
	Sudo bool
}

// Transfer describes a completed upload or download.
type Transfer struct {
	// Bytes is the number of bytes transferred.
	Bytes int64
	// SHA256 is the lower-case hex SHA-256 of the content, equal on both
	// ends (a mismatch is reported as a *ChecksumError instead).
	SHA256 string
	// Duration is the wall time of the transfer.
	Duration time.Duration
}
