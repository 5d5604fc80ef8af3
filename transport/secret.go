package transport

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Secret holds a value that must never reach argv, logs, events or error
// messages. Its String, GoString, MarshalText and Format all print
// "[REDACTED]"; only Reveal returns the value.
type Secret struct{ v string }

// NewSecret wraps v.
func NewSecret(v string) Secret { return Secret{v: v} }

// Reveal returns the secret value. Call it only where the value goes to
// its consumer (stdin, a 0600 file, a database driver's config).
func (s Secret) Reveal() string { return s.v }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.v == "" }

// String returns "[REDACTED]".
func (s Secret) String() string { return redacted }

// GoString returns "[REDACTED]", so %#v does not leak the value either.
func (s Secret) GoString() string { return redacted }

// MarshalText returns "[REDACTED]", so JSON and YAML encoders do not leak it.
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Format prints "[REDACTED]" for every verb.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// secretFileScript creates a 0600 file with mktemp, copies stdin into it
// and prints its path.
const secretFileScript = `umask 077; f=$(mktemp "${TMPDIR:-/tmp}/upgradekit-secret.XXXXXXXX") || exit 1; cat > "$f" || { rm -f -- "$f"; exit 1; }; printf '%s\n' "$f"`

// WithSecretFile writes s into a new 0600 file on the host (through stdin,
// never argv), calls fn with its path and removes the file afterwards,
// even when ctx is cancelled. Use it for tools that read credentials from
// a file, such as mysqldump's --defaults-extra-file. sudo, when true,
// creates and removes the file as root.
//
// The create and remove commands are marked ReadOnly. They do write, but
// only a transient private temp file that nothing else refers to and that
// is removed before WithSecretFile returns: the host's state is the same
// afterwards. A dry run (which runs only ReadOnly commands) therefore
// creates and removes the file for real, so that a read-only probe that
// needs a credentials file (a database version or checksum query with
// --defaults-extra-file) can run in a dry run too. Whether fn's own
// commands are read-only is up to them.
func WithSecretFile(ctx context.Context, t Transport, s Secret, sudo bool, fn func(path string) error) error {
	cmd := Shell(secretFileScript)
	cmd.ReadOnly = true // transient and removed below: see the doc comment
	cmd.Stdin = strings.NewReader(s.v)
	cmd.Sudo = sudo
	cmd.Redact = []string{s.v}
	out, err := Output(ctx, t, cmd)
	if err != nil {
		return fmt.Errorf("create secret file: %w", err)
	}
	path := strings.TrimSpace(string(out))
	if path == "" {
		return fmt.Errorf("create secret file: no path printed")
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		rm := Cmd("rm", "-f", "--", path)
		rm.Sudo = sudo
		rm.ReadOnly = true // removes only the transient file created above
		_, _ = t.Run(cctx, rm)
	}()
	return fn(path)
}
