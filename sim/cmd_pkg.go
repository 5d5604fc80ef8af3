package sim

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

var reRepoSeries = regexp.MustCompile(`/repo/(\d+\.\d+)(?:\.\d+)?/`)

func repoDirs(family string) []string {
	switch family {
	case "rpm":
		return []string{"/etc/yum.repos.d"}
	case "suse":
		return []string{"/etc/zypp/repos.d"}
	}
	return []string{"/etc/apt/sources.list.d"}
}

// repoSeries returns the OpenNebula series (e.g. "7.4") the node's
// package repository files point at, or "".
func (n *node) repoSeries() string {
	best := ""
	for _, d := range repoDirs(n.Family) {
		files, _ := n.FS.ReadDir(d)
		if d == "/etc/apt/sources.list.d" {
			files = append(files, "/etc/apt/sources.list")
		}
		for _, f := range files {
			b, err := n.FS.ReadFile(f)
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(b), "\n") {
				l := strings.TrimSpace(line)
				if strings.HasPrefix(l, "#") || !strings.Contains(l, "opennebula") {
					continue
				}
				for _, m := range reRepoSeries.FindAllStringSubmatch(l, -1) {
					if best == "" || cmpVersion(m[1], best) > 0 {
						best = m[1]
					}
				}
			}
		}
	}
	return best
}

// available returns the newest version of the node's repository series.
func (c *Cloud) available(n *node) string {
	s := n.repoSeries()
	best := ""
	for _, v := range c.st.Repo {
		if series(v) == s && (best == "" || cmpVersion(v, best) > 0) {
			best = v
		}
	}
	return best
}

// pkgDeps are upgraded together with opennebula (exact-version deps).
var pkgDeps = map[string][]string{
	"opennebula":          {"opennebula-common", "opennebula-common-onecfg", "opennebula-tools", "opennebula-libs", "opennebula-rubygems"},
	"opennebula-node-kvm": {"opennebula-common", "opennebula-common-onecfg"},
	"opennebula-node-lxc": {"opennebula-common", "opennebula-common-onecfg"},
}

// repoPackages are the package names the simulated repositories carry.
var repoPackages = []string{"opennebula", "opennebula-common", "opennebula-common-onecfg", "opennebula-tools",
	"opennebula-libs", "opennebula-rubygems", "opennebula-gate", "opennebula-flow", "opennebula-fireedge",
	"opennebula-guacd", "opennebula-form", "opennebula-ks", "opennebula-migration", "opennebula-node-kvm",
	"opennebula-node-lxc", "opennebula-dev", "opennebula-prometheus", "opennebula-prometheus-kvm",
	"python3-pyone", "python313-pyone"}

func (n *node) knownPackage(name string) bool {
	if _, ok := n.Pkgs[name]; ok {
		return true
	}
	return slices.Contains(repoPackages, name)
}

// upgrade moves the named packages (and their deps) to the repository's
// newest version (or pinned versions); it returns what changed.
func (p *proc) upgradePkgs(names []string, onlyUpgrade bool) (changed [][3]string, errMsg string) {
	return p.upgradeOrFetch(names, onlyUpgrade, false)
}

// Package work costs, split between the download and the installation.
// Both halves of the simulator's old single figure (20 s + 10 s per
// package): no measurement splits them, so half each.
const (
	fetchBase, fetchPerPkg     = 10 * time.Second, 5 * time.Second
	installBase, installPerPkg = 10 * time.Second, 5 * time.Second
)

