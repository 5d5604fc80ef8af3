package ossim

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/upgradekit/upgradekit/openstack"
)

// handler returns the simulated command called name.
func (c *Cloud) handler(name string) (handlerFunc, bool) {
	if h, ok := coreutils()[name]; ok {
		return h, true
	}
	switch name {
	case "systemctl":
		return cmdSystemctl, true
	case "dpkg-query":
		return cmdDpkgQuery, true
	case "rpm":
		return cmdRpm, true
	case "apt-get", "apt":
		return cmdApt, true
	case "dnf", "yum":
		return cmdDnf, true
	case "mariadb", "mysql":
		return cmdClient, true
	case "mysqldump", "mariadb-dump":
		return cmdDump, true
	}
	if h, ok := toolHandlers()[name]; ok {
		return h, true
	}
	return nil, false
}

func (p *proc) unit(name string) (*unit, string, bool) {
	name = strings.TrimSuffix(name, ".service")
	u, ok := p.n.units[name]
	return u, name, ok
}

func cmdSystemctl(p *proc, args []string) int {
	f := parseFlags(args, "-p", "--signal", "-s", "--property")
	if len(f.ops) == 0 {
		p.errf("systemctl: simulated: no verb\n")
		return 1
	}
	verb, units := f.ops[0], f.ops[1:]
	switch verb {
	case "daemon-reload":
		return 0
	case "list-units":
		for _, name := range sortedKeys(p.n.units) {
			u := p.n.units[name]
			state, sub := "inactive", "dead"
			if u.active {
				state, sub = "active", "running"
			}
			if u.failed {
				state, sub = "failed", "failed"
			}
			if st := f.flags["--state"]; st != "" && !slices.Contains(strings.Split(st, ","), state) {
				continue
			}
			p.outf("%s.service loaded %s %s %s\n", name, state, sub, name)
		}
		return 0
	case "is-active", "is-failed":
		code := 0
		for _, x := range units {
			u, _, ok := p.unit(x)
			switch {
			case !ok:
				p.outf("inactive\n")
				code = max(code, 4)
			case u.failed:
				p.outf("failed\n")
				code = max(code, 3)
			case u.active:
				p.outf("active\n")
			default:
				p.outf("inactive\n")
				code = max(code, 3)
			}
		}
		if verb == "is-failed" {
			return 0
		}
		return code
	case "show":
		for _, x := range units {
			u, _, ok := p.unit(x)
			pid := 0
			if ok && u.active {
				pid = u.pid
			}
			if f.has("--value") {
				p.outf("%d\n", pid)
			} else {
				p.outf("MainPID=%d\n", pid)
			}
		}
		return 0
	}
	for _, x := range units {
		if _, _, ok := p.unit(x); !ok {
			p.errf("Failed to %s %s.service: Unit %s.service not found.\n", verb, strings.TrimSuffix(x, ".service"), strings.TrimSuffix(x, ".service"))
			return 5
		}
	}
	for _, x := range units {
		u, name, _ := p.unit(x)
		switch verb {
		case "start":
			if err := p.c.startUnit(p.n, name); err != nil {
				p.errf("Job for %s.service failed because the control process exited with error code.\nSee \"systemctl status %s.service\" and \"journalctl -xeu %s.service\" for details.\n", name, name, name)
				return 1
			}
		case "stop":
			p.c.stopUnit(p.n, name)
		case "restart", "try-restart":
			if verb == "try-restart" && !u.active {
				continue
			}
			p.c.stopUnit(p.n, name)
			if err := p.c.startUnit(p.n, name); err != nil {
				p.errf("Job for %s.service failed because the control process exited with error code.\nSee \"systemctl status %s.service\" and \"journalctl -xeu %s.service\" for details.\n", name, name, name)
				return 1
			}
		case "reload", "kill":
			if verb == "kill" {
				sig := f.flags["--signal"]
				if sig == "" {
					sig = f.flags["-s"]
				}
				if sig != "HUP" && sig != "SIGHUP" && sig != "1" {
					p.c.stopUnit(p.n, name)
					continue
				}
			}
			if !u.active {
				if verb == "reload" {
					p.errf("%s.service is not active, cannot reload.\n", name)
					return 1
				}
				continue
			}
			p.c.hup(p.n, name)
		default:
			p.errf("Unknown command verb %s.\n", verb)
			return 1
		}
	}
	return 0
}

// hup is SIGHUP: nova services re-read [upgrade_levels] and drop the
// cached service versions.
func (c *Cloud) hup(n *node, name string) {
	u := n.units[name]
	c.clock.Advance(500 * time.Millisecond)
	if u.service == "nova" {
		u.pin = c.readPin(n)
		c.checkPin(n, name)
	}
	c.event(Event{Kind: EventUnitUp, Node: n.name, Unit: name, Service: u.service, Detail: "SIGHUP"})
}

