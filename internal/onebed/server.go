package onebed

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// Install is one OpenNebula build installed by build.sh (an ONE_LOCATION
// layout: bin, lib, share, etc, var).
type Install struct {
	// Label is the install directory's name, e.g. "7.4.0".
	Label string
	// Dir is the install directory.
	Dir string
}

// StampFile is written by build.sh into an install once it is complete.
const StampFile = ".upgradekit-build"

// FindInstalls returns the complete installs under root: every directory
// holding bin/oned and build.sh's stamp, keyed by its name.
func FindInstalls(root string) (map[string]*Install, error) {
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	out := map[string]*Install{}
	for _, e := range ents {
		dir := filepath.Join(root, e.Name())
		fi, err := os.Stat(filepath.Join(dir, "bin", "oned"))
		if err != nil || fi.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, StampFile)); err != nil {
			continue // being built, or not by build.sh
		}
		out[e.Name()] = &Install{Label: e.Name(), Dir: dir}
	}
	return out, nil
}

// Server is one front-end: an oned with its own ONE_LOCATION and MariaDB.
type Server struct {
	// ID is the server's FEDERATION/SERVER_ID once in a zone; Name its
	// name in the zone's server pool.
	ID   int
	Name string
	// Install is the build the server runs; Dir its ONE_LOCATION.
	Install *Install
	Dir     string
	// Conf is what was written into the server's oned.conf and
	// monitord.conf; change it and call WriteConf before a restart.
	Conf ServerConf
	// Password is oneadmin's password (in $HOME/.one/one_auth).
	Password string

	log  *zap.Logger
	cmd  *exec.Cmd
	done chan struct{}
	werr error
}

// NewServer lays out a front-end in dir for install: bin, lib, share and
// include link to the install; etc and var are copies of its own; HOME is
// dir/home with .one/one_auth. db is the server's MariaDB back end.
func NewServer(install *Install, dir, name, password string, db DBConf, log *zap.Logger) (*Server, error) {
	if log == nil {
		log = zap.NewNop()
	}
	s := &Server{ID: -1, Name: name, Install: install, Dir: dir, Password: password, log: log.With(zap.String("server", name))}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	for _, d := range []string{"bin", "lib", "share", "include"} {
		src := filepath.Join(install.Dir, d)
		if _, err := os.Stat(src); err != nil {
			continue
		}
		if err := os.Symlink(src, filepath.Join(dir, d)); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, err
		}
	}
	for _, d := range []string{"etc", "var"} {
		if err := copyTree(filepath.Join(install.Dir, d), filepath.Join(dir, d)); err != nil {
			return nil, fmt.Errorf("copy %s: %w", d, err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "home", ".one"), 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(s.AuthFile(), []byte("oneadmin:"+password+"\n"), 0o600); err != nil {
		return nil, err
	}
	ports, err := freePorts(5)
	if err != nil {
		return nil, err
	}
	s.Conf = ServerConf{
		XMLRPCPort: ports[0], GRPCPort: ports[1], HMPort: ports[2], HMLogPort: ports[3], MonitorPort: ports[4],
		ServerID: -1, DB: db, ScriptsRemoteDir: filepath.Join(dir, "remote"),
	}
	return s, s.WriteConf()
}

// SwitchInstall points a stopped server at another build, as a package
// upgrade would: bin, lib, share and include link to it, var/remotes is
// replaced by its remotes, and the configuration is written again from its
// shipped files and s.Conf. The database and the rest of var stay.
func (s *Server) SwitchInstall(in *Install) error {
	if s.Running() {
		return fmt.Errorf("%s: stop oned before switching installs", s.Name)
	}
	for _, d := range []string{"bin", "lib", "share", "include"} {
		link := filepath.Join(s.Dir, d)
		if err := os.Remove(link); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		src := filepath.Join(in.Dir, d)
		if _, err := os.Stat(src); err != nil {
			continue
		}
		if err := os.Symlink(src, link); err != nil {
			return err
		}
	}
	remotes := filepath.Join(s.Dir, "var", "remotes")
	if err := os.RemoveAll(remotes); err != nil {
		return err
	}
	if err := copyTree(filepath.Join(in.Dir, "var", "remotes"), remotes); err != nil {
		return err
	}
	s.Install = in
	return s.WriteConf()
}

// WriteConf writes etc/oned.conf and etc/monitord.conf from the install's
// shipped files and s.Conf.
func (s *Server) WriteConf() error {
	for _, f := range []struct {
		name string
		fn   func(string) (string, error)
	}{
		{"oned.conf", func(o string) (string, error) { return OnedConf(o, s.Conf) }},
		{"monitord.conf", func(o string) (string, error) { return MonitordConf(o, s.Conf.MonitorPort) }},
	} {
		orig, err := os.ReadFile(filepath.Join(s.Install.Dir, "etc", f.name))
		if err != nil {
			return err
		}
		out, err := f.fn(string(orig))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(s.Dir, "etc", f.name), []byte(out), 0o640); err != nil {
			return err
		}
	}
	return nil
}

