package upgrade

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/upgradekit/upgradekit/transport"
)

// Plan is a validated tree of steps plus its preflight checks. Build it
// with NewPlan; it is immutable once a Runner uses it.
type Plan struct {
	name     string
	nodes    []Node
	checks   []PreflightCheck
	noReturn string
	secrets  []transport.Secret

	root  *unit
	units map[string]*unit
	top   []*unit // execution units: leaves outside PerHost and PerHost nodes
	err   error
}

// PreflightCheck is a named check run before the first change.
type PreflightCheck struct {
	Name string
	Run  func(ctx context.Context, s *State) error
}

// Preflight returns a named preflight check.
func Preflight(name string, fn func(ctx context.Context, s *State) error) PreflightCheck {
	return PreflightCheck{Name: name, Run: fn}
}

// NewPlan returns a plan running nodes in order. Problems with the plan
// are reported by Validate and NewRunner.
func NewPlan(name string, nodes ...Node) *Plan {
	p := &Plan{name: name, nodes: nodes}
	p.compile()
	return p
}

// WithPreflight adds preflight checks.
func (p *Plan) WithPreflight(checks ...PreflightCheck) *Plan {
	p.checks = append(p.checks, checks...)
	p.compile()
	return p
}

// PointOfNoReturn marks the step (full name) after whose start rollback
// is refused: its effect cannot be undone, so after a failure the
// operator must go forward (fix and run again to resume).
func (p *Plan) PointOfNoReturn(step string) *Plan {
	p.noReturn = step
	p.compile()
	return p
}

// WithSecrets adds values the run masks in every output (see Redactor):
// the procedure's tokens and passwords, whatever command prints them.
// They are not part of the fingerprint.
func (p *Plan) WithSecrets(secrets ...transport.Secret) *Plan {
	p.secrets = append(p.secrets, secrets...)
	return p
}

// Name returns the plan's name.
func (p *Plan) Name() string { return p.name }

// Validate reports every structural problem of the plan, joined; each
// matches ErrInvalidPlan.
func (p *Plan) Validate() error { return p.err }

// Steps returns the full names of all steps in plan order (for PerHost,
// host by host).
func (p *Plan) Steps() []string {
	var names []string
	p.walk(p.root, func(u *unit) {
		if u.kind == kindLeaf {
			names = append(names, u.name)
		}
	})
	return names
}

// Fingerprint identifies the plan's structure: a SHA-256 over the kinds
// and full names of all nodes, the preflight check names and the point of
// no return. The journal records it to refuse resuming another plan.
func (p *Plan) Fingerprint() string {
	h := sha256.New()
	fmt.Fprintf(h, "plan %s\n", p.name)
	p.walk(p.root, func(u *unit) {
		fmt.Fprintf(h, "%d %s\n", u.kind, u.name)
	})
	for _, c := range p.checks {
		fmt.Fprintf(h, "preflight %s\n", c.Name)
	}
	fmt.Fprintf(h, "noreturn %s\n", p.noReturn)
	return hex.EncodeToString(h.Sum(nil))
}

type unitKind int

const (
	kindLeaf unitKind = iota
	kindSeq
	kindHosts
	kindHost // one host's subtree of a kindHosts
)

type unit struct {
	name     string
	kind     unitKind
	step     Step
	children []*unit
	parent   *unit
	host     string
	hosts    *HostsNode
	deps     []string
	first    int // order of the first and last leaf
	last     int
	index    int // 1-based position among top units (0 inside PerHost)
}

func (p *Plan) walk(u *unit, fn func(*unit)) {
	if u == nil {
		return
	}
	if u != p.root {
		fn(u)
	}
	for _, c := range u.children {
		p.walk(c, fn)
	}
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidPlan}, args...)...)
}