func cmdKill(p *proc, args []string) int {
	f := parseFlags(args, "-s")
	hup := f.has("-HUP", "-1") || f.flags["-s"] == "HUP"
	if _, ok := f.flags["-H"]; ok {
		hup = true // "-HUP" parsed as letters
	}
	for _, x := range f.ops {
		pid, err := strconv.Atoi(x)
		if err != nil {
			p.errf("kill: %s: arguments must be process or job IDs\n", x)
			return 1
		}
		found := false
		for name, u := range p.n.units {
			if u.active && u.pid == pid {
				found = true
				if hup {
					p.c.hup(p.n, name)
				} else {
					p.c.stopUnit(p.n, name)
				}
			}
		}
		if !found {
			p.errf("kill: (%d) - No such process\n", pid)
			return 1
		}
	}
	return 0
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// pkgVersion returns the version string of pkg at release rel.
func (c *Cloud) pkgVersion(pkg string, rel int) string {
	for _, svc := range c.catalog.Services() {
		for _, r := range []openstack.Role{openstack.Controller, openstack.Network, openstack.Compute} {
			if slices.Contains(svc.PackagesFor(c.family, r), pkg) {
				return c.releases[rel].Versions[string(c.family)][svc.Name]
			}
		}
	}
	return ""
}

func (c *Cloud) serviceOfPackage(pkg string) string {
	for _, svc := range c.catalog.Services() {
		for _, r := range []openstack.Role{openstack.Controller, openstack.Network, openstack.Compute} {
			if slices.Contains(svc.PackagesFor(c.family, r), pkg) {
				return svc.Name
			}
		}
	}
	return ""
}

func cmdDpkgQuery(p *proc, args []string) int {
	f := parseFlags(args, "-f", "--showformat")
	format := f.flags["-f"]
	if format == "" {
		format = f.flags["-f="]
	}
	for k, v := range f.flags {
		if strings.HasPrefix(k, "-f=") {
			format = strings.TrimPrefix(k, "-f=") + v
		}
	}
	// parseFlags splits "-f=${Version}" into letters; recover it.
	for _, a := range args {
		if strings.HasPrefix(a, "-f=") {
			format = a[3:]
		}
	}
	if len(f.ops) == 0 {
		return 2
	}
	code := 0
	for _, pkg := range f.ops {
		rel, ok := p.n.installed[pkg]
		if !ok {
			p.errf("dpkg-query: no packages found matching %s\n", pkg)
			code = 1
			continue
		}
		v := p.c.pkgVersion(pkg, rel)
		out := strings.NewReplacer("${Version}", v, "${Status}", "install ok installed", "${Package}", pkg, `\t`, "\t", `\n`, "\n").Replace(format)
		p.outf("%s", out)
	}
	return code
}

func cmdRpm(p *proc, args []string) int {
	f := parseFlags(args, "--qf", "--queryformat")
	if f.has("--import") {
		return 0
	}
	format := f.flags["--qf"]
	code := 0
	for _, pkg := range f.ops {
		rel, ok := p.n.installed[pkg]
		if !ok {
			p.outf("package %s is not installed\n", pkg)
			code = 1
			continue
		}
		v := p.c.pkgVersion(pkg, rel)
		epoch, rest, found := strings.Cut(v, ":")
		if !found {
			epoch, rest = "(none)", v
		}
		ver, relstr, _ := strings.Cut(rest, "-")
		out := strings.NewReplacer("%{EPOCH}", epoch, "%{VERSION}", ver, "%{RELEASE}", relstr, "%{NAME}", pkg, `\n`, "\n").Replace(format)
		p.outf("%s", out)
	}
	return code
}

// refresh reads the node's repository definitions: the newest release
// named in them becomes available.
func (p *proc) refresh(files []string) []string {
	avail := 0
	var named []string
	for _, dir := range files {
		for _, f := range p.n.fs.Walk(dir) {
			st, _ := p.n.fs.Stat(f)
			if st.Dir {
				continue
			}
			data, _ := p.n.fs.ReadFile(f)
			for i, r := range p.c.releases {
				if regexp.MustCompile(`\b` + regexp.QuoteMeta(r.Name) + `\b`).Match(data) {
					avail = max(avail, i)
					named = append(named, r.Name)
				}
			}
		}
	}
	p.n.available = avail
	p.c.clock.Advance(5 * time.Second)
	return named
}

func cmdApt(p *proc, args []string) int {
	f := parseFlags(args, "-o")
	if len(f.ops) == 0 {
		p.errf("E: Invalid operation\n")
		return 100
	}
	switch f.ops[0] {
	case "update":
		p.refresh([]string{"/etc/apt/sources.list", "/etc/apt/sources.list.d"})
		p.outf("Hit:1 http://deb.debian.org/debian bookworm InRelease\nReading package lists...\n")
		return 0
	case "install", "upgrade", "full-upgrade", "dist-upgrade":
		if slices.ContainsFunc(f.ops[1:], func(s string) bool { return strings.Contains(s, "=") }) {
			return p.installVersions(f.ops[1:], true, f.has("--allow-downgrades"))
		}
		return p.upgradePackages(f.ops[1:], true)
	}
	p.errf("E: Invalid operation %s\n", f.ops[0])
	return 100
}

func cmdDnf(p *proc, args []string) int {
	f := parseFlags(args)
	if len(f.ops) == 0 {
		return 1
	}
	switch f.ops[0] {
	case "makecache":
		p.refresh([]string{"/etc/yum.repos.d"})
		p.outf("Metadata cache created.\n")
		return 0
	case "upgrade", "update":
		return p.upgradePackages(f.ops[1:], false)
	case "downgrade":
		return p.installVersions(f.ops[1:], false, true)
	}
	p.errf("No such command: %s.\n", f.ops[0])
	return 1
}

// upgradePackages upgrades the named installed packages to the newest
// available release. Services keep running their old code until
// restarted (no maintainer-script restarts, as with policy-rc.d).
func (p *proc) upgradePackages(pkgs []string, apt bool) int {
	if p.n.failUpgrade {
		p.c.clock.Advance(10 * time.Second)
		if apt {
			p.errf("E: Sub-process /usr/bin/dpkg returned an error code (1)\n")
			return 100
		}
		p.errf("Error: Transaction test error:\n  file /usr/lib/python3.9 conflicts\n")
		return 1
	}
	p.c.clock.Advance(15 * time.Second)
	changed := map[string]bool{}
	n := 0
	for _, pkg := range pkgs {
		rel, ok := p.n.installed[pkg]
		if !ok {
			if apt {
				p.outf("Skipping %s, it is not installed and only upgrades are requested.\n", pkg)
			}
			continue
		}
		if rel >= p.n.available {
			if apt {
				p.outf("%s is already the newest version (%s).\n", pkg, p.c.pkgVersion(pkg, rel))
			}
			continue
		}
		p.outf("Unpacking %s (%s) over (%s) ...\n", pkg, p.c.pkgVersion(pkg, p.n.available), p.c.pkgVersion(pkg, rel))
		p.n.installed[pkg] = p.n.available
		p.c.event(Event{Kind: EventPackage, Node: p.n.name, Detail: pkg + " " + p.c.pkgVersion(pkg, p.n.available)})
		changed[p.c.serviceOfPackage(pkg)] = true
		n++
	}
	p.c.clock.Advance(time.Duration(n) * 4 * time.Second)
	for svc := range changed {
		s, _ := p.c.catalog.Service(svc)
		if rel, ok := p.c.toolRelease(p.n, s); ok {
			p.c.installFiles(p.n, s, rel)
		}
	}
	if n == 0 && !apt {
		p.outf("Dependencies resolved.\nNothing to do.\nComplete!\n")
		return 0
	}
	if apt {
		p.outf("%d upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n", n)
	} else {
		p.outf("Complete!\n")
	}
	return 0
}

// installVersions installs exact versions: "pkg=version" (apt) or
// "pkg-version" (dnf), as a rollback's downgrade does.
func (p *proc) installVersions(specs []string, apt, allowDown bool) int {
	p.c.clock.Advance(15 * time.Second)
	changed := map[string]bool{}
	for _, spec := range specs {
		pkg, rel, ok := p.resolveSpec(spec, apt)
		if !ok {
			if apt {
				p.errf("E: Version '%s' for '%s' was not found\n", spec, pkg)
				return 100
			}
			p.errf("No package %s available.\nError: No packages marked for downgrade.\n", spec)
			return 1
		}
		cur := p.n.installed[pkg]
		if rel < cur && !allowDown {
			p.errf("E: Packages were downgraded and -y was used without --allow-downgrades.\n")
			return 100
		}
		if rel == cur {
			continue
		}
		p.outf("Unpacking %s (%s) over (%s) ...\n", pkg, p.c.pkgVersion(pkg, rel), p.c.pkgVersion(pkg, cur))
		p.n.installed[pkg] = rel
		p.c.event(Event{Kind: EventPackage, Node: p.n.name, Detail: pkg + " " + p.c.pkgVersion(pkg, rel)})
		changed[p.c.serviceOfPackage(pkg)] = true
		p.c.clock.Advance(4 * time.Second)
	}
	for svc := range changed {
		s, _ := p.c.catalog.Service(svc)
		if rel, ok := p.c.toolRelease(p.n, s); ok {
			p.c.installFiles(p.n, s, rel)
		}
	}
	return 0
}

func (p *proc) resolveSpec(spec string, apt bool) (string, int, bool) {
	for pkg := range p.n.installed {
		var ver string
		switch {
		case apt && strings.HasPrefix(spec, pkg+"="):
			ver = spec[len(pkg)+1:]
		case !apt && strings.HasPrefix(spec, pkg+"-"):
			ver = spec[len(pkg)+1:]
		default:
			continue
		}
		for i := 0; i <= p.n.available; i++ {
			v := p.c.pkgVersion(pkg, i)
			if v == ver || strings.TrimPrefix(v, v[:strings.IndexByte(v, ':')+1]) == ver {
				return pkg, i, true
			}
		}
		return pkg, 0, false
	}
	return spec, 0, false
}
