package sim

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

var hostOpts = append(slices.Clone(commonOpts), opt{"force", "", false}, opt{"ssh", "", false}, opt{"cluster", "c", true},
	opt{"rsync", "", false}, opt{"im", "i", true}, opt{"vm", "", true})

func cmdOnehost(p *proc) int {
	o, err := parseOpts(p.argv[1:], hostOpts)
	if err != nil {
		p.errf("%s\n", err)
		return 255
	}
	if o.has("version") {
		return p.cliVersion()
	}
	if len(o.args) == 0 {
		p.errf("Usage: onehost COMMAND [args..] [options..]\n")
		return 255
	}
	sub, args := o.args[0], o.args[1:]
	switch sub {
	case "list", "disable", "enable", "offline", "sync":
	default:
		p.errf("Unknown command '%s'\n", sub)
		return 255
	}
	if sub == "sync" && p.user == "root" {
		p.errf("Cannot run 'onehost sync' as root\n")
		return 255
	}
	n := p.connect(o)
	if n == nil {
		return 255
	}
	c := p.c
	switch sub {
	case "list":
		if !o.has("xml") {
			p.outf("%s", hostTable(n.DB.hosts()))
			return 0
		}
		p.outf("%s", hostPoolXML(n.DB.hosts()))
		return 0
	case "disable", "enable", "offline":
		if len(args) == 0 {
			p.errf("missing argument: range\n")
			return 255
		}
		for _, a := range splitList(args) {
			h, ok := findHost(n.DB.hosts(), a)
			if !ok {
				p.errf("HOST named %s not found.\n", a)
				return 255
			}
			err := c.write(p, n, "one.host.status", false, func(db *database) error {
				hh, _ := findHost(db.hosts(), strconv.Itoa(h.ID))
				prev := hh.State
				switch sub {
				case "disable":
					hh.State = HostDisabled
				case "offline":
					hh.State, hh.Capacity = HostOffline, false
				case "enable":
					if hh.State == HostDisabled && hh.Capacity {
						hh.State = HostMonitored
					} else if hh.State != HostMonitored {
						hh.State = HostInit
						hh.MonitorAt = p.now().Add(30 * time.Second)
					}
				}
				if prev != hh.State {
					hh.PrevState = prev
				}
				db.putHost(hh)
				return nil
			})
			if err != nil {
				return p.apiFail(err)
			}
			if o.has("verbose") {
				p.outf("HOST %d: %sd\n", h.ID, strings.TrimSuffix(sub, "e"))
			}
		}
		return 0
	case "sync":
		return p.hostSync(n, o, args)
	}
	return 255
}

func splitList(args []string) []string {
	var out []string
	for _, a := range args {
		for _, x := range strings.Split(a, ",") {
			if x != "" {
				out = append(out, x)
			}
		}
	}
	return out
}

func findHost(hs []Host, a string) (Host, bool) {
	for _, h := range hs {
		if strconv.Itoa(h.ID) == a || h.Name == a {
			return h, true
		}
	}
	return Host{}, false
}

