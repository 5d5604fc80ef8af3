package ossim

import (
	"fmt"
	"hash/crc32"
	"slices"
	"strconv"
	"strings"
	"time"
)

// table is one table of the simulated MariaDB: untyped text columns.
type table struct {
	Cols []string   `json:"cols"`
	Rows [][]string `json:"rows"`
}

func (t *table) clone() *table {
	c := &table{Cols: slices.Clone(t.Cols)}
	for _, r := range t.Rows {
		c.Rows = append(c.Rows, slices.Clone(r))
	}
	return c
}

// checksum imitates CHECKSUM TABLE: a function of every row.
func (t *table) checksum() uint32 {
	var sum uint32
	for _, r := range t.Rows {
		sum += crc32.ChecksumIEEE([]byte(strings.Join(r, "\x00")))
	}
	return sum
}

// database is one schema on the server.
type database struct {
	Tables map[string]*table `json:"tables"`
}

func (d *database) clone() *database {
	c := &database{Tables: map[string]*table{}}
	for k, v := range d.Tables {
		c.Tables[k] = v.clone()
	}
	return c
}

func (d *database) names() []string {
	out := make([]string, 0, len(d.Tables))
	for k := range d.Tables {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// sqlError is a MariaDB error as the client prints it.
type sqlError struct {
	num   int
	state string
	msg   string
}

func (e *sqlError) Error() string {
	return fmt.Sprintf("ERROR %d (%s) at line 1: %s", e.num, e.state, e.msg)
}

func errSyntax(stmt string) error {
	if len(stmt) > 40 {
		stmt = stmt[:40]
	}
	return &sqlError{1064, "42000", "You have an error in your SQL syntax; check the manual that corresponds to your MariaDB server version for the right syntax to use near '" + stmt + "'"}
}

func errNoTable(db, t string) error {
	return &sqlError{1146, "42S02", fmt.Sprintf("Table '%s.%s' doesn't exist", db, t)}
}

// splitStatements splits SQL text into statements at top-level
// semicolons (outside quotes and backticks); comment lines are dropped.
func splitStatements(sql string) []string {
	var out []string
	var cur strings.Builder
	var quote byte
	lineStart := true
	for i := 0; i < len(sql); i++ {
		c := sql[i]
		if quote == 0 && lineStart && (strings.HasPrefix(sql[i:], "-- ") || strings.HasPrefix(sql[i:], "--\n") || strings.HasPrefix(sql[i:], "/*")) {
			end := strings.IndexByte(sql[i:], '\n')
			if end < 0 {
				break
			}
			i += end
			continue
		}
		lineStart = c == '\n'
		switch {
		case quote != 0:
			cur.WriteByte(c)
			if c == '\\' && quote == '\'' && i+1 < len(sql) {
				i++
				cur.WriteByte(sql[i])
				continue
			}
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '`':
			quote = c
			cur.WriteByte(c)
		case c == ';':
			if s := strings.TrimSpace(cur.String()); s != "" {
				out = append(out, s)
			}
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}

// ident reads a `quoted` identifier at the start of s.
func ident(s string) (string, string, bool) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "`") {
		i := strings.IndexAny(s, " ,;()\n\t")
		if i < 0 {
			i = len(s)
		}
		if i == 0 {
			return "", s, false
		}
		return s[:i], s[i:], true
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		if s[i] == '`' {
			if i+1 < len(s) && s[i+1] == '`' {
				b.WriteByte('`')
				i++
				continue
			}
			return b.String(), s[i+1:], true
		}
		b.WriteByte(s[i])
	}
	return "", s, false
}

// sqlQuote quotes v as a SQL string literal (NULL for the nil marker).
func sqlQuote(v string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`, "\x00", `\0`)
	return "'" + r.Replace(v) + "'"
}

// parseValues parses the tuples of an INSERT: ('a','b'),('c',NULL).
func parseValues(s string) ([][]string, error) {
	var rows [][]string
	s = strings.TrimSpace(s)
	for s != "" {
		if s[0] != '(' {
			return nil, fmt.Errorf("expected ( at %.20q", s)
		}
		s = s[1:]
		var row []string
		for {
			s = strings.TrimLeft(s, " ")
			if s == "" {
				return nil, fmt.Errorf("unterminated tuple")
			}
			switch {
			case strings.HasPrefix(s, "NULL"):
				row = append(row, "NULL")
				s = s[4:]
			case s[0] == '\'':
				var b strings.Builder
				i := 1
				closed := false
				for ; i < len(s); i++ {
					c := s[i]
					if c == '\\' && i+1 < len(s) {
						i++
						switch s[i] {
						case 'n':
							b.WriteByte('\n')
						case '0':
							b.WriteByte(0)
						default:
							b.WriteByte(s[i])
						}
						continue
					}
					if c == '\'' {
						closed = true
						break
					}
					b.WriteByte(c)
				}
				if !closed {
					return nil, fmt.Errorf("unterminated string")
				}
				row = append(row, b.String())
				s = s[i+1:]
			default:
				i := strings.IndexAny(s, ",)")
				if i <= 0 {
					return nil, fmt.Errorf("bad value at %.20q", s)
				}
				row = append(row, strings.TrimSpace(s[:i]))
				s = s[i:]
			}
			s = strings.TrimLeft(s, " ")
			if s == "" {
				return nil, fmt.Errorf("unterminated tuple")
			}
			if s[0] == ',' {
				s = s[1:]
				continue
			}
			if s[0] == ')' {
				s = s[1:]
				break
			}
			return nil, fmt.Errorf("bad separator at %.20q", s)
		}
		rows = append(rows, row)
		s = strings.TrimLeft(s, " \n")
		if strings.HasPrefix(s, ",") {
			s = strings.TrimLeft(s[1:], " \n")
		} else if s != "" {
			return nil, fmt.Errorf("trailing %.20q", s)
		}
	}
	return rows, nil
}

// exec runs SQL against db (name dbName) and returns the result rows in
// --batch form. It understands the statements the openstack primitives
// and a mysqldump-style dump send; anything else is a syntax error.
func (d *database) exec(dbName, sql string) ([][]string, error) {
	var out [][]string
	for _, stmt := range splitStatements(sql) {
		rows, err := d.stmt(dbName, stmt)
		if err != nil {
			return out, err
		}
		out = append(out, rows...)
	}
	return out, nil
}

func fold(s string) string { return strings.Join(strings.Fields(s), " ") }

func (d *database) stmt(dbName, stmt string) ([][]string, error) {
	s := fold(stmt)
	up := asciiUpper(s) // same byte offsets as s
	const isPrefix = "SELECT TABLE_NAME FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = DATABASE()"
	switch {
	case strings.HasPrefix(up, "SET ") || strings.HasPrefix(up, "LOCK TABLES") || strings.HasPrefix(up, "UNLOCK TABLES"):
		return nil, nil
	case strings.HasPrefix(up, isPrefix+" AND TABLE_NAME IN ("):
		list := s[len(isPrefix+" AND TABLE_NAME IN ("):]
		var rows [][]string
		for _, n := range d.names() {
			if strings.Contains(list, "'"+n+"'") {
				rows = append(rows, []string{n})
			}
		}
		return rows, nil
	case up == isPrefix+" AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME":
		var rows [][]string
		for _, n := range d.names() {
			rows = append(rows, []string{n})
		}
		return rows, nil
	case up == "SELECT TABLE_NAME, TABLE_TYPE FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = DATABASE()":
		var rows [][]string
		for _, n := range d.names() {
			rows = append(rows, []string{n, "BASE TABLE"})
		}
		return rows, nil
	case strings.HasPrefix(up, "CHECKSUM TABLE "):
		var rows [][]string
		rest := s[len("CHECKSUM TABLE "):]
		for rest != "" {
			name, r, ok := ident(rest)
			if !ok {
				return nil, errSyntax(stmt)
			}
			if t, ok := d.Tables[name]; ok {
				rows = append(rows, []string{dbName + "." + name, strconv.FormatUint(uint64(t.checksum()), 10)})
			} else {
				rows = append(rows, []string{dbName + "." + name, "NULL"})
			}
			rest = strings.TrimPrefix(strings.TrimSpace(r), ",")
			rest = strings.TrimSpace(rest)
		}
		return rows, nil
	case strings.HasPrefix(up, "SELECT 'ROWS', "):
		var rows [][]string
		for _, part := range strings.Split(s, " UNION ALL ") {
			i := strings.Index(part, " FROM ")
			if i < 0 {
				return nil, errSyntax(stmt)
			}
			name, _, ok := ident(part[i+len(" FROM "):])
			if !ok {
				return nil, errSyntax(stmt)
			}
			t, ok := d.Tables[name]
			if !ok {
				return nil, errNoTable(dbName, name)
			}
			rows = append(rows, []string{"rows", name, strconv.Itoa(len(t.Rows))})
		}
		return rows, nil
	case strings.HasPrefix(up, "SELECT "):
		// SELECT col[, col] FROM `t`
		i := strings.Index(up, " FROM ")
		if i < len("SELECT ") {
			return nil, errSyntax(stmt)
		}
		cols := strings.Split(s[len("SELECT "):i], ",")
		name, rest, ok := ident(s[i+len(" FROM "):])
		if !ok || strings.TrimSpace(rest) != "" {
			return nil, errSyntax(stmt)
		}
		t, ok := d.Tables[name]
		if !ok {
			return nil, errNoTable(dbName, name)
		}
		var idx []int
		for _, c := range cols {
			c = strings.Trim(strings.TrimSpace(c), "`")
			j := slices.Index(t.Cols, c)
			if j < 0 {
				return nil, &sqlError{1054, "42S22", fmt.Sprintf("Unknown column '%s' in 'field list'", c)}
			}
			idx = append(idx, j)
		}
		var rows [][]string
		for _, r := range t.Rows {
			var o []string
			for _, j := range idx {
				o = append(o, r[j])
			}
			rows = append(rows, o)
		}
		return rows, nil
	case strings.HasPrefix(up, "DROP TABLE IF EXISTS ") || strings.HasPrefix(up, "DROP VIEW IF EXISTS "):
		rest := s[strings.Index(up, " EXISTS ")+len(" EXISTS "):]
		for rest != "" {
			name, r, ok := ident(rest)
			if !ok {
				return nil, errSyntax(stmt)
			}
			delete(d.Tables, name)
			rest = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(r), ","))
		}
		return nil, nil
	case strings.HasPrefix(up, "CREATE TABLE "):
		name, rest, ok := ident(s[len("CREATE TABLE "):])
		if !ok {
			return nil, errSyntax(stmt)
		}
		if _, exists := d.Tables[name]; exists {
			return nil, &sqlError{1050, "42S01", fmt.Sprintf("Table '%s' already exists", name)}
		}
		rest = strings.TrimSpace(rest)
		if !strings.HasPrefix(rest, "(") || !strings.Contains(rest, ")") {
			return nil, errSyntax(stmt)
		}
		body := rest[1:strings.LastIndexByte(rest, ')')]
		t := &table{}
		for _, c := range strings.Split(body, ",") {
			col, _, ok := ident(c)
			if !ok {
				return nil, errSyntax(stmt)
			}
			t.Cols = append(t.Cols, col)
		}
		d.Tables[name] = t
		return nil, nil
	case strings.HasPrefix(up, "INSERT INTO "):
		if len(stmt) < len("INSERT INTO ") || !strings.EqualFold(stmt[:len("INSERT INTO ")], "INSERT INTO ") {
			return nil, errSyntax(stmt)
		}
		name, rest, ok := ident(stmt[len("INSERT INTO "):])
		if !ok {
			return nil, errSyntax(stmt)
		}
		rest = strings.TrimSpace(rest)
		if !strings.HasPrefix(asciiUpper(rest), "VALUES ") {
			return nil, errSyntax(stmt)
		}
		t, ok := d.Tables[name]
		if !ok {
			return nil, errNoTable(dbName, name)
		}
		rows, err := parseValues(rest[len("VALUES "):])
		if err != nil {
			return nil, errSyntax(stmt)
		}
		for _, r := range rows {
			if len(r) != len(t.Cols) {
				return nil, &sqlError{1136, "21S01", "Column count doesn't match value count at row 1"}
			}
		}
		t.Rows = append(t.Rows, rows...)
		return nil, nil
	}
	return nil, errSyntax(stmt)
}

