package vm

import "testing"

func FuzzParseList(f *testing.F) {
	f.Add(readSample(f, "onevm-list.xml"))
	f.Add([]byte(vmXML([3]int{1, 3, 36}, [3]int{2, 11, 0})))
	f.Fuzz(func(t *testing.T, data []byte) {
		vms, err := ParseList(data)
		if err != nil {
			if vms != nil {
				t.Fatalf("VMs with an error: %v", err)
			}
			return
		}
		ids := map[int]bool{}
		for _, v := range vms {
			if ids[v.ID] || v.ID < 0 || v.State < 0 || v.LCMState < 0 || v.Lock < 0 {
				t.Fatalf("invalid VM %+v", v)
			}
			ids[v.ID] = true
			if (v.HostID == -1) != (v.Hostname == "" && v.HostID == -1) {
				t.Fatalf("inconsistent history %+v", v)
			}
			_ = Classify(v)
		}
	})
}
