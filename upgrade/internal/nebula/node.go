package nebula

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/upgradekit/upgradekit/onedb"
	"github.com/upgradekit/upgradekit/onedconf"
	"github.com/upgradekit/upgradekit/system"
	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/upgrade"
	vpath "github.com/upgradekit/upgradekit/upgrade/path"
)

// ConfigDirs are the configuration directories backed up on every
// front-end and synced from the leader to the followers (install.sh; the HA guide's seeding steps).
var ConfigDirs = []string{"/etc/one", "/var/lib/one/remotes/etc", "/var/lib/one/.one"}

// OnecfgState is onecfg's state file, outside /etc/one (install.sh).
const OnecfgState = "/etc/onecfg.conf"

// FrontendPackages are the front-end packages upgraded (those installed):
// the single front-end guide's list (the single front-end upgrade guide) for every family.
var FrontendPackages = []string{
	"opennebula", "opennebula-gate", "opennebula-flow", "opennebula-fireedge", "opennebula-guacd",
	"opennebula-form", "opennebula-ks", "opennebula-migration", "opennebula-prometheus",
	"python3-pyone", "python313-pyone",
}

// dependentPackages move with opennebula (exact-version dependencies);
// their versions are recorded too, so that a rollback can pin them back.
var dependentPackages = []string{
	"opennebula-common", "opennebula-common-onecfg", "opennebula-tools", "opennebula-libs", "opennebula-rubygems",
	"opennebula-node-kvm", "opennebula-node-lxc",
}

// VersionError reports a host whose installed release is not the one
// expected.
type VersionError struct {
	Host, Package   string
	Found, Expected string
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("%s: %s is at %s, expected %s", e.Host, e.Package, e.Found, e.Expected)
}

// Release returns the release of pkg installed on the host behind t
// (package revision dropped).
func (k *Kit) Release(ctx context.Context, t transport.Transport, pkg string) (vpath.Version, error) {
	raw, err := k.sys.InstalledVersion(ctx, t, pkg)
	if err != nil {
		return vpath.Version{}, err
	}
	return vpath.Parse(raw)
}

// atTarget reports whether pkg on the host behind t is at the target
// release.
func (k *Kit) atTarget(ctx context.Context, t transport.Transport, pkg string) (bool, error) {
	v, err := k.Release(ctx, t, pkg)
	if err != nil {
		return false, err
	}
	return v == k.target, nil
}

// BackupConfig backs up the configuration on node (or, with
// "", the host of the enclosing PerHost): ConfigDirs with system.BackupDir and OnecfgState with
// `cp -a`, each to PATH.<timestamp>, once (a re-run keeps the first
// backups, recorded in ConfigBackups). Rollback puts the backups back
// (system.RestoreDir), undoing onecfg, the packages' and the sync's
// changes.
func (k *Kit) BackupConfig(name, node string) upgrade.Step {
	return Step(name, "back up "+strings.Join(append(slices.Clone(ConfigDirs), OnecfgState), ", ")+" to <path>.<timestamp>",
		onNode(node, func(ctx context.Context, s *upgrade.State, t transport.Transport, n string) error {
			key := ConfigBackups(n)
			done, _ := key.Get(s)
			done = maps.Clone(done)
			if done == nil {
				done = map[string]string{}
			}
			for _, d := range append(slices.Clone(ConfigDirs), OnecfgState) {
				if _, ok := done[d]; ok {
					continue
				}
				var (
					b   string
					err error
				)
				if d == OnecfgState {
					b, err = k.backupFile(ctx, t, d)
				} else {
					b, err = k.sys.BackupDir(ctx, t, d)
				}
				switch {
				case errors.Is(err, system.ErrNotFound):
					s.Output("stdout", d+" does not exist: nothing to back up")
					b = ""
				case err != nil:
					return fmt.Errorf("back up %s: %w", d, err)
				default:
					s.Output("stdout", d+" → "+b)
				}
				done[d] = b
				if err := key.Set(s, maps.Clone(done)); err != nil {
					return err
				}
			}
			return nil
		})).CheckWith(Idempotent).RollbackWith(onNode(node, func(ctx context.Context, s *upgrade.State, t transport.Transport, n string) error {
		done, _ := ConfigBackups(n).Get(s)
		var errs []error
		for _, d := range slices.Sorted(maps.Keys(done)) {
			b := done[d]
			if b == "" {
				continue
			}
			if d == OnecfgState {
				errs = append(errs, transport.Check(ctx, t, k.root(transport.Cmd("cp", "-a", "--", b, d))))
				continue
			}
			errs = append(errs, k.sys.RestoreDir(ctx, t, b, d))
		}
		return errors.Join(errs...)
	}))
}

