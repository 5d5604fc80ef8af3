package sim

import (
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"
)

func commandTable() map[string]handler {
	return map[string]handler{
		"onezone": cmdOnezone, "onehost": cmdOnehost, "onevm": cmdOnevm, "onedb": cmdOnedb,
		"oned": cmdOned, "onecfg": cmdOnecfg, "systemctl": cmdSystemctl,
		"apt-get": cmdApt, "apt": cmdApt, "dpkg-query": cmdDpkgQuery, "rpm": cmdRpm,
		"dnf": cmdDnf, "yum": cmdDnf, "zypper": cmdZypper,
		"true": func(*proc) int { return 0 }, "false": func(*proc) int { return 1 },
		"cat": cmdCat, "tee": cmdTee, "cp": cmdCp, "mv": cmdMv, "rm": cmdRm, "mkdir": cmdMkdir,
		"chmod": cmdChmod, "chown": cmdChown, "mktemp": cmdMktemp, "sha256sum": cmdSha256sum,
		"openssl": cmdOpenssl, "find": cmdFind, "tar": cmdTar, "ls": cmdLs, "test": cmdTest, "[": cmdTest,
		"dirname": cmdDirname, "basename": cmdBasename, "wc": cmdWc, "date": cmdDate, "hostname": cmdHostname,
		"id": cmdID, "sleep": cmdSleep, "whoami": cmdWhoami, "stat": cmdStat,
		"echo": cmdEcho, "printf": cmdPrintf, "sed": cmdSed, "grep": cmdGrep, "ln": cmdLn, "touch": cmdTouch,
		"sync": func(*proc) int { return 0 }, "curl": cmdFetch, "wget": cmdFetch, "df": cmdDf,
		"pwd": func(p *proc) int { p.outf("%s\n", p.dir); return 0 },
	}
}

// ---- oned, onecfg ----

func cmdOned(p *proc) int {
	args := p.argv[1:]
	if len(args) == 1 && (args[0] == "--version" || args[0] == "-v") {
		v := p.n.version()
		p.outf("OpenNebula %s (%s)\nCopyright 2002-2026, OpenNebula Project, OpenNebula Systems \n\nLicensed under the Apache License, Version 2.0 (the \"License\"); you may not\nuse this file except in compliance with the License. You may obtain a copy\nof the License at http://www.apache.org/licenses/LICENSE-2.0\n", v, gitID(v))
		return 0
	}
	if len(args) == 1 && (args[0] == "-h" || args[0] == "--help") {
		p.outf("Usage: oned [-h] [-v] [-f] [-i]\n")
		return 0
	}
	p.errf("oned: unrecognized option '%s'\nUsage: oned [-h] [-v] [-f] [-i]\n", strings.Join(args, " "))
	return 1
}

var reOnecfgVersion = regexp.MustCompile(`(?m)^:version:\s*['"]?([0-9.]+)`)

func (n *node) configVersion() string {
	b, err := n.FS.ReadFile("/etc/onecfg.conf")
	if err != nil {
		return ""
	}
	m := reOnecfgVersion.FindSubmatch(b)
	if m == nil {
		return ""
	}
	return string(m[1])
}

func (n *node) setConfigVersion(v string, now time.Time) {
	_ = n.FS.WriteFile("/etc/onecfg.conf", []byte("---\n:version: "+v+"\n:backup: \n"), 0o644, "root", "root", now)
}

