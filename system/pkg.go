package system

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net/url"
	"path"
	"strings"

	"go.uber.org/zap"

	"github.com/upgradekit/upgradekit/transport"
)

// PackageManager names a distribution's package manager.
type PackageManager string

// Supported package managers.
const (
	Apt    PackageManager = "apt"
	Dnf    PackageManager = "dnf"
	Yum    PackageManager = "yum"
	Zypper PackageManager = "zypper"
)

// Repo describes a package repository. SwitchRepository turns it into the
// manager's own file format; nothing of it (in particular Token) is put
// on a command line.
type Repo struct {
	// Name identifies the repository: the file name (NAME.list,
	// NAME.sources, NAME.repo) and the rpm repo id. Letters, digits, '.',
	// '_' and '-'.
	Name string
	// Description is the rpm "name=" line; Name when empty.
	Description string
	// URL is the base URL without credentials, e.g.
	// https://downloads.opennebula.io/repo/7.4/Ubuntu/24.04 or, for rpm,
	// https://downloads.opennebula.io/repo/7.4/RedHat/9/$basearch.
	URL string
	// Token, when set, goes into the URL's user part, as OpenNebula
	// Enterprise Edition needs (https://TOKEN@enterprise.opennebula.io/...).
	// The repository file is then written mode 0600. A token of the form
	// user:password is split accordingly.
	Token transport.Secret
	// Suite and Components are apt's distribution and components
	// (OpenNebula: "stable" and ["opennebula"]). Suite defaults to
	// "stable"; Components are required for apt.
	Suite      string
	Components []string
	// KeyURL is the signing key's URL. apt: the host downloads it to
	// KeyPath (curl, else wget); rpm: it becomes gpgkey= (and zypper
	// imports it with rpm --import).
	KeyURL string
	// Key is the armored signing key itself, uploaded to KeyPath.
	Key []byte
	// KeyPath is where the key is (or is put) on the host. Defaults:
	// /etc/apt/keyrings/NAME.asc, /etc/pki/rpm-gpg/RPM-GPG-KEY-NAME.
	KeyPath string
	// NoGPGCheck turns signature checking off (rpm gpgcheck=0). Avoid.
	NoGPGCheck bool
	// Deb822 writes apt's NAME.sources format instead of a NAME.list line.
	Deb822 bool
	// Replaces lists other repository files (absolute paths) to remove, for
	// example an older definition under a different name.
	Replaces []string
}

