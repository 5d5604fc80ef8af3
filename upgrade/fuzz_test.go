package upgrade_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/upgradekit/upgradekit/upgrade"
)

// FuzzParseJournal: any input gives records or an error matching
// ErrJournalCorrupt, never a panic; the kept prefix re-parses to the same
// records with no note (less the torn record keeping the dropped tail);
// a torn tail is only ever the last line.
func FuzzParseJournal(f *testing.F) {
	f.Add([]byte(`{"v":1,"t":"2026-01-01T00:00:00Z","type":"step","step":"a","state":"in_progress"}` + "\n"))
	f.Add([]byte(`{"v":1,"type":"plan","fp":"ab"}` + "\n" + `{"v":1,"type":"st`))
	f.Add([]byte("{garbage\n" + `{"v":1,"type":"run"}` + "\n"))
	f.Add([]byte(`{"v":2,"type":"run"}` + "\n"))
	f.Add([]byte("\n\n"))
	f.Add([]byte(`{"v":2,"t":"2026-01-01T00:00:00Z","type":"run","state":"started","crc":"6f2d3a41"}` + "\n"))
	f.Add([]byte(`{"v":1,"type":"step","step":"a","st{"v":1,"type":"run"}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, good, note, err := upgrade.ParseJournal(data)
		if err != nil {
			if !errors.Is(err, upgrade.ErrJournalCorrupt) {
				t.Fatalf("error does not match ErrJournalCorrupt: %v", err)
			}
			return
		}
		if good < 0 || good > len(data) {
			t.Fatalf("good prefix %d out of range %d", good, len(data))
		}
		if note == "" && good != len(data) {
			t.Fatalf("no note but only %d of %d bytes kept", good, len(data))
		}
		if note != "" && bytes.Contains(data[good:len(data)-1], []byte("\n")) {
			t.Fatalf("dropped more than the last line: %q", data[good:])
		}
		kept := recs
		if note != "" {
			if len(recs) == 0 || recs[len(recs)-1].Type != upgrade.RecordTorn {
				t.Fatalf("a torn tail is not kept as a torn record")
			}
			kept = recs[:len(recs)-1]
		}
		again, good2, note2, err := upgrade.ParseJournal(data[:good])
		if err != nil || note2 != "" || good2 != good || len(again) != len(kept) {
			t.Fatalf("prefix does not re-parse cleanly: %v %q", err, note2)
		}
		for _, r := range recs {
			if r.V < 1 || r.V > upgrade.JournalVersion {
				t.Fatalf("record with version %d accepted", r.V)
			}
			if _, err := json.Marshal(r); err != nil {
				t.Fatalf("record does not re-encode: %v", err)
			}
		}
	})
}
