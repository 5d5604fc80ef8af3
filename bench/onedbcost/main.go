package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/upgradekit/upgradekit/internal/testdb"
)

const dbName = "opennebula"

type options struct {
	scales       []scale
	reps         int
	overheadReps int
	stock        bool
	dir          string
	json         bool
}

func main() {
	var o options
	var scales string
	flag.StringVar(&scales, "scales", "1000:20:3,50000:200:10,184233:500:20,250000:2000:50", "comma-separated logdb-records:VMs:hosts")
	flag.IntVar(&o.reps, "reps", 3, "repetitions of backup, index rebuild and restore per scale (median reported)")
	flag.IntVar(&o.overheadReps, "overhead-reps", 10, "repetitions of mysql -e 'SELECT 1'")
	flag.BoolVar(&o.stock, "stock", true, "set innodb_buffer_pool_size and innodb_log_file_size to MariaDB's stock defaults (128M, 96M) instead of the test server's")
	flag.StringVar(&o.dir, "dir", "", "directory for the dump files (default: a new temporary directory)")
	flag.BoolVar(&o.json, "json", false, "print JSON instead of tables")
	flag.Parse()
	var err error
	if o.scales, err = parseScales(scales); err != nil {
		fmt.Fprintln(os.Stderr, "onedbcost:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "onedbcost:", err)
		os.Exit(1)
	}
	if o.json {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(rep)
	} else {
		err = rep.print(os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "onedbcost:", err)
		os.Exit(1)
	}
}

func parseScales(s string) ([]scale, error) {
	var out []scale
	for _, f := range strings.Split(s, ",") {
		p := strings.Split(strings.TrimSpace(f), ":")
		if len(p) != 3 {
			return nil, fmt.Errorf("scale %q: want logs:vms:hosts", f)
		}
		var n [3]int
		for i, v := range p {
			x, err := strconv.Atoi(v)
			if err != nil || x < 0 {
				return nil, fmt.Errorf("scale %q: bad number %q", f, v)
			}
			n[i] = x
		}
		out = append(out, scale{logs: n[0], vms: n[1], hosts: n[2]})
	}
	return out, nil
}

// Report is everything measured, printed as tables or JSON.
type Report struct {
	Date          time.Time     `json:"date"`
	CPUs          int           `json:"cpus"`
	LoadAvg       string        `json:"loadavg"`
	MariaDB       string        `json:"mariadb"`
	ServerKind    string        `json:"server_kind"`
	BufferPool    string        `json:"innodb_buffer_pool_size"`
	LogFileSize   string        `json:"innodb_log_file_size"`
	ClientSeconds float64       `json:"client_overhead_s"`
	Scales        []ScaleResult `json:"scales"`
	Derived       Derived       `json:"derived"`
}

// ScaleResult holds the medians measured at one scale.
type ScaleResult struct {
	LogRecords     int                `json:"logdb_records"`
	VMs            int                `json:"vms"`
	Hosts          int                `json:"hosts"`
	MeanLogBytes   float64            `json:"mean_sqlcmd_bytes"`
	MeanVMBody     float64            `json:"mean_vm_body_bytes"`
	DumpBytes      int64              `json:"dump_bytes"`
	LoadSeconds    float64            `json:"load_s"`
	BackupSeconds  float64            `json:"backup_s"`
	IndexSeconds   float64            `json:"index_s"`
	IndexCreate    map[string]float64 `json:"index_create_s"`
	RestoreSeconds float64            `json:"restore_s"`
}

// Derived holds the linear cost model fitted over the scales.
type Derived struct {
	BytesPerLogRecord    float64 `json:"bytes_per_log_record"`
	DumpMiBps            float64 `json:"dump_mib_per_s"`
	DumpFixedSeconds     float64 `json:"dump_fixed_s"`
	RestoreMiBps         float64 `json:"restore_mib_per_s"`
	RestoreFixedSeconds  float64 `json:"restore_fixed_s"`
	IndexSecondsPer100k  float64 `json:"index_s_per_100k_logdb_rows"`
	IndexFixedSeconds    float64 `json:"index_fixed_s"`
	VMIndexSecondsPerVM  float64 `json:"vm_index_s_per_vm"`
	VMIndexFixedSeconds  float64 `json:"vm_index_fixed_s"`
	ClientOverheadSecond float64 `json:"client_overhead_s"`
}

func run(ctx context.Context, o options) (_ *Report, err error) {
	if len(o.scales) == 0 || o.reps < 1 {
		return nil, errors.New("need at least one scale and one repetition")
	}
	dir := o.dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "onedbcost-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
	}
	srv, err := testdb.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("start mariadb: %w", err)
	}
	defer func() {
		if cerr := srv.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("stop mariadb: %w", cerr)
		}
	}()
	admin, err := srv.AdminDB()
	if err != nil {
		return nil, fmt.Errorf("admin connection: %w", err)
	}
	if o.stock {
		for _, q := range []string{"SET GLOBAL innodb_buffer_pool_size = 134217728", "SET GLOBAL innodb_log_file_size = 100663296"} {
			if _, err := admin.ExecContext(ctx, q); err != nil {
				return nil, fmt.Errorf("%s: %w", q, err)
			}
		}
	}
	user, pw, err := srv.CreateDatabaseUser(ctx, dbName)
	if err != nil {
		return nil, fmt.Errorf("create database user: %w", err)
	}
	cfg, err := mysql.ParseDSN(srv.DSN(user, pw, dbName))
	if err != nil {
		return nil, fmt.Errorf("dsn: %w", err)
	}
	cfg.InterpolateParams = true
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("connector: %w", err)
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	db.SetMaxOpenConns(1)

	rep := &Report{Date: time.Now().UTC().Truncate(time.Second), CPUs: runtime.NumCPU(), ServerKind: srv.Kind}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		rep.LoadAvg = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	if err := admin.QueryRowContext(ctx, "SELECT VERSION(), @@innodb_buffer_pool_size, @@innodb_log_file_size").
		Scan(&rep.MariaDB, &rep.BufferPool, &rep.LogFileSize); err != nil {
		return nil, fmt.Errorf("server version: %w", err)
	}
	cl := client{host: srv.Host, port: srv.Port, user: user, password: pw}

	var fixed []float64
	for range o.overheadReps {
		d, err := cl.run(ctx, "/usr/bin/mysql", nil, io.Discard, "-e", "SELECT 1")
		if err != nil {
			return nil, err
		}
		fixed = append(fixed, d.Seconds())
	}
	rep.ClientSeconds = median(fixed)

	for _, sc := range o.scales {
		r, err := measure(ctx, admin, db, cl, sc, o.reps, filepath.Join(dir, "dump.sql"))
		if err != nil {
			return nil, fmt.Errorf("scale %d:%d:%d: %w", sc.logs, sc.vms, sc.hosts, err)
		}
		rep.Scales = append(rep.Scales, r)
	}
	rep.Derived = derive(rep)
	return rep, nil
}

