package upgrade

import (
	"context"
	"time"
)

// Node is an element of a plan: a Step, a Phase or a PerHost fan-out.
// Every node has a name unique among its siblings; the full name of a step
// joins the names on the path from the plan root with "/", for example
// "leader/upgrade-db" or "followers/fe2/restore".
type Node interface {
	Name() string
}

// Step is one unit of work. Run does the work; it must be safe to call
// again after a crash only if the step also implements Checker, because
// the runner never re-runs a step left in progress without a Checker
// verdict or an explicit WithForce.
type Step interface {
	Name() string
	Run(ctx context.Context, s *State) error
}

// Prechecker is implemented by steps that can verify their preconditions
// before anything changes. Prechecks run during preflight, before the
// first step, and can be skipped by step name with WithPreflightSkip.
type Prechecker interface {
	Precheck(ctx context.Context, s *State) error
}

// Checker is implemented by idempotent steps that can tell whether their
// effect is already in place. The runner calls Check before Run; done
// means the step is skipped ("already done" is a result, not an error).
// On resume, Check decides whether a step left in progress is re-run.
type Checker interface {
	Check(ctx context.Context, s *State) (done bool, err error)
}

// Rollbacker is implemented by steps that can undo their effect. After a
// failure the runner rolls back, in reverse order, every step that
// started and implements Rollbacker. Rollback must tolerate a partial
// Run: it is also called for the step that failed.
type Rollbacker interface {
	Rollback(ctx context.Context, s *State) error
}

// Describer is implemented by steps that explain their intent; dry-run
// output and the report include the text.
type Describer interface {
	Describe() string
}

// Depender is implemented by nodes that must run after other nodes. Names
// are full names (of steps or groups); a dependency that does not exist,
// runs later, or is skipped while the dependent runs is a plan error.
type Depender interface {
	DependsOn() []string
}

// Policy bounds a step's execution: a per-attempt timeout and retries.
type Policy struct {
	// Timeout bounds each attempt; zero means no timeout.
	Timeout time.Duration
	// Retry, when Retry.MaxAttempts > 1, retries failed attempts with
	// exponential backoff. Errors marked with backoff.Permanent (or
	// Permanent) and context errors are not retried.
	Retry RetryPolicy
}

// Policied is implemented by steps with a timeout or retry policy.
type Policied interface {
	Policy() Policy
}

// FuncStep is a Step built from functions; the optional abilities are
// present only when their function is set. Build one with Func and the
// chaining methods.
type FuncStep struct {
	name     string
	run      func(ctx context.Context, s *State) error
	check    func(ctx context.Context, s *State) (bool, error)
	rollback func(ctx context.Context, s *State) error
	precheck func(ctx context.Context, s *State) error
	describe string
	deps     []string
	policy   Policy
}

// Func returns a step named name that runs fn.
func Func(name string, fn func(ctx context.Context, s *State) error) *FuncStep {
	return &FuncStep{name: name, run: fn}
}

// CheckWith sets the "already done?" check.
func (f *FuncStep) CheckWith(fn func(ctx context.Context, s *State) (bool, error)) *FuncStep {
	f.check = fn
	return f
}

// RollbackWith sets the rollback.
func (f *FuncStep) RollbackWith(fn func(ctx context.Context, s *State) error) *FuncStep {
	f.rollback = fn
	return f
}

// PrecheckWith sets the precheck run during preflight.
func (f *FuncStep) PrecheckWith(fn func(ctx context.Context, s *State) error) *FuncStep {
	f.precheck = fn
	return f
}

// Describing sets the dry-run description.
func (f *FuncStep) Describing(text string) *FuncStep {
	f.describe = text
	return f
}

// After declares dependencies by full name.
func (f *FuncStep) After(names ...string) *FuncStep {
	f.deps = append(f.deps, names...)
	return f
}

// WithPolicy sets the timeout and retry policy.
func (f *FuncStep) WithPolicy(p Policy) *FuncStep {
	f.policy = p
	return f
}

// Name implements Step.
func (f *FuncStep) Name() string { return f.name }

// Run implements Step.
func (f *FuncStep) Run(ctx context.Context, s *State) error {
	if f.run == nil {
		return nil
	}
	return f.run(ctx, s)
}

// Check implements Checker when a check is set; the runner ignores it
// otherwise.
func (f *FuncStep) Check(ctx context.Context, s *State) (bool, error) {
	return f.check(ctx, s)
}