// backupFile copies file to file.<timestamp> with `cp -a`; a missing file
// is system.ErrNotFound, an existing backup system.ErrBackupExists.
func (k *Kit) backupFile(ctx context.Context, t transport.Transport, file string) (string, error) {
	exists := func(p string) (bool, error) {
		res, err := t.Run(ctx, k.root(transport.Query("test", "-e", p)))
		if err != nil {
			return false, err
		}
		switch res.ExitCode {
		case 0:
			return true, nil
		case 1:
			return false, nil
		}
		return false, transport.ResultError(k.root(transport.Query("test", "-e", p)), res)
	}
	ok, err := exists(file)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", fmt.Errorf("%s: %w", file, system.ErrNotFound)
	}
	b := file + "." + k.o.now().Format(system.BackupTimeFormat)
	if ok, err := exists(b); err != nil || ok {
		if err == nil {
			err = fmt.Errorf("%s: %w", b, system.ErrBackupExists)
		}
		return "", err
	}
	return b, transport.Check(ctx, t, k.root(transport.Cmd("cp", "-a", "--", file, b)))
}

func (k *Kit) dbOpts(opts ...onedb.Option) []onedb.Option {
	out := []onedb.Option{onedb.WithLogger(k.o.log)}
	if k.o.sudo {
		out = append(out, onedb.WithSudo())
	}
	return append(out, opts...)
}

func (k *Kit) mkBackupDir(ctx context.Context, t transport.Transport) error {
	return transport.Check(ctx, t, k.root(transport.Cmd("mkdir", "-p", "--", k.o.backupDir)))
}

// BackupDB runs `onedb backup` on node ("" = the PerHost host) into
// the Kit's backup directory before anything is upgraded (guide step 4),
// once (DBBackup). The rollbacks of UpgradeDB and RestoreUpgradedDB
// restore it.
func (k *Kit) BackupDB(name, node string) upgrade.Step {
	return Step(name, "onedb backup of the current database (restored by a rollback)",
		onNode(node, func(ctx context.Context, s *upgrade.State, t transport.Transport, n string) error {
			key := DBBackup(n)
			file, ok := key.Get(s)
			if !ok {
				file = path.Join(k.o.backupDir, fmt.Sprintf("%s-before-%s-%s.sql", n, k.target, k.o.now().UTC().Format(system.BackupTimeFormat)))
			}
			if err := k.mkBackupDir(ctx, t); err != nil {
				return err
			}
			// Recorded before the backup runs: a re-run overwrites the
			// same file (Force) instead of leaving a stray one.
			if err := key.Set(s, file); err != nil {
				return err
			}
			got, err := onedb.Backup(ctx, t, k.dbOpts(onedb.ToFile(file), onedb.Force())...)
			if err != nil {
				return err
			}
			s.Output("stdout", "database backup: "+got)
			return nil
		})).CheckWith(Idempotent)
}

// restoreOwnBackup is the rollback of the steps that change a node's
// database (UpgradeDB, RestoreUpgradedDB): `onedb restore -f` of the
// node's BackupDB file (oned is stopped then). BackupDB itself has none:
// restoring an unchanged database would only make a running leader's
// next index for that follower stale (src/raft/RaftManager.cc, one#1320).
func (k *Kit) restoreOwnBackup(ctx context.Context, s *upgrade.State, t transport.Transport, n string) error {
	file, ok := DBBackup(n).Get(s)
	if !ok {
		return errors.New("no database backup recorded: cannot restore the database")
	}
	_, err := onedb.Restore(ctx, t, file, k.dbOpts(onedb.Force(), onedb.WithEndpoint(LocalEndpoint))...)
	return err
}