func validName(s string) bool {
	if s == "" || s[0] == '-' || s[0] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '.' || c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func (r Repo) validate(pm PackageManager) error {
	if !validName(r.Name) {
		return fmt.Errorf("%w: repository name %q", ErrInvalid, r.Name)
	}
	u, err := url.Parse(r.URL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return fmt.Errorf("%w: repository URL %q", ErrInvalid, r.URL)
	}
	if u.User != nil {
		return fmt.Errorf("%w: repository URL has credentials: put them in Repo.Token", ErrInvalid)
	}
	if strings.ContainsAny(r.URL, " \t\n\r") || strings.ContainsAny(r.Description, "\n\r") {
		return fmt.Errorf("%w: repository URL or description contains white space", ErrInvalid)
	}
	if strings.ContainsAny(r.Token.Reveal(), "@/ \t\n\r") {
		return fmt.Errorf("%w: repository token contains a character that cannot go in a URL", ErrInvalid)
	}
	if pm == Apt {
		if len(r.Components) == 0 {
			return fmt.Errorf("%w: apt repository needs Components", ErrInvalid)
		}
		for _, c := range append([]string{r.Suite}, r.Components...) {
			if strings.ContainsAny(c, " \t\n\r]") {
				return fmt.Errorf("%w: apt suite or component %q", ErrInvalid, c)
			}
		}
	}
	for _, p := range append([]string{r.KeyPath}, r.Replaces...) {
		if p != "" && (!path.IsAbs(p) || strings.ContainsAny(p, "\n\r]")) {
			return fmt.Errorf("%w: path %q", ErrInvalid, p)
		}
	}
	if r.KeyURL != "" {
		if k, err := url.Parse(r.KeyURL); err != nil || k.Scheme == "" || strings.ContainsAny(r.KeyURL, " \t\n\r") {
			return fmt.Errorf("%w: key URL %q", ErrInvalid, r.KeyURL)
		}
	}
	return nil
}

// fullURL returns the URL with the token in its user part.
func (r Repo) fullURL() string {
	tok := r.Token.Reveal()
	if tok == "" {
		return r.URL
	}
	scheme, rest, _ := strings.Cut(r.URL, "://")
	return scheme + "://" + tok + "@" + rest
}

func (r Repo) keyPath(pm PackageManager) string {
	if r.KeyPath != "" {
		return r.KeyPath
	}
	if r.KeyURL == "" && r.Key == nil {
		return ""
	}
	if pm == Apt {
		return "/etc/apt/keyrings/" + r.Name + ".asc"
	}
	return "/etc/pki/rpm-gpg/RPM-GPG-KEY-" + r.Name
}

// repoFile is a rendered repository definition.
type repoFile struct {
	path    string
	content []byte // may hold the token: never log it
	remove  []string
}

// render produces pm's repository file for r.
func (r Repo) render(pm PackageManager) (repoFile, error) {
	if err := r.validate(pm); err != nil {
		return repoFile{}, err
	}
	key := r.keyPath(pm)
	var b bytes.Buffer
	var f repoFile
	switch pm {
	case Apt:
		suite := r.Suite
		if suite == "" {
			suite = "stable"
		}
		dir := "/etc/apt/sources.list.d/"
		b.WriteString("# Written by upgradekit\n")
		if r.Deb822 {
			f.path, f.remove = dir+r.Name+".sources", []string{dir + r.Name + ".list"}
			fmt.Fprintf(&b, "Types: deb\nURIs: %s\nSuites: %s\nComponents: %s\n", r.fullURL(), suite, strings.Join(r.Components, " "))
			if key != "" {
				fmt.Fprintf(&b, "Signed-By: %s\n", key)
			}
		} else {
			f.path, f.remove = dir+r.Name+".list", []string{dir + r.Name + ".sources"}
			b.WriteString("deb ")
			if key != "" {
				fmt.Fprintf(&b, "[signed-by=%s] ", key)
			}
			fmt.Fprintf(&b, "%s %s %s\n", r.fullURL(), suite, strings.Join(r.Components, " "))
		}
	case Dnf, Yum, Zypper:
		if pm == Zypper {
			f.path = "/etc/zypp/repos.d/" + r.Name + ".repo"
		} else {
			f.path = "/etc/yum.repos.d/" + r.Name + ".repo"
		}
		desc := r.Description
		if desc == "" {
			desc = r.Name
		}
		gpg := 1
		if r.NoGPGCheck {
			gpg = 0
		}
		fmt.Fprintf(&b, "# Written by upgradekit\n[%s]\nname=%s\nbaseurl=%s\nenabled=1\ngpgcheck=%d\n", r.Name, desc, r.fullURL(), gpg)
		if pm != Zypper {
			fmt.Fprintf(&b, "repo_gpgcheck=%d\n", gpg)
		} else {
			b.WriteString("autorefresh=1\ntype=rpm-md\n")
		}
		switch {
		case r.KeyURL != "" && r.Key == nil && r.KeyPath == "":
			fmt.Fprintf(&b, "gpgkey=%s\n", r.KeyURL)
		case key != "":
			fmt.Fprintf(&b, "gpgkey=file://%s\n", key)
		}
	default:
		return repoFile{}, fmt.Errorf("%w: package manager %q", ErrInvalid, pm)
	}
	f.content = b.Bytes()
	f.remove = append(f.remove, r.Replaces...)
	return f, nil
}

// fetchScript downloads $1 to $2 with curl, or wget when curl is missing.
const fetchScript = `mkdir -p -- "$(dirname -- "$2")" || exit 1
if command -v curl >/dev/null 2>&1; then exec curl -fsSL -o "$2" -- "$1"; fi
exec wget -q -O "$2" -- "$1"`

// SwitchRepository points the host's package manager at repo: it installs
// the signing key if one is given, writes the repository file through
// transport.Upload (so a token never reaches a command line), removes the
// definitions it replaces, and refreshes the metadata (apt-get update,
// dnf/yum makecache, zypper refresh). Running it again with the same repo
// rewrites the same file.
func (s *System) SwitchRepository(ctx context.Context, t transport.Transport, repo Repo) error {
	pm, err := s.DetectPackageManager(ctx, t)
	if err != nil {
		return err
	}
	perr := func(err error) error {
		return &PackageError{Host: transport.HostName(t), Manager: pm, Op: "switch repository " + repo.Name, Err: err}
	}
	f, err := repo.render(pm)
	if err != nil {
		return perr(err)
	}
	s.log().Info("switch repository", hostField(t), zap.String("manager", string(pm)),
		zap.String("repo", repo.Name), zap.String("url", repo.URL), zap.String("file", f.path))
	// Signing key first, so the refresh below can verify.
	if key := repo.keyPath(pm); key != "" {
		switch {
		case repo.Key != nil:
			if _, err := transport.Upload(ctx, t, key, bytes.NewReader(repo.Key), transport.FileOptions{Mode: 0o644, Sudo: s.sudo()}); err != nil {
				return perr(fmt.Errorf("install key: %w", err))
			}
		case repo.KeyURL != "" && (pm == Apt || repo.KeyPath != ""):
			if err := transport.Check(ctx, t, s.root(transport.Shell(fetchScript, repo.KeyURL, key))); err != nil {
				return perr(fmt.Errorf("fetch key: %w", err))
			}
		}
		if pm == Zypper {
			if err := transport.Check(ctx, t, s.root(transport.Cmd("rpm", "--import", key))); err != nil {
				return perr(fmt.Errorf("import key: %w", err))
			}
		}
	} else if pm == Zypper && repo.KeyURL != "" {
		if err := transport.Check(ctx, t, s.root(transport.Cmd("rpm", "--import", repo.KeyURL))); err != nil {
			return perr(fmt.Errorf("import key: %w", err))
		}
	}
	mode := fs.FileMode(0o644)
	if !repo.Token.IsZero() {
		mode = 0o600
	}
	if _, err := transport.Upload(ctx, t, f.path, bytes.NewReader(f.content),
		transport.FileOptions{Mode: mode, Owner: "root", Group: "root", Sudo: s.sudo()}); err != nil {
		return perr(fmt.Errorf("write %s: %w", f.path, redactErr(err, repo.Token)))
	}
	if len(f.remove) > 0 {
		if err := transport.Check(ctx, t, s.root(transport.Cmd("rm", append([]string{"-f", "--"}, f.remove...)...))); err != nil {
			return perr(fmt.Errorf("remove old definitions: %w", err))
		}
	}
	var refresh transport.Command
	switch pm {
	case Apt:
		refresh = transport.Cmd("apt-get", "update")
		refresh.Env = map[string]string{"DEBIAN_FRONTEND": "noninteractive"}
	case Dnf, Yum:
		refresh = transport.Cmd(string(pm), "-y", "makecache")
	case Zypper:
		refresh = transport.Cmd("zypper", "--non-interactive", "refresh", repo.Name)
	}
	if tok := repo.Token.Reveal(); tok != "" {
		refresh.Redact = []string{tok} // tools echo repository URLs in errors
	}
	if err := transport.Check(ctx, t, s.root(refresh)); err != nil {
		return perr(fmt.Errorf("refresh: %w", err))
	}
	return nil
}

// redactErr masks tok in err's text, keeping err reachable with errors.As.
func redactErr(err error, tok transport.Secret) error {
	v := tok.Reveal()
	if v == "" || !strings.Contains(err.Error(), v) {
		return err
	}
	return &redactedError{msg: strings.ReplaceAll(err.Error(), v, "[REDACTED]"), err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

func checkPackages(pkgs []string) error {
	if len(pkgs) == 0 {
		return fmt.Errorf("%w: no packages given", ErrInvalid)
	}
	for _, p := range pkgs {
		ok := p != "" && (p[0] >= 'a' && p[0] <= 'z' || p[0] >= 'A' && p[0] <= 'Z' || p[0] >= '0' && p[0] <= '9')
		for i := 0; ok && i < len(p); i++ {
			c := p[i]
			ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("+._:~=*-", c) >= 0
		}
		if !ok {
			return fmt.Errorf("%w: package name %q", ErrInvalid, p)
		}
	}
	return nil
}

// UpgradeCommand returns the command Upgrade runs for pm: upgrade only
// the named packages, never install new ones, keep modified config
// files. apt: `apt-get install --only-upgrade -y -o
// Dpkg::Options::=--force-confold -o Dpkg::Options::=--force-confdef
// PKGS` with DEBIAN_FRONTEND=noninteractive; dnf/yum: `upgrade -y PKGS`
// (rpm keeps a modified config and writes the new one as .rpmnew);
// zypper: `--non-interactive update PKGS`.
func UpgradeCommand(pm PackageManager, pkgs ...string) (transport.Command, error) {
	if err := checkPackages(pkgs); err != nil {
		return transport.Command{}, err
	}
	var c transport.Command
	switch pm {
	case Apt:
		c = transport.Cmd("apt-get", append([]string{"install", "--only-upgrade", "-y",
			"-o", "Dpkg::Options::=--force-confold", "-o", "Dpkg::Options::=--force-confdef"}, pkgs...)...)
		c.Env = map[string]string{"DEBIAN_FRONTEND": "noninteractive"}
	case Dnf, Yum:
		c = transport.Cmd(string(pm), append([]string{"upgrade", "-y"}, pkgs...)...)
	case Zypper:
		c = transport.Cmd("zypper", append([]string{"--non-interactive", "update"}, pkgs...)...)
	default:
		return transport.Command{}, fmt.Errorf("%w: package manager %q", ErrInvalid, pm)
	}
	return c, nil
}

// Upgrade upgrades the named packages on the host behind t (see
// UpgradeCommand), as root. Packages not installed are not installed.
func (s *System) Upgrade(ctx context.Context, t transport.Transport, pkgs ...string) error {
	if err := checkPackages(pkgs); err != nil {
		return err
	}
	pm, err := s.DetectPackageManager(ctx, t)
	if err != nil {
		return err
	}
	c, err := UpgradeCommand(pm, pkgs...)
	if err != nil {
		return err
	}
	s.log().Info("upgrade packages", hostField(t), zap.String("manager", string(pm)), zap.Strings("packages", pkgs))
	if err := transport.Check(ctx, t, s.root(c)); err != nil {
		return &PackageError{Host: transport.HostName(t), Manager: pm, Op: "upgrade", Packages: pkgs, Err: err}
	}
	return nil
}

// DownloadCommand returns the command Download runs for pm: what
// UpgradeCommand would install, downloaded into the package manager's
// cache and not installed. apt: `apt-get install --only-upgrade
// --download-only -y PKGS`; dnf/yum: `upgrade --downloadonly -y PKGS`;
// zypper: `--non-interactive update --download-only PKGS`.
func DownloadCommand(pm PackageManager, pkgs ...string) (transport.Command, error) {
	if err := checkPackages(pkgs); err != nil {
		return transport.Command{}, err
	}
	var c transport.Command
	switch pm {
	case Apt:
		c = transport.Cmd("apt-get", append([]string{"install", "--only-upgrade", "--download-only", "-y"}, pkgs...)...)
		c.Env = map[string]string{"DEBIAN_FRONTEND": "noninteractive"}
	case Dnf, Yum:
		c = transport.Cmd(string(pm), append([]string{"upgrade", "--downloadonly", "-y"}, pkgs...)...)
	case Zypper:
		c = transport.Cmd("zypper", append([]string{"--non-interactive", "update", "--download-only"}, pkgs...)...)
	default:
		return transport.Command{}, fmt.Errorf("%w: package manager %q", ErrInvalid, pm)
	}
	return c, nil
}

// Download fetches, as root, the packages an Upgrade of pkgs would
// install, without installing them (see DownloadCommand), so that the
// upgrade itself, later, only installs: run it before an outage to keep
// the download out of it.
func (s *System) Download(ctx context.Context, t transport.Transport, pkgs ...string) error {
	if err := checkPackages(pkgs); err != nil {
		return err
	}
	pm, err := s.DetectPackageManager(ctx, t)
	if err != nil {
		return err
	}
	c, err := DownloadCommand(pm, pkgs...)
	if err != nil {
		return err
	}
	s.log().Info("download packages", hostField(t), zap.String("manager", string(pm)), zap.Strings("packages", pkgs))
	if err := transport.Check(ctx, t, s.root(c)); err != nil {
		return &PackageError{Host: transport.HostName(t), Manager: pm, Op: "download", Packages: pkgs, Err: err}
	}
	return nil
}

// InstalledVersion returns pkg's installed version: dpkg's Version
// ("7.4.0-1") from `dpkg-query -W -f='${Status}\t${Version}\n' PKG`, or
// rpm's VERSION-RELEASE ("7.4.0-1.el9") from `rpm -q --qf
// '%{VERSION}-%{RELEASE}\n' PKG`. ErrNotInstalled (in a *PackageError)
// when it is not installed, including a Debian package removed with its
// config files left.
func (s *System) InstalledVersion(ctx context.Context, t transport.Transport, pkg string) (string, error) {
	if err := checkPackages([]string{pkg}); err != nil {
		return "", err
	}
	pm, err := s.DetectPackageManager(ctx, t)
	if err != nil {
		return "", err
	}
	var cmd transport.Command
	if pm == Apt {
		cmd = transport.Query("dpkg-query", "-W", "-f=${Status}\t${Version}\n", pkg)
	} else {
		cmd = transport.Query("rpm", "-q", "--qf", "%{VERSION}-%{RELEASE}\n", pkg)
	}
	res, err := t.Run(ctx, cmd)
	perr := func(err error) error {
		return &PackageError{Host: transport.HostName(t), Manager: pm, Op: "query", Packages: []string{pkg}, Err: err}
	}
	if err != nil {
		return "", perr(err)
	}
	if res.ExitCode == 1 && res.Signal == "" {
		// dpkg-query: "no packages found matching X" on stderr; rpm:
		// "package X is not installed" on stdout.
		if bytes.Contains(res.Stderr, []byte("no packages found")) || bytes.Contains(res.Stdout, []byte("is not installed")) {
			return "", perr(ErrNotInstalled)
		}
	}
	if err := transport.ResultError(cmd, res); err != nil {
		return "", perr(err)
	}
	var v string
	if pm == Apt {
		v, err = ParseDpkgQuery(res.Stdout)
	} else {
		v, err = ParseRPMQuery(res.Stdout)
	}
	if err != nil {
		return "", perr(err)
	}
	return v, nil
}

func validVersion(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c <= ' ' || c >= 0x7f || c == '\'' || c == '"' || c == '\\' || c == '(' || c == ')' || c == '%' {
			return false
		}
	}
	return true
}

// ParseDpkgQuery parses `dpkg-query -W -f='${Status}\t${Version}\n'`
// output. Several lines (one per architecture) must agree. A status other
// than "... installed" (config-files, half-installed, not-installed) is
// ErrNotInstalled.
func ParseDpkgQuery(out []byte) (string, error) {
	var version string
	installed := false
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	for _, line := range lines {
		status, v, ok := strings.Cut(line, "\t")
		words := strings.Fields(status)
		if !ok || len(words) != 3 {
			return "", &ParseError{What: "dpkg-query", Line: line, Reason: "want STATUS<TAB>VERSION"}
		}
		if words[2] != "installed" {
			continue
		}
		if !validVersion(v) {
			return "", &ParseError{What: "dpkg-query", Line: line, Reason: "bad version"}
		}
		if installed && v != version {
			return "", &ParseError{What: "dpkg-query", Line: line, Reason: "different versions installed (" + version + ", " + v + ")"}
		}
		version, installed = v, true
	}
	if !installed {
		return "", ErrNotInstalled
	}
	return version, nil
}

// ParseRPMQuery parses `rpm -q --qf '%{VERSION}-%{RELEASE}\n'` output.
// Several lines (multilib, or a package installed twice) must agree.
func ParseRPMQuery(out []byte) (string, error) {
	s := strings.TrimRight(string(out), "\n")
	if strings.Contains(s, "is not installed") {
		return "", ErrNotInstalled
	}
	var version string
	for i, line := range strings.Split(s, "\n") {
		v := strings.TrimSpace(line)
		if !validVersion(v) || !strings.Contains(v, "-") || strings.HasPrefix(v, "-") || strings.HasSuffix(v, "-") {
			return "", &ParseError{What: "rpm -q", Line: line, Reason: "want VERSION-RELEASE"}
		}
		if i > 0 && v != version {
			return "", &ParseError{What: "rpm -q", Line: line, Reason: "different versions installed (" + version + ", " + v + ")"}
		}
		version = v
	}
	return version, nil
}

// Package-level shortcuts with the default configuration.

// SwitchRepository switches the repository with the default System.
func SwitchRepository(ctx context.Context, t transport.Transport, repo Repo) error {
	return (*System)(nil).SwitchRepository(ctx, t, repo)
}

// Upgrade upgrades packages with the default System.
func Upgrade(ctx context.Context, t transport.Transport, pkgs ...string) error {
	return (*System)(nil).Upgrade(ctx, t, pkgs...)
}

// InstalledVersion returns pkg's version with the default System.
func InstalledVersion(ctx context.Context, t transport.Transport, pkg string) (string, error) {
	return (*System)(nil).InstalledVersion(ctx, t, pkg)
}

// DetectPackageManager detects the package manager with the default System.
func DetectPackageManager(ctx context.Context, t transport.Transport) (PackageManager, error) {
	return (*System)(nil).DetectPackageManager(ctx, t)
}