// upgradeOrFetch is upgradePkgs; with fetchOnly it only downloads what
// an upgrade would install into the cache (apt-get --download-only, dnf
// --downloadonly, zypper --download-only), and a later upgrade does not
// download those again.
func (p *proc) upgradeOrFetch(names []string, onlyUpgrade, fetchOnly bool) (changed [][3]string, errMsg string) {
	n := p.n
	target := p.c.available(n)
	var todo []string
	for _, raw := range names {
		name, pin, _ := strings.Cut(raw, "=")
		if name == "" {
			continue
		}
		if !n.knownPackage(name) {
			return nil, "unknown:" + name
		}
		if _, ok := n.Pkgs[name]; !ok && onlyUpgrade {
			p.outf("Skipping %s, it is not installed and only upgrades are requested.\n", name)
			continue
		}
		v := target
		if pin != "" {
			v, _, _ = strings.Cut(pin, "-")
			if !slices.Contains(p.c.st.Repo, v) || series(v) != n.repoSeries() {
				return nil, "version:" + raw
			}
		}
		if v == "" {
			continue
		}
		for _, x := range append([]string{name}, pkgDeps[name]...) {
			if _, ok := n.Pkgs[x]; !ok && x != name {
				continue
			}
			old := n.Pkgs[x]
			if old == "" || cmpVersion(v, old) > 0 || (pin != "" && x == name && v != old) {
				if !slices.ContainsFunc(todo, func(s string) bool { return s == x }) {
					todo = append(todo, x)
					changed = append(changed, [3]string{x, old, v})
				}
			}
		}
	}
	var fetch int
	for _, ch := range changed {
		if n.Fetched[ch[0]] != ch[2] {
			fetch++
		}
	}
	if fetchOnly {
		if n.Fetched == nil {
			n.Fetched = map[string]string{}
		}
		for _, ch := range changed {
			n.Fetched[ch[0]] = ch[2]
		}
		if fetch > 0 {
			p.spend(fetchBase + time.Duration(fetch)*fetchPerPkg)
		}
		return changed, ""
	}
	for _, ch := range changed {
		n.Pkgs[ch[0]] = ch[2]
		delete(n.Fetched, ch[0])
		p.c.event(p.now(), n.Name, EventPackage, fmt.Sprintf("%s %s -> %s", ch[0], ch[1], ch[2]))
		if ch[0] == "opennebula" {
			p.installedOpennebula(ch[2])
		}
	}
	if len(changed) > 0 {
		n.UnitsChanged = true
		cost := installBase + time.Duration(len(changed))*installPerPkg
		if fetch > 0 {
			cost += fetchBase + time.Duration(fetch)*fetchPerPkg
		}
		p.spend(cost)
	}
	return changed, ""
}

// installedOpennebula applies the files a new opennebula package ships.
func (p *proc) installedOpennebula(v string) {
	n, now := p.n, p.now()
	_ = n.FS.MkdirAll("/var/lib/one/remotes", "oneadmin", "oneadmin", now)
	_ = n.FS.WriteFile("/var/lib/one/remotes/VERSION", []byte(v+"\n"), 0o644, "oneadmin", "oneadmin", now)
	if cmpVersion(v, "7.2.0") >= 0 && n.Units["opennebula-form"] == nil {
		n.Units["opennebula-form"] = &unit{}
	}
	if cmpVersion(v, "7.4.0") >= 0 && n.Units["opennebula-ks"] == nil {
		n.Units["opennebula-ks"] = &unit{}
	}
	if cmpVersion(v, "7.0.0") >= 0 {
		for _, u := range []string{"opennebula-scheduler", "opennebula-sunstone", "opennebula-novnc"} {
			delete(n.Units, u)
		}
	}
}

func pkgVersionString(family, name, v string) string {
	if family == "deb" {
		return v + "-1"
	}
	return v + "-1.el9"
}

func cmdApt(p *proc) int {
	var args []string
	onlyUpgrade, fetchOnly := false, false
	for i := 1; i < len(p.argv); i++ {
		a := p.argv[i]
		switch {
		case a == "--only-upgrade":
			onlyUpgrade = true
		case a == "--download-only" || a == "-d":
			fetchOnly = true
		case a == "-o" || a == "-c" || a == "-t":
			i++
		case strings.HasPrefix(a, "-"):
		default:
			args = append(args, a)
		}
	}
	if len(args) == 0 {
		p.errf("E: Invalid operation\n")
		return 100
	}
	if p.user != "root" {
		p.errf("E: Could not open lock file /var/lib/dpkg/lock-frontend - open (13: Permission denied)\n")
		return 100
	}
	if p.n.Family != "deb" {
		p.errf("sh: 1: %s: not found\n", p.argv[0])
		return 127
	}
	switch args[0] {
	case "update":
		p.spend(5 * time.Second)
		s := p.n.repoSeries()
		if s != "" && p.c.available(p.n) == "" {
			p.errf("E: The repository 'https://downloads.opennebula.io/repo/%s/Ubuntu/24.04 stable Release' does not have a Release file.\n", s)
			return 100
		}
		p.outf("Hit:1 http://archive.ubuntu.com/ubuntu noble InRelease\nReading package lists...\n")
		return 0
	case "install", "upgrade", "dist-upgrade", "full-upgrade":
		names := args[1:]
		if args[0] != "install" && len(names) == 0 {
			for k := range p.n.Pkgs {
				names = append(names, k)
			}
			slices.Sort(names)
			onlyUpgrade = true
		}
		p.outf("Reading package lists...\nBuilding dependency tree...\nReading state information...\n")
		changed, bad := p.upgradeOrFetch(names, onlyUpgrade, fetchOnly)
		if bad != "" {
			_, what, _ := strings.Cut(bad, ":")
			if strings.HasPrefix(bad, "version:") {
				p.errf("E: Version '%s' for '%s' was not found\n", strings.SplitN(what, "=", 2)[1], strings.SplitN(what, "=", 2)[0])
			} else {
				p.errf("E: Unable to locate package %s\n", what)
			}
			return 100
		}
		if len(changed) == 0 {
			p.outf("0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n")
			return 0
		}
		var list []string
		for _, ch := range changed {
			list = append(list, ch[0])
		}
		p.outf("The following packages will be upgraded:\n  %s\n%d upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n", strings.Join(list, " "), len(changed))
		if fetchOnly {
			p.outf("Download complete and in download only mode\n")
			return 0
		}
		for _, ch := range changed {
			p.outf("Preparing to unpack .../%s_%s_all.deb ...\nUnpacking %s (%s) over (%s) ...\n", ch[0], pkgVersionString("deb", ch[0], ch[2]), ch[0], pkgVersionString("deb", ch[0], ch[2]), pkgVersionString("deb", ch[0], ch[1]))
		}
		for _, ch := range changed {
			p.outf("Setting up %s (%s) ...\n", ch[0], pkgVersionString("deb", ch[0], ch[2]))
		}
		return 0
	}
	p.errf("E: Invalid operation %s\n", args[0])
	return 100
}

