package sim

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"go.uber.org/zap"

	"github.com/upgradekit/upgradekit/transport"
)

// MariaDB is a real database that mirrors one front-end's simulated
// database. The simulator writes the model into it after every command
// that changed it, so real tools (CHECKSUM TABLE through onedb's checks,
// mysqldump) see the simulated content; `onedb backup` then runs the real
// mysqldump and `onedb restore` the real mariadb client, and the restored
// tables are read back into the model.
type MariaDB struct {
	Host     string
	Port     int
	User     string
	Password transport.Secret
	// Name is the database name (default "opennebula"). Every front-end
	// needs its own server for a restore to behave as in production: the
	// dump carries `USE <name>`.
	Name string
	// Dump and Client are the client programs (default mysqldump, mariadb).
	Dump, Client string
}

func (m MariaDB) withDefaults() MariaDB {
	if m.Name == "" {
		m.Name = "opennebula"
	}
	if m.Dump == "" {
		m.Dump = "mysqldump"
	}
	if m.Client == "" {
		m.Client = "mariadb"
	}
	return m
}

// mirrorState is what the state file keeps of a mirror.
type mirrorState struct {
	Host     string `json:"host"`
	Port     int    `json:"port"`
	User     string `json:"user"`
	Password string `json:"password"`
	Name     string `json:"name"`
	Dump     string `json:"dump"`
	Client   string `json:"client"`
	// Pushed is the checksum of the content last written.
	Pushed string `json:"pushed,omitempty"`
}

func (m *mirrorState) cfg() MariaDB {
	return MariaDB{Host: m.Host, Port: m.Port, User: m.User, Password: transport.NewSecret(m.Password), Name: m.Name, Dump: m.Dump, Client: m.Client}
}

// WithMariaDB mirrors the database of front-end node in db.
func WithMariaDB(node string, db MariaDB) Option {
	return optionFunc(func(c *config) error {
		if node == "" || db.Host == "" || db.User == "" {
			return fmt.Errorf("%w: MariaDB mirror needs a node, a host and a user", ErrBadSpec)
		}
		if c.mirrors == nil {
			c.mirrors = map[string]MariaDB{}
		}
		c.mirrors[node] = db.withDefaults()
		return nil
	})
}

// ParseMariaDB parses "user:password@host:port/name" (the multi-call
// binary's $UPGRADEKIT_SIM_MARIADB entries).
func ParseMariaDB(s string) (MariaDB, error) {
	cred, addr, ok := strings.Cut(s, "@")
	if !ok {
		return MariaDB{}, fmt.Errorf("%w: MariaDB %q: want user:password@host:port/name", ErrBadSpec, redactCred(s))
	}
	user, pass, _ := strings.Cut(cred, ":")
	hostport, name, _ := strings.Cut(addr, "/")
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return MariaDB{}, fmt.Errorf("%w: MariaDB address %q", ErrBadSpec, hostport)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return MariaDB{}, fmt.Errorf("%w: MariaDB port %q", ErrBadSpec, port)
	}
	return MariaDB{Host: host, Port: p, User: user, Password: transport.NewSecret(pass), Name: name}.withDefaults(), nil
}

func redactCred(s string) string {
	if i := strings.Index(s, "@"); i >= 0 {
		return "[REDACTED]" + s[i:]
	}
	return s
}

func (c *Cloud) attachMirrors(ms map[string]MariaDB) error {
	for node, m := range ms {
		n, ok := c.st.Nodes[node]
		if !ok || n.Hypervisor {
			return fmt.Errorf("%w: MariaDB mirror for unknown front-end %q", ErrUnknownNode, node)
		}
		if c.st.Mirrors == nil {
			c.st.Mirrors = map[string]*mirrorState{}
		}
		c.st.Mirrors[node] = &mirrorState{Host: m.Host, Port: m.Port, User: m.User, Password: m.Password.Reveal(), Name: m.Name, Dump: m.Dump, Client: m.Client}
	}
	return c.pushMirrors(context.Background())
}

