package ossim

import (
	"strings"
	"testing"
	"time"
)

// FuzzSQL feeds arbitrary SQL (and dumps) to the model: it must answer
// or return an error, never panic, and a dump it produces must load
// back into an equal database.
func FuzzSQL(f *testing.F) {
	for _, s := range []string{
		"SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name IN ('alembic_version','migrate_version');\n",
		"CHECKSUM TABLE `t`, `u`;\nSELECT 'rows', 't', COUNT(*) FROM `t` UNION ALL SELECT 'rows', 'u', COUNT(*) FROM `u`;\n",
		"SELECT version_num FROM `alembic_version`;",
		"SET FOREIGN_KEY_CHECKS = 0;\nDROP TABLE IF EXISTS `t`;\n",
		"CREATE TABLE `x` (`a` text, `b` text);\nINSERT INTO `x` VALUES ('a\\'b','c\\n'),(NULL,'d');\n",
		"INSERT INTO `t` VALUES ('unterminated",
		"-- comment\n/*!40101 SET NAMES utf8mb4 */;\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		d := &database{Tables: map[string]*table{
			"t": {Cols: []string{"c0", "c1"}, Rows: [][]string{{"1", "x"}}},
			"u": {Cols: []string{"version_num"}, Rows: [][]string{{"abc"}}},
		}}
		_, _ = d.exec("db", sql)
		dump := d.dump("dbhost", "db", time.Unix(0, 0))
		e := &database{Tables: map[string]*table{}}
		if _, err := e.exec("db", string(dump)); err != nil {
			t.Fatalf("own dump does not load: %v\n%s", err, dump)
		}
		if len(e.Tables) != len(d.Tables) {
			t.Fatalf("tables %d after reload, want %d", len(e.Tables), len(d.Tables))
		}
		for name, tb := range d.Tables {
			got := e.Tables[name]
			if got == nil || got.checksum() != tb.checksum() || len(got.Rows) != len(tb.Rows) {
				if strings.ContainsAny(name, "\x00") {
					continue
				}
				t.Fatalf("table %q differs after reload", name)
			}
		}
	})
}

// FuzzCommand runs arbitrary argv (words split on "|") on a controller:
// every simulated command parses its flags itself and must answer with
// an exit code, never panic.
func FuzzCommand(f *testing.F) {
	for _, s := range []string{
		"head|-n", "find|/etc|-printf|%p %y %m %s\\n", "sed|s|^|x|", "xargs|-0", "stat|-c|%a %U|--|/etc/nova/nova.conf",
		"systemctl|kill|--signal=HUP|--|nova-api", "dpkg-query|-W|-f=${Version}|--|nova-common",
		"nova-manage|db|online_data_migrations|--max-count", "glance-manage|db_check", "apt-get|install|nova-api=1",
		"cp|-a|--|/etc/nova|/tmp/x", "mktemp|-d|/tmp/XX", "keystone-manage|db_sync|--check|--expand",
		"rpm|-q|--qf|%{VERSION}|--|nova-common", "tail|-n|x|/etc/os-release", "kill|-HUP|1001",
	} {
		f.Add(s)
	}
	c, err := New(Topology{Controllers: []string{"ctl1"}, Computes: []string{"cmp1"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		argv := strings.Split(s, "|")
		c.mu.Lock()
		defer c.mu.Unlock()
		var out, errb strings.Builder
		p := &proc{c: c, n: c.nodes["ctl1"], ctx: t.Context(), env: map[string]string{}, dir: "/root",
			stdin: strings.NewReader("a\x00b\n"), stdout: &out, stderr: &errb}
		_ = p.run(argv)
	})
}