// repoDir is where pm keeps its repository definitions.
func repoDir(pm system.PackageManager) string {
	switch pm {
	case system.Dnf, system.Yum:
		return "/etc/yum.repos.d"
	case system.Zypper:
		return "/etc/zypp/repos.d"
	}
	return "/etc/apt/sources.list.d"
}

func refreshCommand(pm system.PackageManager) transport.Command {
	switch pm {
	case system.Dnf, system.Yum:
		return transport.Cmd(string(pm), "makecache")
	case system.Zypper:
		return transport.Cmd("zypper", "--non-interactive", "refresh")
	}
	return transport.Cmd("apt-get", "update")
}

// SwitchRepository points node ("" = the PerHost host) at the target
// release's repository (guide step 5), after backing up the package
// manager's repository directory once (RepoBackup). It is skipped when
// the target opennebula (or, with pkg, that package) is already installed.
// Rollback restores the directory and refreshes the metadata.
func (k *Kit) SwitchRepository(name, node, pkg string) upgrade.Step {
	if pkg == "" {
		pkg = "opennebula"
	}
	return Step(name, "switch the package repository to "+k.repo.URL,
		onNode(node, func(ctx context.Context, s *upgrade.State, t transport.Transport, n string) error {
			pm, err := k.sys.DetectPackageManager(ctx, t)
			if err != nil {
				return err
			}
			key := RepoBackup(n)
			if _, ok := key.Get(s); !ok {
				b, err := k.sys.BackupDir(ctx, t, repoDir(pm))
				if err != nil {
					return fmt.Errorf("back up %s: %w", repoDir(pm), err)
				}
				if err := key.Set(s, b); err != nil {
					return err
				}
			}
			return k.sys.SwitchRepository(ctx, t, k.repo)
		})).CheckWith(k.checkAtTarget(node, pkg)).RollbackWith(onNode(node, k.restoreRepo))
}

func (k *Kit) restoreRepo(ctx context.Context, s *upgrade.State, t transport.Transport, n string) error {
	b, ok := RepoBackup(n).Get(s)
	if !ok {
		return nil
	}
	pm, err := k.sys.DetectPackageManager(ctx, t)
	if err != nil {
		return err
	}
	if err := k.sys.RestoreDir(ctx, t, b, repoDir(pm)); err != nil {
		return err
	}
	return transport.Check(ctx, t, k.root(refreshCommand(pm)))
}

// UpgradePackages upgrades the installed ones of pkgs on node
// ("" = the PerHost host; guide step 6), keeping modified configuration files,
// after recording the versions of every OpenNebula package
// (PackageVersions, once), and checks that pkgs[0] reached the target.
// It is skipped when pkgs[0] is already at the target. Rollback, where the
// versions were recorded, puts the old repository back and pins every
// changed package to its recorded version (apt-get install
// --allow-downgrades pkg=ver, dnf/yum downgrade, zypper --oldpackage).
func (k *Kit) UpgradePackages(name, node string, pkgs ...string) upgrade.Step {
	if len(pkgs) == 0 {
		pkgs = FrontendPackages
	}
	main := pkgs[0]
	return Step(name, "upgrade packages "+strings.Join(pkgs, " ")+" (those installed) to "+k.target.String()+", keeping modified config files",
		onNode(node, func(ctx context.Context, s *upgrade.State, t transport.Transport, n string) error {
			key := PackageVersions(n)
			before, ok := key.Get(s)
			if !ok {
				before = map[string]string{}
				for _, p := range append(slices.Clone(pkgs), dependentPackages...) {
					v, err := k.sys.InstalledVersion(ctx, t, p)
					if errors.Is(err, system.ErrNotInstalled) {
						continue
					}
					if err != nil {
						return err
					}
					before[p] = v
				}
				if err := key.Set(s, before); err != nil {
					return err
				}
			}
			if v, ok := before[main]; ok {
				if from, err := vpath.Parse(v); err == nil {
					if _, ok := KeyFromVersion.Get(s); !ok {
						if err := KeyFromVersion.Set(s, from.String()); err != nil {
							return err
						}
					}
				}
			}
			var todo []string
			for _, p := range pkgs {
				if _, ok := before[p]; ok {
					todo = append(todo, p)
				}
			}
			if len(todo) == 0 {
				return fmt.Errorf("%s: none of %s is installed", n, strings.Join(pkgs, " "))
			}
			if err := k.sys.Upgrade(ctx, t, todo...); err != nil {
				return err
			}
			got, err := k.Release(ctx, t, main)
			if err != nil {
				return err
			}
			if got != k.target {
				return &VersionError{Host: n, Package: main, Found: got.String(), Expected: k.target.String()}
			}
			return nil
		})).CheckWith(k.checkAtTarget(node, main)).RollbackWith(onNode(node, k.downgrade))
}