// Rollback implements Rollbacker when a rollback is set.
func (f *FuncStep) Rollback(ctx context.Context, s *State) error {
	return f.rollback(ctx, s)
}

// Precheck implements Prechecker when a precheck is set.
func (f *FuncStep) Precheck(ctx context.Context, s *State) error {
	return f.precheck(ctx, s)
}

// Describe implements Describer.
func (f *FuncStep) Describe() string { return f.describe }

// DependsOn implements Depender.
func (f *FuncStep) DependsOn() []string { return f.deps }

// Policy implements Policied.
func (f *FuncStep) Policy() Policy { return f.policy }

// has reports which optional abilities are really present, so a FuncStep
// without a rollback is not treated as a Rollbacker.
func (f *FuncStep) has(a ability) bool {
	switch a {
	case abilityCheck:
		return f.check != nil
	case abilityRollback:
		return f.rollback != nil
	case abilityPrecheck:
		return f.precheck != nil
	}
	return true
}

type ability int

const (
	abilityCheck ability = iota
	abilityRollback
	abilityPrecheck
)

type abilityReporter interface{ has(ability) bool }

func asChecker(s Step) (Checker, bool) {
	c, ok := s.(Checker)
	if ar, isAR := s.(abilityReporter); ok && isAR && !ar.has(abilityCheck) {
		return nil, false
	}
	return c, ok
}

func asRollbacker(s Step) (Rollbacker, bool) {
	r, ok := s.(Rollbacker)
	if ar, isAR := s.(abilityReporter); ok && isAR && !ar.has(abilityRollback) {
		return nil, false
	}
	return r, ok
}

func asPrechecker(s Step) (Prechecker, bool) {
	p, ok := s.(Prechecker)
	if ar, isAR := s.(abilityReporter); ok && isAR && !ar.has(abilityPrecheck) {
		return nil, false
	}
	return p, ok
}

// PhaseNode groups nodes that run in order under a common name prefix.
type PhaseNode struct {
	name     string
	children []Node
	deps     []string
}

// Phase returns a group of nodes run in order; their full names are
// prefixed with name + "/".
func Phase(name string, children ...Node) *PhaseNode {
	return &PhaseNode{name: name, children: children}
}

// Name implements Node.
func (p *PhaseNode) Name() string { return p.name }

// After declares dependencies of the whole phase by full name.
func (p *PhaseNode) After(names ...string) *PhaseNode {
	p.deps = append(p.deps, names...)
	return p
}

// DependsOn implements Depender.
func (p *PhaseNode) DependsOn() []string { return p.deps }

// HostsNode runs the same sub-plan on many hosts in parallel. Each host's
// nodes are named name/<host>/<node>; the host's sub-plan runs in order,
// and hosts run concurrently within the limits of its ParallelPolicy.
type HostsNode struct {
	name   string
	hosts  []string
	build  func(host string) Node
	policy ParallelPolicy
	deps   []string
}

// ParallelPolicy controls a PerHost fan-out.
type ParallelPolicy struct {
	// Concurrency is the maximum number of hosts in flight; zero means the
	// runner's WithConcurrency value (default 10).
	Concurrency int
	// Canary runs the first host alone; the others start only if it
	// succeeded.
	Canary bool
	// FailureBudget is the number of host failures after which no new
	// host is started (hosts in flight finish). Zero means 1: stop
	// scheduling at the first failure.
	FailureBudget int
}

// PerHost returns a node that runs build(host) for every host, in
// parallel. build is called once per host when the plan is built; it
// usually returns a Step or a Phase of steps. Inside those steps
// State.Host and State.Transport refer to the host.
func PerHost(name string, hosts []string, build func(host string) Node) *HostsNode {
	return &HostsNode{name: name, hosts: append([]string(nil), hosts...), build: build}
}

// WithParallel sets the fan-out policy.
func (h *HostsNode) WithParallel(p ParallelPolicy) *HostsNode {
	h.policy = p
	return h
}

// After declares dependencies of the whole fan-out by full name.
func (h *HostsNode) After(names ...string) *HostsNode {
	h.deps = append(h.deps, names...)
	return h
}

// Name implements Node.
func (h *HostsNode) Name() string { return h.name }

// DependsOn implements Depender.
func (h *HostsNode) DependsOn() []string { return h.deps }
