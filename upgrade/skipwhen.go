package upgrade

import "context"

// SkipWhen makes the step skip itself whenever reason returns a non-empty
// string, for steps whose relevance only preflight can tell (a procedure
// whose shape depends on what preflight read from the cloud): Run returns
// Skip(reason) without running the step's function, and the check, when
// set, reports "not done" so that Run is reached and the skip journaled
// with its reason. reason reads the run's State; it must not block.
func (f *FuncStep) SkipWhen(reason func(s *State) string) *FuncStep {
	run := f.run
	f.run = func(ctx context.Context, s *State) error {
		if r := reason(s); r != "" {
			return Skip(r)
		}
		if run == nil {
			return nil
		}
		return run(ctx, s)
	}
	if check := f.check; check != nil {
		f.check = func(ctx context.Context, s *State) (bool, error) {
			if reason(s) != "" {
				return false, nil
			}
			return check(ctx, s)
		}
	}
	return f
}

// KeepWhen makes the step's rollback do nothing whenever keep returns a
// non-empty string: what the step did is kept although later steps failed
// (a part of the plan that stands on its own, finished before the
// failure). A step without a rollback is unchanged.
func (f *FuncStep) KeepWhen(keep func(s *State) string) *FuncStep {
	rollback := f.rollback
	if rollback == nil {
		return f
	}
	f.rollback = func(ctx context.Context, s *State) error {
		if r := keep(s); r != "" {
			s.Output("stdout", "rollback not needed: "+r)
			return nil
		}
		return rollback(ctx, s)
	}
	return f
}