// AuthFile is the server's ONE_AUTH file.
func (s *Server) AuthFile() string { return filepath.Join(s.Dir, "home", ".one", "one_auth") }

// Endpoint is the server's XML-RPC URL.
func (s *Server) Endpoint() string {
	return fmt.Sprintf("http://127.0.0.1:%d/RPC2", s.Conf.XMLRPCPort)
}

// Client returns an XML-RPC client of the server as oneadmin.
func (s *Server) Client() *Client {
	return &Client{Endpoint: s.Endpoint(), Session: "oneadmin:" + s.Password}
}

// Env is the environment of the server's processes and of its CLI.
func (s *Server) Env() []string {
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
	}
	return []string{
		"ONE_LOCATION=" + s.Dir,
		"HOME=" + filepath.Join(s.Dir, "home"),
		"ONE_AUTH=" + s.AuthFile(),
		"ONE_XMLRPC=" + s.Endpoint(),
		"RUBYLIB=" + filepath.Join(s.Dir, "lib", "ruby"),
		"PATH=" + filepath.Join(s.Dir, "bin") + ":" + path,
		"LANG=C.UTF-8",
	}
}

// EnvMap is Env as a map (e.g. for an sshd's SetEnv, so that commands
// run over SSH on a front-end use its ONE_LOCATION).
func (s *Server) EnvMap() map[string]string {
	m := map[string]string{}
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// LogFile is oned's log.
func (s *Server) LogFile() string { return filepath.Join(s.Dir, "var", "oned.log") }

// Running reports whether the oned started by Start is still running.
func (s *Server) Running() bool {
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// Start starts `oned -f` and returns once its XML-RPC API answers, or
// with an error holding the end of oned.log if it exits first. A stale
// lock file left by a killed oned is removed first, as OpenNebula's own
// start script does.
func (s *Server) Start(ctx context.Context) error {
	if s.Running() {
		return fmt.Errorf("%s: already running", s.Name)
	}
	_ = os.Remove(filepath.Join(s.Dir, "var", "lock", ".lock"))
	out, err := os.OpenFile(filepath.Join(s.Dir, "var", "oned.stdout"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(s.Dir, "bin", "oned"), "-f")
	cmd.Dir = s.Dir
	cmd.Env = s.Env()
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		out.Close()
		return fmt.Errorf("%s: start oned: %w", s.Name, err)
	}
	s.cmd, s.done = cmd, make(chan struct{})
	go func(done chan struct{}) {
		s.werr = cmd.Wait()
		out.Close()
		close(done)
	}(s.done)
	s.log.Info("oned started", zap.Int("pid", cmd.Process.Pid), zap.String("endpoint", s.Endpoint()))
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := s.Client().Call(cctx, "one.system.version")
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("%s: oned exited (%v) before answering: %s", s.Name, s.werr, s.logTail(20))
		case <-ctx.Done():
			return fmt.Errorf("%s: oned not answering on %s: %w (last: %v): %s", s.Name, s.Endpoint(), ctx.Err(), err, s.logTail(20))
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// Stop stops oned with SIGTERM (oned then stops its drivers), waits up to
// grace, then kills its process group and any process left running from
// the server's directory.
func (s *Server) Stop(grace time.Duration) error {
	if s.cmd == nil {
		return nil
	}
	if s.Running() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(grace):
			s.log.Warn("oned ignored SIGTERM; killing", zap.Duration("grace", grace))
		}
	}
	s.killAll()
	s.log.Info("oned stopped")
	return nil
}

// Kill kills oned and its drivers with SIGKILL, as a crash would, and
// waits for oned to be reaped.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	s.killAll()
}

func (s *Server) killAll() {
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.done
	killUnder(s.Dir)
}

