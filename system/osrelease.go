package system

import (
	"context"
	"fmt"
	"strings"

	"github.com/upgradekit/upgradekit/transport"
)

// OSRelease holds the fields of /etc/os-release that matter for picking a
// package manager and a repository URL.
type OSRelease struct {
	ID         string   // "debian", "ubuntu", "rhel", "almalinux", "sles", ...
	IDLike     []string // "rhel centos fedora" -> [rhel centos fedora]
	VersionID  string   // "12", "24.04", "9.4", "15.6"
	Codename   string   // VERSION_CODENAME, "bookworm"
	PrettyName string
	// Fields holds every key as parsed.
	Fields map[string]string
}

// ParseOSRelease parses os-release(5): KEY=value lines, values optionally
// in double or single quotes, with \ escapes inside double quotes; blank
// lines and # comments are skipped. A line that is not an assignment is a
// *ParseError.
func ParseOSRelease(data []byte) (OSRelease, error) {
	fields := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" || !validKey(k) {
			return OSRelease{}, &ParseError{What: "os-release", Line: line, Reason: "not KEY=value"}
		}
		val, err := unquoteOSRelease(v)
		if err != nil {
			return OSRelease{}, &ParseError{What: "os-release", Line: line, Reason: err.Error()}
		}
		fields[k] = val
	}
	r := OSRelease{
		ID:         strings.ToLower(fields["ID"]),
		IDLike:     strings.Fields(strings.ToLower(fields["ID_LIKE"])),
		VersionID:  fields["VERSION_ID"],
		Codename:   fields["VERSION_CODENAME"],
		PrettyName: fields["PRETTY_NAME"],
		Fields:     fields,
	}
	if r.ID == "" {
		r.ID = "linux" // os-release(5) default
	}
	return r, nil
}

func validKey(k string) bool {
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' && i > 0) {
			return false
		}
	}
	return true
}

func unquoteOSRelease(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	switch q := v[0]; q {
	case '"', '\'':
		if len(v) < 2 || v[len(v)-1] != q {
			return "", fmt.Errorf("unterminated quote")
		}
		inner := v[1 : len(v)-1]
		if q == '\'' {
			if strings.ContainsRune(inner, '\'') {
				return "", fmt.Errorf("quote inside single quotes")
			}
			return inner, nil
		}
		var b strings.Builder
		for i := 0; i < len(inner); i++ {
			c := inner[i]
			if c == '\\' {
				if i+1 >= len(inner) {
					return "", fmt.Errorf("trailing backslash")
				}
				i++
				b.WriteByte(inner[i])
				continue
			}
			if c == '"' {
				return "", fmt.Errorf("unescaped quote")
			}
			b.WriteByte(c)
		}
		return b.String(), nil
	}
	if strings.ContainsAny(v, "\"'`$\\ \t") {
		return "", fmt.Errorf("unquoted value with special characters")
	}
	return v, nil
}

// Family returns the package manager for this distribution: apt for
// Debian and Ubuntu and their derivatives, dnf for RHEL-likes 8+ and
// Fedora, yum for RHEL-likes 7 and older, zypper for SUSE. ok is false
// for anything else.
func (r OSRelease) Family() (pm PackageManager, ok bool) {
	ids := append([]string{r.ID}, r.IDLike...)
	for _, id := range ids {
		switch id {
		case "debian", "ubuntu":
			return Apt, true
		case "fedora":
			return Dnf, true
		case "rhel", "centos", "rocky", "almalinux", "ol", "amzn":
			major := r.VersionID
			if i := strings.IndexByte(major, '.'); i >= 0 {
				major = major[:i]
			}
			switch major {
			case "5", "6", "7", "2": // amzn 2 is yum
				return Yum, true
			}
			return Dnf, true
		case "suse", "sles", "opensuse", "opensuse-leap", "opensuse-tumbleweed", "sle_hpc", "sled":
			return Zypper, true
		}
	}
	return "", false
}

// ReadOSRelease reads and parses /etc/os-release on the host behind t.
func (s *System) ReadOSRelease(ctx context.Context, t transport.Transport) (OSRelease, error) {
	out, err := transport.Output(ctx, t, transport.Query("cat", "--", "/etc/os-release"))
	if err != nil {
		return OSRelease{}, fmt.Errorf("read os-release: %w", err)
	}
	return ParseOSRelease(out)
}

// probeScript prints the first supported package manager found in PATH.
const probeScript = `for m in apt-get dnf yum zypper; do if command -v "$m" >/dev/null 2>&1; then echo "$m"; exit 0; fi; done; exit 1`

// DetectPackageManager returns the package manager of the host behind t
// (the one WithPackageManager set, if any): from /etc/os-release, or, for
// a distribution it does not know, the first of apt-get, dnf, yum and
// zypper found in PATH. ErrUnknownPackageManager if none.
func (s *System) DetectPackageManager(ctx context.Context, t transport.Transport) (PackageManager, error) {
	if s != nil && s.pm != "" {
		return s.pm, nil
	}
	if r, err := s.ReadOSRelease(ctx, t); err == nil {
		if pm, ok := r.Family(); ok {
			return pm, nil
		}
	} else if ctx.Err() != nil {
		return "", err
	}
	probe := transport.Shell(probeScript).MarkReadOnly()
	res, err := t.Run(ctx, probe)
	if err != nil {
		return "", fmt.Errorf("detect package manager: %w", err)
	}
	if res.Success() {
		switch strings.TrimSpace(string(res.Stdout)) {
		case "apt-get":
			return Apt, nil
		case "dnf":
			return Dnf, nil
		case "yum":
			return Yum, nil
		case "zypper":
			return Zypper, nil
		}
	}
	return "", fmt.Errorf("host %s: %w", transport.HostName(t), ErrUnknownPackageManager)
}
