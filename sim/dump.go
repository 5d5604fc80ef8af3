package sim

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The dump format imitates mysqldump output: one INSERT per table, values
// quoted with MySQL escaping. Only what the simulator wrote is parsed
// back; anything else is a malformed dump.

const dumpTimeFormat = "2006-01-02 15:04:05"

// dumpUnapplied starts the line carrying a dump's unapplied log records.
const dumpUnapplied = "-- upgradekit-sim-logdb-unapplied "

func sqlQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`, "\r", `\r`, "\x00", `\0`)
	return "'" + r.Replace(s) + "'"
}

func writeDump(d *database, server string, federated bool, now time.Time) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "-- MariaDB dump 10.19  Distrib 10.11.13-MariaDB, for debian-linux-gnu (x86_64)\n--\n-- Host: %s    Database: %s\n-- ------------------------------------------------------\n", server, d.Name)
	fmt.Fprintf(&b, "-- upgradekit-sim federated=%t bootstrapped=%t log_records=%d\n\n", federated, d.Bootstrapped, logRecords(d))
	if !federated && len(d.Unapplied) > 0 {
		// The logdb rows not applied yet travel in the dump as in
		// mysqldump's; the simulator keeps them on one line of its own.
		j, _ := json.Marshal(d.Unapplied)
		fmt.Fprintf(&b, "%s%s\n\n", dumpUnapplied, base64.StdEncoding.EncodeToString(j))
	}
	fmt.Fprintf(&b, "DROP DATABASE IF EXISTS `%s`;\nCREATE DATABASE /*!32312 IF NOT EXISTS*/ `%s`;\nUSE `%s`;\n\n", d.Name, d.Name, d.Name)
	table := func(name string, cols string, rows [][]string) {
		fmt.Fprintf(&b, "DROP TABLE IF EXISTS `%s`;\nCREATE TABLE `%s` (%s);\n", name, name, cols)
		if len(rows) > 0 {
			fmt.Fprintf(&b, "INSERT INTO `%s` VALUES ", name)
			for i, r := range rows {
				if i > 0 {
					b.WriteString(",")
				}
				q := make([]string, len(r))
				for j, v := range r {
					q[j] = sqlQuote(v)
				}
				b.WriteString("(" + strings.Join(q, ",") + ")")
			}
			b.WriteString(";\n")
		}
		b.WriteString("\n")
	}
	ver := func(rows []verRow, local bool) [][]string {
		var out [][]string
		for _, r := range rows {
			row := []string{strconv.Itoa(r.OID), r.Version, strconv.FormatInt(r.Timestamp.Unix(), 10), r.Comment}
			if local {
				row = append(row, strconv.FormatBool(r.IsSlave))
			}
			out = append(out, row)
		}
		return out
	}
	table("db_versioning", "oid,version,timestamp,comment", ver(d.Shared, false))
	if !federated {
		table("local_db_versioning", "oid,version,timestamp,comment,is_slave", ver(d.Local, true))
		table("system_attributes", "name,body", [][]string{{"RAFT_STATE", fmt.Sprintf("%d %d %d %d", d.Term, d.VotedFor, d.LogIndex, d.Commit)}})
	}
	var logdb [][]string
	for _, r := range d.logRows() {
		logdb = append(logdb, []string{strconv.FormatInt(r.Index, 10), strconv.FormatInt(r.Term, 10), r.Tables, strconv.FormatInt(r.Fed, 10)})
	}
	table("logdb", "log_index,term,tables,fed_index", logdb)
	names := slices.Sorted(maps.Keys(d.Tables))
	for _, t := range names {
		if federated && !slices.Contains(federatedTables, t) {
			continue
		}
		var rows [][]string
		for _, k := range slices.Sorted(maps.Keys(d.Tables[t])) {
			rows = append(rows, []string{k, d.Tables[t][k]})
		}
		table(t, "oid,body", rows)
	}
	fmt.Fprintf(&b, "-- Dump completed on %s\n", now.Format(dumpTimeFormat))
	return []byte(b.String())
}

var errBadDump = errors.New("malformed dump")

// readDump parses a dump written by writeDump.
func readDump(data []byte) (d *database, federated bool, err error) {
	d = &database{Tables: map[string]map[string]string{}, VotedFor: -1, FedLogIndex: -1}
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	sc.Buffer(make([]byte, 1<<20), 1<<30)
	sawHeader := false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "-- upgradekit-sim "):
			sawHeader = true
			federated = strings.Contains(line, "federated=true")
			d.Bootstrapped = strings.Contains(line, "bootstrapped=true")
		case strings.HasPrefix(line, dumpUnapplied):
			j, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(line, dumpUnapplied))
			if err != nil || json.Unmarshal(j, &d.Unapplied) != nil {
				return nil, false, errBadDump
			}
		case strings.HasPrefix(line, "USE `"):
			d.Name = strings.TrimSuffix(strings.TrimPrefix(line, "USE `"), "`;")
		case strings.HasPrefix(line, "CREATE TABLE `"):
			name, _, _ := strings.Cut(strings.TrimPrefix(line, "CREATE TABLE `"), "`")
			if name != "db_versioning" && name != "local_db_versioning" && name != "system_attributes" && name != "logdb" {
				d.Tables[name] = map[string]string{}
			}
		case strings.HasPrefix(line, "INSERT INTO `"):
			name, rest, ok := strings.Cut(strings.TrimPrefix(line, "INSERT INTO `"), "` VALUES ")
			if !ok {
				return nil, false, errBadDump
			}
			rows, err := parseTuples(strings.TrimSuffix(rest, ";"))
			if err != nil {
				return nil, false, err
			}
			if err := d.load(name, rows); err != nil {
				return nil, false, err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, false, err
	}
	if !sawHeader || d.Name == "" {
		return nil, false, errBadDump
	}
	return d, federated, nil
}

