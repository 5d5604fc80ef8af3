package system

import (
	"strings"
	"testing"
)

func FuzzParseListUnits(f *testing.F) {
	f.Add([]byte(listUnitsOut))
	f.Add([]byte("● a.service loaded failed failed A\n\n1 loaded units listed.\n"))
	f.Add([]byte("x.timer not-found inactive dead\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		units, err := ParseListUnits(data)
		if err != nil {
			return
		}
		for _, u := range units {
			if u.Name == "" || strings.ContainsAny(u.Name, " \t\n") || !knownState(string(u.Active)) || !loadStates[u.Load] {
				t.Fatalf("bad unit accepted: %+v", u)
			}
		}
	})
}

func FuzzParseIsActive(f *testing.F) {
	f.Add([]byte("active\n"), 1)
	f.Add([]byte("inactive\nfailed\n"), 2)
	f.Add([]byte(""), 0)
	f.Fuzz(func(t *testing.T, data []byte, n int) {
		if n < 0 || n > 1000 {
			return
		}
		states, err := ParseIsActive(data, n)
		if err != nil {
			return
		}
		if len(states) != n {
			t.Fatalf("%d states for %d units", len(states), n)
		}
		for _, s := range states {
			if !knownState(string(s)) {
				t.Fatalf("unknown state %q accepted", s)
			}
		}
	})
}

func FuzzParseOSRelease(f *testing.F) {
	for _, s := range []string{osDebian12, osUbuntu2404, osAlma9, osCentOS7, osSLES15, osArch} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseOSRelease(data)
		if err != nil {
			return
		}
		if r.ID == "" {
			t.Fatal("empty ID")
		}
		_, _ = r.Family()
	})
}

func FuzzParseSHA256Sums(f *testing.F) {
	h := strings.Repeat("ab", 32)
	f.Add([]byte(h+"  /etc/one/oned.conf\n"), false)
	f.Add([]byte("\\"+h+"  /tmp/new\\nline\n"), false)
	f.Add([]byte(h+"  /a b\x00"+h+" */c\x00"), true)
	f.Fuzz(func(t *testing.T, data []byte, nul bool) {
		sep := byte('\n')
		if nul {
			sep = 0
		}
		sums, err := ParseSHA256Sums(data, sep)
		if err != nil {
			return
		}
		for _, s := range sums {
			if len(s.SHA256) != 64 || strings.ToLower(s.SHA256) != s.SHA256 {
				t.Fatalf("bad hash accepted: %q", s.SHA256)
			}
		}
	})
}

func FuzzParseFindManifest(f *testing.F) {
	f.Add([]byte("f 640 0 9869\x00oned.conf\x00\x00l 777 0 0\x00link\x00oned.conf\x00d 750 9869 9869\x00auth\x00\x00"))
	f.Add([]byte("f 644 0 0\x00odd\nname\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseFindManifest(data)
		if err != nil {
			return
		}
		for p, e := range m {
			if p == "" || strings.HasPrefix(p, "/") || e.Mode == "" || (e.Type != 'l' && e.Target != "") {
				t.Fatalf("bad entry accepted: %q %+v", p, e)
			}
		}
		// Comparing a manifest with itself finds nothing.
		if mm := compareManifests(m, m, compareOpts{owner: true}, true); mm != nil {
			t.Fatalf("self comparison: %v", mm)
		}
	})
}

func FuzzParseVersions(f *testing.F) {
	f.Add([]byte("install ok installed\t7.4.0-1\n"))
	f.Add([]byte("deinstall ok config-files\t7.2.0-1\n"))
	f.Add([]byte("7.4.0-1.el9\n"))
	f.Add([]byte("package opennebula is not installed\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if v, err := ParseDpkgQuery(data); err == nil && !validVersion(v) {
			t.Fatalf("dpkg: bad version %q accepted", v)
		}
		if v, err := ParseRPMQuery(data); err == nil && (!validVersion(v) || !strings.Contains(v, "-")) {
			t.Fatalf("rpm: bad version %q accepted", v)
		}
	})
}