func (k *Kit) downgrade(ctx context.Context, s *upgrade.State, t transport.Transport, n string) error {
	before, ok := PackageVersions(n).Get(s)
	if !ok {
		return nil
	}
	var pins []string
	for _, p := range slices.Sorted(maps.Keys(before)) {
		v, err := k.sys.InstalledVersion(ctx, t, p)
		if err != nil && !errors.Is(err, system.ErrNotInstalled) {
			return err
		}
		if v != before[p] {
			pins = append(pins, p)
		}
	}
	if len(pins) == 0 {
		return nil
	}
	if err := k.restoreRepo(ctx, s, t, n); err != nil {
		return fmt.Errorf("restore repository: %w", err)
	}
	pm, err := k.sys.DetectPackageManager(ctx, t)
	if err != nil {
		return err
	}
	var cmd transport.Command
	switch pm {
	case system.Apt:
		args := []string{"install", "-y", "--allow-downgrades", "-o", "Dpkg::Options::=--force-confold", "-o", "Dpkg::Options::=--force-confdef", "--"}
		for _, p := range pins {
			args = append(args, p+"="+before[p])
		}
		cmd = transport.Cmd("apt-get", args...)
		cmd.Env = map[string]string{"DEBIAN_FRONTEND": "noninteractive"}
	case system.Dnf, system.Yum:
		args := []string{"downgrade", "-y", "--"}
		for _, p := range pins {
			args = append(args, p+"-"+before[p])
		}
		cmd = transport.Cmd(string(pm), args...)
	case system.Zypper:
		args := []string{"--non-interactive", "install", "--oldpackage", "--"}
		for _, p := range pins {
			args = append(args, p+"="+before[p])
		}
		cmd = transport.Cmd("zypper", args...)
	default:
		return fmt.Errorf("%s: cannot downgrade with %s", n, pm)
	}
	s.Output("stdout", fmt.Sprintf("%s: downgrading %s", n, strings.Join(pins, " ")))
	return transport.Check(ctx, t, k.root(cmd))
}

