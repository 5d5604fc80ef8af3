package onedb

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/transport/fake"
)

func requireCommandError(t *testing.T, err error, reason error) *CommandError {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, reason)
	ce, ok := errors.AsType[*CommandError](err)
	require.True(t, ok, "want *CommandError, got %T: %v", err, err)
	if ce.Err != nil {
		_, ok = errors.AsType[*transport.ExitError](err)
		assert.True(t, ok, "the *transport.ExitError is reachable")
	}
	return ce
}

func TestBackup(t *testing.T) {
	t.Parallel()
	const file = "/var/tmp/db_leader.sql"
	tests := []struct {
		name   string
		opts   []Option
		argv   []string
		script func(*fake.Expectation)
		want   string
		check  func(t *testing.T, err error)
	}{
		{name: "default", argv: []string{"onedb", "backup"},
			script: func(e *fake.Expectation) {
				e.Reply(strings.TrimPrefix(sample(t, "onedb-backup.txt", "`onedb backup` (MySQL backend"), "mysqldump: [Warning] Using a password on the command line interface can be insecure.\n")).
					Stderr("mysqldump: [Warning] Using a password on the command line interface can be insecure.\n")
			},
			want: "/var/lib/one/mysql_localhost_opennebula_2025-11-21_9:05:07.sql"},
		{name: "federated", opts: []Option{Federated()}, argv: []string{"onedb", "backup", "--federated"},
			script: func(e *fake.Expectation) { e.Reply(sample(t, "onedb-backup.txt", "`onedb backup -v --federated`")) },
			want:   "/var/lib/one/mysql_localhost_opennebula_federated_2025-11-21_10:31:44.sql"},
		{name: "force to file", opts: []Option{Force(), ToFile(file)}, argv: []string{"onedb", "backup", "-f", "--", file},
			script: func(e *fake.Expectation) {
				e.Reply(sample(t, "onedb-backup.txt", "`onedb backup -f /var/tmp/db_leader.sql`"))
			},
			want: file},
		{name: "file with leading dash", opts: []Option{ToFile("-x.sql")}, argv: []string{"onedb", "backup", "--", "-x.sql"},
			script: func(e *fake.Expectation) { e.Reply("MySQL dump stored in -x.sql\n") },
			want:   "-x.sql"},
		{name: "sqlite", opts: []Option{WithConn(Conn{Backend: SQLite})}, argv: []string{"onedb", "backup", "-t", "sqlite"},
			script: func(e *fake.Expectation) { e.Reply(sample(t, "onedb-backup.txt", "`onedb backup` (SQLite backend)")) },
			want:   "/var/lib/one/one.db_2025-11-21_9:05:07.bck"},
		{name: "sqlite federated file", opts: []Option{WithConn(Conn{Backend: SQLite, File: "/srv/one.db"}), Federated()},
			argv: []string{"onedb", "backup", "-s", "/srv/one.db", "--federated"},
			script: func(e *fake.Expectation) {
				e.Reply(sample(t, "onedb-backup.txt", "`onedb backup --federated` (SQLite backend)"))
			},
			want: "/var/lib/one/one.db_federated_2025-11-21_9:05:07.bck"},
		{name: "process privilege warning", argv: []string{"onedb", "backup"},
			script: func(e *fake.Expectation) {
				s := sample(t, "onedb-backup.txt", "MySQL >= 5.7.31")
				first, rest, _ := strings.Cut(s, "\n")
				e.Reply(rest).Stderr(first + "\n")
			},
			want: "/var/lib/one/mysql_localhost_opennebula_2025-11-21_9:05:07.sql"},
		{name: "exists", opts: []Option{ToFile(file)}, argv: []string{"onedb", "backup", "--", file},
			script: func(e *fake.Expectation) {
				e.Exit(255, sample(t, "onedb-backup.txt", "when the file already exists"))
			},
			check: func(t *testing.T, err error) {
				ce := requireCommandError(t, err, ErrBackupExists)
				assert.Equal(t, file, ce.Path)
				assert.Equal(t, "backup", ce.Op)
				assert.Equal(t, "fe1", ce.Host)
				code, _ := transport.ExitCode(err)
				assert.Equal(t, 255, code)
			}},
		{name: "dump failed", argv: []string{"onedb", "backup"},
			script: func(e *fake.Expectation) { e.Exit(255, sample(t, "onedb-backup.txt", "mysqldump exits non-zero")) },
			check: func(t *testing.T, err error) {
				requireCommandError(t, err, ErrDumpFailed)
				// The password came from oned.conf: unknown to us, masked by shape.
				assert.NotContains(t, err.Error(), "secret")
				ee, _ := errors.AsType[*transport.ExitError](err)
				assert.NotContains(t, string(ee.Stderr), "secret")
				assert.Contains(t, string(ee.Stderr), "-p'[REDACTED]' -h localhost")
			}},
		{name: "unrecognised failure", argv: []string{"onedb", "backup"},
			script: func(e *fake.Expectation) { e.Exit(255, "something odd\n") },
			check: func(t *testing.T, err error) {
				ce, ok := errors.AsType[*CommandError](err)
				require.True(t, ok)
				assert.Nil(t, ce.Reason)
				ee, ok := errors.AsType[*transport.ExitError](err)
				require.True(t, ok)
				assert.Equal(t, 255, ee.Code)
				assert.Equal(t, "host fe1: onedb backup: exit status 255: something odd", err.Error())
			}},
		{name: "no stored line", argv: []string{"onedb", "backup"},
			script: func(e *fake.Expectation) { e.Reply("done\n") },
			check:  func(t *testing.T, err error) { assert.ErrorIs(t, err, ErrMalformedOutput) }},
		{name: "truncated", argv: []string{"onedb", "backup"},
			script: func(e *fake.Expectation) {
				e.Reply(sample(t, "onedb-backup.txt", "`onedb backup -v --federated`")).Truncate(15)
			},
			check: func(t *testing.T, err error) { assert.ErrorIs(t, err, ErrMalformedOutput) }},
		{name: "other file printed", opts: []Option{ToFile(file)}, argv: []string{"onedb", "backup", "--", file},
			script: func(e *fake.Expectation) { e.Reply("MySQL dump stored in /elsewhere.sql\n") },
			check:  func(t *testing.T, err error) { assert.ErrorIs(t, err, ErrMalformedOutput) }},
		{name: "connection lost", argv: []string{"onedb", "backup"},
			script: func(e *fake.Expectation) { e.ConnectionLost(true) },
			check:  func(t *testing.T, err error) { assert.ErrorIs(t, err, transport.ErrConnectionLost) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := fake.New("fe1")
			tt.script(f.Expect(fake.Exact(tt.argv...)))
			got, err := Backup(context.Background(), f, tt.opts...)
			f.AssertExpectations(t)
			if tt.check != nil {
				tt.check(t, err)
				assert.Empty(t, got)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			calls := f.Calls()
			require.Len(t, calls, 1)
			assert.Nil(t, calls[0].Command.Env, "backup needs no ONE_XMLRPC")
			assert.False(t, calls[0].Command.ReadOnly)
		})
	}
}

func TestBackupLogsClientWarning(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zapcore.DebugLevel)
	f := fake.New("fe1")
	s := sample(t, "onedb-backup.txt", "MySQL >= 5.7.31")
	first, rest, _ := strings.Cut(s, "\n")
	f.Expect(fake.Exact("onedb", "backup")).Reply(rest).Stderr(first + "\n")
	_, err := Backup(context.Background(), f, WithLogger(zap.New(core)))
	require.NoError(t, err)
	warn := logs.FilterLevelExact(zapcore.WarnLevel).All()
	require.Len(t, warn, 1)
	assert.Contains(t, warn[0].ContextMap()["stderr"], "PROCESS privilege")
	assert.Equal(t, "fe1", warn[0].ContextMap()["host"])
}