func (p *proc) hostSync(n *node, o parsed, args []string) int {
	ver, err := p.n.FS.ReadFile("/var/lib/one/remotes/VERSION")
	if err != nil {
		p.errf("'onehost sync' is only available on the frontend.\n")
		return 255
	}
	rv := strings.TrimSpace(string(ver))
	want := splitList(args)
	var todo []Host
	for _, h := range n.DB.hosts() {
		if h.State == HostOffline {
			continue
		}
		if len(want) > 0 && !slices.Contains(want, h.Name) && !slices.Contains(want, strconv.Itoa(h.ID)) {
			continue
		}
		if o.has("cluster") && o.get("cluster") != "0" && o.get("cluster") != "default" {
			continue
		}
		if !o.has("force") && h.Version != "" && cmpVersion(h.Version, rv) >= 0 {
			continue
		}
		todo = append(todo, h)
	}
	if len(todo) == 0 {
		p.outf("No hosts are going to be updated.\n")
		return 0
	}
	for _, h := range todo {
		p.outf("* Adding %s to upgrade\n", h.Name)
	}
	var failed []string
	for i, h := range todo {
		hn := p.c.st.Nodes[h.Name]
		p.spend(4 * time.Second)
		if hn == nil || !hn.Hypervisor || hn.Unreachable {
			p.spend(10 * time.Second)
			failed = append(failed, h.Name)
		} else {
			now := p.now()
			_ = hn.FS.MkdirAll("/var/tmp/one", "oneadmin", "oneadmin", now)
			_ = hn.FS.WriteFile("/var/tmp/one/VERSION", []byte(rv+"\n"), 0o644, "oneadmin", "oneadmin", now)
			_ = p.c.write(p, n, "one.host.update", false, func(db *database) error {
				hh, _ := findHost(db.hosts(), strconv.Itoa(h.ID))
				hh.Version = rv
				db.putHost(hh)
				return nil
			})
		}
		filled := 40 * (i + 1) / len(todo)
		p.outf("[%s%s] %d/%d %-33s\r", strings.Repeat("=", filled), strings.Repeat("-", 40-filled), i+1, len(todo), h.Name)
	}
	p.outf("\n")
	if len(failed) > 0 {
		p.errf("Failed to update the following hosts:\n")
		for _, f := range failed {
			p.errf("* %s\n", f)
		}
		return 255
	}
	p.outf("All hosts updated successfully.\n")
	return 0
}

func hostTable(hs []Host) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%4s %-15s %-12s %4s %20s %20s %4s\n", "ID", "NAME", "CLUSTER", "TVM", "ALLOCATED_CPU", "ALLOCATED_MEM", "STAT")
	short := map[int]string{HostInit: "init", HostMonitored: "on", HostError: "err", HostDisabled: "dsbl", HostOffline: "off"}
	for _, h := range hs {
		fmt.Fprintf(&b, "%4d %-15s %-12s %4d %20s %20s %4s\n", h.ID, trunc(h.Name, 15), "default", len(h.VMs), "-", "-", short[h.State])
	}
	return b.String()
}

func hostPoolXML(hs []Host) string {
	var w xw
	w.open("HOST_POOL")
	for _, h := range hs {
		hostXML(&w, h)
	}
	w.close("HOST_POOL")
	return w.String()
}

func hostXML(w *xw, h Host) {
	w.open("HOST")
	w.leaf("ID", strconv.Itoa(h.ID))
	w.leaf("NAME", h.Name)
	w.leaf("STATE", strconv.Itoa(h.State))
	w.leaf("PREV_STATE", strconv.Itoa(h.PrevState))
	w.cdata("IM_MAD", "kvm")
	w.cdata("VM_MAD", "kvm")
	w.leaf("CLUSTER_ID", "0")
	w.leaf("CLUSTER", "default")
	w.open("HOST_SHARE")
	running := len(h.VMs)
	if h.State == HostError {
		running = 0
	}
	mem, cpu, tmem, tcpu := "0", "0", "32761856", "800"
	if running > 0 {
		mem, cpu = strconv.Itoa(2097152*running), strconv.Itoa(100*running)
	}
	if !h.Capacity {
		tmem, tcpu = "0", "0"
	}
	w.leaf("MEM_USAGE", mem)
	w.leaf("CPU_USAGE", cpu)
	w.leaf("TOTAL_MEM", tmem)
	w.leaf("TOTAL_CPU", tcpu)
	w.leaf("MAX_MEM", tmem)
	w.leaf("MAX_CPU", tcpu)
	w.leaf("RUNNING_VMS", strconv.Itoa(running))
	w.leaf("VMS_THREAD", strconv.Itoa(h.Threads))
	w.open("DATASTORES")
	w.cdata("DISK_USAGE", "0")
	if h.Capacity {
		w.open("DS")
		w.cdata("FREE_MB", "402112")
		w.cdata("ID", "0")
		w.cdata("TOTAL_MB", "468658")
		w.cdata("USED_MB", "66546")
		w.close("DS")
		w.cdata("FREE_DISK", "402112")
		w.cdata("MAX_DISK", "468658")
		w.cdata("USED_DISK", "66546")
	} else {
		w.cdata("FREE_DISK", "0")
		w.cdata("MAX_DISK", "0")
		w.cdata("USED_DISK", "0")
	}
	w.close("DATASTORES")
	w.empty("PCI_DEVICES")
	w.empty("NUMA_NODES")
	w.close("HOST_SHARE")
	if len(h.VMs) == 0 {
		w.empty("VMS")
	} else {
		w.open("VMS")
		for _, id := range h.VMs {
			w.leaf("ID", strconv.Itoa(id))
		}
		w.close("VMS")
	}
	w.open("TEMPLATE")
	w.cdata("ARCH", "x86_64")
	if h.Capacity {
		w.cdata("CPUSPEED", "2400")
	}
	if h.Error != "" {
		w.cdata("ERROR", h.Error)
	}
	w.cdata("HOSTNAME", h.Name)
	w.cdata("HYPERVISOR", "kvm")
	w.cdata("IM_MAD", "kvm")
	if h.Capacity {
		w.cdata("KVM_CPU_MODEL", "host-passthrough")
		w.cdata("MODELNAME", "Intel(R) Xeon(R) Silver 4214R CPU @ 2.40GHz")
	}
	w.cdata("RESERVED_CPU", "")
	w.cdata("RESERVED_MEM", "")
	w.cdata("VERSION", h.Version)
	w.cdata("VM_MAD", "kvm")
	w.close("TEMPLATE")
	if !h.Capacity {
		w.empty("MONITORING")
	} else {
		w.open("MONITORING")
		w.leaf("TIMESTAMP", "1763720500")
		w.leaf("ID", strconv.Itoa(h.ID))
		w.open("CAPACITY")
		w.cdata("FREE_CPU", "742")
		w.cdata("FREE_MEMORY", "21004288")
		w.cdata("USED_CPU", "58")
		w.cdata("USED_MEMORY", "11757568")
		w.close("CAPACITY")
		w.open("SYSTEM")
		w.cdata("NETRX", "88123456789")
		w.cdata("NETTX", "77123456789")
		w.close("SYSTEM")
		w.close("MONITORING")
	}
	w.close("HOST")
}

