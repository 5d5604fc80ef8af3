package onedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/go-sql-driver/mysql"
	"go.uber.org/zap"

	"github.com/upgradekit/upgradekit/transport"
)

// MySQL server error numbers this package branches on.
const (
	erDBAccessDenied = 1044 // ER_DBACCESS_DENIED_ERROR
	erAccessDenied   = 1045 // ER_ACCESS_DENIED_ERROR
	erBadDB          = 1049 // ER_BAD_DB_ERROR
	erNoSuchTable    = 1146 // ER_NO_SUCH_TABLE
)

// DB is a direct connection to a front-end's OpenNebula database, opened
// through the transport's DialContext (so over SSH it reaches a MySQL that
// listens only on the front-end's loopback). It is read-only by design.
type DB struct {
	db     *sql.DB
	name   string
	logger *zap.Logger
}

// Open connects to the MySQL database described by c through t, which
// must implement transport.Dialer (ErrNoDialer otherwise). c.Server ""
// means localhost and c.Port 0 means 3306, both as seen from the host t
// runs commands on. Rejected credentials match ErrAccessDenied and a
// missing database ErrUnknownDatabase. Options: WithLogger.
func Open(ctx context.Context, t transport.Transport, c Conn, opts ...Option) (*DB, error) {
	o, err := newOptions("open", opts)
	if err != nil {
		return nil, err
	}
	if c.backend() != MySQL {
		return nil, fmt.Errorf("onedb open: %w: direct checks need the MySQL backend", ErrInvalidOption)
	}
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("onedb open: %w", err)
	}
	d, ok := t.(transport.Dialer)
	if !ok {
		return nil, fmt.Errorf("onedb open: %w: %T does not implement transport.Dialer", ErrNoDialer, t)
	}
	server, port := c.Server, c.Port
	if server == "" {
		server = "localhost"
	}
	if port == 0 {
		port = 3306
	}
	cfg := mysql.NewConfig()
	cfg.User = c.User
	cfg.Passwd = c.Password.Reveal()
	cfg.Net = "tcp"
	cfg.Addr = net.JoinHostPort(server, strconv.Itoa(port))
	cfg.DBName = c.DBName
	cfg.Timeout = 30 * time.Second
	cfg.Logger = driverLogger{o.logger}
	cfg.DialFunc = func(ctx context.Context, _, addr string) (net.Conn, error) {
		return d.DialContext(ctx, "tcp", addr)
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("onedb open: %w", err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(2)
	db.SetConnMaxIdleTime(time.Minute)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("onedb open %s@%s/%s: %w", c.User, cfg.Addr, c.DBName, classifySQL(err))
	}
	return &DB{db: db, name: c.DBName, logger: o.logger}, nil
}

// Close closes the connection pool.
func (db *DB) Close() error { return db.db.Close() }

// Name returns the database name.
func (db *DB) Name() string { return db.name }

// classifySQL adds our sentinels to MySQL server errors, matched by
// number.
func classifySQL(err error) error {
	if me, ok := errors.AsType[*mysql.MySQLError](err); ok {
		switch me.Number {
		case erAccessDenied, erDBAccessDenied:
			return fmt.Errorf("%w: %w", ErrAccessDenied, err)
		case erBadDB:
			return fmt.Errorf("%w: %w", ErrUnknownDatabase, err)
		case erNoSuchTable:
			return fmt.Errorf("%w: %w", ErrNotBootstrapped, err)
		}
	}
	return err
}

// driverLogger routes the driver's rare log lines to zap instead of its
// global default logger.
type driverLogger struct{ l *zap.Logger }

func (d driverLogger) Print(v ...any) { d.l.Debug("mysql driver: " + fmt.Sprint(v...)) }

// VersionRow is the current row (highest oid) of db_versioning or
// local_db_versioning.
type VersionRow struct {
	OID     int64
	Version string
	// Timestamp is when the row was written.
	Timestamp time.Time
	Comment   string
	// IsSlave is local_db_versioning.is_slave: the database belongs to a
	// federation slave zone (always false for the shared row).
	IsSlave bool
}

// SchemaVersions reads the current shared (db_versioning) and local
// (local_db_versioning) version rows. A database without those tables or
// rows gives an error matching ErrNotBootstrapped.
func (db *DB) SchemaVersions(ctx context.Context) (shared, local VersionRow, err error) {
	const q = "SELECT oid, version, timestamp, comment FROM db_versioning WHERE oid = (SELECT MAX(oid) FROM db_versioning)"
	const ql = "SELECT oid, version, timestamp, comment, is_slave FROM local_db_versioning WHERE oid = (SELECT MAX(oid) FROM local_db_versioning)"
	if shared, err = db.versionRow(ctx, q, false); err != nil {
		return VersionRow{}, VersionRow{}, fmt.Errorf("onedb: db_versioning: %w", err)
	}
	if local, err = db.versionRow(ctx, ql, true); err != nil {
		return VersionRow{}, VersionRow{}, fmt.Errorf("onedb: local_db_versioning: %w", err)
	}
	return shared, local, nil
}

func (db *DB) versionRow(ctx context.Context, q string, withSlave bool) (VersionRow, error) {
	var r VersionRow
	var ts sql.NullInt64
	var comment sql.NullString
	dest := []any{&r.OID, &r.Version, &ts, &comment}
	var slave sql.NullInt64
	if withSlave {
		dest = append(dest, &slave)
	}
	err := db.db.QueryRowContext(ctx, q).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return VersionRow{}, fmt.Errorf("%w: no rows", ErrNotBootstrapped)
	}
	if err != nil {
		return VersionRow{}, classifySQL(err)
	}
	if ts.Valid {
		r.Timestamp = time.Unix(ts.Int64, 0).UTC()
	}
	r.Comment = comment.String
	r.IsSlave = slave.Valid && slave.Int64 != 0
	return r, nil
}