func TestRestore(t *testing.T) {
	t.Parallel()
	const file = "/tmp/mysql_localhost_opennebula_2025-11-21_9:05:07.sql"
	tests := []struct {
		name   string
		opts   []Option
		argv   []string
		stdout string
		code   int
		stderr string
		want   Restored
		reason error
		check  func(t *testing.T, ce *CommandError)
	}{
		{name: "force", opts: []Option{Force()}, argv: []string{"onedb", "restore", "-f", "--", file},
			stdout: sample(t, "onedb-restore.txt", "`onedb restore -f"), want: Restored{Database: "opennebula", Server: "localhost"}},
		{name: "federated", opts: []Option{Federated()}, argv: []string{"onedb", "restore", "--federated", "--", file},
			stdout: sample(t, "onedb-restore.txt", "`onedb restore --federated"), want: Restored{Database: "opennebula", Server: "localhost"}},
		{name: "sqlite", opts: []Option{WithConn(Conn{Backend: SQLite, File: "/var/lib/one/one.db"}), Force()},
			argv:   []string{"onedb", "restore", "-s", "/var/lib/one/one.db", "-f", "--", file},
			stdout: sample(t, "onedb-restore.txt", "SQLite (exit status"), want: Restored{File: "/var/lib/one/one.db"}},
		{name: "db exists", argv: []string{"onedb", "restore", "--", file}, code: 255,
			stderr: sample(t, "onedb-restore.txt", "same without -f"), reason: ErrDatabaseExists,
			check: func(t *testing.T, ce *CommandError) {
				assert.Equal(t, "opennebula", ce.Database)
				assert.Equal(t, "localhost", ce.Server)
			}},
		{name: "sqlite exists", argv: []string{"onedb", "restore", "--", file}, code: 255,
			stderr: sample(t, "onedb-restore.txt", "SQLite without -f"), reason: ErrDatabaseExists,
			check: func(t *testing.T, ce *CommandError) { assert.Equal(t, "/var/lib/one/one.db", ce.Path) }},
		{name: "lock file", argv: []string{"onedb", "restore", "--", file}, code: 255,
			stderr: sample(t, "onedb-restore.txt", "lock file present"), reason: ErrOnedRunning,
			check: func(t *testing.T, ce *CommandError) { assert.Equal(t, "/var/lock/one/one", ce.Path) }},
		{name: "listening", argv: []string{"onedb", "restore", "--", file}, code: 255,
			stderr: sample(t, "onedb-restore.txt", "no lock file, but an oned answers"), reason: ErrOnedRunning,
			check: func(t *testing.T, ce *CommandError) { assert.Equal(t, "http://10.0.0.10:2633/RPC2", ce.Endpoint) }},
		{name: "missing file", argv: []string{"onedb", "restore", "--", file}, code: 255,
			stderr: sample(t, "onedb-restore.txt", "backup file missing"), reason: ErrBackupNotFound,
			check: func(t *testing.T, ce *CommandError) { assert.Equal(t, "/tmp/missing.sql", ce.Path) }},
		{name: "mysql failed", argv: []string{"onedb", "restore", "--", file}, code: 255,
			stderr: sample(t, "onedb-restore.txt", "mysql client failed"), reason: ErrRestoreFailed},
		{name: "no restored line", argv: []string{"onedb", "restore", "--", file},
			stdout: "ok\n", reason: ErrMalformedOutput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := fake.New("fe1")
			f.Expect(fake.Exact(tt.argv...)).Stdout(tt.stdout).Stderr(tt.stderr).Exit(tt.code)
			got, err := Restore(context.Background(), f, file, tt.opts...)
			f.AssertExpectations(t)
			calls := f.Calls()
			require.Len(t, calls, 1)
			assert.Equal(t, map[string]string{"ONE_XMLRPC": "http://localhost:2633/RPC2"}, calls[0].Command.Env)
			switch {
			case tt.reason == ErrMalformedOutput:
				assert.ErrorIs(t, err, ErrMalformedOutput)
			case tt.reason != nil:
				ce := requireCommandError(t, err, tt.reason)
				if tt.check != nil {
					tt.check(t, ce)
				}
			default:
				require.NoError(t, err)
				assert.Equal(t, tt.want, got)
			}
		})
	}
}

