package host

import (
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/upgradekit/upgradekit/internal/onecli"
	"github.com/upgradekit/upgradekit/transport"
)

// Option changes how a function of this package runs. Options a function
// has no use for are ignored.
type Option interface {
	apply(*options) error
}

type optionFunc func(*options) error

func (f optionFunc) apply(o *options) error { return f(o) }

// ErrInvalidArgument: an argument or option was rejected before anything ran.
var ErrInvalidArgument = errors.New("invalid argument")

// SyncUser is the user Sync runs `onehost sync` as unless told otherwise:
// the CLI refuses root and needs oneadmin's driver environment.
const SyncUser = "oneadmin"

type options struct {
	log       *zap.Logger
	user      string
	userSet   bool
	endpoint  string
	now       func() time.Time
	syncHosts []int
	cluster   int
	force     bool
	ssh       bool
}

func newOptions(opts []Option) (*options, error) {
	o := &options{log: zap.NewNop(), now: time.Now, cluster: -1}
	if err := onecli.Apply(opts, func(opt Option) error { return opt.apply(o) }); err != nil {
		return nil, err
	}
	if len(o.syncHosts) > 0 && o.cluster >= 0 {
		return nil, fmt.Errorf("host: WithSyncHosts and WithSyncCluster together: %w", ErrInvalidArgument)
	}
	return o, nil
}

// WithLogger logs commands to l (default: no logging).
func WithLogger(l *zap.Logger) Option {
	return optionFunc(func(o *options) error { return onecli.SetLogger("host", &o.log, l) })
}

// WithUser runs the commands as user through sudo (Command.AsUser). The
// default is the login user, except for Sync (SyncUser).
func WithUser(user string) Option {
	return optionFunc(func(o *options) error {
		if err := onecli.CheckUser("host", user, ErrInvalidArgument); err != nil {
			return err
		}
		o.user, o.userSet = user, true
		return nil
	})
}

// AsLoginUser runs the commands as the login user without sudo, Sync
// included (for a transport that logs in as oneadmin).
func AsLoginUser() Option {
	return optionFunc(func(o *options) error {
		o.user, o.userSet = "", true
		return nil
	})
}

// WithEndpoint sends the commands to the oned at url (`--endpoint url`,
// appended as the last two argv words).
func WithEndpoint(url string) Option {
	return optionFunc(func(o *options) error { return onecli.SetEndpoint("host", &o.endpoint, url, ErrInvalidArgument) })
}

// WithClock sets the clock Snapshot stamps its time with (default time.Now).
func WithClock(now func() time.Time) Option {
	return optionFunc(func(o *options) error { return onecli.SetClock("host", &o.now, now) })
}

// WithSyncHosts limits Sync to these host IDs (`onehost sync 1,2,3`).
func WithSyncHosts(ids ...int) Option {
	return optionFunc(func(o *options) error {
		if len(ids) == 0 {
			return fmt.Errorf("host: WithSyncHosts(): %w", ErrInvalidArgument)
		}
		for _, id := range ids {
			if id < 0 {
				return fmt.Errorf("host: WithSyncHosts: host ID %d: %w", id, ErrInvalidArgument)
			}
		}
		o.syncHosts = append([]int(nil), ids...)
		return nil
	})
}

// WithSyncCluster limits Sync to the hosts of a cluster (`--cluster <id>`).
func WithSyncCluster(clusterID int) Option {
	return optionFunc(func(o *options) error {
		if clusterID < 0 {
			return fmt.Errorf("host: WithSyncCluster(%d): %w", clusterID, ErrInvalidArgument)
		}
		o.cluster = clusterID
		return nil
	})
}

// WithSyncForce makes Sync update hosts already at the front-end's
// version (`--force`).
func WithSyncForce() Option {
	return optionFunc(func(o *options) error { o.force = true; return nil })
}

// WithSyncSSH makes Sync copy with ssh instead of rsync (`--ssh`), which
// also deletes remote files that no longer exist.
func WithSyncSSH() Option {
	return optionFunc(func(o *options) error { o.ssh = true; return nil })
}

// command applies the endpoint and user options to c; defUser is the
// user when no option chose one.
func (o *options) command(c transport.Command, defUser string) transport.Command {
	if o.endpoint != "" {
		c = c.WithArgs("--endpoint", o.endpoint)
	}
	user := defUser
	if o.userSet {
		user = o.user
	}
	if user != "" {
		c = c.AsUser(user)
	}
	return c
}