func cmdOnecfg(p *proc) int {
	if a := p.argv[1:]; len(a) > 0 && a[0] != "patch" && !strings.HasPrefix(a[0], "-") && cmpVersion(p.n.version(), "7.0.0") < 0 {
		// Community Edition before 7.0: src/onecfg/bin/onecfg defines only
		// `patch` and loads the other commands from the Enterprise
		// Edition library (`require 'ee'`, LoadError ignored), which the
		// CE install.sh does not install (src/onecfg/lib/ee.rb appears at
		// release-7.0.0).
		return p.unknownCommand("`onecfg` <command> [<args>] [<options>]", []string{"patch"})
	}
	o, err := parseOpts(p.argv[1:], []opt{{"force", "f", false}, {"verbose", "v", false}, {"debug", "d", false},
		{"help", "h", false}, {"version", "V", false}, {"to", "", true}, {"from", "", true}, {"prefix", "", true},
		{"no-operation", "", false}, {"unprivileged", "", false}})
	if err != nil {
		p.errf("ERROR: %s\n", err)
		return 255
	}
	if len(o.args) == 0 {
		p.errf("Usage: onecfg COMMAND [args..] [options..]\n")
		return 255
	}
	if p.user != "root" && !o.has("unprivileged") {
		p.errf("FATAL : Insufficient permissions, run as root\n")
		return 255
	}
	inst := p.n.version()
	cfg := p.n.configVersion()
	switch o.args[0] {
	case "status":
		p.outf("--- Versions ------------------------------\nOpenNebula:  %-9s\n", inst)
		if cfg == "" {
			p.outf("Config:      %-9s\n\n", "unknown")
			p.errf("ERROR: Unknown config version\n")
			return 255
		}
		p.outf("Config:      %-9s\n\n--- Available Configuration Updates -------\n", cfg)
		if cmpVersion(cfg, inst) >= 0 {
			p.outf("No updates available.\n")
			return 0
		}
		p.outf("New config:  %-9s\n- from %s to %s (YAML,Ruby)\n", inst, cfg, inst)
		return 1
	case "upgrade":
		if cfg == "" {
			p.outf("FATAL : FAILED - Configuration can't be processed as it looks outdated!\n")
			return 255
		}
		p.spend(4 * time.Second)
		if cmpVersion(cfg, inst) >= 0 {
			p.outf("ANY   : No updates available.\n")
			return 0
		}
		now := p.now()
		dir := fmt.Sprintf("/var/lib/one/backups/config/%s_%d", now.Format("2006-01-02_15:04:05"), 30000+p.c.st.Seq)
		p.c.st.Seq++
		_ = p.n.FS.MkdirAll(dir, "root", "root", now)
		p.copyTree("/etc/one", dir+"/etc/one", true)
		p.outf("ANY   : Backup stored in '%s'\nANY   : Configuration updated to %s\n", dir, inst)
		p.n.setConfigVersion(inst, now)
		return 0
	case "init":
		if cfg != "" && !o.has("force") {
			p.outf("FATAL : Configuration already initialized, use --force to reinitialize\n")
			return 255
		}
		v := inst
		if o.get("to") != "" {
			v = o.get("to")
		}
		p.n.setConfigVersion(v, p.now())
		return 0
	case "validate", "diff":
		return 0
	}
	p.errf("Unknown command '%s'\n", o.args[0])
	return 255
}

// ---- systemd ----

var unitDescriptions = map[string]string{
	"opennebula": "OpenNebula Cloud Controller Daemon", "opennebula-hem": "OpenNebula Hook Execution Service",
	"opennebula-flow": "OpenNebula Flow Service", "opennebula-gate": "OpenNebula Gate Service",
	"opennebula-fireedge": "OpenNebula FireEdge Server", "opennebula-guacd": "OpenNebula Guacamole Server",
	"opennebula-form": "OpenNebula Form Service", "opennebula-ks": "OpenNebula Kubernetes Service",
	"opennebula-ssh-agent": "OpenNebula SSH agent", "opennebula-ssh-socks-cleaner": "OpenNebula SSH persistent connection cleaner",
	"opennebula-showback": "OpenNebula's periodic showback calculation", "mariadb": "MariaDB 10.11.13 database server",
	"libvirtd": "libvirt legacy monolithic daemon", "opennebula-scheduler": "OpenNebula Cloud Scheduler Daemon",
	"opennebula-sunstone": "OpenNebula Web UI Server", "opennebula-novnc": "OpenNebula noVNC Server",
}

// unitWants lists what starting a unit starts too (Wants=).
var unitWants = map[string][]string{
	"opennebula":          {"opennebula-hem", "opennebula-ssh-agent", "opennebula-ssh-socks-cleaner.timer", "opennebula-showback.timer"},
	"opennebula-fireedge": {"opennebula-guacd"},
}

// authAsserts: AssertFileNotEmpty of units.
var authAsserts = map[string]string{
	"opennebula-flow": "oneflow_auth", "opennebula-gate": "onegate_auth",
	"opennebula-form": "oneform_auth", "opennebula-ks": "oneks_auth",
}