func (m *mirrorState) open() (*sql.DB, error) {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = m.User, m.Password, "tcp", net.JoinHostPort(m.Host, strconv.Itoa(m.Port)), m.Name
	cfg.MultiStatements = true
	cfg.Timeout = 10 * time.Second
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(1)
	return db, nil
}

// pushMirrors writes every mirrored database that changed.
func (c *Cloud) pushMirrors(ctx context.Context) error {
	var errs []error
	for _, node := range slices.Sorted(maps.Keys(c.st.Mirrors)) {
		m := c.st.Mirrors[node]
		n := c.st.Nodes[node]
		if n == nil || n.DB == nil {
			continue
		}
		sum := sha256hex(writeDump(n.DB, "", false, time.Time{}))
		if sum == m.Pushed {
			continue
		}
		if err := m.push(ctx, n.DB); err != nil {
			errs = append(errs, fmt.Errorf("mirror %s: %w", node, err))
			continue
		}
		m.Pushed = sum
	}
	return errors.Join(errs...)
}

func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

func (m *mirrorState) push(ctx context.Context, d *database) error {
	db, err := m.open()
	if err != nil {
		return err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	tables := map[string]bool{}
	rows, err := conn.QueryContext(ctx, "SHOW TABLES")
	if err != nil {
		return err
	}
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return err
		}
		tables[t] = true
	}
	rows.Close()
	exec := func(q string, args ...any) {
		if err == nil {
			_, err = conn.ExecContext(ctx, q, args...)
		}
	}
	fixed := map[string]string{
		"db_versioning":       "oid INT PRIMARY KEY, version VARCHAR(256), timestamp BIGINT, comment VARCHAR(1024)",
		"local_db_versioning": "oid INT PRIMARY KEY, version VARCHAR(256), timestamp BIGINT, comment VARCHAR(1024), is_slave BOOLEAN",
		"system_attributes":   "name VARCHAR(128) PRIMARY KEY, body MEDIUMTEXT",
		"logdb":               "log_index BIGINT PRIMARY KEY, term BIGINT, tables TEXT, fed_index BIGINT",
	}
	want := map[string]string{}
	maps.Copy(want, fixed)
	for t := range d.Tables {
		want[t] = "oid VARCHAR(64) PRIMARY KEY, body MEDIUMTEXT"
	}
	for t := range tables {
		if _, ok := want[t]; !ok {
			exec("DROP TABLE " + quoteIdent(t))
		}
	}
	for _, t := range slices.Sorted(maps.Keys(want)) {
		exec("CREATE TABLE IF NOT EXISTS " + quoteIdent(t) + " (" + want[t] + ")")
		exec("DELETE FROM " + quoteIdent(t))
	}
	for _, r := range d.Shared {
		exec("INSERT INTO db_versioning VALUES (?,?,?,?)", r.OID, r.Version, r.Timestamp.Unix(), r.Comment)
	}
	for _, r := range d.Local {
		exec("INSERT INTO local_db_versioning VALUES (?,?,?,?,?)", r.OID, r.Version, r.Timestamp.Unix(), r.Comment, r.IsSlave)
	}
	exec("INSERT INTO system_attributes VALUES ('RAFT_STATE', ?)", fmt.Sprintf("%d %d %d %d", d.Term, d.VotedFor, d.LogIndex, d.Commit))
	for _, r := range d.logRows() {
		exec("INSERT INTO logdb VALUES (?, ?, ?, ?)", r.Index, r.Term, r.Tables, r.Fed)
	}
	for _, t := range slices.Sorted(maps.Keys(d.Tables)) {
		for _, k := range slices.Sorted(maps.Keys(d.Tables[t])) {
			exec("INSERT INTO "+quoteIdent(t)+" VALUES (?, ?)", k, d.Tables[t][k])
		}
	}
	return err
}