// UpgradeConfig runs `onecfg upgrade` on node ("" = the PerHost host;
// guide step 7, needed by every upgrade including patch releases) when
// `onecfg status` reports pending updates, and checks that status is
// clean afterwards. An unknown config version is an *OnecfgError: the
// operator must run `onecfg init` with the right version (guessing it
// would skip migrations). Skipped when the target is installed and onecfg
// is clean. Rollback is BackupConfig's (OnecfgState is backed up there).
//
// Where the preflight check CheckOnecfg found no `onecfg status` (the
// Community Edition before 7.0, OnecfgMissing), the step skips with the
// reason while the installed onecfg still has none; when the new release
// brings it (7.0 ships onecfg in the main package) without any state, it
// first runs `onecfg init --to <release before the upgrade>`: the
// configuration files are still the old release's, which is what the
// state must say for `onecfg upgrade` to migrate them.
func (k *Kit) UpgradeConfig(name, node string) upgrade.Step {
	return Step(name, "onecfg upgrade (configuration files to the new release)",
		onNode(node, func(ctx context.Context, s *upgrade.State, t transport.Transport, n string) error {
			code, out, exitErr, err := k.onecfgStatus(ctx, t)
			if err != nil {
				return err
			}
			missing, _ := OnecfgMissing(n).Get(s)
			if code == onecfgNoStatus {
				if missing == "" {
					missing = "the installed onecfg has no status command"
				}
				return upgrade.Skip(missing + "; configuration files are left as the packages installed them")
			}
			if missing != "" && code == 255 && strings.Contains(out, "Unknown config version") {
				if code, out, exitErr, err = k.onecfgInit(ctx, s, t, n); err != nil {
					return err
				}
			}
			switch code {
			case 0:
				s.Output("stdout", "onecfg: no updates available")
				return nil
			case 1:
			default:
				return &OnecfgError{Host: n, Code: code, Output: out, Err: exitErr}
			}
			cmd := k.root(transport.Cmd("onecfg", "upgrade"))
			res, err := t.Run(ctx, cmd)
			if err != nil {
				return err
			}
			for l := range strings.Lines(string(res.Stdout)) {
				s.Output("stdout", strings.TrimRight(l, "\n"))
			}
			if res.ExitCode != 0 {
				return &OnecfgError{Host: n, Code: res.ExitCode, Output: tail(string(res.Stdout) + string(res.Stderr)), Err: transport.ResultError(cmd, res)}
			}
			code, out, exitErr, err = k.onecfgStatus(ctx, t)
			if err != nil {
				return err
			}
			if code != 0 {
				return &OnecfgError{Host: n, Code: code, Output: out, Err: exitErr}
			}
			return nil
		})).CheckWith(func(ctx context.Context, s *upgrade.State) (bool, error) {
		t, _, err := Node(s, node)
		if err != nil {
			return false, err
		}
		if ok, err := k.atTarget(ctx, t, "opennebula"); err != nil || !ok {
			return false, err
		}
		code, _, _, err := k.onecfgStatus(ctx, t)
		return code == 0, err
	})
}

// onecfgNoStatus is onecfgStatus's code for an onecfg without a status
// command.
const onecfgNoStatus = -2

// CheckOnecfg is the preflight check that records, per front-end, whether
// onecfg has its status and upgrade commands.
const CheckOnecfg = "onecfg"

// CheckOnecfg runs `onecfg status` on every front-end of z and records
// (OnecfgMissing) those where onecfg has no status command, so that the
// onecfg steps skip with the reason instead of failing once the zone is
// stopped. OpenNebula's Community Edition ships onecfg with `patch` only
// before 7.0: src/onecfg/bin/onecfg (release-6.0.0 … release-6.10.5) adds
// status, init, upgrade, diff and validate from the Enterprise Edition
// library (`require 'ee'`, LoadError ignored) that install.sh does not
// install; from release-7.0.0 src/onecfg/lib/ee.rb is part of the source
// ("OpenNebula 7.0 or newer is distributed with onecfg as part of the main
// server package", upgrade guide "Start Here"). For an unknown command the
// CLI parser (src/cli/command_parser.rb `run`) prints "Command 'status'
// not found" on stderr and its help on stdout, and exits 0, which would
// otherwise read as "no updates available". A missing onecfg (exit 127)
// is recorded the same way. Nothing fails here: a resumed run keeps what
// the first run recorded.
func (k *Kit) CheckOnecfg(z Zone) upgrade.PreflightCheck {
	return upgrade.Preflight(CheckOnecfg, func(ctx context.Context, s *upgrade.State) error {
		for _, f := range z.Frontends {
			key := OnecfgMissing(f.Name)
			if _, ok := key.Get(s); ok {
				continue
			}
			if v, ok := KeyStarted.Get(s); ok && v {
				continue // the packages may have changed: keep "unknown"
			}
			t, err := s.HostTransport(f.Name)
			if err != nil {
				return err
			}
			code, _, _, err := k.onecfgStatus(ctx, t)
			if err != nil {
				return fmt.Errorf("%s: onecfg status: %w", f.Name, err)
			}
			reason := ""
			switch code {
			case onecfgNoStatus:
				reason = "onecfg has no status/upgrade commands (Community Edition before 7.0 ships `onecfg patch` only)"
			case 127:
				reason = "onecfg is not installed"
			}
			if reason != "" {
				s.Output("stdout", f.Name+": "+reason+": the onecfg steps will skip")
			}
			if err := key.Set(s, reason); err != nil {
				return err
			}
		}
		return nil
	})
}

