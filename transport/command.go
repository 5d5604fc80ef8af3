package transport

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// DefaultMaxOutput is how many bytes of each of stdout and stderr a
// transport captures when Command.MaxOutput is zero. Past it the first and
// last halves are kept and Result.StdoutTruncated (or StderrTruncated) is
// set. It is large because OpenNebula pool listings of big clouds are
// megabytes of XML that parsers need whole.
const DefaultMaxOutput = 64 << 20

// Command is a program and its arguments, never a shell string: the
// transport quotes every argument for the remote shell. Use Shell for the
// rare case that needs one.
type Command struct {
	// Path is the program to run, looked up in the remote PATH when it
	// has no slash.
	Path string
	// Args are the arguments after Path. Put "--" before user-supplied
	// positional values.
	Args []string
	// Env is added to the command's environment. Over SSH it is applied as
	// an `env K=V ...` prefix because sshd rejects Setenv by default, so
	// values are visible in the remote argv: use SecretEnv for secrets.
	Env map[string]string
	// SecretEnv is added to the command's environment without ever
	// appearing in argv: the value is fed on stdin to a small sh wrapper
	// that exports it and execs the command. Values cannot contain a
	// newline or NUL.
	SecretEnv map[string]Secret
	// Dir is the working directory; empty means the transport's default
	// (the login directory over SSH).
	Dir string
	// Stdin is the command's standard input; nil means empty.
	Stdin io.Reader
	// Stdout and Stderr, when non-nil, receive the streams as they are
	// produced and the corresponding Result field stays nil. When nil the
	// streams are captured (bounded by MaxOutput) into the Result.
	Stdout, Stderr io.Writer
	// MaxOutput bounds each captured stream; 0 means DefaultMaxOutput.
	MaxOutput int
	// Sudo runs the command through `sudo -n --` (as root, or as User).
	Sudo bool
	// User, when set, runs the command as that user through
	// `sudo -n -u User --`; it implies Sudo.
	User string
	// Timeout, when positive, bounds the command; on expiry the command
	// is stopped and Run returns an error matching ErrTimeout.
	Timeout time.Duration
	// Redact lists values masked in String, logs, events and errors. The
	// command sent to the host is unchanged. SecretEnv values are always
	// masked.
	Redact []string
	// ReadOnly marks a command that changes nothing on the host. Dry-run
	// lets read-only commands through and records the others.
	ReadOnly bool
}

// Cmd returns a Command running path with args.
func Cmd(path string, args ...string) Command {
	return Command{Path: path, Args: args}
}

// Query returns a read-only Command running path with args: a probe that
// dry-run lets through.
func Query(path string, args ...string) Command {
	return Command{Path: path, Args: args, ReadOnly: true}
}

// Shell returns a Command running script with /bin/sh -c. It is the only
// way to get a shell, and grep-able on purpose. Extra args become $1, $2,
// ... inside the script, quoted like any argument, so values never need to
// be spliced into the script text.
func Shell(script string, args ...string) Command {
	return Command{Path: "/bin/sh", Args: append([]string{"-c", script, "sh"}, args...)}
}

// Argv returns Path followed by Args: the logical command line that fakes
// match against.
func (c Command) Argv() []string {
	return append([]string{c.Path}, c.Args...)
}

// WithArgs returns a copy of c with args appended.
func (c Command) WithArgs(args ...string) Command {
	c.Args = append(slices.Clip(c.Args), args...)
	return c
}

// AsUser returns a copy of c that runs as user through sudo.
func (c Command) AsUser(user string) Command {
	c.Sudo, c.User = true, user
	return c
}

// AsRoot returns a copy of c that runs through sudo as root.
func (c Command) AsRoot() Command {
	c.Sudo, c.User = true, ""
	return c
}

// MarkReadOnly returns a copy of c marked read-only.
func (c Command) MarkReadOnly() Command {
	c.ReadOnly = true
	return c
}

// String returns the command as a shell would read it, with redacted
// values masked. It is meant for logs and errors, not for execution.
func (c Command) String() string {
	var b strings.Builder
	if c.Sudo || c.User != "" {
		b.WriteString("sudo -n ")
		if c.User != "" {
			b.WriteString("-u " + Quote(c.User) + " ")
		}
		b.WriteString("-- ")
	}
	if len(c.Env) > 0 || len(c.SecretEnv) > 0 {
		b.WriteString("env ")
		for _, k := range slices.Sorted(maps.Keys(c.Env)) {
			b.WriteString(Quote(k+"="+c.Env[k]) + " ")
		}
		for _, k := range slices.Sorted(maps.Keys(c.SecretEnv)) {
			b.WriteString(k + "=" + redacted + " ")
		}
	}
	b.WriteString(Join(c.Argv()))
	return c.RedactString(b.String())
}