func TestRestoreEndpointAndValidation(t *testing.T) {
	t.Parallel()
	f := fake.New("fe1")
	f.Expect(fake.Exact("onedb", "restore", "--", "/x.sql")).Reply("MySQL DB one at db1 restored.\n")
	got, err := Restore(context.Background(), f, "/x.sql", WithEndpoint("http://127.0.0.1:2633/RPC2"))
	require.NoError(t, err)
	assert.Equal(t, Restored{Database: "one", Server: "db1"}, got)
	assert.Equal(t, "http://127.0.0.1:2633/RPC2", f.Calls()[0].Command.Env["ONE_XMLRPC"])
	f.AssertExpectations(t)

	empty := fake.New("fe1")
	_, err = Restore(context.Background(), empty, "")
	assert.ErrorIs(t, err, ErrInvalidOption)
	assert.Empty(t, empty.Calls())
}

func TestVersion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		header string
		code   int
		status Status
		reason error
	}{
		{"Case A:", 0, Current, nil},
		{"Case B:", 2, UpgradeRequired, nil},
		{"Case C:", 3, DBNewer, nil},
		{"Case D:", 0, Current, nil},
		{"Case F:", 0, Current, nil},
		{"Case G:", 1, NotBootstrapped, nil},
		{"Case H:", 255, 0, ErrDBConnect},
		{"Case A:", 4, 0, ErrUnexpectedExit},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			t.Parallel()
			f := fake.New("fe1")
			e := f.Expect(fake.Exact("onedb", "version", "-v"))
			if tt.code == 0 {
				e.Reply(sample(t, "onedb-version.txt", tt.header))
			} else {
				// Cases G and H go to stderr; B and C print on stdout.
				e.Stdout(sample(t, "onedb-version.txt", tt.header)).Exit(tt.code)
			}
			got, err := Version(context.Background(), f)
			f.AssertExpectations(t)
			assert.True(t, f.Calls()[0].Command.ReadOnly, "version is a read-only probe")
			if tt.reason != nil {
				requireCommandError(t, err, tt.reason)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.status, got.Status)
		})
	}
}

