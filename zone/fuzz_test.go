package zone

import (
	"os"
	"path/filepath"
	"testing"
)

func addSamples(f *testing.F, pattern string) {
	files, err := filepath.Glob(filepath.Join("testdata", pattern))
	if err != nil || len(files) == 0 {
		f.Fatalf("no samples for %s: %v", pattern, err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func FuzzParseShow(f *testing.F) {
	addSamples(f, "onezone-show-*.xml")
	f.Add([]byte(showHead + server("0", raftFields("-", "-", "-", "-", "-", "-")) + showTail))
	f.Fuzz(func(t *testing.T, data []byte) {
		z, err := ParseShow(data)
		if err != nil {
			if z.Servers != nil || z.Name != "" {
				t.Fatalf("error with a non-zero zone: %v", err)
			}
			return
		}
		if z.ID < 0 || (z.State != Enabled && z.State != Disabled) {
			t.Fatalf("invalid zone %+v", z)
		}
		ids := map[int]bool{}
		for _, s := range z.Servers {
			if ids[s.ID] || s.ID < 0 {
				t.Fatalf("bad server ID %d", s.ID)
			}
			ids[s.ID] = true
			if s.Raft == nil {
				if s.State() != RaftUnknown || s.Reachable() {
					t.Fatal("unreachable server with a state")
				}
				continue
			}
			if s.Raft.State < RaftSolo || s.Raft.State > RaftLeader || !s.Raft.FedIndex.Known() || s.Raft.Term < 0 {
				t.Fatalf("invalid raft %+v", *s.Raft)
			}
		}
		_ = z.CheckSync(0)
	})
}

func FuzzParseRaftStatus(f *testing.F) {
	addSamples(f, "raftstatus-*.xml")
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseRaftStatus(data)
		if err != nil {
			if r != (RaftInfo{}) {
				t.Fatalf("error with a non-zero result: %v", err)
			}
			return
		}
		if r.State < RaftSolo || r.State > RaftLeader || !r.FedIndex.Known() || r.ServerID < -1 || r.LogIndex < -1 {
			t.Fatalf("invalid raft %+v", r)
		}
	})
}

func FuzzParseListCSV(f *testing.F) {
	addSamples(f, "onezone-list-federation.*")
	f.Add([]byte("CURRENT,ID,NAME,ENDPOINT,FED_INDEX,STAT\n,0,\"a,b\",e,-,off\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		zs, err := ParseListCSV(data)
		if err != nil {
			if zs != nil {
				t.Fatalf("error with zones: %v", err)
			}
			return
		}
		ids := map[int]bool{}
		for _, z := range zs {
			if ids[z.ID] || z.ID < 0 || (z.State != Enabled && z.State != Disabled) {
				t.Fatalf("invalid zone %+v", z)
			}
			ids[z.ID] = true
			if back, err := ParseFedIndex(z.FedIndex.String()); err != nil || back != z.FedIndex {
				t.Fatalf("fed index %v does not round-trip", z.FedIndex)
			}
		}
		_ = CheckFederation(zs)
	})
}

func FuzzParseFedIndex(f *testing.F) {
	for _, s := range []string{"-", "-1", "0", "715438", "18446744073709551615", "18446744073709551616", " 7 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseFedIndex(s)
		if err != nil {
			return
		}
		back, err := ParseFedIndex(v.String())
		if err != nil || back != v {
			t.Fatalf("%q -> %v does not round-trip", s, v)
		}
	})
}

func FuzzParseListXML(f *testing.F) {
	addSamples(f, "onezone-list-federation.xml")
	addSamples(f, "onezone-show-*.xml") // wrong root: must be an error
	f.Add([]byte("<ZONE_POOL/>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		zs, err := ParseListXML(data)
		if err != nil {
			if zs != nil {
				t.Fatalf("error with zones: %v", err)
			}
			if _, ok := err.(*ParseError); !ok {
				t.Fatalf("untyped error %T: %v", err, err)
			}
			return
		}
		if len(zs) == 0 {
			t.Fatal("no zones and no error")
		}
		zids := map[int]bool{}
		for _, z := range zs {
			if z.ID < 0 || zids[z.ID] || (z.State != Enabled && z.State != Disabled) {
				t.Fatalf("invalid zone %+v", z)
			}
			zids[z.ID] = true
			ids := map[int]bool{}
			for _, s := range z.Servers {
				if ids[s.ID] || s.ID < 0 || s.Raft != nil {
					t.Fatalf("bad stored server %+v", s)
				}
				ids[s.ID] = true
			}
		}
	})
}
