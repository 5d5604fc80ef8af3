package openstack

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/upgradekit/upgradekit/transport"
)

// Option configures a primitive.
type Option interface {
	apply(*options) error
}

type optionFunc func(*options) error

func (f optionFunc) apply(o *options) error { return f(o) }

type options struct {
	log          *zap.Logger
	now          func() time.Time
	configFiles  []string
	timeout      time.Duration
	user         string
	serviceUser  bool
	sudo         bool
	family       Family
	wrap         func(transport.Command) transport.Command
	stopServers  func(ctx context.Context) error
	phases       []Phase
	batchSize    int
	maxBatches   int
	force        bool
	dbClient     string
	dumpTool     string
	databases    map[string]DBAccess
	backupSuffix string
	perService   map[string][]Option
	tls          *DBTLS
}

// DefaultToolTimeout bounds every management tool run unless WithTimeout
// says otherwise. It is above neutron-db-manage's ~102 s of connection
// retries against a dead database (it ignores [database] max_retries), so
// such a run fails with the tool's own error rather than a timeout.
const DefaultToolTimeout = 15 * time.Minute

func newOptions(opts []Option) (*options, error) {
	o := &options{
		log:        zap.NewNop(),
		now:        time.Now,
		timeout:    DefaultToolTimeout,
		maxBatches: 10000,
		dbClient:   "mariadb",
		dumpTool:   "mysqldump",
	}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt.apply(o); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// WithLogger logs commands and decisions to l (default: nothing).
func WithLogger(l *zap.Logger) Option {
	return optionFunc(func(o *options) error {
		if l == nil {
			return fmt.Errorf("openstack: WithLogger(nil)")
		}
		o.log = l
		return nil
	})
}

// WithClock sets the clock used for timestamps (backup names, reports).
func WithClock(now func() time.Time) Option {
	return optionFunc(func(o *options) error {
		if now == nil {
			return fmt.Errorf("openstack: WithClock(nil)")
		}
		o.now = now
		return nil
	})
}

// WithConfigFiles replaces the catalog's config files: each is passed to
// the tools as --config-file and searched for database connections.
func WithConfigFiles(files ...string) Option {
	return optionFunc(func(o *options) error {
		if len(files) == 0 {
			return fmt.Errorf("openstack: WithConfigFiles needs at least one file")
		}
		o.configFiles = slices.Clone(files)
		return nil
	})
}

// WithTimeout bounds each tool invocation (default DefaultToolTimeout).
// A run past it fails with an error matching transport.ErrTimeout.
func WithTimeout(d time.Duration) Option {
	return optionFunc(func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("openstack: WithTimeout(%s): must be positive", d)
		}
		o.timeout = d
		return nil
	})
}

// AsServiceUser runs the management tools as the service's system user
// (sudo -u keystone), as the distribution packages do.
func AsServiceUser() Option {
	return optionFunc(func(o *options) error { o.serviceUser, o.user = true, ""; return nil })
}

// WithUser runs the management tools as user through sudo.
func WithUser(user string) Option {
	return optionFunc(func(o *options) error { o.user, o.serviceUser = user, false; return nil })
}

// WithSudo runs file and database-client commands through sudo (reading
// configs under /etc, writing backups).
func WithSudo() Option {
	return optionFunc(func(o *options) error { o.sudo = true; return nil })
}

// WithFamily says which distribution family the node runs, instead of
// detecting it from /etc/os-release.
func WithFamily(f Family) Option {
	return optionFunc(func(o *options) error {
		if f != Debian && f != RHEL {
			return fmt.Errorf("openstack: unknown family %q", f)
		}
		o.family = f
		return nil
	})
}

// WithWrap rewrites every management-tool command before it runs: for
// example to run it inside a container (`docker exec keystone ...`) or a
// mount namespace. The probes of what the tool's installation knows (its
// package version, its migration scripts) are wrapped too; config file
// reads and SQL client runs are not.
func WithWrap(fn func(transport.Command) transport.Command) Option {
	return optionFunc(func(o *options) error { o.wrap = fn; return nil })
}

// WithStopServers gives ExpandMigrateContract the way to stop every
// server of the service; it is called only when offline migrations
// require it (neutron's contract phase).
func WithStopServers(fn func(ctx context.Context) error) Option {
	return optionFunc(func(o *options) error { o.stopServers = fn; return nil })
}

// WithPhases limits ExpandMigrateContract to the given phases, e.g. only
// PhaseExpand before a rolling upgrade and PhaseContract after it.
func WithPhases(ps ...Phase) Option {
	return optionFunc(func(o *options) error {
		for _, p := range ps {
			if p < PhaseExpand || p > PhaseContract {
				return fmt.Errorf("openstack: unknown phase %d", p)
			}
		}
		o.phases = slices.Clone(ps)
		return nil
	})
}

// WithBatchSize runs online data migrations in batches of n (the tool's
// --max-count), repeating while a batch made progress. 0 (the default)
// lets the tool loop by itself.
func WithBatchSize(n int) Option {
	return optionFunc(func(o *options) error {
		if n < 0 {
			return fmt.Errorf("openstack: WithBatchSize(%d): must not be negative", n)
		}
		o.batchSize = n
		return nil
	})
}

// WithMaxBatches bounds how many batches OnlineDataMigrations runs
// (default 10000) so a tool that always reports progress cannot loop
// forever.
func WithMaxBatches(n int) Option {
	return optionFunc(func(o *options) error {
		if n <= 0 {
			return fmt.Errorf("openstack: WithMaxBatches(%d): must be positive", n)
		}
		o.maxBatches = n
		return nil
	})
}