func TestVersionMalformed(t *testing.T) {
	t.Parallel()
	f := fake.New("fe1")
	f.Expect(fake.Exact("onedb", "version", "-v")).Reply(sample(t, "onedb-version.txt", "Case D:")).Truncate(40)
	_, err := Version(context.Background(), f)
	assert.ErrorIs(t, err, ErrMalformedOutput)
}

func TestUpgrade(t *testing.T) {
	t.Parallel()
	success := sample(t, "onedb-upgrade.txt", "`onedb upgrade -v` on a MySQL DB")
	t.Run("migrates", func(t *testing.T) {
		t.Parallel()
		f := fake.New("fe1")
		f.Expect(fake.Exact("onedb", "upgrade", "-v")).Reply(success)
		got, err := Upgrade(context.Background(), f)
		require.NoError(t, err)
		f.AssertExpectations(t)
		assert.False(t, got.AlreadyCurrent)
		assert.Equal(t, "/var/lib/one/mysql_localhost_opennebula_2025-11-21_10:24:51.sql", got.BackupFile)
		require.NotNil(t, got.Local)
		assert.Equal(t, "7.4.0", got.Local.To)
		assert.Equal(t, "http://localhost:2633/RPC2", f.Calls()[0].Command.Env["ONE_XMLRPC"])
	})
	t.Run("options", func(t *testing.T) {
		t.Parallel()
		f := fake.New("fe1")
		f.Expect(fake.Exact("onedb", "upgrade", "-v", "-f", "-b", "/var/tmp/pre.sql", "--", "7.4.0")).Reply(success)
		f.Expect(fake.Exact("onedb", "upgrade", "-v", "--no-backup")).Reply(sample(t, "onedb-upgrade.txt", "Nothing to do"))
		_, err := Upgrade(context.Background(), f, Force(), BackupTo("/var/tmp/pre.sql"), TargetVersion("7.4.0"))
		require.NoError(t, err)
		got, err := Upgrade(context.Background(), f, NoBackup())
		require.NoError(t, err)
		assert.True(t, got.AlreadyCurrent, "up to date is a result, not an error")
		f.AssertExpectations(t)
	})
	t.Run("oned running", func(t *testing.T) {
		t.Parallel()
		f := fake.New("fe1")
		f.Expect(fake.Exact("onedb", "upgrade", "-v")).Exit(255, sample(t, "onedb-upgrade.txt", "oned running"))
		_, err := Upgrade(context.Background(), f)
		requireCommandError(t, err, ErrOnedRunning)
		assert.NotErrorIs(t, err, ErrUpgradeFailed)
	})
	t.Run("migrator failure", func(t *testing.T) {
		t.Parallel()
		f := fake.New("fe1")
		out := strings.Split(success, ">>> Running migrators for shared")[0] + sample(t, "onedb-upgrade.txt", "Migrator failure")
		f.Expect(fake.Exact("onedb", "upgrade", "-v")).Stdout(out).Exit(255)
		_, err := Upgrade(context.Background(), f)
		require.ErrorIs(t, err, ErrUpgradeFailed)
		assert.NotErrorIs(t, err, ErrMigratorsMissing)
		ue, ok := errors.AsType[*UpgradeError](err)
		require.True(t, ok)
		assert.True(t, ue.Restored)
		assert.False(t, ue.MigratorsMissing)
		assert.Equal(t, "/var/lib/one/mysql_localhost_opennebula_2025-11-21_10:24:51.sql", ue.BackupFile)
		assert.Equal(t, "<exception message>\n<backtrace lines>", ue.Message)
		assert.Equal(t, "fe1", ue.Host)
		assert.Contains(t, err.Error(), "<exception message>")
		code, _ := transport.ExitCode(err)
		assert.Equal(t, 255, code)
	})
	t.Run("restore not confirmed", func(t *testing.T) {
		t.Parallel()
		f := fake.New("fe1")
		f.Expect(fake.Exact("onedb", "upgrade", "-v")).Stdout("boom\n\nThe database will be restored\n").Exit(255)
		_, err := Upgrade(context.Background(), f)
		ue, ok := errors.AsType[*UpgradeError](err)
		require.True(t, ok)
		assert.False(t, ue.Restored)
		assert.Contains(t, err.Error(), "NOT confirmed")
	})
	t.Run("migrators missing", func(t *testing.T) {
		t.Parallel()
		f := fake.New("fe1")
		f.Expect(fake.Exact("onedb", "upgrade", "-v")).Exit(255, sample(t, "onedb-upgrade.txt", "Migrators missing"))
		_, err := Upgrade(context.Background(), f)
		require.ErrorIs(t, err, ErrUpgradeFailed)
		require.ErrorIs(t, err, ErrMigratorsMissing)
		ue, _ := errors.AsType[*UpgradeError](err)
		assert.True(t, ue.Restored)
		assert.True(t, strings.HasPrefix(ue.Message, "ERROR: Database upgrade to the latest versions"))
	})
	t.Run("truncated success", func(t *testing.T) {
		t.Parallel()
		f := fake.New("fe1")
		f.Expect(fake.Exact("onedb", "upgrade", "-v")).Reply(success).Truncate(len(success) / 2)
		_, err := Upgrade(context.Background(), f)
		assert.ErrorIs(t, err, ErrMalformedOutput)
	})
}

