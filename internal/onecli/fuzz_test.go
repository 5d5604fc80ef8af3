package onecli

import "testing"

func FuzzDecodeOne(f *testing.F) {
	for _, s := range []string{"", "<R/>", "<R><A>x</A></R>", "<R/><R/>", "<R/>x", "<R>"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var v XMLAny
		if err := DecodeOne(data, &v); err == nil && v.XMLName.Local == "" {
			t.Fatalf("no error and no root element for %q", data)
		}
	})
}
