package sim

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// opt describes one command-line option of a simulated Ruby CLI.
type opt struct {
	long, short string
	arg         bool
}

type parsed struct {
	set  map[string][]string
	args []string
}

func (o parsed) has(long string) bool { return len(o.set[long]) > 0 }

func (o parsed) get(long string) string {
	if v := o.set[long]; len(v) > 0 {
		return v[len(v)-1]
	}
	return ""
}

// parseOpts parses args the way Ruby's OptionParser does: options anywhere,
// --long, --long=value, --long value, -s, -svalue, -s value, bundled
// short flags (-xv) and "--" ending the options.
func parseOpts(args []string, specs []opt) (parsed, error) {
	out := parsed{set: map[string][]string{}}
	byLong, byShort := map[string]opt{}, map[string]opt{}
	for _, s := range specs {
		byLong[s.long] = s
		if s.short != "" {
			byShort[s.short] = s
		}
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			out.args = append(out.args, args[i+1:]...)
			return out, nil
		case strings.HasPrefix(a, "--"):
			name, val, hasVal := strings.Cut(a[2:], "=")
			s, ok := byLong[name]
			if !ok {
				return out, fmt.Errorf("invalid option: --%s", name)
			}
			if s.arg {
				if !hasVal {
					if i+1 >= len(args) {
						return out, fmt.Errorf("missing argument: --%s", name)
					}
					i++
					val = args[i]
				}
			} else if hasVal {
				return out, fmt.Errorf("needless argument: --%s=%s", name, val)
			} else {
				val = "true"
			}
			out.set[s.long] = append(out.set[s.long], val)
		case strings.HasPrefix(a, "-") && len(a) > 1:
			rest := a[1:]
			for len(rest) > 0 {
				c := rest[:1]
				rest = rest[1:]
				s, ok := byShort[c]
				if !ok {
					return out, fmt.Errorf("invalid option: -%s", c)
				}
				if s.arg {
					val := rest
					if val == "" {
						if i+1 >= len(args) {
							return out, fmt.Errorf("missing argument: -%s", c)
						}
						i++
						val = args[i]
					}
					out.set[s.long] = append(out.set[s.long], val)
					break
				}
				out.set[s.long] = append(out.set[s.long], "true")
			}
		default:
			out.args = append(out.args, a)
		}
	}
	return out, nil
}

// commonOpts are accepted by every resource CLI (onezone, onehost, onevm).
var commonOpts = []opt{
	{"xml", "x", false}, {"json", "j", false}, {"yaml", "y", false}, {"csv", "", false},
	{"verbose", "v", false}, {"help", "h", false}, {"version", "V", false},
	{"user", "", true}, {"password", "", true}, {"endpoint", "", true}, {"grpc", "", false},
	{"no-pager", "", false}, {"no-header", "", false}, {"extended", "", false},
	{"list", "l", true}, {"filter", "f", true}, {"describe", "", false}, {"numeric", "n", false},
	{"kilobytes", "k", false}, {"search", "", true}, {"decrypt", "", false},
}

// unknownCommand answers as OpenNebula's Ruby CLIs do for a subcommand the
// installed release does not define (src/cli/command_parser.rb, `run` and
// `print_command_help`, identical from release-6.0.0 to release-7.4.0): the
// parser consumes every argument looking for a command, prints "Command
// '<the arguments joined>' not found" on stderr and the whole help on
// stdout, and exits 0 without doing anything.
func (p *proc) unknownCommand(usage string, commands []string) int {
	p.errf("Command '%s' not found\n", strings.Join(p.argv[1:], " "))
	p.outf("## SYNOPSIS\n\n%s\n\n## OPTIONS\n     -h, --help                Show this message\n     -V, --version             Show version and copyright information\n\n## COMMANDS\n", usage)
	for _, c := range commands {
		p.outf("   * %s \n", c)
	}
	p.outf("\n## VERSION\nOpenNebula %s\nCopyright 2002-2026, OpenNebula Project, OpenNebula Systems\n", p.n.version())
	return 0
}

// cliVersion prints what -V prints for the CLI package.
func (p *proc) cliVersion() int {
	p.outf("OpenNebula %s\nCopyright 2002-2026, OpenNebula Project, OpenNebula Systems\n", p.n.version())
	return 0
}

// clientEndpoint resolves the XML-RPC endpoint a CLI talks to.
func (p *proc) clientEndpoint(o parsed) string {
	if e := o.get("endpoint"); e != "" {
		return e
	}
	if e := p.env["ONE_XMLRPC"]; e != "" {
		return e
	}
	for _, f := range []string{p.env["HOME"] + "/.one/one_endpoint", "/var/lib/one/.one/one_endpoint"} {
		if b, err := p.n.FS.ReadFile(f); err == nil && p.canRead(f) {
			if s := strings.TrimSpace(string(b)); s != "" {
				return s
			}
		}
	}
	return "http://localhost:2633/RPC2"
}

func (p *proc) canRead(f string) bool {
	st, err := p.n.FS.Stat(f)
	if err != nil {
		return false
	}
	if p.user == "root" || st.Mode&0o004 != 0 {
		return true
	}
	return st.Owner == p.user && st.Mode&0o400 != 0 || st.Group == p.user && st.Mode&0o040 != 0
}

func endpointHost(u string) (host, port string) {
	pu, err := url.Parse(u)
	if err != nil || pu.Host == "" {
		h, pt, _ := strings.Cut(u, ":")
		return h, pt
	}
	return pu.Hostname(), pu.Port()
}

// nodeAt returns the front-end reached at host from node self, or nil.
func (c *Cloud) nodeAt(self *node, host string) *node {
	switch host {
	case "localhost", "127.0.0.1", "::1", self.Name, self.Address:
		return self
	}
	for _, z := range c.st.Zones {
		if z.VIP == host {
			return c.zoneLeader(z)
		}
	}
	for _, name := range c.sortedNodes() {
		n := c.st.Nodes[name]
		if !n.Hypervisor && (n.Name == host || n.Address == host) {
			return n
		}
	}
	return nil
}

// answering returns the front-end whose oned answers at endpoint, or nil.
func (c *Cloud) answering(self *node, endpoint string) *node {
	host, _ := endpointHost(endpoint)
	n := c.nodeAt(self, host)
	if n == nil || n.Unreachable || !n.onedUp() {
		return nil
	}
	return n
}

// connect returns the oned the CLI talks to, or prints the Ruby client's
// connection error and returns nil.
func (p *proc) connect(o parsed) *node {
	ep := p.clientEndpoint(o)
	if !p.hasAuth() {
		p.errf("ONE_AUTH file not present\n")
		return nil
	}
	if n := p.c.answering(p.n, ep); n != nil {
		return n
	}
	host, port := endpointHost(ep)
	if port == "" {
		port = "2633"
	}
	p.spend(1 * time.Second)
	p.errf("Failed to open TCP connection to %s:%s (Connection refused - connect(2) for \"%s\" port %s)\n", host, port, host, port)
	return nil
}

func (p *proc) hasAuth() bool {
	if f := p.env["ONE_AUTH"]; f != "" {
		return p.n.FS.Exists(f) && p.canRead(f)
	}
	for _, f := range []string{p.env["HOME"] + "/.one/one_auth", "/var/lib/one/.one/one_auth"} {
		if p.n.FS.Exists(f) && p.canRead(f) {
			return true
		}
	}
	return false
}