func cmdOnevm(p *proc) int {
	o, err := parseOpts(p.argv[1:], commonOpts)
	if err != nil {
		p.errf("%s\n", err)
		return 255
	}
	if o.has("version") {
		return p.cliVersion()
	}
	if len(o.args) == 0 || o.args[0] != "list" {
		if len(o.args) == 0 {
			p.errf("Usage: onevm COMMAND [args..] [options..]\n")
		} else {
			p.errf("Unknown command '%s'\n", o.args[0])
		}
		return 255
	}
	n := p.connect(o)
	if n == nil {
		return 255
	}
	vms := n.DB.vms()
	vms = slices.DeleteFunc(vms, func(v VM) bool { return v.State == 6 })
	if !o.has("xml") {
		fmt.Fprintf(p.stdout, "%4s %-8s %-8s %-16s %4s\n", "ID", "USER", "GROUP", "NAME", "STAT")
		for _, v := range vms {
			fmt.Fprintf(p.stdout, "%4d %-8s %-8s %-16s %4s\n", v.ID, v.UName, v.UName, trunc(v.Name, 16), strconv.Itoa(v.State)+"/"+strconv.Itoa(v.LCMState))
		}
		return 0
	}
	var w xw
	if len(vms) == 0 {
		w.empty("VM_POOL")
	} else {
		w.open("VM_POOL")
		for _, v := range vms {
			vmXML(&w, v)
		}
		w.close("VM_POOL")
	}
	p.outf("%s", w.String())
	return 0
}

