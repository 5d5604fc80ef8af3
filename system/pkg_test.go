package system

import (
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/transport/fake"
)

const (
	osDebian12 = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
`
	osUbuntu2404 = `PRETTY_NAME="Ubuntu 24.04.1 LTS"
NAME="Ubuntu"
VERSION_ID="24.04"
VERSION="24.04.1 LTS (Noble Numbat)"
VERSION_CODENAME=noble
ID=ubuntu
ID_LIKE=debian
UBUNTU_CODENAME=noble
LOGO=ubuntu-logo
`
	osAlma9 = `NAME="AlmaLinux"
VERSION="9.4 (Seafoam Ocelot)"
ID="almalinux"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.4"
PLATFORM_ID="platform:el9"
PRETTY_NAME="AlmaLinux 9.4 (Seafoam Ocelot)"
ANSI_COLOR="0;34"
CPE_NAME="cpe:/o:almalinux:almalinux:9::baseos"
`
	osCentOS7 = `NAME="CentOS Linux"
VERSION="7 (Core)"
ID="centos"
ID_LIKE="rhel fedora"
VERSION_ID="7"
PRETTY_NAME="CentOS Linux 7 (Core)"
`
	osSLES15 = `NAME="SLES"
VERSION="15-SP6"
VERSION_ID="15.6"
PRETTY_NAME="SUSE Linux Enterprise Server 15 SP6"
ID="sles"
ID_LIKE="suse"
ANSI_COLOR="0;32"
CPE_NAME="cpe:/o:suse:sles:15:sp6"
`
	osArch = `NAME="Arch Linux"
PRETTY_NAME="Arch Linux"
ID=arch
BUILD_ID=rolling
`
)

func TestParseOSRelease(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		id       string
		version  string
		pm       PackageManager
		known    bool
	}{
		{"debian 12", osDebian12, "debian", "12", Apt, true},
		{"ubuntu 24.04", osUbuntu2404, "ubuntu", "24.04", Apt, true},
		{"almalinux 9", osAlma9, "almalinux", "9.4", Dnf, true},
		{"centos 7", osCentOS7, "centos", "7", Yum, true},
		{"sles 15", osSLES15, "sles", "15.6", Zypper, true},
		{"arch", osArch, "arch", "", "", false},
		{"comments and escapes", "# c\n\nID='rocky'\nVERSION_ID=\"8.10\"\nPRETTY_NAME=\"Rocky \\\"Green\\\" \\$x\"\n", "rocky", "8.10", Dnf, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := ParseOSRelease([]byte(tt.in))
			require.NoError(t, err)
			assert.Equal(t, tt.id, r.ID)
			assert.Equal(t, tt.version, r.VersionID)
			pm, ok := r.Family()
			assert.Equal(t, tt.known, ok)
			assert.Equal(t, tt.pm, pm)
		})
	}
	r, _ := ParseOSRelease([]byte("PRETTY_NAME=\"Rocky \\\"Green\\\" \\$x\"\n"))
	assert.Equal(t, `Rocky "Green" $x`, r.PrettyName)
	assert.Equal(t, "linux", r.ID, "os-release(5) default ID")
	for _, bad := range []string{"no equals\n", "ID=\"open\n", "ID=a b\n", "1X=y\n", "ID='a'b'\n", "ID=\"a\\\"\n"} {
		_, err := ParseOSRelease([]byte(bad))
		assert.ErrorIs(t, err, ErrMalformed, bad)
	}
}

func TestDetectPackageManager(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, osr string
		probe     string
		want      PackageManager
	}{
		{"debian", osDebian12, "", Apt},
		{"alma", osAlma9, "", Dnf},
		{"centos7", osCentOS7, "", Yum},
		{"sles", osSLES15, "", Zypper},
		{"unknown distro falls back to PATH", osArch, "zypper\n", Zypper},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fe := fake.New("fe1")
			fe.Expect(fake.Exact("cat", "--", "/etc/os-release")).Reply(tt.osr)
			if tt.probe != "" {
				fe.Expect(fake.Exact("/bin/sh", "-c", probeScript, "sh")).Reply(tt.probe)
			}
			got, err := DetectPackageManager(t.Context(), fe)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			fe.AssertExpectations(t)
			for _, c := range fe.Calls() {
				assert.True(t, c.Command.ReadOnly, "detection only reads")
			}
		})
	}
	fe := fake.New("fe1")
	fe.Expect(fake.Exact("cat", "--", "/etc/os-release")).Exit(1, "cat: /etc/os-release: No such file or directory\n")
	fe.Expect(fake.Exact("/bin/sh", "-c", probeScript, "sh")).Exit(1)
	_, err := DetectPackageManager(t.Context(), fe)
	assert.ErrorIs(t, err, ErrUnknownPackageManager)
	fe.AssertExpectations(t)
}

func TestUpgrade(t *testing.T) {
	t.Parallel()
	pkgs := []string{"opennebula", "opennebula-gate", "opennebula-flow", "opennebula-fireedge", "python3-pyone"}
	tests := []struct {
		pm   PackageManager
		argv []string
		env  map[string]string
	}{
		{Apt, append([]string{"apt-get", "install", "--only-upgrade", "-y", "-o", "Dpkg::Options::=--force-confold",
			"-o", "Dpkg::Options::=--force-confdef"}, pkgs...), map[string]string{"DEBIAN_FRONTEND": "noninteractive"}},
		{Dnf, append([]string{"dnf", "upgrade", "-y"}, pkgs...), nil},
		{Yum, append([]string{"yum", "upgrade", "-y"}, pkgs...), nil},
		{Zypper, append([]string{"zypper", "--non-interactive", "update"}, pkgs...), nil},
	}
	for _, tt := range tests {
		t.Run(string(tt.pm), func(t *testing.T) {
			t.Parallel()
			s, err := New(WithPackageManager(tt.pm))
			require.NoError(t, err)
			fe := fake.New("fe1")
			fe.Expect(fake.Exact(tt.argv...))
			require.NoError(t, s.Upgrade(t.Context(), fe, pkgs...))
			fe.AssertExpectations(t)
			c := fe.Calls()[0].Command
			assert.True(t, c.Sudo)
			assert.Equal(t, tt.env, c.Env)
		})
	}
	t.Run("failure", func(t *testing.T) {
		t.Parallel()
		s, _ := New(WithPackageManager(Apt))
		fe := fake.New("fe1")
		fe.Expect(fake.Prefix("apt-get", "install")).Exit(100, "E: Unable to locate package opennebula-form\n")
		err := s.Upgrade(t.Context(), fe, "opennebula-form")
		pe, ok := errors.AsType[*PackageError](err)
		require.True(t, ok, "%v", err)
		assert.Equal(t, Apt, pe.Manager)
		code, _ := transport.ExitCode(err)
		assert.Equal(t, 100, code)
	})
	t.Run("invalid names never run", func(t *testing.T) {
		t.Parallel()
		s, _ := New(WithPackageManager(Apt))
		fe := fake.New("fe1")
		for _, p := range []string{"-y", "a b", "", "$(id)", "x;y"} {
			assert.ErrorIs(t, s.Upgrade(t.Context(), fe, p), ErrInvalid, p)
		}
		assert.ErrorIs(t, s.Upgrade(t.Context(), fe), ErrInvalid)
		assert.Empty(t, fe.Calls())
	})
}

func TestInstalledVersion(t *testing.T) {
	t.Parallel()
	dpkg := []string{"dpkg-query", "-W", "-f=${Status}\t${Version}\n", "opennebula"}
	rpm := []string{"rpm", "-q", "--qf", "%{VERSION}-%{RELEASE}\n", "opennebula"}
	tests := []struct {
		name           string
		pm             PackageManager
		stdout, stderr string
		code           int
		want           string
		err            error
	}{
		{"dpkg installed", Apt, "install ok installed\t7.4.0-1\n", "", 0, "7.4.0-1", nil},
		{"dpkg multiarch", Apt, "install ok installed\t7.4.0-1\ninstall ok installed\t7.4.0-1\n", "", 0, "7.4.0-1", nil},
		{"dpkg config-files", Apt, "deinstall ok config-files\t7.2.0-1\n", "", 0, "", ErrNotInstalled},
		{"dpkg unknown", Apt, "unknown ok not-installed\t\n", "", 0, "", ErrNotInstalled},
		{"dpkg no such package", Apt, "", "dpkg-query: no packages found matching opennebula\n", 1, "", ErrNotInstalled},
		{"dpkg garbage", Apt, "7.4.0-1\n", "", 0, "", ErrMalformed},
		{"dpkg versions differ", Apt, "install ok installed\t7.4.0-1\ninstall ok installed\t7.2.0-1\n", "", 0, "", ErrMalformed},
		{"rpm installed", Dnf, "7.4.0-1.el9\n", "", 0, "7.4.0-1.el9", nil},
		{"rpm not installed", Dnf, "package opennebula is not installed\n", "", 1, "", ErrNotInstalled},
		{"rpm garbage", Yum, "(none)\n", "", 0, "", ErrMalformed},
		{"rpm other failure", Zypper, "", "error: rpmdb: BDB0113 Thread/process failed\n", 1, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, _ := New(WithPackageManager(tt.pm))
			fe := fake.New("fe1")
			argv := rpm
			if tt.pm == Apt {
				argv = dpkg
			}
			fe.Expect(fake.Exact(argv...)).Stdout(tt.stdout).Exit(tt.code, tt.stderr)
			got, err := s.InstalledVersion(t.Context(), fe, "opennebula")
			fe.AssertExpectations(t)
			assert.True(t, fe.Calls()[0].Command.ReadOnly)
			switch {
			case tt.want != "":
				require.NoError(t, err)
				assert.Equal(t, tt.want, got)
			case tt.err != nil:
				assert.ErrorIs(t, err, tt.err)
			default:
				code, ok := transport.ExitCode(err)
				assert.True(t, ok && code == tt.code, "%v", err)
			}
		})
	}
}

func TestRenderRepo(t *testing.T) {
	t.Parallel()
	base := Repo{Name: "opennebula", URL: "https://downloads.opennebula.io/repo/7.4/Ubuntu/24.04",
		Suite: "stable", Components: []string{"opennebula"}, KeyURL: "https://downloads.opennebula.io/repo/repo2.key"}
	tests := []struct {
		name string
		pm   PackageManager
		repo func(r Repo) Repo
		path string
		want string
	}{
		{"apt list", Apt, func(r Repo) Repo { return r }, "/etc/apt/sources.list.d/opennebula.list",
			"# Written by upgradekit\ndeb [signed-by=/etc/apt/keyrings/opennebula.asc] https://downloads.opennebula.io/repo/7.4/Ubuntu/24.04 stable opennebula\n"},
		{"apt deb822 with token", Apt, func(r Repo) Repo {
			r.Deb822, r.Token = true, transport.NewSecret("s3cr3t-t0k3n")
			r.URL = "https://enterprise.opennebula.io/repo/7.4/Ubuntu/24.04"
			return r
		}, "/etc/apt/sources.list.d/opennebula.sources",
			"# Written by upgradekit\nTypes: deb\nURIs: https://s3cr3t-t0k3n@enterprise.opennebula.io/repo/7.4/Ubuntu/24.04\nSuites: stable\nComponents: opennebula\nSigned-By: /etc/apt/keyrings/opennebula.asc\n"},
		{"dnf", Dnf, func(r Repo) Repo {
			r.URL, r.Description = "https://downloads.opennebula.io/repo/7.4/RedHat/9/$basearch", "OpenNebula Community Edition"
			return r
		}, "/etc/yum.repos.d/opennebula.repo",
			"# Written by upgradekit\n[opennebula]\nname=OpenNebula Community Edition\nbaseurl=https://downloads.opennebula.io/repo/7.4/RedHat/9/$basearch\nenabled=1\ngpgcheck=1\nrepo_gpgcheck=1\ngpgkey=https://downloads.opennebula.io/repo/repo2.key\n"},
		{"zypper with key file", Zypper, func(r Repo) Repo {
			r.URL, r.KeyURL, r.Key = "https://downloads.opennebula.io/repo/7.4/SLES/15/x86_64", "", []byte("KEY")
			return r
		}, "/etc/zypp/repos.d/opennebula.repo",
			"# Written by upgradekit\n[opennebula]\nname=opennebula\nbaseurl=https://downloads.opennebula.io/repo/7.4/SLES/15/x86_64\nenabled=1\ngpgcheck=1\nautorefresh=1\ntype=rpm-md\ngpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-opennebula\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := tt.repo(base).render(tt.pm)
			require.NoError(t, err)
			assert.Equal(t, tt.path, f.path)
			assert.Equal(t, tt.want, string(f.content))
		})
	}
	for _, bad := range []Repo{
		{Name: "", URL: base.URL, Components: base.Components},
		{Name: "../x", URL: base.URL, Components: base.Components},
		{Name: "one", URL: "https://tok@enterprise.opennebula.io/repo", Components: base.Components},
		{Name: "one", URL: "not a url", Components: base.Components},
		{Name: "one", URL: base.URL},
		{Name: "one", URL: base.URL, Components: base.Components, Token: transport.NewSecret("a@b")},
		{Name: "one", URL: base.URL, Components: base.Components, KeyPath: "relative.asc"},
	} {
		_, err := bad.render(Apt)
		assert.ErrorIs(t, err, ErrInvalid, "%+v", bad)
	}
}

func TestSwitchRepositoryKeepsTokenSecret(t *testing.T) {
	t.Parallel()
	const token = "s3cr3t-t0k3n"
	core, logs := observer.New(zap.DebugLevel)
	s, err := New(WithPackageManager(Apt), WithLogger(zap.New(core)))
	require.NoError(t, err)
	fe := fake.New("fe1")
	fe.Expect(fake.Exact("/bin/sh", "-c", fetchScript, "sh", "https://downloads.opennebula.io/repo/repo2.key", "/etc/apt/keyrings/opennebula.asc"))
	fe.Expect(fake.Exact("rm", "-f", "--", "/etc/apt/sources.list.d/opennebula.sources", "/etc/apt/sources.list.d/opennebula-6.10.list"))
	fe.Expect(fake.Exact("apt-get", "update")).Exit(100, "E: Failed to fetch https://"+token+"@enterprise.opennebula.io/repo/7.4/Ubuntu/24.04/dists/stable/InRelease 401 Unauthorized\n")
	repo := Repo{Name: "opennebula", URL: "https://enterprise.opennebula.io/repo/7.4/Ubuntu/24.04",
		Token: transport.NewSecret(token), Components: []string{"opennebula"},
		KeyURL:   "https://downloads.opennebula.io/repo/repo2.key",
		Replaces: []string{"/etc/apt/sources.list.d/opennebula-6.10.list"}}
	err = s.SwitchRepository(t.Context(), fe, repo)
	require.Error(t, err, "the refresh failed")
	fe.AssertExpectations(t)

	// The file holds the token and is root-only.
	f, ok := fe.File("/etc/apt/sources.list.d/opennebula.list")
	require.True(t, ok)
	assert.Contains(t, string(f.Data), "https://"+token+"@enterprise.opennebula.io/")
	assert.Equal(t, fs.FileMode(0o600), f.Mode)
	assert.Equal(t, "root", f.Owner)
	assert.True(t, f.Sudo)

	// ... and appears nowhere else: argv, command strings, errors, logs.
	assert.NotContains(t, err.Error(), token)
	for _, c := range fe.Calls() {
		assert.NotContains(t, strings.Join(c.Argv(), " "), token)
		assert.NotContains(t, c.Command.String(), token)
	}
	for _, e := range logs.All() {
		assert.NotContains(t, e.Message, token)
		for _, f := range e.Context {
			assert.NotContains(t, f.String, token)
		}
	}
	assert.NotZero(t, logs.Len())
}

func TestSwitchRepositoryRPM(t *testing.T) {
	t.Parallel()
	t.Run("dnf", func(t *testing.T) {
		t.Parallel()
		fe := fake.New("fe1")
		fe.Expect(fake.Exact("cat", "--", "/etc/os-release")).Reply(osAlma9)
		fe.Expect(fake.Exact("dnf", "-y", "makecache"))
		err := SwitchRepository(t.Context(), fe, Repo{Name: "opennebula",
			URL:    "https://downloads.opennebula.io/repo/7.4/AlmaLinux/9/$basearch",
			KeyURL: "https://downloads.opennebula.io/repo/repo2.key"})
		require.NoError(t, err)
		fe.AssertExpectations(t)
		f, ok := fe.File("/etc/yum.repos.d/opennebula.repo")
		require.True(t, ok)
		assert.Equal(t, fs.FileMode(0o644), f.Mode)
		assert.Contains(t, string(f.Data), "gpgkey=https://downloads.opennebula.io/repo/repo2.key\n")
	})
	t.Run("zypper", func(t *testing.T) {
		t.Parallel()
		s, _ := New(WithPackageManager(Zypper))
		fe := fake.New("fe1")
		fe.Expect(fake.Exact("rpm", "--import", "/etc/pki/rpm-gpg/RPM-GPG-KEY-opennebula"))
		fe.Expect(fake.Exact("zypper", "--non-interactive", "refresh", "opennebula"))
		err := s.SwitchRepository(t.Context(), fe, Repo{Name: "opennebula",
			URL: "https://downloads.opennebula.io/repo/7.4/SLES/15/x86_64", Key: []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n")})
		require.NoError(t, err)
		fe.AssertExpectations(t)
		_, ok := fe.File("/etc/pki/rpm-gpg/RPM-GPG-KEY-opennebula")
		assert.True(t, ok, "key uploaded before the import")
		_, ok = fe.File("/etc/zypp/repos.d/opennebula.repo")
		assert.True(t, ok)
		for _, c := range fe.Calls() {
			assert.True(t, c.Command.Sudo)
		}
	})
}