// onecfgInit runs `onecfg init --force --to <from>` on n, from being the
// release installed before the upgrade (PackageVersions), and returns the
// status after it.
func (k *Kit) onecfgInit(ctx context.Context, s *upgrade.State, t transport.Transport, n string) (code int, out string, exitErr, err error) {
	before, _ := PackageVersions(n).Get(s)
	from, perr := vpath.Parse(before["opennebula"])
	if perr != nil {
		return 0, "", nil, fmt.Errorf("%s: onecfg has no state and the release before the upgrade is unknown: %w", n, perr)
	}
	cmd := k.root(transport.Cmd("onecfg", "init", "--force", "--to", from.String()))
	res, err := t.Run(ctx, cmd)
	if err != nil {
		return 0, "", nil, err
	}
	if res.ExitCode != 0 {
		return 0, "", nil, &OnecfgError{Host: n, Code: res.ExitCode, Output: tail(string(res.Stdout) + string(res.Stderr)), Err: transport.ResultError(cmd, res)}
	}
	s.Output("stdout", fmt.Sprintf("onecfg had no state (no onecfg before the upgrade): initialised at %s", from))
	return k.onecfgStatus(ctx, t)
}

// OnecfgError reports `onecfg status` or `onecfg upgrade` failing or
// leaving updates pending.
type OnecfgError struct {
	Host   string
	Code   int
	Output string
	// Err is the command's *transport.ExitError, reachable with errors.As.
	Err error
}

func (e *OnecfgError) Unwrap() error { return e.Err }

func (e *OnecfgError) Error() string {
	hint := ""
	if strings.Contains(e.Output, "Unknown config version") || strings.Contains(e.Output, "outdated") {
		hint = " (run `onecfg init --force --to <installed version before the upgrade>` by hand, then resume)"
	}
	return fmt.Sprintf("%s: onecfg exited %d: %s%s", e.Host, e.Code, e.Output, hint)
}

// onecfgStatus runs `onecfg status`: exit 0 clean, 1 updates pending,
// 255 error; onecfgNoStatus when onecfg has no status command (see
// CheckOnecfg). exitErr is the *transport.ExitError of a non-zero exit.
func (k *Kit) onecfgStatus(ctx context.Context, t transport.Transport) (code int, out string, exitErr, err error) {
	cmd := k.root(transport.Query("onecfg", "status"))
	res, err := t.Run(ctx, cmd)
	if err != nil {
		return 0, "", nil, err
	}
	if res.ExitCode == 0 && strings.Contains(string(res.Stderr), "Command 'status' not found") {
		return onecfgNoStatus, tail(string(res.Stderr)), nil, nil
	}
	return res.ExitCode, tail(string(res.Stdout) + string(res.Stderr)), transport.ResultError(cmd, res), nil
}

func tail(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 400 {
		s = "…" + s[len(s)-400:]
	}
	return s
}

// UpgradeDB runs `onedb upgrade --no-backup` on node ("" = the PerHost
// host; guide step 8): BackupDB's backup, taken with oned stopped, is the
// pre-upgrade copy, so onedb's own would only lengthen the outage.
// Skipped when `onedb version` says the database is current. Rollback
// (also after a failed migration, *onedb.UpgradeError) restores
// BackupDB's file.
func (k *Kit) UpgradeDB(name, node string) upgrade.Step {
	return Step(name, "onedb upgrade (database schema to "+vpath.DBVersion(k.target).String()+")",
		onNode(node, func(ctx context.Context, s *upgrade.State, t transport.Transport, n string) error {
			res, err := onedb.Upgrade(ctx, t, k.dbOpts(onedb.NoBackup())...)
			if err != nil {
				return err
			}
			switch {
			case res.AlreadyCurrent:
				s.Output("stdout", "database schema is up to date")
			default:
				for _, m := range []*onedb.Migration{res.Shared, res.Local} {
					if m != nil {
						s.Output("stdout", fmt.Sprintf("migrated %s → %s (%s)", m.From, m.To, strings.Join(m.Migrators, ", ")))
					}
				}
			}
			return nil
		})).CheckWith(func(ctx context.Context, s *upgrade.State) (bool, error) {
		t, _, err := Node(s, node)
		if err != nil {
			return false, err
		}
		if ok, err := k.atTarget(ctx, t, "opennebula"); err != nil || !ok {
			return false, err
		}
		v, err := onedb.Version(ctx, t, k.dbOpts()...)
		if err != nil {
			return false, err
		}
		return v.Status == onedb.Current, nil
	}).RollbackWith(onNode(node, k.restoreOwnBackup))
}