func (d *database) load(table string, rows [][]string) error {
	switch table {
	case "db_versioning", "local_db_versioning":
		for _, r := range rows {
			if len(r) < 4 {
				return errBadDump
			}
			oid, err1 := strconv.Atoi(r[0])
			ts, err2 := strconv.ParseInt(r[2], 10, 64)
			if err1 != nil || err2 != nil {
				return errBadDump
			}
			v := verRow{OID: oid, Version: r[1], Timestamp: time.Unix(ts, 0).UTC(), Comment: r[3]}
			if table == "local_db_versioning" {
				v.IsSlave = len(r) > 4 && r[4] == "true"
				d.Local = append(d.Local, v)
			} else {
				d.Shared = append(d.Shared, v)
			}
		}
	case "system_attributes":
		for _, r := range rows {
			if len(r) == 2 && r[0] == "RAFT_STATE" {
				if _, err := fmt.Sscanf(r[1], "%d %d %d %d", &d.Term, &d.VotedFor, &d.LogIndex, &d.Commit); err != nil {
					return errBadDump
				}
			}
		}
	case "logdb":
		for _, r := range rows {
			if len(r) != 4 {
				return errBadDump
			}
			li, err1 := strconv.ParseInt(r[0], 10, 64)
			tm, err2 := strconv.ParseInt(r[1], 10, 64)
			fi, err3 := strconv.ParseInt(r[3], 10, 64)
			if err1 != nil || err2 != nil || err3 != nil {
				return errBadDump
			}
			d.loadLogRow(logRow{Index: li, Term: tm, Tables: r[2], Fed: fi})
		}
	default:
		m := d.Tables[table]
		if m == nil {
			m = map[string]string{}
			d.Tables[table] = m
		}
		for _, r := range rows {
			if len(r) != 2 {
				return errBadDump
			}
			m[r[0]] = r[1]
		}
	}
	return nil
}

// parseTuples parses ('a','b'),('c','d').
func parseTuples(s string) ([][]string, error) {
	var rows [][]string
	i := 0
	for i < len(s) {
		if s[i] == ',' {
			i++
			continue
		}
		if s[i] != '(' {
			return nil, errBadDump
		}
		i++
		var row []string
		for {
			if i >= len(s) || s[i] != '\'' {
				return nil, errBadDump
			}
			i++
			var v strings.Builder
			for {
				if i >= len(s) {
					return nil, errBadDump
				}
				ch := s[i]
				if ch == '\\' && i+1 < len(s) {
					switch s[i+1] {
					case 'n':
						v.WriteByte('\n')
					case 'r':
						v.WriteByte('\r')
					case '0':
						v.WriteByte(0)
					default:
						v.WriteByte(s[i+1])
					}
					i += 2
					continue
				}
				if ch == '\'' {
					i++
					break
				}
				v.WriteByte(ch)
				i++
			}
			row = append(row, v.String())
			if i < len(s) && s[i] == ',' {
				i++
				continue
			}
			if i < len(s) && s[i] == ')' {
				i++
				break
			}
			return nil, errBadDump
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// tableChecksums returns one checksum per table of d, like CHECKSUM TABLE.
func tableChecksums(d *database) map[string]string {
	out := map[string]string{}
	full := string(writeDump(d, "", false, time.Time{}))
	// Split the dump per table.
	for _, block := range strings.Split(full, "DROP TABLE IF EXISTS `")[1:] {
		name, _, _ := strings.Cut(block, "`")
		out[name] = sha256hex([]byte(block))[:16]
	}
	return out
}