const redacted = "[REDACTED]"

// RedactString masks every Redact and SecretEnv value of c in s. Transports
// apply it to captured stderr before it reaches an error.
func (c Command) RedactString(s string) string {
	for _, v := range c.redactions() {
		s = strings.ReplaceAll(s, v, redacted)
	}
	return s
}

func (c Command) redactions() []string {
	vs := make([]string, 0, len(c.Redact)+len(c.SecretEnv))
	for _, v := range c.Redact {
		if v != "" {
			vs = append(vs, v)
		}
	}
	for _, s := range c.SecretEnv {
		if s.v != "" {
			vs = append(vs, s.v)
		}
	}
	// Longest first, so a value that contains another is masked whole.
	slices.SortFunc(vs, func(a, b string) int { return len(b) - len(a) })
	return vs
}

// Wire is a Command in the form a transport sends it: the complete argv
// with sudo, env and secret wrappers, and the bytes to write to stdin
// before the command's own input.
type Wire struct {
	// Argv is the full argv to execute.
	Argv []string
	// Env holds variables the transport sets on the process directly. It
	// is nil when the environment was inlined into Argv.
	Env map[string]string
	// Dir is the working directory, or "".
	Dir string
	// StdinPrefix must be written to stdin before Command.Stdin. It
	// carries SecretEnv values to the wrapper and is nil without secrets.
	StdinPrefix []byte
}

// secretWrapper reads one line per secret from stdin, exports it and
// execs the command. read on a pipe consumes input one byte at a time, so
// the command's own stdin reaches it intact.
const secretWrapperRead = `IFS= read -r %[1]s || exit 126; export %[1]s; `

// Wire converts c to its wire form. With inlineEnv the environment is
// applied with an `env` prefix (SSH, where Setenv is refused); otherwise it
// is returned in Wire.Env for the transport to set (local exec), unless
// sudo is used, whose env_reset would drop it.
func (c Command) Wire(inlineEnv bool) (Wire, error) {
	if c.Path == "" {
		return Wire{}, fmt.Errorf("transport: command has no path")
	}
	for k := range c.Env {
		if !validEnvName(k) {
			return Wire{}, fmt.Errorf("transport: invalid environment variable name %q", k)
		}
	}
	sudo := c.Sudo || c.User != ""
	var w Wire
	w.Dir = c.Dir
	var argv []string
	if sudo {
		argv = append(argv, "sudo", "-n")
		if c.User != "" {
			argv = append(argv, "-u", c.User)
		}
		argv = append(argv, "--")
	}
	if len(c.Env) > 0 {
		if inlineEnv || sudo {
			argv = append(argv, "env")
			for _, k := range slices.Sorted(maps.Keys(c.Env)) {
				argv = append(argv, k+"="+c.Env[k])
			}
		} else {
			w.Env = maps.Clone(c.Env)
		}
	}
	if len(c.SecretEnv) > 0 {
		var script strings.Builder
		var prefix []byte
		for _, k := range slices.Sorted(maps.Keys(c.SecretEnv)) {
			if !validEnvName(k) {
				return Wire{}, fmt.Errorf("transport: invalid environment variable name %q", k)
			}
			v := c.SecretEnv[k].v
			if strings.ContainsAny(v, "\n\x00") {
				return Wire{}, fmt.Errorf("transport: secret %s contains a newline or NUL", k)
			}
			fmt.Fprintf(&script, secretWrapperRead, k)
			prefix = append(append(prefix, v...), '\n')
		}
		script.WriteString(`exec "$@"`)
		argv = append(argv, "/bin/sh", "-c", script.String(), "sh")
		w.StdinPrefix = prefix
	}
	w.Argv = append(argv, c.Argv()...)
	return w, nil
}

// ShellLine returns the wire command as one line for a remote shell (what
// an SSH exec request carries): every word quoted, prefixed with
// `cd -- DIR &&` when Dir is set.
func (w Wire) ShellLine() string {
	line := Join(w.Argv)
	if w.Dir != "" {
		line = "cd -- " + Quote(w.Dir) + " && " + line
	}
	return line
}

func validEnvName(k string) bool {
	if k == "" {
		return false
	}
	for i, r := range k {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
