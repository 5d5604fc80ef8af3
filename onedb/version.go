package onedb

import (
	"context"
	"fmt"
	"strings"

	"github.com/upgradekit/upgradekit/transport"
)

// Status is the outcome of `onedb version`, from its exit code. Each is a
// result, not an error.
type Status int

const (
	// Current: the DB version equals the installed code's (exit 0).
	Current Status = iota
	// NotBootstrapped: the database has no OpenNebula schema (exit 1).
	NotBootstrapped
	// UpgradeRequired: the DB is older than the code; run Upgrade (exit 2).
	UpgradeRequired
	// DBNewer: the DB is newer than the installed code, e.g. old packages
	// against an upgraded DB (exit 3).
	DBNewer
)

func (s Status) String() string {
	switch s {
	case Current:
		return "current"
	case NotBootstrapped:
		return "not bootstrapped"
	case UpgradeRequired:
		return "upgrade required"
	case DBNewer:
		return "database newer than code"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// TableVersion describes one set of tables (shared or local).
type TableVersion struct {
	// Version is the DB version (X.Y.Z); Required the installed code's.
	Version, Required string
	// Timestamp and Comment are printed with -v only. Timestamp is as
	// onedb prints it, "%m/%d %H:%M:%S", with no year.
	Timestamp, Comment string
}

// VersionInfo is the parsed output of `onedb version`.
type VersionInfo struct {
	Status Status
	// Shared are the federated tables, Local the zone-local ones. Both
	// are zero when Status is NotBootstrapped.
	Shared, Local TableVersion
	// FederationSlave is set when onedb reports a federation slave
	// database (-v output only).
	FederationSlave bool
	// Verbose reports that the output was the -v format.
	Verbose bool
}

// Version runs `onedb version -v` and returns the parsed versions. Exit
// codes 0, 1, 2 and 3 are results (Status); 255 is an error (connection
// failures match ErrDBConnect); anything else matches ErrUnexpectedExit.
func Version(ctx context.Context, t transport.Transport, opts ...Option) (VersionInfo, error) {
	o, err := newOptions("version", opts)
	if err != nil {
		return VersionInfo{}, err
	}
	cmd := o.command("version", []string{"-v"}, nil, false)
	cmd.ReadOnly = true
	out, err := o.run(ctx, t, "version", cmd)
	if err != nil {
		return VersionInfo{}, err
	}
	switch out.res.ExitCode {
	case 0, 1, 2, 3:
		return ParseVersion(out.res.ExitCode, []byte(out.text()))
	case 255:
		return VersionInfo{}, out.fail("version")
	}
	return VersionInfo{}, out.unexpected("version")
}

// ParseVersion parses `onedb version` output, plain or -v, given the
// command's exit code (0-3; others are a *ParseError). Missing, repeated
// or malformed version lines are a *ParseError.
func ParseVersion(exitCode int, out []byte) (VersionInfo, error) {
	perr := func(line int, format string, a ...any) (VersionInfo, error) {
		return VersionInfo{}, &ParseError{What: "version", Line: line, Reason: fmt.Sprintf(format, a...)}
	}
	var v VersionInfo
	switch exitCode {
	case 0:
		v.Status = Current
	case 1:
		if !strings.Contains(string(out), "Database is not correctly bootstrap") {
			return perr(0, "exit 1 without \"Database is not correctly bootstraped.\"")
		}
		v.Status = NotBootstrapped
		return v, nil
	case 2:
		v.Status = UpgradeRequired
	case 3:
		v.Status = DBNewer
	default:
		return perr(0, "exit code %d is not a version result", exitCode)
	}

	var section *TableVersion // -v: the section being read
	fields := map[*string]bool{}
	set := func(line int, dst *string, val string, isVersion bool) error {
		if fields[dst] {
			_, err := perr(line, "repeated field")
			return err
		}
		if isVersion && !versionRE.MatchString(val) {
			_, err := perr(line, "version %q is not X.Y.Z", val)
			return err
		}
		fields[dst] = true
		*dst = val
		return nil
	}
	var plain, verbose, expected bool
	for i, l := range splitLines(string(out)) {
		n := i + 1
		key, val, ok := strings.Cut(l, ":")
		val = strings.TrimSpace(val)
		var err error
		switch {
		case expected:
			// "Update required. Expected DB version is:" is followed by a
			// repeat of the required versions; they add nothing.
			continue
		case strings.HasPrefix(l, "Update required."):
			expected = true
		case l == "This database is a federation slave":
			v.FederationSlave = true
		case !ok:
			continue
		case key == "Shared":
			plain = true
			err = set(n, &v.Shared.Version, val, true)
		case key == "Local":
			plain = true
			err = set(n, &v.Local.Version, val, true)
		case key == "Required shared version":
			plain = true
			err = set(n, &v.Shared.Required, val, true)
		case key == "Required local version":
			plain = true
			err = set(n, &v.Local.Required, val, true)
		case key == "Shared tables version":
			verbose, section = true, &v.Shared
			err = set(n, &v.Shared.Version, val, true)
		case key == "Local tables version":
			verbose, section = true, &v.Local
			err = set(n, &v.Local.Version, val, true)
		case key == "Required version" || key == "Timestamp" || key == "Comment":
			if section == nil {
				return perr(n, "%s before a tables section", key)
			}
			switch key {
			case "Required version":
				err = set(n, &section.Required, val, true)
			case "Timestamp":
				if !timestampOK(val) {
					return perr(n, "timestamp %q is not MM/DD hh:mm:ss", val)
				}
				err = set(n, &section.Timestamp, val, false)
			default:
				err = set(n, &section.Comment, val, false)
			}
		}
		if err != nil {
			return VersionInfo{}, err
		}
	}
	if plain && verbose {
		return perr(0, "mixes plain and -v formats")
	}
	v.Verbose = verbose
	for name, s := range map[string]string{
		"shared version": v.Shared.Version, "local version": v.Local.Version,
		"required shared version": v.Shared.Required, "required local version": v.Local.Required,
	} {
		if s == "" {
			return perr(0, "missing %s", name)
		}
	}
	if verbose && (v.Shared.Timestamp == "" || v.Local.Timestamp == "") {
		return perr(0, "missing timestamp")
	}
	return v, nil
}

// timestampOK checks onedb's "%m/%d %H:%M:%S".
func timestampOK(s string) bool {
	if len(s) != 14 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch i {
		case 2:
			if c != '/' {
				return false
			}
		case 5:
			if c != ' ' {
				return false
			}
		case 8, 11:
			if c != ':' {
				return false
			}
		default:
			if c < '0' || c > '9' {
				return false
			}
		}
	}
	return true
}