func cmdDnf(p *proc) int {
	var args []string
	fetchOnly := false
	for i := 1; i < len(p.argv); i++ {
		a := p.argv[i]
		switch {
		case a == "--downloadonly":
			fetchOnly = true
		case a == "--setopt" || a == "--enablerepo" || a == "--disablerepo" || a == "-c":
			i++
		case strings.HasPrefix(a, "-"):
		default:
			args = append(args, a)
		}
	}
	if p.n.Family != "rpm" {
		p.errf("sh: 1: %s: not found\n", p.argv[0])
		return 127
	}
	if len(args) == 0 {
		p.errf("usage: dnf [options] COMMAND\n")
		return 1
	}
	if p.user != "root" {
		p.errf("Error: This command has to be run with superuser privileges (under the root user on most systems).\n")
		return 1
	}
	switch args[0] {
	case "makecache", "clean", "check-update":
		p.spend(5 * time.Second)
		if p.n.repoSeries() != "" && p.c.available(p.n) == "" {
			p.errf("Error: Failed to download metadata for repo 'opennebula': Cannot download repomd.xml\n")
			return 1
		}
		p.outf("Metadata cache created.\n")
		return 0
	case "upgrade", "update", "install":
		names := args[1:]
		if len(names) == 0 {
			for k := range p.n.Pkgs {
				names = append(names, k)
			}
			slices.Sort(names)
		}
		for i, nm := range names {
			if k, v, ok := strings.Cut(nm, "-7."); ok && strings.Count(v, ".") >= 1 {
				names[i] = k + "=7." + v
			}
		}
		changed, bad := p.upgradeOrFetch(names, args[0] != "install", fetchOnly)
		if bad != "" {
			_, what, _ := strings.Cut(bad, ":")
			p.errf("Error: Unable to find a match: %s\n", what)
			return 1
		}
		if len(changed) == 0 {
			p.outf("Dependencies resolved.\nNothing to do.\nComplete!\n")
			return 0
		}
		p.outf("Dependencies resolved.\nUpgrading:\n")
		for _, ch := range changed {
			p.outf(" %-30s noarch %-14s opennebula\n", ch[0], pkgVersionString("rpm", ch[0], ch[2]))
		}
		if fetchOnly {
			p.outf("\nTransaction Summary\nUpgrade  %d Packages\n\nThe downloaded packages were saved in cache until the next successful transaction.\nComplete!\n", len(changed))
			return 0
		}
		p.outf("\nTransaction Summary\nUpgrade  %d Packages\n\nComplete!\n", len(changed))
		return 0
	}
	p.errf("No such command: %s.\n", args[0])
	return 1
}