func unitName(a string) (name, full string) {
	name = strings.TrimSuffix(a, ".service")
	if strings.HasSuffix(a, ".timer") || strings.HasSuffix(a, ".socket") {
		return a, a
	}
	return name, name + ".service"
}

func (p *proc) setUnit(name string, active, failed bool) {
	u := p.n.Units[name]
	if u == nil {
		u = &unit{}
		p.n.Units[name] = u
	}
	if u.Active == active && u.Failed == failed {
		return
	}
	now := p.now()
	u.Active, u.Failed, u.Since = active, failed, now
	kind := EventUnitStop
	switch {
	case active:
		kind = EventUnitStart
	case failed:
		kind = EventUnitFail
	}
	p.c.event(now, p.n.Name, kind, name)
}

func (p *proc) startUnit(name string) (ok bool, msg string) {
	u := p.n.Units[name]
	if u == nil {
		_, full := unitName(name)
		return false, fmt.Sprintf("Failed to start %s: Unit %s not found.", full, full)
	}
	if u.Active {
		return true, ""
	}
	if f, ok := authAsserts[name]; ok {
		if b, err := p.n.FS.ReadFile("/var/lib/one/.one/" + f); err != nil || len(b) == 0 {
			p.setUnit(name, false, true)
			return false, fmt.Sprintf("Assertion failed on job for %s.service.", name)
		}
	}
	if name == "opennebula" {
		p.spend(3 * time.Second)
		if !p.c.startOned(p.n) {
			// Type=simple: the start job succeeds, then oned exits.
			p.setUnit(name, true, false)
			p.spend(1 * time.Second)
			p.setUnit(name, false, true)
			p.c.tick(p.now())
			return true, ""
		}
		p.setUnit(name, true, false)
		p.c.tick(p.now())
	} else {
		p.spend(1 * time.Second)
		p.setUnit(name, true, false)
	}
	for _, w := range unitWants[name] {
		if p.n.Units[w] != nil {
			_, _ = p.startUnit(w)
		}
	}
	return true, ""
}

func (p *proc) stopUnit(name string) (bool, string) {
	u := p.n.Units[name]
	if u == nil {
		_, full := unitName(name)
		return false, fmt.Sprintf("Failed to stop %s: Unit %s not loaded.", full, full)
	}
	if !u.Active {
		u.Failed = false
		return true, ""
	}
	if name == "opennebula" {
		p.spend(4 * time.Second)
		p.setUnit(name, false, false)
		p.c.stopOned(p.n)
		p.c.tick(p.now())
		return true, ""
	}
	p.spend(1 * time.Second)
	p.setUnit(name, false, false)
	if name == "mariadb" && p.n.onedUp() {
		// oned stops after ERRORS_LIMIT consecutive DB errors
		p.setUnit("opennebula", false, true)
		p.c.stopOned(p.n)
	}
	return true, ""
}

func unitState(u *unit) (active, sub string) {
	switch {
	case u == nil:
		return "inactive", "dead"
	case u.Active && u.Timer:
		return "active", "waiting"
	case u.Active:
		return "active", "running"
	case u.Failed:
		return "failed", "failed"
	}
	return "inactive", "dead"
}

