package onebed

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/upgradekit/upgradekit/internal/testdb"
)

// ZoneConfig describes a zone to start.
type ZoneConfig struct {
	// Install is the OpenNebula build every server runs.
	Install *Install
	// Servers is the number of front-ends; 0 means 3. 1 gives a solo
	// server (SERVER_ID -1), as before the HA guide's first step.
	Servers int
	// Dir holds every server's ONE_LOCATION (Dir/s0, Dir/s1, ...).
	Dir string
	// ElectionTimeoutMS, BroadcastTimeoutMS and XMLRPCTimeoutMS go to
	// every server's RAFT section; 0 keeps OpenNebula's defaults.
	ElectionTimeoutMS, BroadcastTimeoutMS, XMLRPCTimeoutMS int
	// Log receives the bring-up's progress; nil means none.
	Log *zap.Logger
}

// Zone is a running zone of real front-ends.
type Zone struct {
	Servers []*Server
	dbs     []*testdb.Server
	log     *zap.Logger
}

// DBName is the database every front-end uses, each on its own MariaDB
// server: `onedb backup` dumps with --databases, so a restore always
// targets the database of the dumped name.
const DBName = "opennebula"

// StartZone starts cfg.Servers front-ends and forms a zone of them in the
// order of OpenNebula's HA guide (Raft HA, "Bootstrapping the HA
// cluster"): the first server starts solo and creates the schema; it is
// added to zone 0 with `onezone server-add`, given SERVER_ID 0 and
// restarted, becoming leader; then each other server joins (see Join for
// the one step taken in another order than the guide's, and why). StartZone returns once every server is in
// sync. On error everything started is stopped.
func StartZone(ctx context.Context, cfg ZoneConfig) (_ *Zone, err error) {
	if cfg.Servers == 0 {
		cfg.Servers = 3
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	z := &Zone{log: cfg.Log}
	defer func() {
		if err != nil {
			_ = z.Close()
		}
	}()
	pw := randHex(12)
	for i := range cfg.Servers {
		db, err := testdb.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("mariadb for s%d: %w", i, err)
		}
		z.dbs = append(z.dbs, db)
		user, dbpw, err := db.CreateDatabaseUser(ctx, DBName)
		if err != nil {
			return nil, err
		}
		admin, err := db.AdminDB()
		if err != nil {
			return nil, err
		}
		// OpenNebula's MySQL guide asks for READ COMMITTED.
		if _, err := admin.ExecContext(ctx, "SET GLOBAL TRANSACTION ISOLATION LEVEL READ COMMITTED"); err != nil {
			return nil, err
		}
		name := "s" + strconv.Itoa(i)
		s, err := NewServer(cfg.Install, filepath.Join(cfg.Dir, name), name, pw,
			DBConf{Host: db.Host, Port: db.Port, User: user, Password: dbpw, Name: DBName}, cfg.Log)
		if err != nil {
			return nil, err
		}
		s.Conf.ElectionTimeoutMS = cfg.ElectionTimeoutMS
		s.Conf.BroadcastTimeoutMS = cfg.BroadcastTimeoutMS
		s.Conf.XMLRPCTimeoutMS = cfg.XMLRPCTimeoutMS
		if err := s.WriteConf(); err != nil {
			return nil, err
		}
		z.Servers = append(z.Servers, s)
	}
	first := z.Servers[0]
	t0 := time.Now()
	if err := first.Start(ctx); err != nil {
		return nil, err
	}
	z.log.Info("first server up (schema created)", zap.Duration("took", time.Since(t0)))
	if cfg.Servers == 1 {
		return z, nil
	}
	if _, err := first.MustCLI(ctx, "onezone", "server-add", "0", "--name", first.Name, "--rpc", first.Endpoint()); err != nil {
		return nil, err
	}
	if err := first.Stop(60 * time.Second); err != nil {
		return nil, err
	}
	first.ID, first.Conf.ServerID = 0, 0
	if err := first.WriteConf(); err != nil {
		return nil, err
	}
	if err := first.Start(ctx); err != nil {
		return nil, err
	}
	if err := z.waitState(ctx, first, StateLeader); err != nil {
		return nil, err
	}
	z.log.Info("server 0 leads the zone")
	for i, s := range z.Servers[1:] {
		id := i + 1
		if err := z.Join(ctx, s, id); err != nil {
			return nil, err
		}
	}
	if err := z.WaitSynced(ctx); err != nil {
		return nil, err
	}
	z.log.Info("zone formed", zap.Int("servers", len(z.Servers)), zap.Duration("took", time.Since(t0)))
	return z, nil
}