func TestFsck(t *testing.T) {
	t.Parallel()
	clean := sample(t, "onedb-fsck.txt", "`onedb fsck` (oned stopped")
	found := sample(t, "onedb-fsck.txt", "errors found (even if")
	dry := sample(t, "onedb-fsck.txt", "`onedb fsck --dry`")
	tests := []struct {
		name   string
		opts   []Option
		argv   []string
		out    string
		code   int
		found  int
		reason error
	}{
		{name: "clean 7.4", opts: []Option{Release("7.4.0")}, out: clean, found: 0},
		{name: "errors 7.4 exit 1", opts: []Option{Release("7.4.0")}, out: found, code: 1, found: 2},
		{name: "errors 7.2 exit 1", opts: []Option{Release("7.2")}, out: found, code: 1, found: 2},
		{name: "errors 6.10 exit 0", opts: []Option{Release("6.10.0")}, out: found, code: 0, found: 2},
		{name: "errors 7.0 exit 0", opts: []Option{Release("7.0.0")}, out: found, code: 0, found: 2},
		// Hotfix releases (four parts, real tags such as release-6.10.0.1).
		{name: "errors hotfix 6.10.0.1 exit 0", opts: []Option{Release("6.10.0.1")}, out: found, code: 0, found: 2},
		{name: "errors hotfix 6.8.0.1 exit 1", opts: []Option{Release("6.8.0.1")}, out: found, code: 1, reason: ErrUnexpectedExit},
		{name: "errors unknown release exit 1", out: found, code: 1, found: 2},
		{name: "errors unknown release exit 0", out: found, code: 0, found: 2},
		{name: "errors 7.0 exit 1", opts: []Option{Release("7.0.0")}, out: found, code: 1, reason: ErrUnexpectedExit},
		{name: "errors 7.4 exit 0", opts: []Option{Release("7.4.0")}, out: found, code: 0, reason: ErrUnexpectedExit},
		{name: "clean exit 1", out: clean, code: 1, reason: ErrUnexpectedExit},
		{name: "exit 1 no footer", out: "oops\n", code: 1, reason: ErrUnexpectedExit},
		{name: "dry", opts: []Option{DryRun(), Release("7.4.0")}, argv: []string{"onedb", "fsck", "--dry"}, out: dry},
		{name: "backup to", opts: []Option{BackupTo("/var/tmp/f.sql"), Force()}, argv: []string{"onedb", "fsck", "-f", "-b", "/var/tmp/f.sql"}, out: clean},
		{name: "version mismatch", out: sample(t, "onedb-fsck.txt", "DB version differs"), code: 255, reason: ErrVersionMismatch},
		{name: "oned running", out: "First stop OpenNebula. Lock file found: /var/lock/one/one\n", code: 255, reason: ErrOnedRunning},
		{name: "truncated", out: clean[:len(clean)-30], reason: ErrMalformedOutput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			argv := tt.argv
			if argv == nil {
				argv = []string{"onedb", "fsck"}
			}
			f := fake.New("fe1")
			f.Expect(fake.Exact(argv...)).Stdout(tt.out).Exit(tt.code)
			got, err := Fsck(context.Background(), f, tt.opts...)
			f.AssertExpectations(t)
			assert.Equal(t, "http://localhost:2633/RPC2", f.Calls()[0].Command.Env["ONE_XMLRPC"])
			switch {
			case tt.reason == ErrMalformedOutput:
				assert.ErrorIs(t, err, ErrMalformedOutput)
			case tt.reason != nil:
				requireCommandError(t, err, tt.reason)
			default:
				require.NoError(t, err)
				assert.Equal(t, tt.found, got.Found)
				assert.Equal(t, tt.code, got.ExitCode)
			}
		})
	}
}