func cmdSystemctl(p *proc) int {
	var args []string
	flags := map[string]string{}
	for i := 1; i < len(p.argv); i++ {
		a := p.argv[i]
		if strings.HasPrefix(a, "-") {
			k, v, has := strings.Cut(a, "=")
			if !has && (k == "--type" || k == "-t" || k == "--state" || k == "-p" || k == "--property") && i+1 < len(p.argv) {
				i++
				v = p.argv[i]
			}
			if k == "-t" {
				k = "--type"
			}
			if prev, ok := flags[k]; ok && (k == "--type" || k == "--state") && prev != "" {
				v = prev + "," + v // repeated list options combine, as in systemctl
			}
			flags[k] = v
			continue
		}
		args = append(args, a)
	}
	if len(args) == 0 {
		args = []string{"list-units"}
	}
	verb, units := args[0], args[1:]
	mutating := map[string]bool{"start": true, "stop": true, "restart": true, "try-restart": true, "reload": true, "daemon-reload": true, "enable": true, "disable": true, "reset-failed": true}
	if mutating[verb] && p.user != "root" {
		p.errf("Failed to %s %s: Interactive authentication required.\n", verb, strings.Join(units, " "))
		return 1
	}
	if mutating[verb] && verb != "daemon-reload" && verb != "reset-failed" && len(units) == 0 {
		p.errf("Too few arguments.\n")
		return 1
	}
	code := 0
	switch verb {
	case "daemon-reload":
		p.spend(500 * time.Millisecond)
		p.n.UnitsChanged = false
	case "start":
		if p.n.UnitsChanged {
			p.errf("Warning: The unit file, source configuration file or drop-ins of %s changed on disk. Run 'systemctl daemon-reload' to reload units.\n", unitNames(units)[0])
		}
		for _, msg := range p.unitJobs(unitNames(units), false) {
			p.errf("%s\n", msg)
			if strings.HasPrefix(msg, "Assertion") {
				code = 1
			} else if code == 0 {
				code = 5
			}
		}
	case "restart", "try-restart", "reload":
		if p.n.UnitsChanged {
			p.errf("Warning: The unit file, source configuration file or drop-ins of %s changed on disk. Run 'systemctl daemon-reload' to reload units.\n", unitNames(units)[0])
		}
		for _, u := range unitNames(units) {
			if verb == "try-restart" && (p.n.Units[u] == nil || !p.n.Units[u].Active) {
				continue
			}
			if verb == "restart" || verb == "try-restart" {
				if _, msg := p.stopUnit(u); msg != "" {
					p.errf("%s\n", strings.Replace(msg, "stop", "restart", 1))
					code = 5
					continue
				}
			}
			if ok, msg := p.startUnit(u); !ok {
				p.errf("%s\n", msg)
				if strings.HasPrefix(msg, "Assertion") {
					code = 1
				} else {
					code = 5
				}
			}
		}
	case "stop":
		for _, msg := range p.unitJobs(unitNames(units), true) {
			p.errf("%s\n", msg)
			code = 5
		}
	case "reset-failed":
		for _, u := range p.n.Units {
			u.Failed = false
		}
	case "enable", "disable":
	case "is-active", "is-failed":
		code = 3
		if verb == "is-failed" {
			code = 1
		}
		all := true
		for _, u := range unitNames(units) {
			st, _ := unitState(p.n.Units[u])
			if _, q := flags["--quiet"]; !q {
				if _, q := flags["-q"]; !q {
					p.outf("%s\n", st)
				}
			}
			if verb == "is-active" && st != "active" || verb == "is-failed" && st != "failed" {
				all = false
			}
		}
		if all && len(units) > 0 {
			code = 0
		}
	case "status":
		code = 0
		for _, u := range unitNames(units) {
			st, sub := unitState(p.n.Units[u])
			if p.n.Units[u] == nil {
				p.errf("Unit %s.service could not be found.\n", u)
				code = 4
				continue
			}
			p.outf("● %s.service - %s\n     Loaded: loaded\n     Active: %s (%s)\n", u, unitDescriptions[strings.TrimSuffix(strings.TrimSuffix(u, ".timer"), ".service")], st, sub)
			if st != "active" && code == 0 {
				code = 3
			}
		}
	case "show":
		for _, u := range unitNames(units) {
			st, sub := unitState(p.n.Units[u])
			props := map[string]string{"ActiveState": st, "SubState": sub, "LoadState": "loaded", "Id": u + ".service"}
			if p.n.Units[u] == nil {
				props["LoadState"] = "not-found"
			}
			want := flags["-p"] + flags["--property"]
			_, valueOnly := flags["--value"]
			for _, k := range slices.Sorted(maps.Keys(props)) {
				if want != "" && !slices.Contains(strings.Split(want, ","), k) {
					continue
				}
				if valueOnly {
					p.outf("%s\n", props[k])
				} else {
					p.outf("%s=%s\n", k, props[k])
				}
			}
		}
	case "list-units", "list-unit-files":
		state := flags["--state"]
		// --type takes a comma-separated list of unit types (systemctl(1)).
		var types []string
		for _, t := range strings.Split(flags["--type"], ",") {
			if t = strings.TrimSpace(t); t != "" {
				types = append(types, t)
			}
		}
		_, noLegend := flags["--no-legend"]
		_, all := flags["--all"]
		var lines []string
		for _, name := range slices.Sorted(maps.Keys(p.n.Units)) {
			u := p.n.Units[name]
			full := name
			if !strings.Contains(name, ".") {
				full = name + ".service"
			}
			if len(types) > 0 && !slices.ContainsFunc(types, func(t string) bool { return strings.HasSuffix(full, "."+t) }) {
				continue
			}
			if len(units) > 0 && !matchAny(units, full) {
				continue
			}
			st, sub := unitState(u)
			if state != "" && !slices.Contains(strings.Split(state, ","), st) && !slices.Contains(strings.Split(state, ","), sub) {
				continue
			}
			if state == "" && !all && st == "inactive" {
				continue
			}
			desc := unitDescriptions[strings.TrimSuffix(strings.TrimSuffix(name, ".timer"), ".service")]
			if verb == "list-unit-files" {
				lines = append(lines, fmt.Sprintf("%-40s enabled enabled", full))
				continue
			}
			lines = append(lines, fmt.Sprintf("%s loaded %s %s %s", full, st, sub, desc))
		}
		if !noLegend && verb == "list-units" {
			p.outf("  UNIT LOAD ACTIVE SUB DESCRIPTION\n")
		}
		for _, l := range lines {
			if noLegend {
				p.outf("%s\n", l)
			} else {
				p.outf("  %s\n", l)
			}
		}
		if !noLegend && verb == "list-units" {
			p.outf("\nLOAD   = Reflects whether the unit definition was properly loaded.\nACTIVE = The high-level unit activation state, i.e. generalization of SUB.\nSUB    = The low-level unit activation state, values depend on unit type.\n\n%d loaded units listed.\n", len(lines))
		}
	default:
		p.errf("Unknown command verb '%s'.\n", verb)
		return 1
	}
	return code
}