// Join adds s to the zone as server id: `onezone server-add` on the
// leader, a backup of the leader's database restored on s, the leader's
// keys copied, and s started with its SERVER_ID.
//
// The HA guide restores the backup before the server-add. On this machine
// that order split the zone: the new server's database then lists only the
// servers before it, its election timer fired while its drivers were still
// loading (before any heartbeat could reach it: its XML-RPC server was not
// up yet), and it won an election without a single vote: request_vote
// needs num_servers / 2 votes besides its own, counted over the zone pool
// of its own database, one server, so zero (src/raft/RaftManager.cc,
// release-7.4.0). The real leader, refusing the vote ("Candidate's log is
// outdated", src/rm/api/ZoneAPI.cc) but seeing the higher term, became its
// follower, under a leader with an empty log. Adding the server first
// makes the restored pool hold s, so s needs the others' votes, which a
// stale log cannot get.
func (z *Zone) Join(ctx context.Context, s *Server, id int) error {
	leader, err := z.Leader(ctx)
	if err != nil {
		return err
	}
	if _, err := leader.MustCLI(ctx, "onezone", "server-add", "0", "--name", s.Name, "--rpc", s.Endpoint()); err != nil {
		return err
	}
	dump := filepath.Join(leader.Dir, "var", fmt.Sprintf("join-%s.sql", s.Name))
	if _, err := leader.MustCLI(ctx, "onedb", append([]string{"backup", "-f"}, append(leader.OnedbArgs(), dump)...)...); err != nil {
		return err
	}
	if _, err := s.MustCLI(ctx, "onedb", append([]string{"restore", "-f"}, append(s.OnedbArgs(), dump)...)...); err != nil {
		return err
	}
	if err := copyTree(filepath.Join(leader.Dir, "var", ".one"), filepath.Join(s.Dir, "var", ".one")); err != nil {
		return fmt.Errorf("copy var/.one: %w", err)
	}
	s.ID, s.Conf.ServerID = id, id
	if err := s.WriteConf(); err != nil {
		return err
	}
	if err := s.Start(ctx); err != nil {
		return err
	}
	if err := z.WaitSynced(ctx); err != nil {
		return err
	}
	z.log.Info("server joined", zap.String("server", s.Name), zap.Int("id", id))
	return nil
}

// Leader returns the server that says it leads.
func (z *Zone) Leader(ctx context.Context) (*Server, error) {
	for _, s := range z.Servers {
		if !s.Running() {
			continue
		}
		st, err := s.RaftStatus(ctx)
		if err == nil && st.State == StateLeader {
			return s, nil
		}
	}
	return nil, errors.New("no server leads")
}