func TestOptionValidation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := map[string]func(f *fake.Transport) error{
		"federated upgrade": func(f *fake.Transport) error { _, err := Upgrade(ctx, f, Federated()); return err },
		"dry backup":        func(f *fake.Transport) error { _, err := Backup(ctx, f, DryRun()); return err },
		"tofile restore":    func(f *fake.Transport) error { _, err := Restore(ctx, f, "/x", ToFile("/y")); return err },
		"force version":     func(f *fake.Transport) error { _, err := Version(ctx, f, Force()); return err },
		"nobackup+backupto": func(f *fake.Transport) error { _, err := Upgrade(ctx, f, NoBackup(), BackupTo("/x")); return err },
		"dry+backupto":      func(f *fake.Transport) error { _, err := Fsck(ctx, f, DryRun(), BackupTo("/x")); return err },
		"bad target":        func(f *fake.Transport) error { _, err := Upgrade(ctx, f, TargetVersion("7.4")); return err },
		"bad release":       func(f *fake.Transport) error { _, err := Fsck(ctx, f, Release("seven")); return err },
		"dash backupto":     func(f *fake.Transport) error { _, err := Fsck(ctx, f, BackupTo("-rf")); return err },
		"empty tofile":      func(f *fake.Transport) error { _, err := Backup(ctx, f, ToFile("")); return err },
		"empty user":        func(f *fake.Transport) error { _, err := Backup(ctx, f, AsUser("")); return err },
		"empty endpoint":    func(f *fake.Transport) error { _, err := Restore(ctx, f, "/x", WithEndpoint("")); return err },
		"conn no user": func(f *fake.Transport) error {
			_, err := Backup(ctx, f, WithConn(Conn{DBName: "opennebula"}))
			return err
		},
		"conn dash db": func(f *fake.Transport) error {
			_, err := Backup(ctx, f, WithConn(Conn{User: "u", DBName: "-x"}))
			return err
		},
		"conn bad port": func(f *fake.Transport) error {
			_, err := Backup(ctx, f, WithConn(Conn{User: "u", DBName: "d", Port: 70000}))
			return err
		},
		"sqlite with user": func(f *fake.Transport) error {
			_, err := Backup(ctx, f, WithConn(Conn{Backend: SQLite, User: "u"}))
			return err
		},
		"mysql with file": func(f *fake.Transport) error {
			_, err := Backup(ctx, f, WithConn(Conn{User: "u", DBName: "d", File: "/x"}))
			return err
		},
		"unknown backend": func(f *fake.Transport) error {
			_, err := Backup(ctx, f, WithConn(Conn{Backend: "postgres"}))
			return err
		},
	}
	for name, fn := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := fake.New("fe1")
			err := fn(f)
			assert.ErrorIs(t, err, ErrInvalidOption)
			assert.Empty(t, f.Calls(), "nothing runs after a bad option")
		})
	}
}

