package onedb

import (
	"fmt"
	"strconv"

	"github.com/upgradekit/upgradekit/transport"
)

// Backend is the database backend of an OpenNebula front-end.
type Backend string

// Backends onedb supports.
const (
	MySQL  Backend = "mysql" // MySQL or MariaDB
	SQLite Backend = "sqlite"
)

// Conn holds explicit database connection parameters. The zero value of
// an optional field means onedb's default.
type Conn struct {
	// Backend is MySQL or SQLite; empty means MySQL.
	Backend Backend
	// Server is the MySQL host (onedb default: localhost). For Open it is
	// resolved on the far side of the transport.
	Server string
	// Port is the MySQL port; 0 means the default (3306).
	Port int
	// User and DBName are required for MySQL.
	User   string
	DBName string
	// Password is passed to onedb in $ONE_DB_PASSWORD and to the MySQL
	// driver in its config; never in argv.
	Password transport.Secret
	// File is the SQLite database file; empty means onedb's default
	// /var/lib/one/one.db.
	File string
}

func (c Conn) backend() Backend {
	if c.Backend == "" {
		return MySQL
	}
	return c.Backend
}

func (c Conn) validate() error {
	switch c.backend() {
	case MySQL:
		if err := checkValue("Conn.User", c.User); err != nil {
			return err
		}
		if err := checkValue("Conn.DBName", c.DBName); err != nil {
			return err
		}
		if c.Server != "" {
			if err := checkValue("Conn.Server", c.Server); err != nil {
				return err
			}
		}
		if c.Port < 0 || c.Port > 65535 {
			return fmt.Errorf("%w: Conn.Port %d", ErrInvalidOption, c.Port)
		}
		if c.File != "" {
			return fmt.Errorf("%w: Conn.File is for SQLite", ErrInvalidOption)
		}
	case SQLite:
		if c.File != "" {
			if err := checkValue("Conn.File", c.File); err != nil {
				return err
			}
		}
		if c.Server != "" || c.Port != 0 || c.User != "" || c.DBName != "" || !c.Password.IsZero() {
			return fmt.Errorf("%w: SQLite takes only Conn.File", ErrInvalidOption)
		}
	default:
		return fmt.Errorf("%w: unknown backend %q", ErrInvalidOption, c.Backend)
	}
	return nil
}

// args returns the connection arguments of c in onedb's syntax, without
// the password.
func (c Conn) args() []string {
	if c.backend() == SQLite {
		if c.File != "" {
			return []string{"-s", c.File}
		}
		return []string{"-t", "sqlite"}
	}
	var a []string
	if c.Server != "" {
		a = append(a, "-S", c.Server)
	}
	if c.Port != 0 {
		a = append(a, "-P", strconv.Itoa(c.Port))
	}
	return append(a, "-u", c.User, "-d", c.DBName)
}