// WithForce runs DBSync even when every database is already at head.
func WithForce() Option {
	return optionFunc(func(o *options) error { o.force = true; return nil })
}

// WithDatabase gives the access parameters of a database by its catalog
// name ("nova_cell0") instead of reading them from the config files.
func WithDatabase(name string, a DBAccess) Option {
	return optionFunc(func(o *options) error {
		if o.databases == nil {
			o.databases = map[string]DBAccess{}
		}
		o.databases[name] = a
		return nil
	})
}

// WithDBClient names the SQL client and dump tool on the node (default
// "mariadb" and "mysqldump"; "mysql" works too).
func WithDBClient(client, dump string) Option {
	return optionFunc(func(o *options) error {
		if client == "" || dump == "" {
			return fmt.Errorf("openstack: WithDBClient needs both tools")
		}
		o.dbClient, o.dumpTool = client, dump
		return nil
	})
}

// ForService applies opts only when a primitive works on the service
// called name, after the options given for every service: a wrapper
// (WithWrap), config files, a user or a database for that one service,
// without overriding it in the catalog.
//
//	openstack.ForService("keystone", openstack.WithWrap(inKeystoneContainer)),
//	openstack.ForService("nova", openstack.WithConfigFiles("/etc/nova/nova.conf", "/etc/nova/nova-db.conf")),
func ForService(name string, opts ...Option) Option {
	return optionFunc(func(o *options) error {
		if name == "" {
			return fmt.Errorf("openstack: ForService needs a service name")
		}
		if o.perService == nil {
			o.perService = map[string][]Option{}
		}
		o.perService[name] = append(o.perService[name], opts...)
		return nil
	})
}

// newServiceOptions is newOptions with svc's ForService options applied.
func newServiceOptions(opts []Option, svc Service) (*options, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	return o.forService(svc.Name)
}

func (o *options) forService(name string) (*options, error) {
	extra := o.perService[name]
	if len(extra) == 0 {
		return o, nil
	}
	c := *o
	c.perService = nil
	c.databases = maps.Clone(o.databases)
	for _, opt := range extra {
		if opt == nil {
			continue
		}
		if err := opt.apply(&c); err != nil {
			return nil, fmt.Errorf("openstack: options for %s: %w", name, err)
		}
	}
	return &c, nil
}

// DBTLS is how the SQL client and the dump tool reach the database server
// over TLS, for the probes, dumps and restores alike. The paths are
// files on the node.
type DBTLS struct {
	// CA verifies the server's certificate (--ssl-ca with
	// --ssl-verify-server-cert).
	CA string
	// Cert and Key are a client certificate and its key (--ssl-cert,
	// --ssl-key).
	Cert, Key string
	// Disable turns TLS off (--skip-ssl): the operator's explicit choice
	// for a server without TLS, which a MariaDB 11 client otherwise
	// refuses ("SSL is required, but the server does not support it").
	Disable bool
}

func (d DBTLS) validate() error {
	switch {
	case d.Disable && (d.CA != "" || d.Cert != "" || d.Key != ""):
		return fmt.Errorf("openstack: WithDBTLS: Disable with certificates")
	case (d.Cert == "") != (d.Key == ""):
		return fmt.Errorf("openstack: WithDBTLS: a client certificate needs its key and the key its certificate")
	case !d.Disable && d.CA == "" && d.Cert == "":
		return fmt.Errorf("openstack: WithDBTLS: give a CA, a client certificate, or Disable")
	}
	for _, p := range []string{d.CA, d.Cert, d.Key} {
		if strings.ContainsAny(p, "\n\x00") {
			return fmt.Errorf("openstack: WithDBTLS: bad path %q", p)
		}
	}
	return nil
}

// args are the client options for d.
func (d DBTLS) args() []string {
	if d.Disable {
		return []string{"--skip-ssl"}
	}
	var a []string
	if d.CA != "" {
		a = append(a, "--ssl-ca="+d.CA, "--ssl-verify-server-cert")
	}
	if d.Cert != "" {
		a = append(a, "--ssl-cert="+d.Cert, "--ssl-key="+d.Key)
	}
	return a
}

// WithDBTLS sets how the SQL client and the dump tool use TLS (default:
// the clients' own defaults, which for MariaDB 11 means TLS required).
func WithDBTLS(d DBTLS) Option {
	return optionFunc(func(o *options) error {
		if err := d.validate(); err != nil {
			return err
		}
		o.tls = &d
		return nil
	})
}

func (o *options) tlsArgs() []string {
	if o.tls == nil {
		return nil
	}
	return o.tls.args()
}

// configFiles returns the config files for svc.
func (o *options) configFilesFor(svc Service) []string {
	if len(o.configFiles) > 0 {
		return o.configFiles
	}
	return svc.ConfigFiles
}

// tool builds a management-tool command for svc: its --config-file flags,
// then args.
func (o *options) tool(svc Service, path string, readOnly bool, args ...string) transport.Command {
	var a []string
	for _, f := range o.configFilesFor(svc) {
		a = append(a, "--config-file", f)
	}
	c := transport.Cmd(path, append(a, args...)...)
	c.ReadOnly = readOnly
	c.Timeout = o.timeout
	switch {
	case o.serviceUser && svc.User != "":
		c.User = svc.User
	case o.user != "":
		c.User = o.user
	}
	if o.wrap != nil {
		c = o.wrap(c)
	}
	return c
}

// probe marks a read-only helper command with sudo when asked.
func (o *options) probe(c transport.Command) transport.Command {
	c.ReadOnly = true
	c.Sudo = c.Sudo || o.sudo
	if c.Timeout == 0 {
		c.Timeout = 2 * time.Minute
	}
	return c
}
