package openstack

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/upgradekit/upgradekit/openstack/osloconf"
	"github.com/upgradekit/upgradekit/transport"
)

// DBAccess is how to reach one MariaDB/MySQL database from the node. The
// password never reaches argv: SQL probes get it in MYSQL_PWD through
// Command.SecretEnv, mysqldump and restores from a 0600
// --defaults-extra-file written through stdin.
type DBAccess struct {
	// Database is the schema name.
	Database string
	// Host and Port address a TCP server; Socket a unix socket (used when
	// set). An empty Host with no Socket means the client's default.
	Host   string
	Port   int
	Socket string
	// User and Password are the credentials (Password may be empty for
	// unix_socket authentication).
	User     string
	Password transport.Secret
}

// String describes a without its password.
func (a DBAccess) String() string {
	where := a.Socket
	if where == "" {
		where = a.Host
		if a.Port != 0 {
			where += ":" + strconv.Itoa(a.Port)
		}
	}
	return fmt.Sprintf("%s@%s/%s", a.User, where, a.Database)
}

// ParseConnection parses an oslo.db connection URL
// ("mysql+pymysql://nova:secret@db:3306/nova?charset=utf8", or with
// "?unix_socket=/run/mysqld/mysqld.sock"). Only MySQL/MariaDB URLs are
// accepted; the error never contains the password.
func ParseConnection(raw string) (DBAccess, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url errors quote the URL: do not leak the password.
		return DBAccess{}, fmt.Errorf("openstack: unparsable database connection URL")
	}
	scheme, _, _ := strings.Cut(u.Scheme, "+")
	if scheme != "mysql" && scheme != "mariadb" {
		return DBAccess{}, fmt.Errorf("openstack: unsupported database %q (only mysql/mariadb)", u.Scheme)
	}
	a := DBAccess{Database: strings.TrimPrefix(u.Path, "/")}
	if a.Database == "" || strings.Contains(a.Database, "/") {
		return DBAccess{}, fmt.Errorf("openstack: connection URL names no database")
	}
	if u.User != nil {
		a.User = u.User.Username()
		if p, ok := u.User.Password(); ok {
			a.Password = transport.NewSecret(p)
		}
	}
	a.Host = u.Hostname()
	if p := u.Port(); p != "" {
		a.Port, err = strconv.Atoi(p)
		if err != nil || a.Port <= 0 || a.Port > 65535 {
			return DBAccess{}, fmt.Errorf("openstack: invalid port in connection URL")
		}
	}
	a.Socket = u.Query().Get("unix_socket")
	return a, nil
}

// defaultsFile renders a [client] option file for a.
func (a DBAccess) defaultsFile() (transport.Secret, error) {
	var b strings.Builder
	b.WriteString("[client]\n")
	for _, kv := range []struct{ k, v string }{
		{"user", a.User}, {"password", a.Password.Reveal()}, {"host", a.Host}, {"socket", a.Socket},
	} {
		if kv.v == "" {
			continue
		}
		q, err := optionQuote(kv.v)
		if err != nil {
			return transport.Secret{}, fmt.Errorf("openstack: %s: %w", kv.k, err)
		}
		b.WriteString(kv.k + "=" + q + "\n")
	}
	if a.Port != 0 {
		fmt.Fprintf(&b, "port=%d\n", a.Port)
	}
	return transport.NewSecret(b.String()), nil
}

// optionQuote quotes v for a MySQL option file.
func optionQuote(v string) (string, error) {
	if strings.ContainsAny(v, "\n\r\x00") {
		return "", fmt.Errorf("value contains a line break or NUL")
	}
	v = strings.ReplaceAll(v, `\`, `\\`)
	switch {
	case !strings.Contains(v, `"`):
		return `"` + v + `"`, nil
	case !strings.Contains(v, `'`):
		return `'` + v + `'`, nil
	}
	return "", fmt.Errorf("value contains both quote characters")
}

var clientErrRe = regexp.MustCompile(`ERROR (\d+)`)

// withDefaultsFile writes a's option file on the node (0600, through
// stdin) and calls fn with the --defaults-extra-file argument: for
// mysqldump and restores, which are long and read no SQL from us.
func withDefaultsFile(ctx context.Context, t transport.Transport, o *options, a DBAccess, fn func(arg string) error) error {
	content, err := a.defaultsFile()
	if err != nil {
		return err
	}
	return transport.WithSecretFile(ctx, t, content, o.sudo, func(path string) error {
		return fn("--defaults-extra-file=" + path)
	})
}