func cmdZypper(p *proc) int {
	var args []string
	fetchOnly := false
	for _, a := range p.argv[1:] {
		if a == "--download-only" {
			fetchOnly = true
		}
		if !strings.HasPrefix(a, "-") {
			args = append(args, a)
		}
	}
	if p.n.Family != "suse" {
		p.errf("sh: 1: %s: not found\n", p.argv[0])
		return 127
	}
	if len(args) == 0 {
		p.errf("Usage: zypper [--global-options] <command>\n")
		return 1
	}
	if p.user != "root" {
		p.errf("Root privileges are required to run this command.\n")
		return 5
	}
	switch args[0] {
	case "refresh", "ref":
		p.spend(5 * time.Second)
		p.outf("All repositories have been refreshed.\n")
		return 0
	case "update", "up", "install", "in":
		names := args[1:]
		if len(names) == 0 {
			for k := range p.n.Pkgs {
				names = append(names, k)
			}
			slices.Sort(names)
		}
		changed, bad := p.upgradeOrFetch(names, args[0] == "update" || args[0] == "up", fetchOnly)
		if bad != "" {
			_, what, _ := strings.Cut(bad, ":")
			p.errf("No provider of '%s' found.\n", what)
			return 104
		}
		p.outf("Loading repository data...\nReading installed packages...\n")
		if len(changed) == 0 {
			p.outf("Nothing to do.\n")
			return 0
		}
		p.outf("The following %d packages are going to be upgraded:\n", len(changed))
		for _, ch := range changed {
			p.outf("  %s\n", ch[0])
		}
		return 0
	}
	p.errf("Unknown command '%s'\n", args[0])
	return 1
}

func cmdDpkgQuery(p *proc) int {
	format := "${Package}\t${Version}\n"
	var names []string
	show := false
	for i := 1; i < len(p.argv); i++ {
		a := p.argv[i]
		switch {
		case a == "-W" || a == "--show":
			show = true
		case a == "-f" || a == "--showformat":
			if i+1 < len(p.argv) {
				i++
				format = p.argv[i]
			}
		case strings.HasPrefix(a, "-f"):
			format = strings.TrimPrefix(strings.TrimPrefix(a, "-f"), "=")
		case strings.HasPrefix(a, "--showformat="):
			format = strings.TrimPrefix(a, "--showformat=")
		case a == "-s" || a == "--status":
			show = true
			format = "Package: ${Package}\nStatus: ${Status}\nVersion: ${Version}\n"
		case a == "--":
		case strings.HasPrefix(a, "-"):
			if strings.Contains(a, "W") {
				show = true
			}
		default:
			names = append(names, a)
		}
	}
	if !show || p.n.Family != "deb" {
		if p.n.Family != "deb" {
			p.errf("sh: 1: dpkg-query: not found\n")
			return 127
		}
		p.errf("dpkg-query: need an action option\n")
		return 2
	}
	code := 0
	for _, nm := range names {
		v, ok := p.n.Pkgs[nm]
		if !ok {
			p.errf("dpkg-query: no packages found matching %s\n", nm)
			code = 1
			continue
		}
		r := strings.NewReplacer("${Package}", nm, "${binary:Package}", nm, "${Version}", pkgVersionString("deb", nm, v),
			"${Status}", "install ok installed", "${db:Status-Abbrev}", "ii ", `\n`, "\n", `\t`, "\t")
		p.outf("%s", r.Replace(format))
	}
	return code
}

func cmdRpm(p *proc) int {
	if p.n.Family == "deb" {
		p.errf("sh: 1: rpm: not found\n")
		return 127
	}
	format := ""
	var names []string
	query := false
	for i := 1; i < len(p.argv); i++ {
		a := p.argv[i]
		switch {
		case a == "-q" || a == "--query":
			query = true
		case a == "--qf" || a == "--queryformat":
			if i+1 < len(p.argv) {
				i++
				format = p.argv[i]
			}
		case strings.HasPrefix(a, "--qf=") || strings.HasPrefix(a, "--queryformat="):
			_, format, _ = strings.Cut(a, "=")
		case a == "--":
		case strings.HasPrefix(a, "-"):
			if strings.Contains(a, "q") {
				query = true
			}
		default:
			names = append(names, a)
		}
	}
	if slices.Contains(p.argv, "--import") {
		if p.user != "root" {
			p.errf("error: %s: key 1 import failed.\n", names)
			return 1
		}
		return 0
	}
	if !query {
		p.errf("rpm: no operation specified\n")
		return 1
	}
	code := 0
	for _, nm := range names {
		v, ok := p.n.Pkgs[nm]
		if !ok {
			p.outf("package %s is not installed\n", nm)
			code = 1
			continue
		}
		if format == "" {
			p.outf("%s-%s.x86_64\n", nm, pkgVersionString("rpm", nm, v))
			continue
		}
		r := strings.NewReplacer("%{NAME}", nm, "%{VERSION}", v, "%{RELEASE}", "1.el9", "%{ARCH}", "x86_64", `\n`, "\n", `\t`, "\t")
		p.outf("%s", r.Replace(format))
	}
	return code
}