// measure builds the database at sc and times onedb's work on it.
func measure(ctx context.Context, admin, db *sql.DB, cl client, sc scale, reps int, dump string) (ScaleResult, error) {
	r := ScaleResult{LogRecords: sc.logs, VMs: sc.vms, Hosts: sc.hosts, IndexCreate: map[string]float64{}}
	for _, q := range []string{"DROP DATABASE IF EXISTS " + dbName, "CREATE DATABASE " + dbName} {
		if _, err := admin.ExecContext(ctx, q); err != nil {
			return r, fmt.Errorf("%s: %w", q, err)
		}
	}
	// The database was dropped under the pool's connection.
	db.SetMaxIdleConns(0)
	db.SetMaxIdleConns(1)
	start := time.Now()
	st, err := load(ctx, db, sc)
	if err != nil {
		return r, fmt.Errorf("load: %w", err)
	}
	r.LoadSeconds = time.Since(start).Seconds()
	if sc.logs > 0 {
		r.MeanLogBytes = float64(st.logBytes) / float64(sc.logs)
	}
	if sc.vms > 0 {
		r.MeanVMBody = float64(st.vmBodyBytes) / float64(sc.vms)
	}

	var total []float64
	creates := map[string][]float64{}
	for range reps {
		var sum time.Duration
		for _, ix := range indexes() {
			d, err := timed(ctx, db, "DROP INDEX "+ix.name+" ON "+ix.table)
			if err != nil {
				return r, err
			}
			sum += d
		}
		for _, ix := range indexes() {
			d, err := timed(ctx, db, ix.create)
			if err != nil {
				return r, err
			}
			sum += d
			creates[ix.name] = append(creates[ix.name], d.Seconds())
		}
		total = append(total, sum.Seconds())
	}
	r.IndexSeconds = median(total)
	for k, v := range creates {
		r.IndexCreate[k] = median(v)
	}

	// onedb backup: mysqldump ... --add-drop-database --databases
	// --add-drop-table DB > file.
	var backups []float64
	for range reps {
		f, err := os.Create(dump)
		if err != nil {
			return r, err
		}
		d, err := cl.run(ctx, "/usr/bin/mysqldump", nil, f, "--add-drop-database", "--databases", "--add-drop-table", dbName)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return r, err
		}
		backups = append(backups, d.Seconds())
	}
	r.BackupSeconds = median(backups)
	fi, err := os.Stat(dump)
	if err != nil {
		return r, err
	}
	r.DumpBytes = fi.Size()

	// onedb restore: mysql ... DB < file.
	var restores []float64
	for range reps {
		f, err := os.Open(dump)
		if err != nil {
			return r, err
		}
		d, err := cl.run(ctx, "/usr/bin/mysql", f, io.Discard, dbName)
		f.Close()
		if err != nil {
			return r, err
		}
		restores = append(restores, d.Seconds())
	}
	r.RestoreSeconds = median(restores)
	var n int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM logdb").Scan(&n); err != nil {
		return r, fmt.Errorf("check restore: %w", err)
	}
	if n != sc.logs {
		return r, fmt.Errorf("restored logdb has %d rows, want %d", n, sc.logs)
	}
	return r, nil
}

