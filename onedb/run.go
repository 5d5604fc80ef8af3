package onedb

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"go.uber.org/zap"

	"github.com/upgradekit/upgradekit/transport"
)

// command builds `onedb <sub> [conn] [flags] [-- positional...]`.
// localEndpoint sets $ONE_XMLRPC to the configured endpoint.
func (o *options) command(sub string, flags, positional []string, localEndpoint bool) transport.Command {
	args := []string{sub}
	if o.conn != nil {
		args = append(args, o.conn.args()...)
	}
	args = append(args, flags...)
	if len(positional) > 0 {
		args = append(append(args, "--"), positional...)
	}
	cmd := transport.Cmd("onedb", args...)
	if localEndpoint {
		cmd.Env = map[string]string{"ONE_XMLRPC": o.endpoint}
	}
	if o.conn != nil && o.conn.backend() == MySQL {
		// Always set, even empty: without -p and $ONE_DB_PASSWORD onedb
		// prompts on the terminal.
		cmd.SecretEnv = map[string]transport.Secret{"ONE_DB_PASSWORD": o.conn.Password}
		if !o.conn.Password.IsZero() {
			cmd.Redact = []string{o.conn.Password.Reveal()}
		}
	}
	switch {
	case o.user != "":
		cmd = cmd.AsUser(o.user)
	case o.sudo:
		cmd = cmd.AsRoot()
	}
	return cmd
}

// output is a finished onedb run with both streams scrubbed of secrets.
type output struct {
	host   string
	cmd    transport.Command
	res    transport.Result
	stdout string
	stderr string
}

// text is stdout followed by stderr: onedb prints some messages on one and
// some on the other, and the parsers look for lines in both.
func (out output) text() string {
	if out.stderr == "" {
		return out.stdout
	}
	return out.stdout + "\n" + out.stderr
}

func (o *options) run(ctx context.Context, t transport.Transport, op string, cmd transport.Command) (output, error) {
	host := transport.HostName(t)
	log := o.logger.With(zap.String("host", host), zap.String("cmd", cmd.String()))
	log.Debug("onedb: run")
	res, err := t.Run(ctx, cmd)
	if err != nil {
		log.Debug("onedb: transport error", zap.Error(err))
		return output{}, fmt.Errorf("onedb %s: %w", op, err)
	}
	if res.Host != "" {
		host = res.Host
	}
	out := output{host: host, cmd: cmd, res: res, stdout: scrub(cmd, res.Stdout), stderr: scrub(cmd, res.Stderr)}
	log.Debug("onedb: finished", zap.Int("exit", res.ExitCode))
	for _, l := range strings.Split(out.stderr, "\n") {
		if strings.HasPrefix(l, "mysqldump:") || strings.HasPrefix(l, "mysql:") || strings.HasPrefix(l, "mariadb-dump:") {
			log.Warn("onedb: database client message", zap.String("stderr", l))
		}
	}
	if res.StdoutTruncated {
		return out, fmt.Errorf("onedb %s: %w", op, transport.ErrTruncated)
	}
	return out, nil
}

// onedb echoes the whole mysqldump command line, password included, in
// "Unknown error running 'mysqldump -u U -p'P' -h S ...'". When the
// password came from oned.conf we do not know it, so mask it by shape.
var (
	dumpPasswordRE   = regexp.MustCompile(`-p'.*' -h `)
	quotedPasswordRE = regexp.MustCompile(`-p'[^'\n]*'`)
	longPasswordRE   = regexp.MustCompile(`--password=\S+`)
)

func scrub(cmd transport.Command, b []byte) string {
	s := cmd.RedactString(string(b))
	s = dumpPasswordRE.ReplaceAllString(s, "-p'[REDACTED]' -h ")
	s = quotedPasswordRE.ReplaceAllString(s, "-p'[REDACTED]'")
	s = longPasswordRE.ReplaceAllString(s, "--password=[REDACTED]")
	return s
}

type failure struct {
	re     *regexp.Regexp
	reason error
	fill   func(e *CommandError, m []string)
}

var failures = []failure{
	{regexp.MustCompile(`^First stop OpenNebula\. Lock file found: (.+)$`), ErrOnedRunning,
		func(e *CommandError, m []string) { e.Path = m[1] }},
	{regexp.MustCompile(`^OpenNebula found listening on '(.*)'`), ErrOnedRunning,
		func(e *CommandError, m []string) { e.Endpoint = m[1] }},
	{regexp.MustCompile(`^File (.+) exists, backup aborted\.`), ErrBackupExists,
		func(e *CommandError, m []string) { e.Path = m[1] }},
	{regexp.MustCompile(`^MySQL database (\S+) at (\S+) exists, use -f to overwrite\.`), ErrDatabaseExists,
		func(e *CommandError, m []string) { e.Database, e.Server = m[1], m[2] }},
	{regexp.MustCompile(`^File (.+) exists, use -f to overwrite\.`), ErrDatabaseExists,
		func(e *CommandError, m []string) { e.Path = m[1] }},
	{regexp.MustCompile(`^File (.+) doesn't exist, backup restoration aborted\.`), ErrBackupNotFound,
		func(e *CommandError, m []string) { e.Path = m[1] }},
	{regexp.MustCompile(`^Error while restoring MySQL DB`), ErrRestoreFailed, nil},
	{regexp.MustCompile(`^Unknown error running `), ErrDumpFailed, nil},
	{regexp.MustCompile(`^Error connecting to DB`), ErrDBConnect, nil},
	{regexp.MustCompile(`^Version mismatch: fsck file is for version`), ErrVersionMismatch, nil},
	{regexp.MustCompile(`^Database is not correctly bootstrap`), ErrNotBootstrapped, nil},
}

// fail turns a non-zero exit into a *CommandError with the recognised
// reason.
func (out output) fail(op string) error {
	res := out.res
	res.Stdout, res.Stderr = []byte(out.stdout), []byte(out.stderr)
	// Err stays nil for an exit 0 whose output contradicts it (fsck).
	e := &CommandError{Op: op, Host: out.host, Err: transport.ResultError(out.cmd, res)}
	lines := splitLines(out.text())
	for _, f := range failures {
		for _, l := range lines {
			m := f.re.FindStringSubmatch(l)
			if m == nil {
				continue
			}
			e.Reason, e.Detail = f.reason, l
			if f.fill != nil {
				f.fill(e, m)
			}
			if f.reason == ErrVersionMismatch {
				e.Detail = strings.Join(nonEmpty(lines), "; ")
			}
			return e
		}
	}
	return e
}

// unexpected reports an exit code the subcommand does not document.
func (out output) unexpected(op string) error {
	e := out.fail(op).(*CommandError)
	if e.Reason == nil {
		e.Reason = ErrUnexpectedExit
		e.Detail = fmt.Sprintf("exit status %d", out.res.ExitCode)
		if tail := transport.StderrTail([]byte(out.text()), 300); tail != "" {
			e.Detail += ": " + tail
		}
	}
	return e
}

func splitLines(s string) []string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t\r")
	}
	return lines
}

func nonEmpty(lines []string) []string {
	var out []string
	for _, l := range lines {
		if strings.TrimSpace(l) != "" {
			out = append(out, strings.TrimSpace(l))
		}
	}
	return out
}
