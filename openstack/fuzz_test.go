package openstack

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// realSamples adds the real tool outputs recorded in testdata/real
// (go test ./openstack -args -record) as seeds.
func realSamples(f *testing.F, match string) {
	files, _ := filepath.Glob(filepath.Join("testdata", "real", "*"+match+"*"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
}

func FuzzParseCheckTable(f *testing.F) {
	f.Add([]byte(checkTable))
	realSamples(f, "status")
	f.Fuzz(func(t *testing.T, out []byte) {
		checks, err := parseCheckTable(out)
		if err != nil {
			return
		}
		for _, c := range checks {
			if c.Result < CheckSuccess || c.Result > CheckFailure {
				t.Fatalf("result out of range: %v", c.Result)
			}
		}
	})
}

func FuzzParseCheckJSON(f *testing.F) {
	f.Add([]byte(checkJSON))
	realSamples(f, "json")
	f.Fuzz(func(t *testing.T, out []byte) {
		checks, err := parseCheckJSON(out)
		if err != nil {
			return
		}
		for _, c := range checks {
			if c.Result < CheckSuccess || c.Result > CheckFailure {
				t.Fatalf("result out of range: %v", c.Result)
			}
		}
	})
}

func FuzzParseODMTable(f *testing.F) {
	f.Add([]byte(novaODM))
	f.Add([]byte(cinderODM))
	realSamples(f, "online_data_migrations")
	f.Fuzz(func(t *testing.T, out []byte) {
		ms, err := parseODMTable(out)
		if err != nil {
			return
		}
		for _, m := range ms {
			if m.Name == "" || m.Total < 0 || m.Completed < 0 {
				t.Fatalf("bad migration %+v", m)
			}
		}
	})
}

func FuzzParseMigrations(f *testing.F) {
	f.Add([]byte(keystoneListing), false)
	f.Add([]byte(glanceListing), false)
	f.Add([]byte("dir /h\nfile 073_newton.py\nfile 086_x.py\n"), true)
	f.Fuzz(func(t *testing.T, out []byte, migrate bool) {
		table := Alembic
		if migrate {
			table = Migrate
		}
		m, err := parseMigrations(out, table)
		if err != nil {
			return
		}
		heads := m.Heads()
		for _, h := range heads {
			if !m.Known(h) {
				t.Fatalf("head %q unknown", h)
			}
		}
		// Reached must terminate on cyclic input and be consistent.
		st := SchemaState{Revisions: heads}
		if len(heads) > 0 && !m.AtHeads(st) {
			t.Fatalf("recording every head is not at head")
		}
	})
}

func FuzzCompareVersions(f *testing.F) {
	f.Add("2:22.0.2-0+deb12u6", "2:27.0.0-1")
	f.Add("1.0~rc1", "1.0")
	f.Add("1:25.1.0-1.el9", "25.1.0")
	f.Fuzz(func(t *testing.T, a, b string) {
		ab, ba := CompareVersions(a, b), CompareVersions(b, a)
		if ab != -ba {
			t.Fatalf("not antisymmetric: %q %q: %d %d", a, b, ab, ba)
		}
		if CompareVersions(a, a) != 0 {
			t.Fatalf("not reflexive: %q", a)
		}
		_, _ = UpstreamMajor(a)
	})
}

func FuzzParseConnection(f *testing.F) {
	f.Add("nova", "secretpw", "db:3306", "nova?charset=utf8")
	f.Add("u", "p@ss:w/rd", "", "x?unix_socket=/s")
	f.Fuzz(func(t *testing.T, user, pw, host, db string) {
		if strings.ContainsAny(host, "@/?#") {
			return // not a host: the URL would be ambiguous
		}
		raw := "mysql+pymysql://" + url.UserPassword(user, pw).String() + "@" + host + "/" + db
		a, err := ParseConnection(raw)
		leaks := len(pw) >= 4 && !strings.Contains(user+host+db, pw)
		if err != nil {
			if leaks && strings.Contains(err.Error(), pw) {
				t.Fatalf("password in error: %v", err)
			}
			return
		}
		if a.Database == "" {
			t.Fatalf("accepted a URL without database")
		}
		if a.Password.Reveal() != pw {
			t.Fatalf("password %q, want %q", a.Password.Reveal(), pw)
		}
		if leaks && strings.Contains(a.String(), pw) {
			t.Fatalf("password in String(): %s", a)
		}
	})
}

func FuzzParseDumpCheck(f *testing.F) {
	f.Add([]byte("1234\n" + strings.Repeat("ab", 32) + "  -\n-- Dump completed on 2026-11-21\n"))
	f.Fuzz(func(t *testing.T, out []byte) {
		n, sum, err := parseDumpCheck(out)
		if err == nil && (n <= 0 || len(sum) != 64) {
			t.Fatalf("accepted %d %q", n, sum)
		}
	})
}

func FuzzParseBatchAndStates(f *testing.F) {
	f.Add([]byte("ks.a\t123\nrows\ta\t3\n"))
	f.Fuzz(func(t *testing.T, out []byte) {
		rows := parseBatch(out)
		st, err := parseTableStates("ks", []string{"a"}, rows)
		if err == nil && (len(st) != 1 || st[0].Rows < 0 || st[0].Checksum == "") {
			t.Fatalf("bad states %+v", st)
		}
	})
}

func FuzzParseSmall(f *testing.F) {
	f.Add([]byte("ID=debian\nVERSION_ID=\"12\"\n"))
	f.Add([]byte("640 root nova\n"))
	f.Fuzz(func(t *testing.T, out []byte) {
		if fam, err := parseOSRelease(out); err == nil && fam != Debian && fam != RHEL {
			t.Fatalf("family %q", fam)
		}
		if mode, _, _, err := parseStat(out); err == nil && mode > 0o7777 {
			t.Fatalf("mode %o", mode)
		}
	})
}