// FsckError reports errors `onedb fsck` could not repair.
type FsckError struct {
	Host       string
	Unrepaired []string
}

func (e *FsckError) Error() string {
	return fmt.Sprintf("%s: onedb fsck left %d unrepaired error(s): %s", e.Host, len(e.Unrepaired), strings.Join(e.Unrepaired, "; "))
}

// FsckDB runs `onedb fsck` on node ("" = the PerHost host; guide step
// 9). Repaired errors are reported as output; unrepaired ones are a
// *FsckError.
func (k *Kit) FsckDB(name, node string) upgrade.Step {
	return Step(name, "onedb fsck (check and repair the upgraded database)",
		onNode(node, func(ctx context.Context, s *upgrade.State, t transport.Transport, n string) error {
			b := path.Join(k.o.backupDir, fmt.Sprintf("%s-onedb-fsck-%s.sql", n, k.o.now().UTC().Format(system.BackupTimeFormat)))
			res, err := onedb.Fsck(ctx, t, k.dbOpts(onedb.Release(k.target.String()), onedb.BackupTo(b))...)
			if err != nil {
				return err
			}
			s.Output("stdout", fmt.Sprintf("fsck: %d found, %d repaired, %d unrepaired", res.Found, res.Repaired, res.Unrepaired))
			if res.Unrepaired > 0 {
				return &FsckError{Host: n, Unrepaired: res.UnrepairedProblems}
			}
			return nil
		})).CheckWith(Idempotent)
}

// BackupUpgradedDB runs `onedb backup` of the upgraded database on leader
// (guide: HA step 4, "then onedb backup"), the file the followers restore
// (UpgradedDBBackup).
func (k *Kit) BackupUpgradedDB(name string, z Zone, leader string) upgrade.Step {
	return Step(name, "onedb backup of the upgraded database on "+leader+", for the followers",
		func(ctx context.Context, s *upgrade.State) error {
			t, _, err := Node(s, leader)
			if err != nil {
				return err
			}
			if err := k.mkBackupDir(ctx, t); err != nil {
				return err
			}
			key := UpgradedDBBackup(z.ID)
			file, ok := key.Get(s)
			if !ok {
				file = path.Join(k.o.backupDir, fmt.Sprintf("%s-upgraded-%s-%s.sql", leader, k.target, k.o.now().UTC().Format(system.BackupTimeFormat)))
				if err := key.Set(s, file); err != nil {
					return err
				}
			}
			got, err := onedb.Backup(ctx, t, k.dbOpts(onedb.ToFile(file), onedb.Force())...)
			if err != nil {
				return err
			}
			s.Output("stdout", "upgraded database backup: "+got)
			return nil
		}).CheckWith(Idempotent)
}

// CopyUpgradedDB copies the leader's upgraded backup to
// node (a follower; "" = the PerHost host) with SHA-256 verified on both ends
// (system.CopyFile), owned by oneadmin, mode 0600.
func (k *Kit) CopyUpgradedDB(name, node string, z Zone, leader string) upgrade.Step {
	return Step(name, "copy the upgraded database backup from "+leader+" (checksum verified)",
		onNode(node, func(ctx context.Context, s *upgrade.State, t transport.Transport, n string) error {
			lt, _, err := Node(s, leader)
			if err != nil {
				return err
			}
			file, ok := UpgradedDBBackup(z.ID).Get(s)
			if !ok {
				return errors.New("no upgraded database backup recorded")
			}
			if err := k.mkBackupDir(ctx, t); err != nil {
				return err
			}
			res, err := k.sys.CopyFile(ctx, lt, file, t, file, system.CopyOptions{Owner: "oneadmin", Group: "oneadmin", Mode: 0o600})
			if err != nil {
				return err
			}
			s.Output("stdout", fmt.Sprintf("copied %s (%d bytes, sha256 %s)", file, res.Bytes, res.SHA256))
			return nil
		})).CheckWith(Idempotent)
}