func TestAsUserAndSudo(t *testing.T) {
	t.Parallel()
	f := fake.New("fe1")
	f.Expect(fake.Exact("onedb", "version", "-v")).Reply(sample(t, "onedb-version.txt", "Case A:")).Times(2)
	_, err := Version(context.Background(), f, AsUser("oneadmin"))
	require.NoError(t, err)
	_, err = Version(context.Background(), f, WithSudo())
	require.NoError(t, err)
	calls := f.Calls()
	assert.Equal(t, "oneadmin", calls[0].Command.User)
	assert.True(t, calls[1].Command.Sudo)
	assert.Empty(t, calls[1].Command.User)
	f.AssertExpectations(t)
}

// The password given in Conn must reach onedb only through
// $ONE_DB_PASSWORD, and never appear in argv, errors or logs, even when
// onedb or mysqldump echo it back.
func TestPasswordNeverLeaks(t *testing.T) {
	t.Parallel()
	const pw = "s3cr3t'P4ss w0rd"
	conn := Conn{Server: "db1", Port: 3306, User: "oneadmin", DBName: "opennebula", Password: transport.NewSecret(pw)}
	connArgs := []string{"-S", "db1", "-P", "3306", "-u", "oneadmin", "-d", "opennebula"}
	echo := "mysqldump: Got error: 1045: Access denied for user 'oneadmin'@'db1' (using password: YES)\n" +
		"Unknown error running 'mysqldump -u oneadmin -p'" + pw + "' -h db1 -P 3306 --add-drop-database --databases --add-drop-table opennebula  > /x'\n" +
		"also plain " + pw + "\n"
	ctx := context.Background()
	tests := []struct {
		name string
		argv []string
		run  func(f *fake.Transport, opts ...Option) error
	}{
		{"backup", append(append([]string{"onedb", "backup"}, connArgs...), "-f", "--", "/x"),
			func(f *fake.Transport, opts ...Option) error {
				_, err := Backup(ctx, f, append(opts, Force(), ToFile("/x"))...)
				return err
			}},
		{"restore", append(append([]string{"onedb", "restore"}, connArgs...), "--", "/x"),
			func(f *fake.Transport, opts ...Option) error { _, err := Restore(ctx, f, "/x", opts...); return err }},
		{"version", append(append([]string{"onedb", "version"}, connArgs...), "-v"),
			func(f *fake.Transport, opts ...Option) error { _, err := Version(ctx, f, opts...); return err }},
		{"upgrade", append(append([]string{"onedb", "upgrade"}, connArgs...), "-v"),
			func(f *fake.Transport, opts ...Option) error { _, err := Upgrade(ctx, f, opts...); return err }},
		{"fsck", append([]string{"onedb", "fsck"}, connArgs...),
			func(f *fake.Transport, opts ...Option) error { _, err := Fsck(ctx, f, opts...); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			core, logs := observer.New(zapcore.DebugLevel)
			f := fake.New("fe1", fake.WithLogger(zap.New(core)))
			f.Expect(fake.Exact(tt.argv...)).Stdout(echo).Exit(255, echo)
			err := tt.run(f, WithConn(conn), WithLogger(zap.New(core)))
			require.Error(t, err)
			f.AssertExpectations(t)

			call := f.Calls()[0]
			for _, a := range call.Command.Argv() {
				assert.NotContains(t, a, "s3cr3t")
			}
			require.Contains(t, call.Command.SecretEnv, "ONE_DB_PASSWORD")
			assert.Equal(t, pw, call.Command.SecretEnv["ONE_DB_PASSWORD"].Reveal())
			assert.NotContains(t, call.Command.String(), "s3cr3t")
			w, werr := call.Command.Wire(true)
			require.NoError(t, werr)
			for _, a := range w.Argv {
				assert.NotContains(t, a, "s3cr3t", "the wire argv carries no password either")
			}

			assert.NotContains(t, err.Error(), "s3cr3t")
			if ee, ok := errors.AsType[*transport.ExitError](err); ok {
				assert.NotContains(t, string(ee.Stderr), "s3cr3t")
				assert.NotContains(t, ee.Cmd, "s3cr3t")
			}
			if ce, ok := errors.AsType[*CommandError](err); ok {
				assert.NotContains(t, ce.Detail, "s3cr3t")
			}
			if ue, ok := errors.AsType[*UpgradeError](err); ok {
				assert.NotContains(t, ue.Message, "s3cr3t")
			}
			require.NotZero(t, logs.Len())
			for _, e := range logs.All() {
				assert.NotContains(t, e.Message, "s3cr3t")
				for k, v := range e.ContextMap() {
					assert.NotContains(t, strings.ToLower(k+"="+toString(v)), "s3cr3t")
				}
			}
		})
	}
}

