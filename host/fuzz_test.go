package host

import (
	"testing"
)

func FuzzParseList(f *testing.F) {
	f.Add(readSample(f, "onehost-list.xml"))
	f.Add([]byte("<HOST_POOL><HOST><ID>0</ID><NAME>a</NAME><STATE>7</STATE><VMS><ID>1</ID></VMS></HOST></HOST_POOL>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		hs, err := ParseList(data)
		if err != nil {
			if hs != nil {
				t.Fatalf("hosts with an error: %v", err)
			}
			return
		}
		ids := map[int]bool{}
		for _, h := range hs {
			if ids[h.ID] || h.ID < 0 || !h.State.Valid() || !h.PrevState.Valid() || h.State.Mode() == ModeUnknown {
				t.Fatalf("invalid host %+v", h)
			}
			ids[h.ID] = true
		}
	})
}

func FuzzParseSync(f *testing.F) {
	secs := []string{"* Adding a to upgrade\n[==--] 1/1 a \rAll hosts updated successfully.\n",
		"No hosts are going to be updated.\n", "Failed to update the following hosts:\n* a\n"}
	for _, s := range secs {
		f.Add([]byte(s), []byte(""), 0)
		f.Add([]byte(""), []byte(s), 255)
	}
	f.Fuzz(func(t *testing.T, stdout, stderr []byte, code int) {
		r, err := ParseSync(stdout, stderr, code)
		if code != 0 && err == nil {
			t.Fatal("non-zero exit without an error")
		}
		if err != nil {
			if r.Updated != nil || r.NothingToDo {
				t.Fatal("result with an error")
			}
			return
		}
		if r.NothingToDo == (len(r.Updated) > 0) {
			t.Fatalf("inconsistent result %+v", r)
		}
	})
}
