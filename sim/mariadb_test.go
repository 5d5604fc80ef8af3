package sim

import (
	"context"
	"database/sql"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/internal/testdb"
	"github.com/upgradekit/upgradekit/transport"
)

// realChecksums runs CHECKSUM TABLE on every table of a real database.
func realChecksums(t *testing.T, s *testdb.Server, user, pass string) map[string]string {
	t.Helper()
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = user, pass, "tcp", s.Addr(), "opennebula"
	conn, err := mysql.NewConnector(cfg)
	require.NoError(t, err)
	db := sql.OpenDB(conn)
	defer db.Close()
	rows, err := db.Query("SHOW TABLES")
	require.NoError(t, err)
	var tables []string
	for rows.Next() {
		var n string
		require.NoError(t, rows.Scan(&n))
		tables = append(tables, n)
	}
	rows.Close()
	require.NotEmpty(t, tables)
	out := map[string]string{}
	for _, tb := range tables {
		var name string
		var sum sql.NullString
		require.NoError(t, db.QueryRow("CHECKSUM TABLE "+quoteIdent(tb)).Scan(&name, &sum))
		out[tb] = sum.String
	}
	return out
}

// TestMariaDBMirror: two front-ends with their own real MariaDB servers;
// onedb backup runs the real mysqldump, restore the real client, and the
// real table checksums follow the model.
func TestMariaDBMirror(t *testing.T) {
	s1, s2 := testdb.Start(t), testdb.Start(t)
	u1, p1 := s1.CreateDatabase(t, "opennebula")
	u2, p2 := s2.CreateDatabase(t, "opennebula")
	c, err := HA(3, "7.2.0",
		WithMariaDB("fe1", MariaDB{Host: s1.Host, Port: s1.Port, User: u1, Password: transport.NewSecret(p1)}),
		WithMariaDB("fe2", MariaDB{Host: s2.Host, Port: s2.Port, User: u2, Password: transport.NewSecret(p2)}))
	require.NoError(t, err)
	a, b := realChecksums(t, s1, u1, p1), realChecksums(t, s2, u2, p2)
	assert.Equal(t, a, b)
	assert.Contains(t, slices.Collect(maps.Keys(a)), "host_pool")

	// A replicated write changes both real databases alike.
	ok(t, c, "fe1", "onehost", "disable", "0")
	a2, b2 := realChecksums(t, s1, u1, p1), realChecksums(t, s2, u2, p2)
	assert.Equal(t, replicated(a2), replicated(b2))
	assert.NotEqual(t, a["host_pool"], a2["host_pool"])

	// fe2 misses writes while stopped: one row differs.
	ok(t, c, "fe2", "systemctl", "stop", "opennebula")
	ok(t, c, "fe1", "onehost", "disable", "1")
	a3, b3 := realChecksums(t, s1, u1, p1), realChecksums(t, s2, u2, p2)
	assert.NotEqual(t, a3["host_pool"], b3["host_pool"])
	assert.Equal(t, a3["vm_pool"], b3["vm_pool"])

	// Real mysqldump on the leader, real restore on the follower.
	ok(t, c, "fe1", "onedb", "backup", "-f", "--", "/var/tmp/leader.sql")
	dump, err := c.ReadFile("fe1", "/var/tmp/leader.sql")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(dump), "/*M!999999") || strings.HasPrefix(string(dump), "-- M"), "a real mysqldump file: %.80q", dump)
	assert.Contains(t, string(dump), "USE `opennebula`;")
	require.NoError(t, c.WriteFile("fe2", "/var/tmp/leader.sql", dump, 0o600))
	res := doCmd(t, c, "fe2", transport.Command{Path: "onedb", Args: []string{"restore", "-f", "--", "/var/tmp/leader.sql"},
		Env: map[string]string{"ONE_XMLRPC": "http://localhost:2633/RPC2"}})
	require.Equal(t, 0, res.ExitCode, string(res.Stderr))
	assert.Equal(t, "MySQL DB opennebula at localhost restored.\n", string(res.Stdout))
	assert.Equal(t, realChecksums(t, s1, u1, p1), realChecksums(t, s2, u2, p2))
	m1, err := c.TableChecksums("fe1")
	require.NoError(t, err)
	m2, err := c.TableChecksums("fe2")
	require.NoError(t, err)
	assert.Equal(t, replicated(m1), replicated(m2), "the model read the restored tables back")
	assert.Equal(t, 0, do(t, c, "fe2", "onedb", "version").ExitCode)

	// A broken file fails like the real client.
	require.NoError(t, c.WriteFile("fe2", "/var/tmp/bad.sql", []byte("this is not SQL;\n"), 0o600))
	res = doCmd(t, c, "fe2", transport.Command{Path: "onedb", Args: []string{"restore", "-f", "--", "/var/tmp/bad.sql"},
		Env: map[string]string{"ONE_XMLRPC": "http://localhost:2633/RPC2"}})
	assert.Equal(t, 255, res.ExitCode)
	assert.Contains(t, string(res.Stderr), "Error while restoring MySQL DB opennebula at localhost.\n")
	_ = context.Background
}