// dump renders db like mysqldump: DROP/CREATE/INSERT per table and the
// completion line.
func (d *database) dump(host, dbName string, now time.Time) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)\n--\n-- Host: %s    Database: %s\n-- ------------------------------------------------------\n", host, dbName)
	b.WriteString("/*!40101 SET NAMES utf8mb4 */;\n")
	for _, n := range d.names() {
		t := d.Tables[n]
		q := make([]string, len(t.Cols))
		for i, c := range t.Cols {
			q[i] = "`" + strings.ReplaceAll(c, "`", "``") + "` text"
		}
		qn := "`" + strings.ReplaceAll(n, "`", "``") + "`"
		fmt.Fprintf(&b, "\n--\n-- Table structure for table %s\n--\n\nDROP TABLE IF EXISTS %s;\nCREATE TABLE %s (%s);\n", qn, qn, qn, strings.Join(q, ", "))
		if len(t.Rows) > 0 {
			var tuples []string
			for _, r := range t.Rows {
				vals := make([]string, len(r))
				for i, v := range r {
					if v == "NULL" {
						vals[i] = "NULL"
					} else {
						vals[i] = sqlQuote(v)
					}
				}
				tuples = append(tuples, "("+strings.Join(vals, ",")+")")
			}
			fmt.Fprintf(&b, "INSERT INTO %s VALUES %s;\n", qn, strings.Join(tuples, ","))
		}
	}
	fmt.Fprintf(&b, "\n-- Dump completed on %s\n", now.UTC().Format("2006-01-02 15:04:05"))
	return []byte(b.String())
}

// asciiUpper upper-cases ASCII letters only, keeping byte offsets.
func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
