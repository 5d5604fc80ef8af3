package sim

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The cost of onedb's database work grows with the database, and in an
// HA zone the database is mostly Raft log: up to LOG_RETENTION (250000)
// records of logdb, each a zlib-compressed, base64-encoded SQL statement
// (src/sql/LogDB.cc). The simulator keeps only the log index, so it charges each
// command for the database a real zone with that index holds:
// min(log index, LOG_RETENTION) logdb rows of logRowBytes, plus the
// simulated tables themselves (a simulator dump names the rows it leaves
// out in its header, so copies of it cost what the real file would).
//
// The constants were measured with bench/onedbcost on MariaDB 10.11
// (2 cores, stock 128 MiB buffer pool), running onedb's own commands on
// an OpenNebula-shaped database built from the reference samples:
// `mysqldump --add-drop-database --databases --add-drop-table` for
// backups, `mysql DB < file` for restores, and onedb upgrade's index work
// (delete_idx before the migrators, create_idx after: state_oid_idx and
// the FULLTEXT ftidx on vm_pool, applied_idx on logdb). The figures and
// their spread are in bench/onedbcost/README.md.
const (
	logRetention = 250000 // RAFT/LOG_RETENTION default (oned.conf)

	// logRowBytes is one logdb row in the dump; its sqlcmd is 877 B,
	// a VM update built from samples/onevm-list.xml's bodies (larger
	// templates give larger rows).
	logRowBytes = 950
	// dumpRate and restoreRate are mysqldump's and mysql's throughput in
	// bytes of dump per second (84.6 and 21.4 MiB/s; no fixed part beyond
	// the client's start).
	dumpRate    = 84.6 * (1 << 20)
	restoreRate = 21.4 * (1 << 20)
	// clientStart is one MySQL client's start and connection (10–21 ms).
	clientStart = 15 * time.Millisecond
	// indexFixed and indexPerRow are onedb upgrade's drop and re-create
	// of its three indexes: the vm_pool ones cost 15–30 ms up to 2000
	// VMs; applied_idx costs 0.84 s per 100k logdb rows at the default
	// HA log size (less while logdb fits in the buffer pool).
	indexFixed  = 30 * time.Millisecond
	indexPerRow = 8400 * time.Nanosecond
	// localMigrator is what the 7.2.0 → 7.4.0 local migrator's output
	// reports (samples/onedb-upgrade.txt); the shared ones only bump the
	// version.
	localMigrator = 370 * time.Millisecond
)

// logRecords is how many Raft log records d holds.
func logRecords(d *database) int64 {
	return min(max(d.LogIndex, 0), logRetention)
}

// dumpBytes is the size of the dump a real database in d's state gives.
func dumpBytes(d *database, federated bool) int64 {
	return modelledSize(writeDump(d, d.Name, federated, time.Time{}))
}

// modelledSize is the size data stands for: a simulator dump names the
// log records it leaves out in its header; anything else is itself.
func modelledSize(data []byte) int64 {
	n := int64(len(data))
	head := data[:min(len(data), 512)]
	_, rest, ok := bytes.Cut(head, []byte("\n-- upgradekit-sim "))
	if !ok {
		return n
	}
	line, _, _ := bytes.Cut(rest, []byte("\n"))
	for _, f := range strings.Fields(string(line)) {
		if v, ok := strings.CutPrefix(f, "log_records="); ok {
			if r, err := strconv.ParseInt(v, 10, 64); err == nil && r > 0 {
				n += min(r, logRetention) * logRowBytes
			}
		}
	}
	return n
}

func throughput(n int64, rate float64) time.Duration {
	return time.Duration(float64(n) / rate * float64(time.Second))
}

// backupCost is mysqldump of d.
func backupCost(d *database, federated bool) time.Duration {
	return clientStart + throughput(dumpBytes(d, federated), dumpRate)
}

// restoreCost is mysql loading dump.
func restoreCost(dump []byte) time.Duration {
	return clientStart + throughput(modelledSize(dump), restoreRate)
}

// indexCost is onedb upgrade's delete_idx plus create_idx on d.
func indexCost(d *database) time.Duration {
	return indexFixed + time.Duration(logRecords(d))*indexPerRow
}

// seconds formats d as onedb's "%0.02f" timings.
func seconds(d time.Duration) string { return fmt.Sprintf("%0.02f", d.Seconds()) }