func unitNames(args []string) []string {
	out := make([]string, 0, len(args))
	for _, a := range args {
		n, _ := unitName(a)
		out = append(out, n)
	}
	return out
}

func matchAny(patterns []string, name string) bool {
	for _, pat := range patterns {
		if ok, _ := path.Match(pat, name); ok {
			return true
		}
		if ok, _ := path.Match(pat, strings.TrimSuffix(name, ".service")); ok {
			return true
		}
	}
	return false
}

// cmdFetch answers curl -o FILE URL and wget -O FILE URL with a stand-in
// signing key (the simulated repositories accept it).
func cmdFetch(p *proc) int {
	out := ""
	for i := 1; i < len(p.argv); i++ {
		if (p.argv[i] == "-o" || p.argv[i] == "-O") && i+1 < len(p.argv) {
			out = p.argv[i+1]
		}
	}
	data := []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\nsimulated OpenNebula repository key\n-----END PGP PUBLIC KEY BLOCK-----\n")
	if out == "" || out == "-" {
		_, _ = p.stdout.Write(data)
		return 0
	}
	if !writable(p.n, p.abs(out), p.user) || p.n.FS.WriteFile(p.abs(out), data, 0o644, p.user, p.user, p.now()) != nil {
		p.errf("%s: (23) Failed writing body\n", path.Base(p.argv[0]))
		return 23
	}
	return 0
}

// cmdDf answers df -Pk PATH... with the node's free space (SetDiskFree).
func cmdDf(p *proc) int {
	_, ops := splitFlags(p.argv[1:])
	if len(ops) == 0 {
		ops = []string{"/"}
	}
	free := p.n.DiskFreeKB
	if free == 0 {
		free = 66193852
	}
	const size = 102687672
	used := max(size-free, 0)
	p.outf("Filesystem     1024-blocks     Used Available Capacity Mounted on\n")
	for _, o := range ops {
		if !p.n.FS.Exists(p.abs(o)) {
			p.errf("df: %s: No such file or directory\n", o)
			return 1
		}
		p.outf("/dev/sda1      %11d %8d %9d %7d%% /\n", size, used, free, (used*100+size-1)/size)
	}
	return 0
}
