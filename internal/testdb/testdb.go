package testdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/ory/dockertest/v3"
	"github.com/ory/dockertest/v3/docker"
)

// Image is the MariaDB image used when a Docker engine is available; the
// tag is pinned so tests do not change under us.
const Image = "mariadb"

// ImageTag pins the image version (the same series Debian 12 ships).
const ImageTag = "10.11"

// Server is a running MariaDB server private to a test or test package.
type Server struct {
	// Host and Port are the TCP address (always 127.0.0.1 for a local server).
	Host string
	Port int
	// Socket is the unix socket path of a local server ("" under Docker).
	Socket string
	// RootUser and RootPassword log in with every privilege over TCP.
	RootUser, RootPassword string
	// Kind says how the server runs: "local" or "docker".
	Kind string
	// DataDir is the data directory of a local server.
	DataDir string

	mu     sync.Mutex
	admin  *sql.DB
	stop   func() error
	closed bool
}

// Addr returns host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// DSN returns a go-sql-driver/mysql DSN for user on db over TCP.
func (s *Server) DSN(user, password, db string) string {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd = user, password
	cfg.Net, cfg.Addr, cfg.DBName = "tcp", s.Addr(), db
	cfg.MultiStatements = true
	cfg.ParseTime = true
	return cfg.FormatDSN()
}

// Start starts a server for t and stops it in t.Cleanup. It skips t when
// no server can be started, or fails it when CI=true.
func Start(t testing.TB) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := New(ctx)
	if err != nil {
		if os.Getenv("CI") == "true" || !errors.Is(err, ErrUnavailable) {
			t.Fatalf("testdb: %v", err)
		}
		t.Skipf("testdb: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("testdb: stop: %v", err)
		}
	})
	return s
}

// ErrUnavailable means neither a Docker engine nor a local mariadbd exists.
var ErrUnavailable = errors.New("no Docker engine and no local mariadbd")

// New starts a server. Close stops it. Use it from TestMain to share one
// server per test package.
func New(ctx context.Context) (*Server, error) {
	if pool, err := dockertest.NewPool(""); err == nil && pool.Client.Ping() == nil {
		return startDocker(ctx, pool)
	}
	if _, err := exec.LookPath("mariadbd"); err != nil {
		if _, err2 := os.Stat("/usr/sbin/mariadbd"); err2 != nil {
			return nil, ErrUnavailable
		}
	}
	return startLocal(ctx)
}

// Close stops the server and removes its data. Calling it twice is safe.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.admin != nil {
		_ = s.admin.Close()
	}
	return s.stop()
}

// Admin returns a root connection pool, shared and closed with the server.
func (s *Server) Admin(t testing.TB) *sql.DB {
	t.Helper()
	db, err := s.AdminDB()
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	return db
}

// AdminDB is Admin without a testing.TB.
func (s *Server) AdminDB() (*sql.DB, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.admin != nil {
		return s.admin, nil
	}
	db, err := sql.Open("mysql", s.DSN(s.RootUser, s.RootPassword, ""))
	if err != nil {
		return nil, err
	}
	s.admin = db
	return db, nil
}

// CreateDatabase creates database name and a user with every privilege
// on it, reachable from 127.0.0.1 and localhost, and returns the user's
// name and password. The database and user are dropped in t.Cleanup.
func (s *Server) CreateDatabase(t testing.TB, name string) (user, password string) {
	t.Helper()
	user, password, err := s.CreateDatabaseUser(context.Background(), name)
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	t.Cleanup(func() {
		db, err := s.AdminDB()
		if err != nil {
			return
		}
		_, _ = db.Exec("DROP DATABASE IF EXISTS " + quoteIdent(name))
		_, _ = db.Exec(fmt.Sprintf("DROP USER IF EXISTS '%s'@'127.0.0.1', '%s'@'localhost', '%s'@'%%'", user, user, user))
	})
	return user, password
}

// CreateDatabaseUser is CreateDatabase without a testing.TB and without
// cleanup.
func (s *Server) CreateDatabaseUser(ctx context.Context, name string) (user, password string, err error) {
	db, err := s.AdminDB()
	if err != nil {
		return "", "", err
	}
	user = "u_" + randHex(6)
	password = randHex(12)
	stmts := []string{"CREATE DATABASE IF NOT EXISTS " + quoteIdent(name)}
	for _, h := range []string{"127.0.0.1", "localhost", "%"} {
		stmts = append(stmts,
			fmt.Sprintf("CREATE USER '%s'@'%s' IDENTIFIED BY '%s'", user, h, password),
			fmt.Sprintf("GRANT ALL PRIVILEGES ON %s.* TO '%s'@'%s'", quoteIdent(name), user, h))
	}
	for _, st := range stmts {
		if _, err := db.ExecContext(ctx, st); err != nil {
			return "", "", fmt.Errorf("%s: %w", strings.SplitN(st, " IDENTIFIED", 2)[0], err)
		}
	}
	return user, password, nil
}