func vmXML(w *xw, v VM) {
	or := func(s, def string) string {
		if s == "" {
			return def
		}
		return s
	}
	num := func(n int64, def int64) string {
		if n == 0 {
			n = def
		}
		return strconv.FormatInt(n, 10)
	}
	w.open("VM")
	w.leaf("ID", strconv.Itoa(v.ID))
	w.leaf("UID", strconv.Itoa(v.UID))
	w.leaf("GID", strconv.Itoa(v.GID))
	w.leaf("UNAME", v.UName)
	w.leaf("GNAME", or(v.GName, v.UName))
	w.leaf("NAME", v.Name)
	lastPoll := int64(1763720512)
	if v.State != 3 {
		lastPoll = 0
	}
	if v.LastPoll != nil {
		lastPoll = *v.LastPoll
	}
	w.leaf("LAST_POLL", strconv.FormatInt(lastPoll, 10))
	w.leaf("STATE", strconv.Itoa(v.State))
	w.leaf("LCM_STATE", strconv.Itoa(v.LCMState))
	w.leaf("RESCHED", "0")
	w.leaf("STIME", num(v.STime, 1763640011))
	w.leaf("ETIME", "0")
	deploy := fmt.Sprintf("one-%d", v.ID)
	if v.DeployID != nil {
		deploy = *v.DeployID
	}
	w.leaf("DEPLOY_ID", deploy)
	if v.Locked != 0 {
		w.open("LOCK")
		w.leaf("LOCKED", strconv.Itoa(v.Locked))
		w.close("LOCK")
	}
	w.open("TEMPLATE")
	w.leaf("CPU", or(v.CPU, "1"))
	w.leaf("MEMORY", or(v.Memory, "2048"))
	vcpu := "2"
	if v.VCPU != nil {
		vcpu = *v.VCPU
	}
	w.leaf("VCPU", vcpu)
	for _, d := range v.Disks {
		w.open("DISK")
		w.cdata("DISK_ID", strconv.Itoa(d.ID))
		w.cdata("DATASTORE", d.Datastore)
		w.cdata("DATASTORE_ID", strconv.Itoa(d.DatastoreID))
		w.cdata("IMAGE", d.Image)
		w.cdata("IMAGE_ID", strconv.Itoa(d.ImageID))
		w.cdata("SIZE", strconv.Itoa(d.Size))
		w.cdata("TYPE", "FILE")
		w.cdata("CLONE", "YES")
		w.cdata("CLONE_TARGET", "SYSTEM")
		w.cdata("LN_TARGET", "NONE")
		w.cdata("DISK_SNAPSHOT_TOTAL_SIZE", "0")
		w.close("DISK")
	}
	for _, n := range v.NICs {
		w.open("NIC")
		w.cdata("IP", n.IP)
		w.cdata("MAC", n.MAC)
		w.cdata("NETWORK", n.Network)
		w.cdata("NETWORK_ID", strconv.Itoa(n.NetworkID))
		w.cdata("NIC_ID", strconv.Itoa(n.ID))
		w.cdata("SECURITY_GROUPS", "0")
		w.close("NIC")
	}
	if g := v.Graphics; g != nil {
		w.open("GRAPHICS")
		w.cdata("LISTEN", g.Listen)
		w.cdata("PORT", strconv.Itoa(g.Port))
		w.cdata("TYPE", g.Type)
		w.close("GRAPHICS")
	}
	w.close("TEMPLATE")
	mon := v.Monitoring
	if mon == nil && v.State == 3 && v.LCMState == 3 && v.CPU == "" {
		mon = &VMMonitoring{CPU: "2.0", Memory: "1048576", State: "a"}
	}
	if mon == nil {
		w.empty("MONITORING")
	} else {
		w.open("MONITORING")
		w.cdata("CPU", mon.CPU)
		w.cdata("MEMORY", mon.Memory)
		w.cdata("STATE", mon.State)
		w.close("MONITORING")
	}
	if len(v.UserTemplate) == 0 {
		w.empty("USER_TEMPLATE")
	} else {
		w.open("USER_TEMPLATE")
		for _, kv := range v.UserTemplate {
			w.cdata(kv.Key, kv.Value)
		}
		w.close("USER_TEMPLATE")
	}
	if v.HostName == "" {
		w.empty("HISTORY_RECORDS")
	} else {
		w.open("HISTORY_RECORDS")
		w.open("HISTORY")
		w.leaf("OID", strconv.Itoa(v.ID))
		w.leaf("SEQ", strconv.Itoa(v.HistorySeq))
		w.cdata("HOSTNAME", v.HostName)
		w.leaf("HID", strconv.Itoa(v.HostID))
		w.leaf("CID", "0")
		w.leaf("DS_ID", "0")
		w.cdata("VM_MAD", "kvm")
		w.cdata("TM_MAD", "shared")
		w.cdata("ACTION", strconv.Itoa(v.HistoryAction))
		w.close("HISTORY")
		w.close("HISTORY_RECORDS")
	}
	w.close("VM")
}
