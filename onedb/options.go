package onedb

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"go.uber.org/zap"
)

// DefaultEndpoint is the XML-RPC endpoint Restore, Upgrade and Fsck point
// $ONE_XMLRPC at. onedb refuses to run while an oned answers at the client
// endpoint; on an HA follower that endpoint is usually the VIP, where the
// leader answers, so the refusal would be wrong. Pointing it at the local
// oned makes the check mean "is oned running here".
const DefaultEndpoint = "http://localhost:2633/RPC2"

// An Option changes how a command is run. Options a command does not
// support are rejected with an error matching ErrInvalidOption.
type Option interface {
	apply(*options) error
}

type optionFunc struct {
	name string
	f    func(*options) error
}

func (o optionFunc) apply(opts *options) error {
	opts.used = append(opts.used, o.name)
	return o.f(opts)
}

func option(name string, f func(*options) error) Option { return optionFunc{name: name, f: f} }

type options struct {
	used      []string
	logger    *zap.Logger
	conn      *Conn
	force     bool
	federated bool
	dry       bool
	noBackup  bool
	file      string // backup target
	backupTo  string // -b
	target    string // upgrade [version]
	endpoint  string
	release   string
	sudo      bool
	user      string
}

// allowedOptions lists the options each operation accepts besides the
// common ones.
func allowedOptions(op string) []string {
	switch op {
	case "backup":
		return []string{"Force", "Federated", "ToFile"}
	case "restore":
		return []string{"Force", "Federated", "WithEndpoint"}
	case "upgrade":
		return []string{"Force", "BackupTo", "NoBackup", "TargetVersion", "WithEndpoint"}
	case "fsck":
		return []string{"Force", "BackupTo", "DryRun", "Release", "WithEndpoint"}
	}
	return nil // version, history, open
}

func isCommon(name string) bool {
	switch name {
	case "WithLogger", "WithConn", "WithSudo", "AsUser":
		return true
	}
	return false
}

func newOptions(op string, opts []Option) (*options, error) {
	o := &options{logger: zap.NewNop(), endpoint: DefaultEndpoint}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt.apply(o); err != nil {
			return nil, fmt.Errorf("onedb %s: %w", op, err)
		}
	}
	allowed := allowedOptions(op)
	for _, name := range o.used {
		if !slices.Contains(allowed, name) && !isCommon(name) {
			return nil, fmt.Errorf("onedb %s: %w: %s is not supported by %s", op, ErrInvalidOption, name, op)
		}
	}
	if o.noBackup && o.backupTo != "" {
		return nil, fmt.Errorf("onedb %s: %w: NoBackup and BackupTo conflict", op, ErrInvalidOption)
	}
	if o.dry && o.backupTo != "" {
		return nil, fmt.Errorf("onedb %s: %w: DryRun takes no backup, BackupTo conflicts", op, ErrInvalidOption)
	}
	return o, nil
}

// WithLogger sets the logger; the default is zap.NewNop(). Commands are
// logged redacted.
func WithLogger(l *zap.Logger) Option {
	return option("WithLogger", func(o *options) error {
		if l == nil {
			l = zap.NewNop()
		}
		o.logger = l
		return nil
	})
}

// WithConn passes explicit connection parameters instead of letting onedb
// read them from /etc/one/oned.conf. The password travels in the
// ONE_DB_PASSWORD environment variable, never in argv.
func WithConn(c Conn) Option {
	return option("WithConn", func(o *options) error {
		if err := c.validate(); err != nil {
			return err
		}
		o.conn = &c
		return nil
	})
}

// WithSudo runs onedb through sudo as root.
func WithSudo() Option {
	return option("WithSudo", func(o *options) error { o.sudo = true; return nil })
}

// AsUser runs onedb through sudo as user (usually "oneadmin", who can read
// oned.conf and write /var/lib/one).
func AsUser(user string) Option {
	return option("AsUser", func(o *options) error {
		if user == "" {
			return fmt.Errorf("%w: AsUser with an empty user", ErrInvalidOption)
		}
		o.user = user
		return nil
	})
}

// Force passes -f: Backup overwrites an existing file, Restore overwrites
// an existing database, Upgrade and Fsck pass onedb's own -f.
func Force() Option {
	return option("Force", func(o *options) error { o.force = true; return nil })
}