// read loads the mirror's tables into a model database.
func (m *mirrorState) read(ctx context.Context) (*database, error) {
	db, err := m.open()
	if err != nil {
		return nil, err
	}
	defer db.Close()
	d := &database{Name: m.Name, Tables: map[string]map[string]string{}, VotedFor: -1, FedLogIndex: -1}
	rows, err := db.QueryContext(ctx, "SHOW TABLES")
	if err != nil {
		return nil, err
	}
	var tables []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return nil, err
		}
		tables = append(tables, t)
	}
	rows.Close()
	for _, t := range tables {
		var q string
		switch t {
		case "db_versioning":
			q = "SELECT oid, version, timestamp, comment, 0 FROM db_versioning ORDER BY oid"
		case "local_db_versioning":
			q = "SELECT oid, version, timestamp, comment, is_slave FROM local_db_versioning ORDER BY oid"
		case "system_attributes":
			q = "SELECT name, body FROM system_attributes"
		case "logdb":
			q = "SELECT log_index, term, tables, fed_index FROM logdb ORDER BY log_index"
		default:
			q = "SELECT oid, body FROM " + quoteIdent(t)
		}
		rs, err := db.QueryContext(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", t, err)
		}
		for rs.Next() {
			switch t {
			case "db_versioning", "local_db_versioning":
				var r verRow
				var ts int64
				if err := rs.Scan(&r.OID, &r.Version, &ts, &r.Comment, &r.IsSlave); err != nil {
					rs.Close()
					return nil, err
				}
				r.Timestamp = time.Unix(ts, 0).UTC()
				if t == "db_versioning" {
					d.Shared = append(d.Shared, r)
				} else {
					d.Local = append(d.Local, r)
				}
			case "logdb":
				var r logRow
				if err := rs.Scan(&r.Index, &r.Term, &r.Tables, &r.Fed); err != nil {
					rs.Close()
					return nil, err
				}
				d.loadLogRow(r)
			default:
				var k, v string
				if err := rs.Scan(&k, &v); err != nil {
					rs.Close()
					return nil, err
				}
				if t == "system_attributes" {
					if k == "RAFT_STATE" {
						_, _ = fmt.Sscanf(v, "%d %d %d %d", &d.Term, &d.VotedFor, &d.LogIndex, &d.Commit)
					}
					continue
				}
				if d.Tables[t] == nil {
					d.Tables[t] = map[string]string{}
				}
				d.Tables[t][k] = v
			}
		}
		rs.Close()
	}
	_, d.Bootstrapped = d.Tables["user_pool"]["0"]
	return d, nil
}

// dumpCmd is the real mysqldump run by onedb backup in mirror mode.
func (m *mirrorState) dump(ctx context.Context, federated bool) ([]byte, []byte, error) {
	args := []string{"-u", m.User, "-h", m.Host, "-P", strconv.Itoa(m.Port), "--add-drop-table"}
	if federated {
		args = append(args, m.Name)
		args = append(args, federatedTables...)
		args = append(args, "db_versioning", "logdb")
	} else {
		args = append(args, "--add-drop-database", "--databases", m.Name)
	}
	cmd := exec.CommandContext(ctx, m.Dump, args...)
	cmd.Env = append(os.Environ(), "MYSQL_PWD="+m.Password)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.Bytes(), errb.Bytes(), err
}

// restore runs the real client with the dump on stdin.
func (m *mirrorState) restore(ctx context.Context, dump []byte) ([]byte, error) {
	cmd := exec.CommandContext(ctx, m.Client, "-u", m.User, "-h", m.Host, "-P", strconv.Itoa(m.Port), m.Name)
	cmd.Env = append(os.Environ(), "MYSQL_PWD="+m.Password)
	cmd.Stdin = bytes.NewReader(dump)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	err := cmd.Run()
	return errb.Bytes(), err
}

// logMirror records a mirror failure.
func (c *Cloud) logMirror(err error) {
	if err == nil {
		return
	}
	c.log.Warn("sim: database mirror", zap.Error(err))
	c.event(c.clock.Now(), "", EventFault, "mirror: "+err.Error())
}
