package testdb_test

import (
	"database/sql"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/internal/testdb"
)

func TestStartCreateDatabase(t *testing.T) {
	srv := testdb.Start(t)
	user, pw := srv.CreateDatabase(t, "opennebula")
	db, err := sql.Open("mysql", srv.DSN(user, pw, "opennebula"))
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Exec("CREATE TABLE t (id INT PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'a')")
	require.NoError(t, err)
	var n int
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM t").Scan(&n))
	assert.Equal(t, 1, n)
	// The user is confined to its database.
	_, err = db.Exec("CREATE DATABASE other")
	assert.Error(t, err)
	var version string
	require.NoError(t, srv.Admin(t).QueryRow("SELECT VERSION()").Scan(&version))
	assert.Contains(t, version, "MariaDB")
}