func (p *Plan) compile() {
	var errs []error
	p.units = map[string]*unit{}
	p.top = nil
	p.root = &unit{kind: kindSeq}
	leaf := 0
	var add func(parent *unit, n Node, host string, inHosts bool)
	add = func(parent *unit, n Node, host string, inHosts bool) {
		if n == nil {
			errs = append(errs, invalid("nil node under %q", parent.name))
			return
		}
		name := n.Name()
		if name == "" || strings.Contains(name, "/") || strings.TrimSpace(name) != name {
			errs = append(errs, invalid("bad node name %q under %q (empty, contains / or surrounding space)", name, parent.name))
			return
		}
		full := name
		if parent.name != "" {
			full = parent.name + "/" + name
		}
		u := &unit{name: full, parent: parent, host: host}
		if d, ok := n.(Depender); ok {
			u.deps = d.DependsOn()
		}
		if _, dup := p.units[full]; dup {
			errs = append(errs, invalid("duplicate name %q", full))
			return
		}
		p.units[full] = u
		parent.children = append(parent.children, u)
		u.first = leaf
		switch n := n.(type) {
		case *PhaseNode:
			u.kind = kindSeq
			if len(n.children) == 0 {
				errs = append(errs, invalid("phase %q is empty", full))
			}
			for _, c := range n.children {
				add(u, c, host, inHosts)
			}
		case *HostsNode:
			u.kind = kindHosts
			u.hosts = n
			if inHosts {
				errs = append(errs, invalid("PerHost %q is nested in another PerHost", full))
				return
			}
			if n.build == nil {
				errs = append(errs, invalid("PerHost %q has no build function", full))
				return
			}
			if n.policy.Concurrency < 0 || n.policy.FailureBudget < 0 {
				errs = append(errs, invalid("PerHost %q: negative concurrency or failure budget", full))
			}
			if !inHosts && host == "" {
				p.top = append(p.top, u)
				u.index = len(p.top)
			}
			seen := map[string]bool{}
			for _, h := range n.hosts {
				if h == "" || strings.Contains(h, "/") || seen[h] {
					errs = append(errs, invalid("PerHost %q: bad or duplicate host %q", full, h))
					continue
				}
				seen[h] = true
				hu := &unit{name: full + "/" + h, kind: kindHost, parent: u, host: h, first: leaf}
				if _, dup := p.units[hu.name]; dup {
					errs = append(errs, invalid("duplicate name %q", hu.name))
					continue
				}
				p.units[hu.name] = hu
				u.children = append(u.children, hu)
				add(hu, n.build(h), h, true)
				hu.last = leaf - 1
			}
		case Step:
			u.kind = kindLeaf
			u.step = n
			leaf++
			if !inHosts {
				p.top = append(p.top, u)
				u.index = len(p.top)
			}
		default:
			errs = append(errs, invalid("node %q (%T) is neither a Step, a Phase nor a PerHost", full, n))
		}
		u.last = leaf - 1
	}
	for _, n := range p.nodes {
		add(p.root, n, "", false)
	}
	if len(p.nodes) == 0 {
		errs = append(errs, invalid("plan %q has no steps", p.name))
	}
	// Dependencies: must exist and finish before the dependent starts.
	p.walk(p.root, func(u *unit) {
		for _, d := range u.deps {
			du, ok := p.units[d]
			switch {
			case !ok:
				errs = append(errs, invalid("%q depends on unknown %q", u.name, d))
			case du == u || isAncestor(du, u) || isAncestor(u, du):
				errs = append(errs, invalid("%q depends on its own group %q", u.name, d))
			case du.last >= u.first:
				errs = append(errs, invalid("%q depends on %q, which does not run before it (dependency cycle or wrong order)", u.name, d))
			case sameFanout(du, u):
				errs = append(errs, invalid("%q depends on %q of another host in the same PerHost", u.name, d))
			}
		}
	})
	if p.noReturn != "" {
		if u, ok := p.units[p.noReturn]; !ok || u.kind != kindLeaf {
			errs = append(errs, invalid("point of no return %q is not a step of the plan", p.noReturn))
		}
	}
	seen := map[string]bool{}
	for _, c := range p.checks {
		switch {
		case c.Name == "" || c.Run == nil:
			errs = append(errs, invalid("preflight check %q has no name or function", c.Name))
		case seen[c.Name]:
			errs = append(errs, invalid("duplicate preflight check %q", c.Name))
		}
		seen[c.Name] = true
	}
	p.err = errors.Join(errs...)
}

func isAncestor(a, u *unit) bool {
	for p := u.parent; p != nil; p = p.parent {
		if p == a {
			return true
		}
	}
	return false
}

func hostUnit(u *unit) *unit {
	for ; u != nil; u = u.parent {
		if u.kind == kindHost {
			return u
		}
	}
	return nil
}

func sameFanout(a, b *unit) bool {
	ha, hb := hostUnit(a), hostUnit(b)
	return ha != nil && hb != nil && ha != hb && ha.parent == hb.parent
}

func (u *unit) leaves(fn func(*unit)) {
	if u.kind == kindLeaf {
		fn(u)
		return
	}
	for _, c := range u.children {
		c.leaves(fn)
	}
}

// selected reports whether a name or one of its ancestors is in set.
func (u *unit) inSet(set map[string]bool) bool {
	for x := u; x != nil; x = x.parent {
		if set[x.name] {
			return true
		}
	}
	return false
}
