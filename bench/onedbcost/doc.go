// Command onedbcost measures what onedb's database work costs on a real
// MariaDB, to calibrate the OpenNebula simulator (sim/).
//
// It starts a private MariaDB with internal/testdb and, at each scale
// (logdb records, VMs, hosts), builds an OpenNebula-7-shaped database
// "opennebula": vm_pool, history, host_pool, logdb, db_versioning and
// local_db_versioning with the 5.7.80+ schemas of onedb's
// database_schema.rb. VM and host bodies are the <VM> and <HOST>
// elements of the reference samples (testdata/, reconstructed
// from OpenNebula's source and schemas) with IDs, names, times, addresses
// and monitoring varied per row. Each logdb.sqlcmd is what oned
// replicates: a REPLACE INTO vm_pool statement, zlib-compressed and
// base64-encoded; fed_index is 18446744073709551615 and applied is 1.
// Then it creates onedb's indexes (state_oid_idx, ftidx, applied_idx).
//
// At every scale it times, median of -reps repetitions:
//
//   - backup: onedb's `mysqldump -u U -h H -P PORT --add-drop-database
//     --databases --add-drop-table opennebula > file`;
//   - index: the index part of `onedb upgrade`: drop the three indexes
//     (delete_idx) and create them again (create_idx);
//   - restore: onedb's `mysql -u U -h H -P PORT opennebula < file`;
//
// and, once, `mysql -e 'SELECT 1'` as the fixed cost of one client
// invocation (process start, connect, authenticate). The password goes
// to the client tools in MYSQL_PWD, never on the command line.
//
// It prints a table per scale and a linear model fitted by least squares
// over the scales: bytes per log record, dump and restore MiB/s (plus a
// fixed part), index rebuild seconds per 100k logdb rows and the client
// overhead; -json prints the same as JSON. By default the server's
// innodb_buffer_pool_size and innodb_log_file_size are set to MariaDB's
// stock defaults (-stock=false keeps the test server's smaller ones).
//
// Run it with
//
//	go run ./bench/onedbcost [-scales 1000:20:3,50000:200:10,184233:500:20,250000:2000:50] [-reps 3] [-json]
//
// It needs mariadbd (or a Docker engine) and /usr/bin/mysql and
// /usr/bin/mysqldump; the defaults take a few minutes on 2 cores.
// Results are in README.md.
package main