// clientCmd builds a SQL client command reaching a: connection options
// in argv, the password (if any) in MYSQL_PWD through Command.SecretEnv,
// so it never reaches argv and the probe stays one read-only command that
// dry-run lets through.
func clientCmd(o *options, a DBAccess, args ...string) transport.Command {
	var argv []string
	if a.User != "" {
		argv = append(argv, "--user="+a.User)
	}
	if a.Socket != "" {
		argv = append(argv, "--socket="+a.Socket)
	} else if a.Host != "" {
		argv = append(argv, "--host="+a.Host)
	}
	if a.Port != 0 {
		argv = append(argv, "--port="+strconv.Itoa(a.Port))
	}
	argv = append(argv, o.tlsArgs()...)
	c := transport.Cmd(o.dbClient, append(argv, args...)...)
	if !a.Password.IsZero() {
		c.SecretEnv = map[string]transport.Secret{"MYSQL_PWD": a.Password}
	}
	return c
}

// query runs sql (fed on stdin) against a with the node's SQL client and
// returns the rows, tab-separated values unescaped. It is read-only.
func query(ctx context.Context, t transport.Transport, o *options, a DBAccess, sql string) ([][]string, error) {
	var rows [][]string
	c := o.probe(clientCmd(o, a, "--batch", "--skip-column-names", "--connect-timeout=10", "--", a.Database))
	c.Stdin = strings.NewReader(sql)
	err := sqlRun(ctx, t, a, c, &rows)
	return rows, err
}

// exec is query for statements that change data.
func exec(ctx context.Context, t transport.Transport, o *options, a DBAccess, sql string) error {
	c := clientCmd(o, a, "--batch", "--connect-timeout=10", "--", a.Database)
	c.Sudo = o.sudo
	c.Timeout = o.timeout
	c.Stdin = strings.NewReader(sql)
	return sqlRun(ctx, t, a, c, nil)
}

func sqlRun(ctx context.Context, t transport.Transport, a DBAccess, c transport.Command, rows *[][]string) error {
	res, err := t.Run(ctx, c)
	if err != nil {
		return wrapOp("database "+a.Database, err)
	}
	if err := transport.ResultError(c, res); err != nil {
		num := 0
		if m := clientErrRe.FindSubmatch(res.Stderr); m != nil {
			num, _ = strconv.Atoi(string(m[1]))
		}
		if res.ExitCode == 127 {
			return &ToolError{Service: a.Database, Step: c.Path, Code: 127, Err: err}
		}
		return &DBError{Database: a.Database, Number: num, Err: err}
	}
	if rows != nil {
		*rows = parseBatch(res.Stdout)
	}
	return nil
}

// parseBatch parses the client's --batch output: one row per line,
// tab-separated, with \t \n \\ \0 escaped.
func parseBatch(out []byte) [][]string {
	var rows [][]string
	for _, ln := range bytes.Split(bytes.TrimRight(out, "\n"), []byte("\n")) {
		if len(ln) == 0 {
			continue
		}
		var row []string
		for _, f := range bytes.Split(ln, []byte("\t")) {
			row = append(row, unescapeBatch(string(f)))
		}
		rows = append(rows, row)
	}
	return rows
}

func unescapeBatch(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case '0':
			b.WriteByte(0)
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// quoteIdent quotes a MySQL identifier.
func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// readConfig downloads and parses a config file from the node.
func readConfig(ctx context.Context, t transport.Transport, o *options, path string) (*osloconf.File, error) {
	var buf bytes.Buffer
	if _, err := transport.Download(ctx, t, path, &buf, transport.FileOptions{Sudo: o.sudo}); err != nil {
		return nil, err
	}
	f, err := osloconf.Parse(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// ServiceDatabases returns how to reach each of svc's databases: from
// WithDatabase when given, otherwise from the "connection" option of the
// database's section in the config files (the last file setting it wins,
// as in oslo.config). Derived databases (nova_cell0) reuse their
// section's credentials under their own name.
func ServiceDatabases(ctx context.Context, t transport.Transport, svc Service, opts ...Option) (map[string]DBAccess, error) {
	o, err := newServiceOptions(opts, svc)
	if err != nil {
		return nil, err
	}
	return serviceDatabases(ctx, t, svc, o)
}

func serviceDatabases(ctx context.Context, t transport.Transport, svc Service, o *options) (map[string]DBAccess, error) {
	out := map[string]DBAccess{}
	var files []*osloconf.File
	for _, d := range svc.Databases {
		if a, ok := o.databases[d.Name]; ok {
			out[d.Name] = a
			continue
		}
		if files == nil {
			for _, p := range o.configFilesFor(svc) {
				f, err := readConfig(ctx, t, o, p)
				if err != nil {
					return nil, wrapOp(svc.Name+": read config", err)
				}
				files = append(files, f)
			}
		}
		var conn string
		for _, f := range files {
			if v, ok := f.Get(d.Section, "connection"); ok {
				conn = v
			}
		}
		if conn == "" {
			return nil, fmt.Errorf("%s: database %s: no [%s] connection in %s", svc.Name, d.Name, d.Section, strings.Join(o.configFilesFor(svc), ", "))
		}
		a, err := ParseConnection(conn)
		if err != nil {
			return nil, fmt.Errorf("%s: database %s: %w", svc.Name, d.Name, err)
		}
		if d.Derived {
			a.Database = d.Name
		}
		out[d.Name] = a
	}
	return out, nil
}
