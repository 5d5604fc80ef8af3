package onedb

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/upgradekit/upgradekit/transport"
)

// seeds adds every sample file, and every case in it, to f.
func seeds(f *testing.F, add func(s string)) {
	files, _ := filepath.Glob(filepath.Join("testdata", "onedb-*.txt"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		add(string(b))
		for _, c := range strings.Split(string(b), "\n\n###") {
			add(c)
		}
	}
}

func FuzzParseBackup(f *testing.F) {
	seeds(f, func(s string) { f.Add(s) })
	f.Fuzz(func(t *testing.T, in string) {
		path, err := ParseBackup([]byte(in))
		if err != nil {
			return
		}
		if path == "" || strings.ContainsAny(path, "\n\r") || !strings.Contains(in, path) {
			t.Fatalf("bad path %q", path)
		}
	})
}

func FuzzParseRestore(f *testing.F) {
	seeds(f, func(s string) { f.Add(s) })
	f.Fuzz(func(t *testing.T, in string) {
		r, err := ParseRestore([]byte(in))
		if err != nil {
			return
		}
		if (r.File == "") == (r.Database == "") {
			t.Fatalf("restored neither or both: %+v", r)
		}
	})
}

func FuzzParseVersion(f *testing.F) {
	seeds(f, func(s string) {
		for _, code := range []int{0, 1, 2, 3} {
			f.Add(code, s)
		}
	})
	f.Fuzz(func(t *testing.T, code int, in string) {
		v, err := ParseVersion(code, []byte(in))
		if err != nil {
			return
		}
		if int(v.Status) != code {
			t.Fatalf("status %v from exit %d", v.Status, code)
		}
		if v.Status == NotBootstrapped {
			return
		}
		for _, s := range []string{v.Shared.Version, v.Shared.Required, v.Local.Version, v.Local.Required} {
			if !versionRE.MatchString(s) {
				t.Fatalf("bad version %q", s)
			}
		}
	})
}

// FuzzMajorMinor checks the release parser behind Release: what it
// accepts (X.Y, X.Y.Z and the hotfix X.Y.Z.W) keeps its major and minor
// when written back.
func FuzzMajorMinor(f *testing.F) {
	for _, s := range []string{"7.4.0", "6.10", "6.10.0.1", "6.8.0.1", "7.4.1.2.3", "x.y", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		maj, minor, ok := majorMinor(in)
		if !ok {
			return
		}
		if n := strings.Count(in, "."); n < 1 || n > 3 {
			t.Fatalf("%q accepted with %d dots", in, n)
		}
		m2, n2, ok := majorMinor(fmt.Sprintf("%d.%d.0.1", maj, minor))
		if !ok || m2 != maj || n2 != minor {
			t.Fatalf("%q → %d.%d, round trip %d.%d %v", in, maj, minor, m2, n2, ok)
		}
	})
}

func FuzzParseUpgrade(f *testing.F) {
	seeds(f, func(s string) { f.Add(s) })
	f.Fuzz(func(t *testing.T, in string) {
		r, err := ParseUpgrade([]byte(in))
		if err != nil {
			return
		}
		if r.AlreadyCurrent {
			return
		}
		if r.Shared == nil && r.Local == nil {
			t.Fatal("no migration in a successful upgrade")
		}
		for _, m := range []*Migration{r.Shared, r.Local} {
			if m != nil && (!versionRE.MatchString(m.From) || !versionRE.MatchString(m.To)) {
				t.Fatalf("bad migration %+v", m)
			}
		}
		if r.Total < 0 {
			t.Fatalf("negative total %v", r.Total)
		}
	})
}

func FuzzParseFsck(f *testing.F) {
	seeds(f, func(s string) { f.Add(s) })
	f.Fuzz(func(t *testing.T, in string) {
		r, err := ParseFsck([]byte(in))
		if err != nil {
			return
		}
		if r.Found < 0 || r.Repaired < 0 || r.Unrepaired < 0 || r.LogFile == "" ||
			len(r.UnrepairedProblems) > len(r.Problems) {
			t.Fatalf("inconsistent result %+v", r)
		}
	})
}

func FuzzParseHistory(f *testing.F) {
	f.Add(historyOut)
	seeds(f, func(s string) { f.Add(s) })
	f.Fuzz(func(t *testing.T, in string) {
		es, err := ParseHistory([]byte(in))
		if err != nil {
			return
		}
		if len(es) == 0 {
			t.Fatal("no entries without an error")
		}
		for _, e := range es {
			if !versionRE.MatchString(e.Version) || !timestampOK(e.Timestamp) {
				t.Fatalf("bad entry %+v", e)
			}
		}
	})
}

// The password onedb echoes in "Unknown error running '…'" never
// survives scrub, whatever it contains (short of a newline), even when we
// do not know it.
func FuzzScrub(f *testing.F) {
	f.Add("secret")
	f.Add("a' -h b")
	f.Add("p@ss'word")
	f.Fuzz(func(t *testing.T, pw string) {
		if len(pw) < 4 || strings.ContainsAny(pw, "\n\r") {
			return
		}
		before := "mysqldump: Got error: 1045: Access denied\nUnknown error running 'mysqldump -u oneadmin -p'"
		after := "' -h localhost -P 0 --add-drop-database --databases --add-drop-table opennebula  > /var/lib/one/x.sql'\n"
		if strings.Contains(before+"[REDACTED]"+after, pw) {
			return // the password is ordinary text of the message
		}
		got := scrub(transport.Command{Path: "onedb"}, []byte(before+pw+after))
		if strings.Contains(got, pw) {
			t.Fatalf("password %q survived: %q", pw, got)
		}
	})
}