// RestoreUpgradedDB restores the leader's upgraded backup on the step's
// host (a follower) with `onedb restore -f`, ONE_XMLRPC pointed at the
// local oned so the leader behind the VIP does not make onedb refuse
// (the HA guide's seeding steps). A full restore also copies the leader's Raft term and log,
// which is what makes the cluster consistent (src/raft/RaftManager.cc). Rollback
// restores the follower's own BackupDB file.
func (k *Kit) RestoreUpgradedDB(name, node string, z Zone) upgrade.Step {
	return Step(name, "onedb restore -f of the leader's upgraded database (ONE_XMLRPC=localhost)",
		onNode(node, func(ctx context.Context, s *upgrade.State, t transport.Transport, n string) error {
			file, ok := UpgradedDBBackup(z.ID).Get(s)
			if !ok {
				return errors.New("no upgraded database backup recorded")
			}
			r, err := onedb.Restore(ctx, t, file, k.dbOpts(onedb.Force(), onedb.WithEndpoint(LocalEndpoint))...)
			if err != nil {
				return err
			}
			s.Output("stdout", fmt.Sprintf("restored %s%s", r.Database, r.File))
			return nil
		})).CheckWith(Idempotent).RollbackWith(onNode(node, k.restoreOwnBackup))
}

// SyncConfig copies ConfigDirs from leader to node (a
// follower): system.CopyTree (checksummed, staged, like `rsync -a` without
// delete; WithSyncExclude paths of /etc/one left alone), remotes/etc and
// .one owned by oneadmin, then the follower's own FEDERATION/SERVER_ID is
// written back into oned.conf (onedconf.SetServerID), the HA guide's seeding steps. Rollback
// is BackupConfig's.
func (k *Kit) SyncConfig(name, node string, z Zone, leader string) upgrade.Step {
	return Step(name, "sync "+strings.Join(ConfigDirs, ", ")+" from "+leader+", keep this server's SERVER_ID, owner oneadmin",
		onNode(node, func(ctx context.Context, s *upgrade.State, t transport.Transport, n string) error {
			fe, ok := z.Frontend(n)
			if !ok {
				return fmt.Errorf("%s is not a front-end of zone %d", n, z.ID)
			}
			lt, _, err := Node(s, leader)
			if err != nil {
				return err
			}
			for _, d := range ConfigDirs {
				opts := system.CopyOptions{}
				if d == "/etc/one" {
					opts.Exclude = k.o.exclude
				} else {
					opts.Owner, opts.Group = "oneadmin", "oneadmin"
				}
				res, err := k.sys.CopyTree(ctx, lt, d, t, d, opts)
				if err != nil {
					return fmt.Errorf("sync %s: %w", d, err)
				}
				s.Output("stdout", fmt.Sprintf("synced %s: %d files", d, res.Files))
			}
			if _, err := onedconf.SetServerID(ctx, t, fe.ServerID, onedconf.WithSudo(k.o.sudo), onedconf.WithLogger(k.o.log)); err != nil {
				return fmt.Errorf("set SERVER_ID %d: %w", fe.ServerID, err)
			}
			return nil
		})).CheckWith(Idempotent)
}

// DaemonReload runs `systemctl daemon-reload` on node ("" = the step's
// host of the enclosing PerHost): the packages changed unit files (guide step 10).
func (k *Kit) DaemonReload(name, node string) upgrade.Step {
	return Step(name, "systemctl daemon-reload", onNode(node, func(ctx context.Context, s *upgrade.State, t transport.Transport, n string) error {
		return k.sys.DaemonReload(ctx, t)
	})).CheckWith(Idempotent)
}
