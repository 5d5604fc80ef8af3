package onedconf

import (
	"bytes"
	"os"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, name := range []string{"testdata/oned.conf", "testdata/oned-conf-federation-snippets.txt"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, "2")
	}
	f.Add([]byte("V = [ A = \"b\", C = d ]\n"), "x y")
	f.Add([]byte("A =\nB = [\n  C = 1 # c\n]"), `q\"q`)
	f.Add([]byte("A = \"unterminated"), "")
	f.Fuzz(func(t *testing.T, data []byte, v string) {
		file, err := Parse(data)
		if err != nil {
			return
		}
		if !bytes.Equal(file.Bytes(), data) {
			t.Fatalf("round trip changed the bytes")
		}
		paths := file.Paths()
		again, err := Parse(file.Bytes())
		if err != nil {
			t.Fatalf("reparse: %v", err)
		}
		if len(again.Paths()) != len(paths) {
			t.Fatalf("reparse has %d paths, want %d", len(again.Paths()), len(paths))
		}
		before := map[string]string{}
		for _, p := range paths {
			s, err := file.Get(p)
			if err != nil {
				t.Fatalf("Get(%q) of a listed path: %v", p, err)
			}
			before[p] = s
		}
		if checkValue(v) != nil {
			if file.Set("NEW", v) == nil {
				t.Fatalf("Set accepted bad value %q", v)
			}
			return
		}
		// Try a few existing paths plus new ones.
		try := []string{"FUZZ_NEW", "FUZZ_NEW_VEC/X"}
		if len(paths) > 0 {
			try = append(try, paths[0], paths[len(paths)-1], paths[len(paths)/2])
			if first, _, ok := bytes.Cut([]byte(paths[0]), []byte("/")); ok {
				try = append(try, string(first)+"/FUZZ_ADDED")
			}
		}
		for _, p := range try {
			g, err := Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			if err := g.Set(p, v); err != nil {
				if _, exists := before[p]; exists {
					t.Fatalf("Set(%q, %q) on an existing path: %v", p, v, err)
				}
				continue // e.g. the name is repeated, or is a vector
			}
			got, err := g.Get(p)
			if err != nil || got != v {
				t.Fatalf("Set(%q, %q) then Get = %q, %v", p, v, got, err)
			}
			h, err := Parse(g.Bytes())
			if err != nil {
				t.Fatalf("file after Set does not parse: %v", err)
			}
			for q, old := range before {
				if q == p {
					continue
				}
				now, err := h.Get(q)
				if err != nil || now != old {
					t.Fatalf("Set(%q) changed %q: %q -> %q (%v)", p, q, old, now, err)
				}
			}
		}
	})
}
