package sim

import (
	"strings"
	"testing"
	"time"
)

// FuzzReadDump: restoring any file never panics, and a dump the
// simulator wrote reads back to the same tables.
func FuzzReadDump(f *testing.F) {
	c, err := HA(3, "7.2.0")
	if err != nil {
		f.Fatal(err)
	}
	d := c.st.Nodes["fe1"].DB
	f.Add(string(writeDump(d, "localhost", false, time.Unix(0, 0))))
	f.Add(string(writeDump(d, "localhost", true, time.Unix(0, 0))))
	withLog := d.clone()
	withLog.appendRecord(withLog.Term, []string{"host_pool", "vm_pool"})
	withLog.appendRecord(withLog.Term+1, nil)
	f.Add(string(writeDump(withLog, "localhost", false, time.Unix(0, 0))))
	f.Add("-- upgradekit-sim federated=false bootstrapped=true\nUSE `x`;\nINSERT INTO `t` VALUES ('a\\'b','c\\\\'),('1','2');\n")
	f.Add("INSERT INTO `db_versioning` VALUES ('x','y');")
	f.Fuzz(func(t *testing.T, s string) {
		got, _, err := readDump([]byte(s))
		if err != nil {
			return
		}
		again, _, err := readDump(writeDump(got, "localhost", false, time.Unix(0, 0)))
		if err != nil {
			t.Fatalf("re-read of a written dump: %v", err)
		}
		a, b := tableChecksums(got), tableChecksums(again)
		for k, v := range a {
			if b[k] != v {
				t.Fatalf("table %s changed on round trip", k)
			}
		}
	})
}

// FuzzParseOpts: the Ruby-style option parser never panics and keeps
// every operand.
func FuzzParseOpts(f *testing.F) {
	f.Add("show 0 -x --endpoint http://a:2633/RPC2")
	f.Add("server-add 0 -nfe4 -r http://x --grpc-endpoint=y:1 -- -v")
	f.Add("-xv --csv -- - --")
	f.Fuzz(func(t *testing.T, line string) {
		args := strings.Fields(line)
		o, err := parseOpts(args, zoneOpts)
		if err != nil {
			return
		}
		for _, a := range o.args {
			if a == "" {
				t.Fatalf("empty operand from %q", line)
			}
		}
	})
}

// FuzzConfVector: oned.conf vectors parse without panics; a value set in
// a FEDERATION block is read back.
func FuzzConfVector(f *testing.F) {
	f.Add(onedConfText("7.4.0", "SLAVE", 100, 2, "http://m:2633/RPC2", "10.0.0.10", true))
	f.Add("FEDERATION = [ MODE = \"MASTER\", SERVER_ID = 3 ]\n# FEDERATION = [ SERVER_ID = 9 ]")
	f.Add("FEDERATION=[")
	f.Fuzz(func(t *testing.T, conf string) {
		_ = confVector(conf, "FEDERATION")
		_ = confVector(conf, "DB")
	})
}