func timed(ctx context.Context, db *sql.DB, q string) (time.Duration, error) {
	start := time.Now()
	if _, err := db.ExecContext(ctx, q); err != nil {
		return 0, fmt.Errorf("%s: %w", q, err)
	}
	return time.Since(start), nil
}

// client runs the MariaDB client tools the way onedb does, with the
// password in MYSQL_PWD rather than on the command line.
type client struct {
	host     string
	port     int
	user     string
	password string
}

func (c client) run(ctx context.Context, tool string, stdin io.Reader, stdout io.Writer, args ...string) (time.Duration, error) {
	argv := append([]string{"-u", c.user, "-h", c.host, "-P", strconv.Itoa(c.port)}, args...)
	cmd := exec.CommandContext(ctx, tool, argv...)
	cmd.Env = append(os.Environ(), "MYSQL_PWD="+c.password)
	cmd.Stdin, cmd.Stdout = stdin, stdout
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		msg := stderr.String()
		if len(msg) > 500 {
			msg = msg[:500]
		}
		return d, fmt.Errorf("%s %s: %w: %s", filepath.Base(tool), strings.Join(args, " "), err, strings.TrimSpace(msg))
	}
	return d, nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// fit returns the least-squares line y = a + b*x.
func fit(x, y []float64) (a, b float64) {
	n := float64(len(x))
	var sx, sy, sxx, sxy float64
	for i := range x {
		sx, sy, sxx, sxy = sx+x[i], sy+y[i], sxx+x[i]*x[i], sxy+x[i]*y[i]
	}
	if d := n*sxx - sx*sx; d != 0 {
		b = (n*sxy - sx*sy) / d
	}
	return (sy - b*sx) / n, b
}

func derive(rep *Report) Derived {
	d := Derived{ClientOverheadSecond: rep.ClientSeconds}
	var mib, logs, vms, backup, restore, index, vmIndex []float64
	var logBytes, records float64
	for _, s := range rep.Scales {
		mib = append(mib, float64(s.DumpBytes)/(1<<20))
		logs = append(logs, float64(s.LogRecords))
		vms = append(vms, float64(s.VMs))
		backup = append(backup, s.BackupSeconds)
		restore = append(restore, s.RestoreSeconds)
		index = append(index, s.IndexSeconds)
		vmIndex = append(vmIndex, s.IndexCreate["state_oid_idx"]+s.IndexCreate["ftidx"])
		logBytes += s.MeanLogBytes * float64(s.LogRecords)
		records += float64(s.LogRecords)
	}
	if records > 0 {
		d.BytesPerLogRecord = logBytes / records
	}
	var b float64
	if d.DumpFixedSeconds, b = fit(mib, backup); b > 0 {
		d.DumpMiBps = 1 / b
	}
	if d.RestoreFixedSeconds, b = fit(mib, restore); b > 0 {
		d.RestoreMiBps = 1 / b
	}
	d.IndexFixedSeconds, b = fit(logs, index)
	d.IndexSecondsPer100k = b * 100000
	d.VMIndexFixedSeconds, d.VMIndexSecondsPerVM = fit(vms, vmIndex)
	return d
}

func (rep *Report) print(w io.Writer) error {
	fmt.Fprintf(w, "MariaDB %s (%s server, innodb_buffer_pool_size %s, innodb_log_file_size %s); %d CPUs; load %s; %s\n\n",
		rep.MariaDB, rep.ServerKind, rep.BufferPool, rep.LogFileSize, rep.CPUs, rep.LoadAvg, rep.Date.Format(time.RFC3339))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "logdb rows\tVMs\thosts\tsqlcmd B\tdump MiB\tload s\tbackup s\tindex s\t(state_oid/ft/applied create s)\trestore s\t")
	for _, s := range rep.Scales {
		fmt.Fprintf(tw, "%d\t%d\t%d\t%.0f\t%.1f\t%.2f\t%.3f\t%.3f\t%.3f/%.3f/%.3f\t%.3f\t\n",
			s.LogRecords, s.VMs, s.Hosts, s.MeanLogBytes, float64(s.DumpBytes)/(1<<20), s.LoadSeconds,
			s.BackupSeconds, s.IndexSeconds, s.IndexCreate["state_oid_idx"], s.IndexCreate["ftidx"], s.IndexCreate["applied_idx"], s.RestoreSeconds)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	d := rep.Derived
	_, err := fmt.Fprintf(w, `
Derived (least squares over the scales, times are medians):
  bytes per log record (mean base64 sqlcmd):  %.0f
  dump (mysqldump):     %.1f MiB/s + %.3f s fixed
  restore (mysql <):    %.1f MiB/s + %.3f s fixed
  index rebuild:        %.3f s per 100k logdb rows + %.3f s fixed
  vm_pool indexes:      %.6f s per VM + %.3f s fixed
  client invocation (mysql -e 'SELECT 1'): %.3f s
`, d.BytesPerLogRecord, d.DumpMiBps, d.DumpFixedSeconds, d.RestoreMiBps, d.RestoreFixedSeconds,
		d.IndexSecondsPer100k, d.IndexFixedSeconds, d.VMIndexSecondsPerVM, d.VMIndexFixedSeconds, d.ClientOverheadSecond)
	return err
}