// killUnder kills every process whose command line or working directory
// lies under dir (drivers and the dummy monitor client, which can
// outlive oned and leave its process group).
func killUnder(dir string) {
	ents, _ := os.ReadDir("/proc")
	self := os.Getpid()
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		cwd, _ := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		if strings.Contains(string(cmdline), dir+"/") || cwd == dir || strings.HasPrefix(cwd, dir+"/") {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// CLIResult is the outcome of one CLI command.
type CLIResult struct {
	Stdout, Stderr string
	ExitCode       int
}

// CLI runs one of OpenNebula's commands (onezone, onedb, onehost, ...)
// from the server's bin with the server's environment. A non-zero exit
// is reported in ExitCode, not as an error.
func (s *Server) CLI(ctx context.Context, name string, args ...string) (CLIResult, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(s.Dir, "bin", name), args...)
	cmd.Dir = filepath.Join(s.Dir, "home")
	cmd.Env = s.Env()
	var so, se strings.Builder
	cmd.Stdout, cmd.Stderr = &so, &se
	t0 := time.Now()
	err := cmd.Run()
	r := CLIResult{Stdout: so.String(), Stderr: se.String()}
	if cmd.ProcessState != nil {
		r.ExitCode = cmd.ProcessState.ExitCode()
	}
	// The transcript of what OpenNebula's tools printed is what the
	// simulator is compared with.
	s.log.Info("cli", zap.String("cmd", name+" "+strings.Join(redact(args), " ")), zap.Int("exit", r.ExitCode),
		zap.Duration("took", time.Since(t0)), zap.String("stdout", r.Stdout), zap.String("stderr", r.Stderr))
	var ee *exec.ExitError
	if errors.As(err, &ee) && ctx.Err() == nil {
		r.ExitCode = ee.ExitCode()
		return r, nil
	}
	if err != nil {
		return r, fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return r, nil
}

// MustCLI is CLI with a non-zero exit turned into an error.
func (s *Server) MustCLI(ctx context.Context, name string, args ...string) (string, error) {
	r, err := s.CLI(ctx, name, args...)
	if err != nil {
		return "", err
	}
	if r.ExitCode != 0 {
		return "", fmt.Errorf("%s %s: exit %d: %s%s", name, strings.Join(redact(args), " "), r.ExitCode, r.Stdout, r.Stderr)
	}
	return r.Stdout, nil
}

// OnedbArgs are onedb's connection flags for the server's database. The
// bed passes them because Debian's ruby-augeas cannot read oned.conf.
func (s *Server) OnedbArgs() []string {
	d := s.Conf.DB
	return []string{"-S", d.Host, "-P", strconv.Itoa(d.Port), "-u", d.User, "-p", d.Password, "-d", d.Name}
}

// redact hides the value following -p/--password in an argv shown in errors.
func redact(args []string) []string {
	out := append([]string(nil), args...)
	for i := 0; i+1 < len(out); i++ {
		if out[i] == "-p" || out[i] == "--password" {
			out[i+1] = "***"
		}
	}
	return out
}

// RaftStatus is one.zone.raftstatus's answer.
type RaftStatus struct {
	ServerID    int   `xml:"SERVER_ID"`
	State       int   `xml:"STATE"`
	Term        int64 `xml:"TERM"`
	VotedFor    int   `xml:"VOTEDFOR"`
	Commit      int64 `xml:"COMMIT"`
	LogIndex    int64 `xml:"LOG_INDEX"`
	LogTerm     int64 `xml:"LOG_TERM"`
	FedLogIndex int64 `xml:"FEDLOG_INDEX"`
}

// Raft states as OpenNebula numbers them (include/RaftManager.h).
const (
	StateSolo      = 0
	StateCandidate = 1
	StateFollower  = 2
	StateLeader    = 3
)

// RaftStatus asks the server for its Raft state.
func (s *Server) RaftStatus(ctx context.Context) (RaftStatus, error) {
	var st RaftStatus
	v, err := s.Client().Call(ctx, "one.zone.raftstatus")
	if err != nil {
		return st, err
	}
	str, ok := v.(string)
	if !ok {
		return st, fmt.Errorf("one.zone.raftstatus: %w: answer is %T", ErrMalformed, v)
	}
	return ParseRaftStatus(str)
}

// ParseRaftStatus parses one.zone.raftstatus's <RAFT> document.
func ParseRaftStatus(s string) (RaftStatus, error) {
	var st RaftStatus
	if err := xml.Unmarshal([]byte(s), &st); err != nil {
		return st, fmt.Errorf("one.zone.raftstatus: %w: %v", ErrMalformed, err)
	}
	return st, nil
}

func (s *Server) logTail(n int) string {
	b, _ := os.ReadFile(s.LogFile())
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var out []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

// copyTree copies regular files, directories and symlinks from src to dst,
// keeping modes.
func copyTree(src, dst string) error {
	return filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		t := filepath.Join(dst, rel)
		switch {
		case fi.IsDir():
			return os.MkdirAll(t, fi.Mode().Perm()|0o700)
		case fi.Mode()&os.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(l, t)
		case fi.Mode().IsRegular():
			return copyFile(p, t, fi.Mode().Perm())
		}
		return nil
	})
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