func toString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case error:
		return x.Error()
	}
	return ""
}

func TestEmptyPasswordStillSetsEnv(t *testing.T) {
	t.Parallel()
	f := fake.New("fe1")
	f.Expect(fake.Exact("onedb", "version", "-u", "oneadmin", "-d", "opennebula", "-v")).Reply(sample(t, "onedb-version.txt", "Case A:"))
	_, err := Version(context.Background(), f, WithConn(Conn{User: "oneadmin", DBName: "opennebula"}))
	require.NoError(t, err)
	env := f.Calls()[0].Command.SecretEnv
	require.Contains(t, env, "ONE_DB_PASSWORD", "set even when empty, so onedb never prompts")
	assert.True(t, env["ONE_DB_PASSWORD"].IsZero())
	f.AssertExpectations(t)
}

func TestCancelAndTransportErrors(t *testing.T) {
	t.Parallel()
	f := fake.New("fe1")
	f.Expect(fake.Exact("onedb", "restore", "-f", "--", "/x.sql")).Hang().Any()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Restore(ctx, f, "/x.sql", Force())
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), "onedb restore")

	closed := fake.New("fe1")
	require.NoError(t, closed.Close())
	_, err = Version(context.Background(), closed)
	assert.ErrorIs(t, err, transport.ErrClosed)
}