func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func startDocker(ctx context.Context, pool *dockertest.Pool) (*Server, error) {
	pw := randHex(12)
	res, err := pool.RunWithOptions(&dockertest.RunOptions{
		Repository: Image,
		Tag:        ImageTag,
		Env:        []string{"MARIADB_ROOT_PASSWORD=" + pw},
		Labels:     map[string]string{"upgradekit.testdb": "1"},
	}, func(hc *docker.HostConfig) {
		hc.AutoRemove = true
		hc.RestartPolicy = docker.RestartPolicy{Name: "no"}
	})
	if err != nil {
		return nil, fmt.Errorf("docker run %s:%s: %w", Image, ImageTag, err)
	}
	_ = res.Expire(600)
	port, _ := strconv.Atoi(res.GetPort("3306/tcp"))
	s := &Server{Host: "127.0.0.1", Port: port, RootUser: "root", RootPassword: pw, Kind: "docker"}
	s.stop = func() error { return pool.Purge(res) }
	pool.MaxWait = 90 * time.Second
	if err := pool.Retry(func() error {
		db, err := s.AdminDB()
		if err != nil {
			return err
		}
		return db.PingContext(ctx)
	}); err != nil {
		_ = s.stop()
		return nil, fmt.Errorf("mariadb container never answered: %w", err)
	}
	return s, nil
}

func startLocal(ctx context.Context) (s *Server, err error) {
	base, err := os.MkdirTemp("", "upgradekit-testdb-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(base)
		}
	}()
	data := filepath.Join(base, "data")
	tmp := filepath.Join(base, "tmp")
	for _, d := range []string{data, tmp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	// mariadbd refuses to run as root: as root, hand the directory to the
	// mysql user and let mariadbd drop privileges to it.
	var userArgs []string
	if os.Geteuid() == 0 {
		u, err := user.Lookup("mysql")
		if err != nil {
			return nil, fmt.Errorf("running as root needs the mysql user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chmod(base, 0o755); err != nil {
			return nil, err
		}
		for _, p := range []string{base, data, tmp} {
			if err := os.Chown(p, uid, gid); err != nil {
				return nil, err
			}
		}
		userArgs = []string{"--user=mysql"}
	}
	install := exec.CommandContext(ctx, "mariadb-install-db", append([]string{"--no-defaults",
		"--datadir=" + data, "--tmpdir=" + tmp, "--auth-root-authentication-method=normal", "--skip-test-db"}, userArgs...)...)
	if out, err := install.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("mariadb-install-db: %w: %s", err, tail(out))
	}
	sock := filepath.Join(base, "mysqld.sock")
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logFile := filepath.Join(base, "mysqld.err")
	args := append([]string{"--no-defaults", "--datadir=" + data, "--socket=" + sock,
		"--port=" + strconv.Itoa(port), "--tmpdir=" + tmp, "--bind-address=127.0.0.1", "--skip-name-resolve",
		"--pid-file=" + filepath.Join(base, "mysqld.pid"), "--log-error=" + logFile,
		"--innodb-buffer-pool-size=64M", "--innodb-log-file-size=16M", "--max-connections=300",
		"--skip-log-bin"}, userArgs...)
	cmd := exec.Command("mariadbd", args...)
	if p, err := exec.LookPath("mariadbd"); err != nil || p == "" {
		cmd.Path = "/usr/sbin/mariadbd"
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start mariadbd: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	s = &Server{Host: "127.0.0.1", Port: port, Socket: sock, RootUser: "root", Kind: "local", DataDir: data}
	s.stop = func() error {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		return os.RemoveAll(base)
	}
	// The root account has an empty password and logs in over TCP from
	// 127.0.0.1 only after install-db; wait for the socket, then connect.
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-done:
			done <- err
			_ = os.RemoveAll(base)
			logb, _ := os.ReadFile(logFile)
			return nil, fmt.Errorf("mariadbd exited: %v: %s", err, tail(logb))
		default:
		}
		db, err := s.AdminDB()
		if err == nil {
			if err = db.PingContext(ctx); err == nil {
				return s, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			_ = s.stop()
			logb, _ := os.ReadFile(logFile)
			return nil, fmt.Errorf("mariadbd never answered on %s: %v: %s", s.Addr(), err, tail(logb))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 1500 {
		s = "..." + s[len(s)-1500:]
	}
	return s
}