// Federated passes --federated to Backup and Restore: only the federated
// (shared) tables are dumped or restored.
func Federated() Option {
	return option("Federated", func(o *options) error { o.federated = true; return nil })
}

// ToFile makes Backup write to path instead of onedb's default file name
// (see DefaultBackupFile).
func ToFile(path string) Option {
	return option("ToFile", func(o *options) error {
		if err := checkPath(path); err != nil {
			return err
		}
		o.file = path
		return nil
	})
}

// BackupTo passes -b path: where Upgrade and Fsck write their automatic
// backup.
func BackupTo(path string) Option {
	return option("BackupTo", func(o *options) error {
		if err := checkValue("BackupTo", path); err != nil {
			return err
		}
		o.backupTo = path
		return nil
	})
}

// NoBackup passes --no-backup to Upgrade.
func NoBackup() Option {
	return option("NoBackup", func(o *options) error { o.noBackup = true; return nil })
}

// versionRE matches X.Y.Z, and X.Y.Z.W: database versions have three
// parts (src/onedb/database_schema.rb LATEST_DB_VERSION in OpenNebula/one),
// releases four for hotfixes (6.10.0.1, include/NebulaService.h
// code_version() at release-6.10.0.1).
var versionRE = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+(\.[0-9]+)?$`)

// TargetVersion makes Upgrade stop at version (X.Y.Z) instead of the
// latest one.
func TargetVersion(version string) Option {
	return option("TargetVersion", func(o *options) error {
		if !versionRE.MatchString(version) {
			return fmt.Errorf("%w: TargetVersion %q is not X.Y.Z", ErrInvalidOption, version)
		}
		o.target = version
		return nil
	})
}

// DryRun passes --dry to Fsck: nothing is written and no backup is taken.
func DryRun() Option {
	return option("DryRun", func(o *options) error { o.dry = true; return nil })
}

// Release tells Fsck which OpenNebula release runs on the host (for
// example "7.4.0", "6.10" or the hotfix "6.10.0.1"), because the meaning of fsck's exit code
// changed: from 7.2 it exits 1 whenever errors were found, even if all
// were repaired, while 6.10 and 7.0 exit 0. Without Release, Fsck accepts
// both and relies on the printed totals.
func Release(version string) Option {
	return option("Release", func(o *options) error {
		if _, _, ok := majorMinor(version); !ok {
			return fmt.Errorf("%w: Release %q is not X.Y[.Z[.W]]", ErrInvalidOption, version)
		}
		o.release = version
		return nil
	})
}

// WithEndpoint overrides DefaultEndpoint, the $ONE_XMLRPC value set for
// Restore, Upgrade and Fsck.
func WithEndpoint(url string) Option {
	return option("WithEndpoint", func(o *options) error {
		if url == "" || strings.ContainsAny(url, "\n\x00") {
			return fmt.Errorf("%w: WithEndpoint %q", ErrInvalidOption, url)
		}
		o.endpoint = url
		return nil
	})
}

func checkPath(p string) error {
	if p == "" || strings.ContainsAny(p, "\n\x00") {
		return fmt.Errorf("%w: file path %q", ErrInvalidOption, p)
	}
	return nil
}

// checkValue validates a value that follows an option flag: onedb's
// option parser would take a leading "-" as another option.
func checkValue(what, v string) error {
	if v == "" || strings.HasPrefix(v, "-") || strings.ContainsAny(v, "\n\x00") {
		return fmt.Errorf("%w: %s %q (empty, leading '-' or control characters)", ErrInvalidOption, what, v)
	}
	return nil
}

// majorMinor parses "X.Y" or "X.Y.Z".
func majorMinor(v string) (int, int, bool) {
	parts := strings.Split(v, ".")
	if len(parts) < 2 || len(parts) > 4 {
		return 0, 0, false
	}
	var n [4]int
	for i, p := range parts {
		if p == "" || len(p) > 4 {
			return 0, 0, false
		}
		for _, r := range p {
			if r < '0' || r > '9' {
				return 0, 0, false
			}
			n[i] = n[i]*10 + int(r-'0')
		}
	}
	return n[0], n[1], true
}