// WaitSynced waits until exactly one running server leads and every other
// running server follows it in the same term, having committed (applied
// to its database) every record the leader had committed just before the
// follower was asked.
// (Under writes the leader's index keeps moving, so equal indexes would
// never be seen at one instant.)
func (z *Zone) WaitSynced(ctx context.Context) error {
	var last string
	for {
		ok, why := z.synced(ctx)
		if ok {
			return nil
		}
		last = why
		select {
		case <-ctx.Done():
			return fmt.Errorf("zone not in sync: %w (last: %s)", ctx.Err(), last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (z *Zone) synced(ctx context.Context) (bool, string) {
	status := func(s *Server) (RaftStatus, error) {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return s.RaftStatus(cctx)
	}
	var leader *Server
	for _, s := range z.Servers {
		if !s.Running() {
			continue
		}
		st, err := status(s)
		if err != nil {
			return false, fmt.Sprintf("%s: %v", s.Name, err)
		}
		if st.State == StateLeader {
			if leader != nil {
				return false, fmt.Sprintf("%s and %s both lead", leader.Name, s.Name)
			}
			leader = s
		}
	}
	if leader == nil {
		return false, "no leader"
	}
	ls, err := status(leader)
	if err != nil || ls.State != StateLeader {
		return false, fmt.Sprintf("leader %s: %+v %v", leader.Name, ls, err)
	}
	for _, s := range z.Servers {
		if s == leader || !s.Running() {
			continue
		}
		st, err := status(s)
		if err != nil {
			return false, fmt.Sprintf("%s: %v", s.Name, err)
		}
		if st.State != StateFollower || st.Term != ls.Term || st.Commit < ls.Commit {
			return false, fmt.Sprintf("%s: %+v, leader %s: %+v", s.Name, st, leader.Name, ls)
		}
	}
	return true, ""
}

func (z *Zone) waitState(ctx context.Context, s *Server, state int) error {
	var last string
	for {
		st, err := s.RaftStatus(ctx)
		if err == nil && st.State == state {
			return nil
		}
		last = fmt.Sprintf("%+v %v", st, err)
		if !s.Running() {
			return fmt.Errorf("%s: oned exited waiting for raft state %d: %s", s.Name, state, s.logTail(20))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: raft state %d never reached: %w (last: %s)", s.Name, state, ctx.Err(), last)
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// Close stops every server and MariaDB it started.
func (z *Zone) Close() error {
	var errs []error
	for _, s := range z.Servers {
		errs = append(errs, s.Stop(15*time.Second))
	}
	for _, db := range z.dbs {
		errs = append(errs, db.Close())
	}
	return errors.Join(errs...)
}

// AddDummyHost creates a host with the dummy information and
// virtualization drivers through s and returns its ID.
func AddDummyHost(ctx context.Context, s *Server, name string) (int, error) {
	v, err := s.Client().Call(ctx, "one.host.allocate", name, "dummy", "dummy", -1)
	if err != nil {
		return -1, err
	}
	id, ok := v.(int64)
	if !ok {
		return -1, fmt.Errorf("one.host.allocate: %w: id is %T", ErrMalformed, v)
	}
	return int(id), nil
}

// HostState is the part of one.host.info the bed checks.
type HostState struct {
	ID    int    `xml:"ID"`
	Name  string `xml:"NAME"`
	State int    `xml:"STATE"`
}

// Host states (include/Host.h): MONITORED is 2.
const HostMonitored = 2

// HostInfo reads a host through s.
func HostInfo(ctx context.Context, s *Server, id int) (HostState, error) {
	var h HostState
	v, err := s.Client().Call(ctx, "one.host.info", id, false)
	if err != nil {
		return h, err
	}
	str, _ := v.(string)
	if err := xml.Unmarshal([]byte(str), &h); err != nil {
		return h, fmt.Errorf("one.host.info: %w: %v", ErrMalformed, err)
	}
	return h, nil
}

// VMState is the part of one.vm.info the bed checks.
type VMState struct {
	ID       int    `xml:"ID"`
	Name     string `xml:"NAME"`
	State    int    `xml:"STATE"`
	LCMState int    `xml:"LCM_STATE"`
}

// VM states (include/VirtualMachine.h): ACTIVE/RUNNING is 3/3.
const (
	VMActive     = 3
	VMLCMRunning = 3
)

// CreateVM allocates a small VM (CPU 0.1, 64 MB) through s and deploys it
// on host, without the scheduler; it returns the VM's ID.
func CreateVM(ctx context.Context, s *Server, name string, host int) (int, error) {
	v, err := s.Client().Call(ctx, "one.vm.allocate", fmt.Sprintf("NAME=%q\nCPU=0.1\nVCPU=1\nMEMORY=64\n", name), false)
	if err != nil {
		return -1, err
	}
	id, ok := v.(int64)
	if !ok {
		return -1, fmt.Errorf("one.vm.allocate: %w: id is %T", ErrMalformed, v)
	}
	if _, err := s.Client().Call(ctx, "one.vm.deploy", int(id), host, false, -1, ""); err != nil {
		return int(id), err
	}
	return int(id), nil
}

// VMInfo reads a VM through s.
func VMInfo(ctx context.Context, s *Server, id int) (VMState, error) {
	var vm VMState
	v, err := s.Client().Call(ctx, "one.vm.info", id, false)
	if err != nil {
		return vm, err
	}
	str, _ := v.(string)
	if err := xml.Unmarshal([]byte(str), &vm); err != nil {
		return vm, fmt.Errorf("one.vm.info: %w: %v", ErrMalformed, err)
	}
	return vm, nil
}

// Poll calls f every interval until it returns true or an error, or ctx
// ends.
func Poll(ctx context.Context, interval time.Duration, f func() (bool, error)) error {
	for {
		ok, err := f()
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
