package openstack

import (
	"bytes"
	"context"
	"fmt"

	"github.com/upgradekit/upgradekit/transport"
)

// UpgradeCheckReport is the outcome of `<svc>-status upgrade check`.
type UpgradeCheckReport struct {
	Service string
	// Code is the tool's exit status: the worst check result.
	Code CheckCode
	// Checks are the individual results, in the tool's order.
	Checks []Check
	// JSON reports whether the results came from --json output (else
	// from the table).
	JSON bool
	// Step is the invocation.
	Step StepRun
}

// Failed returns the checks that did not succeed.
func (r *UpgradeCheckReport) Failed() []Check {
	var out []Check
	for _, c := range r.Checks {
		if c.Result != CheckSuccess {
			out = append(out, c)
		}
	}
	return out
}

// Err returns a *CheckFailedError when a check failed (warnings pass, as
// kolla-ansible treats them), or nil.
func (r *UpgradeCheckReport) Err() error {
	if r.Code < CheckFailure {
		return nil
	}
	return &CheckFailedError{Service: r.Service, Checks: r.Failed()}
}

// CheckFailedError reports upgrade checks that returned Failure.
type CheckFailedError struct {
	Service string
	Checks  []Check
}

func (e *CheckFailedError) Error() string {
	msg := e.Service + ": upgrade check failed"
	for _, c := range e.Checks {
		msg += fmt.Sprintf("; %s: %s", c.Name, c.Result)
		if c.Details != "" {
			msg += " (" + c.Details + ")"
		}
	}
	return msg
}

// UpgradeCheck runs svc's upgrade check and returns every check's result.
// The installed tool is first compared with the service's databases
// (*NewerDatabaseError), as for every other answer a tool gives.
// It asks for --json where the tool honours it and parses the table
// otherwise (nova-status rejects --json, placement-status ignores it).
// Exit 0, 1 and 2 (success, warning, failure) are results, not errors;
// see Err. A tool that prints nothing on stdout did not start (exit 1
// with its reason on stderr, as keystone-status without its key
// directories): a *ToolError matching ErrToolStartup that carries the
// reason, not a Warning. Exit 255 is the tool crashing (an unreachable dependency, an
// empty schema) and fails with an error matching ErrToolCrashed: it says
// nothing about the checks. Output that cannot be parsed is a
// *ParseError.
func UpgradeCheck(ctx context.Context, t transport.Transport, svc Service, opts ...Option) (*UpgradeCheckReport, error) {
	o, err := newServiceOptions(opts, svc)
	if err != nil {
		return nil, err
	}
	if svc.UpgradeCheck == nil {
		return nil, fmt.Errorf("openstack: %s has no upgrade check", svc.Name)
	}
	if svc.DBUpgrade != NoDatabase && len(svc.Databases) > 0 {
		// An old release's checks read a newer schema wrongly.
		if _, err := checkVersions(ctx, t, svc, o); err != nil {
			return nil, err
		}
	}
	args := []string{"upgrade", "check"}
	if svc.UpgradeCheck.JSON {
		args = append(args, "--json")
	}
	c := o.tool(svc, svc.UpgradeCheck.Command, true, args...)
	res, st, err := o.runTool(ctx, t, svc, "upgrade check", c)
	if err != nil {
		return nil, err
	}
	rep := &UpgradeCheckReport{Service: svc.Name, Step: st}
	switch res.ExitCode {
	case 0, 1, 2:
	default:
		return rep, toolErr(svc, "upgrade check", c, res)
	}
	rep.Code = CheckCode(res.ExitCode)
	var perr error
	if svc.UpgradeCheck.JSON {
		rep.Checks, perr = parseCheckJSON(res.Stdout)
		rep.JSON = perr == nil
		if perr != nil {
			// A tool that accepted --json but printed its table anyway.
			if checks, err := parseCheckTable(res.Stdout); err == nil {
				rep.Checks, perr = checks, nil
			}
		}
	} else {
		rep.Checks, perr = parseCheckTable(res.Stdout)
	}
	if perr != nil {
		if res.ExitCode != 2 && len(bytes.TrimSpace(res.Stdout)) == 0 {
			// Nothing on stdout: the tool stopped before running any
			// check (keystone-status without /etc/keystone/fernet-keys
			// exits 1 with only that reason on stderr).
			reason := transport.StderrTail([]byte(c.RedactString(string(res.Stderr))), 512)
			if reason == "" {
				reason = "no output"
			}
			return rep, &ToolError{Service: svc.Name, Step: "upgrade check", Code: res.ExitCode, Kind: ErrToolStartup, Reason: reason, Err: transport.ResultError(c, res)}
		}
		if res.ExitCode == 2 {
			// argparse rejects bad arguments with exit 2 and a usage line.
			return rep, &ToolError{Service: svc.Name, Step: "upgrade check", Code: 2, Kind: ErrBadInput, Err: transport.ResultError(c, res)}
		}
		return rep, o.cmdFailed(svc.Name, "upgrade check", perr)
	}
	return rep, nil
}
