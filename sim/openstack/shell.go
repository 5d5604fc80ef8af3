package ossim

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/upgradekit/upgradekit/sim/internal/shell"
	"github.com/upgradekit/upgradekit/sim/internal/vfs"
)

// proc is one command running on a node.
type proc struct {
	c      *Cloud
	n      *node
	ctx    context.Context
	env    map[string]string
	dir    string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

func (p *proc) errf(format string, a ...any) { fmt.Fprintf(p.stderr, format, a...) }
func (p *proc) outf(format string, a ...any) { fmt.Fprintf(p.stdout, format, a...) }

func (p *proc) now() time.Time { return p.c.clock.Now() }

// run dispatches argv.
func (p *proc) run(argv []string) int {
	if len(argv) == 0 {
		return 0
	}
	name := path.Base(argv[0])
	if (name == "sh" || name == "bash") && len(argv) >= 3 && argv[1] == "-c" {
		if strings.Contains(argv[2], "upgradekit-sha256") {
			return p.download(argv[3:])
		}
		return p.shell(argv[2], argv[3:])
	}
	if h, ok := p.c.handler(name); ok {
		return h(p, argv[1:])
	}
	p.errf("sh: 1: %s: not found\n", argv[0])
	return 127
}

// download answers transport's download script natively: the file on
// stdout, its SHA-256 on stderr.
func (p *proc) download(params []string) int {
	if len(params) < 2 {
		return 2
	}
	src := vfs.Clean(p.dir, params[1])
	st, err := p.n.fs.Stat(src)
	if err != nil {
		p.errf("sh: 2: cannot open %s: No such file\n", params[1])
		return 1
	}
	if st.Dir {
		p.errf("%s: is a directory\n", params[1])
		return 1
	}
	data, _ := p.n.fs.ReadFile(src)
	_, _ = p.stdout.Write(data)
	sum := sha256.Sum256(data)
	p.errf("upgradekit-sha256 %s\n", hex.EncodeToString(sum[:]))
	return 0
}

// shell interprets script like /bin/sh -c with mvdan.cc/sh; external
// commands and file access go to the node.
func (p *proc) shell(script string, params []string) int {
	return shell.Run(p.ctx, &shell.Config{
		FS:            p.n.fs,
		Now:           p.now,
		Env:           []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"},
		Vars:          p.env,
		Dir:           p.dir,
		Args:          params,
		Stdin:         p.stdin,
		Stdout:        p.stdout,
		Stderr:        p.stderr,
		Call:          p.callHandler,
		ConsumesStdin: consumesStdin,
		Exec: func(env map[string]string, dir string, argv []string, in io.Reader, out, errw io.Writer) int {
			q := *p
			q.env = env
			q.dir, q.stdin, q.stdout, q.stderr = dir, in, out, errw
			return q.run(argv)
		},
		Owner:     "root",
		KeepAttrs: true,
		CheckExec: true,
	}, script)
}

func (p *proc) callHandler(_ context.Context, args []string) ([]string, error) {
	switch args[0] {
	case "cd":
		if len(args) >= 2 && args[1] == "--" {
			return append([]string{"cd"}, args[2:]...), nil
		}
	case "command":
		if len(args) >= 3 && args[1] == "-v" {
			return shell.Lookup(args[len(args)-1], func(base string) bool {
				_, ok := p.c.handler(base)
				return ok && p.n.fs.Exists("/usr/bin/"+base) || p.c.isCoreutil(base)
			}), nil
		}
	}
	return args, nil
}

// consumesStdin reports whether argv reads its standard input.
func consumesStdin(argv []string) bool {
	ops, dash := shell.Operands(argv)
	if dash {
		return true
	}
	switch path.Base(argv[0]) {
	case "tee", "sort", "xargs", "mariadb", "mysql":
		return true
	case "cat", "sha256sum", "wc", "head", "tail":
		return len(ops) == 0
	case "sed":
		return len(ops) <= 1
	case "grep":
		return len(ops) <= 1
	}
	return false
}

// flags splits args into single-letter/long flags and operands; "--"
// ends flags.
type parsed struct {
	flags map[string]string
	ops   []string
}

// parseFlags parses args; withValue lists flags that take a value.
func parseFlags(args []string, withValue ...string) parsed {
	p := parsed{flags: map[string]string{}}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			p.ops = append(p.ops, args[i+1:]...)
			return p
		case strings.HasPrefix(a, "--"):
			k, v, ok := strings.Cut(a, "=")
			if !ok && slices.Contains(withValue, k) && i+1 < len(args) {
				i++
				v = args[i]
			}
			p.flags[k] = v
		case strings.HasPrefix(a, "-") && len(a) > 1:
			if slices.Contains(withValue, a) && i+1 < len(args) {
				p.flags[a] = args[i+1]
				i++
				continue
			}
			for _, ch := range a[1:] {
				p.flags["-"+string(ch)] = ""
			}
		default:
			p.ops = append(p.ops, a)
		}
	}
	return p
}

func (f parsed) has(names ...string) bool {
	for _, n := range names {
		if _, ok := f.flags[n]; ok {
			return true
		}
	}
	return false
}

func (p *proc) abs(name string) string { return vfs.Clean(p.dir, name) }

func (p *proc) readAll() []byte {
	b, _ := io.ReadAll(p.stdin)
	return b
}

func (p *proc) input(ops []string, tool string) ([]byte, int) {
	if len(ops) == 0 || ops[0] == "-" {
		return p.readAll(), 0
	}
	b, err := p.n.fs.ReadFile(p.abs(ops[0]))
	if err != nil {
		p.errf("%s: %s: No such file or directory\n", tool, ops[0])
		return nil, 1
	}
	return b, 0
}

func (c *Cloud) isCoreutil(name string) bool {
	_, ok := coreutils()[name]
	return ok
}

type handlerFunc func(p *proc, args []string) int

func coreutils() map[string]handlerFunc {
	return map[string]handlerFunc{
		"mkdir": cmdMkdir, "rm": cmdRm, "cp": cmdCp, "mv": cmdMv, "cat": cmdCat, "tee": cmdTee,
		"wc": cmdWc, "sha256sum": cmdSha256, "head": cmdHeadTail(true), "tail": cmdHeadTail(false),
		"find": cmdFind, "sort": cmdSort, "xargs": cmdXargs, "grep": cmdGrep, "sed": cmdSed,
		"stat": cmdStat, "mktemp": cmdMktemp, "chmod": cmdChmod, "chown": cmdChown, "dirname": cmdDirname,
		"test": cmdTest, "[": cmdTest, "sleep": cmdSleep, "python3": cmdPython,
		"env": cmdEnv, "kill": cmdKill,
	}
}

func cmdMkdir(p *proc, args []string) int {
	f := parseFlags(args, "-m")
	for _, d := range f.ops {
		a := p.abs(d)
		if p.n.fs.Exists(a) {
			if f.has("-p") {
				continue
			}
			p.errf("mkdir: cannot create directory '%s': File exists\n", d)
			return 1
		}
		var err error
		if f.has("-p") {
			err = p.n.fs.MkdirAll(a, "root", "root", p.now())
		} else {
			err = p.n.fs.Mkdir(a, "root", "root", p.now())
		}
		if err != nil {
			p.errf("mkdir: cannot create directory '%s': No such file or directory\n", d)
			return 1
		}
		if m, ok := f.flags["-m"]; ok {
			v, _ := strconv.ParseUint(m, 8, 32)
			_ = p.n.fs.Chmod(a, fs.FileMode(v))
		}
	}
	return 0
}

func cmdRm(p *proc, args []string) int {
	f := parseFlags(args)
	code := 0
	for _, x := range f.ops {
		a := p.abs(x)
		st, err := p.n.fs.Stat(a)
		if err != nil {
			if !f.has("-f") {
				p.errf("rm: cannot remove '%s': No such file or directory\n", x)
				code = 1
			}
			continue
		}
		if st.Dir && !f.has("-r", "-R") {
			p.errf("rm: cannot remove '%s': Is a directory\n", x)
			code = 1
			continue
		}
		_ = p.n.fs.Remove(a, true)
	}
	return code
}

// copyTree copies src (file or tree) to dst, keeping modes and owners.
func (p *proc) copyTree(src, dst string) error {
	for _, s := range p.n.fs.Walk(src) {
		st, _ := p.n.fs.Stat(s)
		if !st.Dir {
			st.Data, _ = p.n.fs.ReadFile(s)
		}
		d := dst + strings.TrimPrefix(s, src)
		if err := p.n.fs.Set(d, st); err != nil {
			return err
		}
	}
	return nil
}

func cmdCp(p *proc, args []string) int {
	f := parseFlags(args)
	if len(f.ops) != 2 {
		p.errf("cp: missing destination file operand\n")
		return 1
	}
	src, dst := p.abs(f.ops[0]), p.abs(f.ops[1])
	st, err := p.n.fs.Stat(src)
	if err != nil {
		p.errf("cp: cannot stat '%s': No such file or directory\n", f.ops[0])
		return 1
	}
	if st.Dir && !f.has("-a", "-r", "-R") {
		p.errf("cp: -r not specified; omitting directory '%s'\n", f.ops[0])
		return 1
	}
	if dt, err := p.n.fs.Stat(dst); err == nil && dt.Dir && !f.has("-T") {
		dst = dst + "/" + path.Base(src)
	}
	if err := p.copyTree(src, dst); err != nil {
		p.errf("cp: cannot create '%s': No such file or directory\n", f.ops[1])
		return 1
	}
	return 0
}

func cmdMv(p *proc, args []string) int {
	f := parseFlags(args)
	if len(f.ops) != 2 {
		p.errf("mv: missing destination file operand\n")
		return 1
	}
	src, dst := p.abs(f.ops[0]), p.abs(f.ops[1])
	if dt, err := p.n.fs.Stat(dst); err == nil && dt.Dir {
		dst = dst + "/" + path.Base(src)
	}
	if err := p.n.fs.Rename(src, dst); err != nil {
		p.errf("mv: cannot move '%s' to '%s': No such file or directory\n", f.ops[0], f.ops[1])
		return 1
	}
	return 0
}

func cmdCat(p *proc, args []string) int {
	f := parseFlags(args)
	if len(f.ops) == 0 {
		_, _ = p.stdout.Write(p.readAll())
		return 0
	}
	for _, x := range f.ops {
		b, err := p.n.fs.ReadFile(p.abs(x))
		if err != nil {
			p.errf("cat: %s: No such file or directory\n", x)
			return 1
		}
		_, _ = p.stdout.Write(b)
	}
	return 0
}

func cmdTee(p *proc, args []string) int {
	f := parseFlags(args)
	data := p.readAll()
	_, _ = p.stdout.Write(data)
	for _, x := range f.ops {
		if x == "/dev/null" {
			continue
		}
		a := p.abs(x)
		old, err := p.n.fs.Stat(a)
		mode, owner, group := fs.FileMode(0o644), "root", "root"
		if err == nil {
			mode, owner, group = old.Mode, old.Owner, old.Group
		}
		if err := p.n.fs.WriteFile(a, data, mode, owner, group, p.now()); err != nil {
			p.errf("tee: %s: No such file or directory\n", x)
			return 1
		}
	}
	return 0
}

func cmdWc(p *proc, args []string) int {
	f := parseFlags(args)
	b, code := p.input(f.ops, "wc")
	if code != 0 {
		return code
	}
	switch {
	case f.has("-c"):
		if len(f.ops) > 0 {
			p.outf("%d %s\n", len(b), f.ops[0])
		} else {
			p.outf("%d\n", len(b))
		}
	case f.has("-l"):
		p.outf("%d\n", bytes.Count(b, []byte("\n")))
	default:
		p.outf("%d %d %d\n", bytes.Count(b, []byte("\n")), len(bytes.Fields(b)), len(b))
	}
	return 0
}

func cmdSha256(p *proc, args []string) int {
	f := parseFlags(args)
	end := "\n"
	if f.has("-z") {
		end = "\x00"
	}
	if len(f.ops) == 0 {
		s := sha256.Sum256(p.readAll())
		p.outf("%s  -%s", hex.EncodeToString(s[:]), end)
		return 0
	}
	code := 0
	for _, x := range f.ops {
		b, err := p.n.fs.ReadFile(p.abs(x))
		if err != nil {
			p.errf("sha256sum: %s: No such file or directory\n", x)
			code = 1
			continue
		}
		s := sha256.Sum256(b)
		p.outf("%s  %s%s", hex.EncodeToString(s[:]), x, end)
	}
	return code
}

func cmdHeadTail(head bool) handlerFunc {
	return func(p *proc, args []string) int {
		f := parseFlags(args, "-n")
		n := 10
		if v, ok := f.flags["-n"]; ok {
			n, _ = strconv.Atoi(v)
		}
		b, code := p.input(f.ops, "head")
		if code != 0 {
			return code
		}
		lines := strings.SplitAfter(string(b), "\n")
		if len(lines) > 0 && lines[len(lines)-1] == "" {
			lines = lines[:len(lines)-1]
		}
		if head {
			lines = lines[:min(n, len(lines))]
		} else {
			lines = lines[max(0, len(lines)-n):]
		}
		p.outf("%s", strings.Join(lines, ""))
		return 0
	}
}

func cmdFind(p *proc, args []string) int {
	if len(args) == 0 {
		args = []string{"."}
	}
	root := args[0]
	expr := args[1:]
	minDepth := 0
	var name, typ, printf string
	var print0 bool
	var execArgv []string
	for i := 0; i < len(expr); i++ {
		switch expr[i] {
		case "-mindepth", "-name", "-type", "-printf":
			if i+1 == len(expr) {
				p.errf("find: missing argument to `%s'\n", expr[i])
				return 1
			}
		}
		switch expr[i] {
		case "-mindepth":
			i++
			minDepth, _ = strconv.Atoi(expr[i])
		case "-name":
			i++
			name = expr[i]
		case "-type":
			i++
			typ = expr[i]
		case "-printf":
			i++
			printf = expr[i]
		case "-print0":
			print0 = true
		case "-print":
		case "-exec":
			execArgv, i = shell.FindExecArgs(expr, i)
		default:
			p.errf("find: unknown predicate `%s'\n", expr[i])
			return 1
		}
	}
	a := p.abs(root)
	all := p.n.fs.Walk(a)
	if len(all) == 0 {
		p.errf("find: '%s': No such file or directory\n", root)
		return 1
	}
	var hits []string
	for _, x := range all {
		rel := strings.TrimPrefix(x, a)
		depth := strings.Count(rel, "/")
		if depth < minDepth {
			continue
		}
		st, _ := p.n.fs.Stat(x)
		if !shell.FindMatch(x, st, typ, name) {
			continue
		}
		shown := root + rel
		if rel == "" {
			shown = root
		}
		hits = append(hits, shown)
		switch {
		case execArgv != nil:
		case printf != "":
			p.outf("%s", findPrintf(printf, shown, rel, st, p))
		case print0:
			p.outf("%s\x00", shown)
		default:
			p.outf("%s\n", shown)
		}
	}
	if execArgv != nil && len(hits) > 0 {
		return p.run(shell.FindExec(execArgv, hits))
	}
	return 0
}

func findPrintf(format, shown, rel string, st vfs.File, p *proc) string {
	return shell.FindPrintf(format, false, func(b *strings.Builder, v byte) {
		switch v {
		case 'p':
			b.WriteString(shown)
		case 'P':
			b.WriteString(strings.TrimPrefix(rel, "/"))
		case 'y':
			if st.Dir {
				b.WriteByte('d')
			} else {
				b.WriteByte('f')
			}
		case 'm':
			fmt.Fprintf(b, "%o", st.Mode.Perm())
		case 'u', 'U':
			b.WriteString(st.Owner)
		case 'g', 'G':
			b.WriteString(st.Group)
		case 's':
			data, _ := p.n.fs.ReadFile(p.abs(shown))
			fmt.Fprintf(b, "%d", len(data))
		case 'l':
		case '%':
			b.WriteByte('%')
		}
	})
}

func cmdSort(p *proc, args []string) int {
	f := parseFlags(args)
	sep := "\n"
	if f.has("-z") {
		sep = "\x00"
	}
	data, code := p.input(f.ops, "sort")
	if code != 0 {
		return code
	}
	items := strings.Split(strings.TrimSuffix(string(data), sep), sep)
	if len(data) == 0 {
		return 0
	}
	slices.Sort(items)
	for _, it := range items {
		p.outf("%s%s", it, sep)
	}
	return 0
}

func cmdXargs(p *proc, args []string) int {
	i := 0
	null, noRun := false, false
	for ; i < len(args) && strings.HasPrefix(args[i], "-"); i++ {
		null = null || strings.Contains(args[i], "0")
		noRun = noRun || strings.Contains(args[i], "r")
	}
	data := string(p.readAll())
	var items []string
	if null {
		items = strings.Split(strings.TrimSuffix(data, "\x00"), "\x00")
	} else {
		items = strings.Fields(data)
	}
	if data == "" {
		items = nil
	}
	if len(items) == 0 && noRun {
		return 0
	}
	argv := append(slices.Clone(args[i:]), items...)
	if len(argv) == 0 {
		argv = []string{"echo"}
	}
	return p.run(argv)
}

func cmdGrep(p *proc, args []string) int {
	f := parseFlags(args, "-e")
	if len(f.ops) == 0 {
		return 2
	}
	re, err := regexp.Compile(f.ops[0])
	if err != nil {
		p.errf("grep: %s\n", err)
		return 2
	}
	data, code := p.input(f.ops[1:], "grep")
	if code != 0 {
		return 2
	}
	found := false
	for _, ln := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if re.MatchString(ln) != f.has("-v") {
			found = true
			if !f.has("-q") {
				p.outf("%s\n", ln)
			}
		}
	}
	if found {
		return 0
	}
	return 1
}

// cmdSed supports one s<d>re<d>repl<d>[g] expression.
func cmdSed(p *proc, args []string) int {
	f := parseFlags(args, "-e")
	expr := f.flags["-e"]
	ops := f.ops
	if expr == "" && len(ops) > 0 {
		expr, ops = ops[0], ops[1:]
	}
	if len(expr) < 4 || expr[0] != 's' {
		p.errf("sed: -e expression #1, char 1: unknown command\n")
		return 1
	}
	d := string(expr[1])
	parts := strings.Split(expr[2:], d)
	if len(parts) < 3 {
		p.errf("sed: -e expression #1: unterminated `s' command\n")
		return 1
	}
	re, err := regexp.Compile(parts[0])
	if err != nil {
		p.errf("sed: %s\n", err)
		return 1
	}
	data, code := p.input(ops, "sed")
	if code != 0 {
		return 2
	}
	repl := strings.ReplaceAll(parts[1], "$", "$$")
	for _, ln := range strings.SplitAfter(string(data), "\n") {
		if ln == "" {
			continue
		}
		body := strings.TrimSuffix(ln, "\n")
		nl := ln[len(body):]
		if strings.Contains(parts[2], "g") {
			body = re.ReplaceAllString(body, repl)
		} else if loc := re.FindStringIndex(body); loc != nil {
			body = body[:loc[0]] + re.ReplaceAllString(body[loc[0]:loc[1]], repl) + body[loc[1]:]
		}
		p.outf("%s%s", body, nl)
	}
	return 0
}

func cmdStat(p *proc, args []string) int {
	f := parseFlags(args, "-c")
	format := f.flags["-c"]
	for _, x := range f.ops {
		st, err := p.n.fs.Stat(p.abs(x))
		if err != nil {
			p.errf("stat: cannot statx '%s': No such file or directory\n", x)
			return 1
		}
		r := strings.NewReplacer("%a", fmt.Sprintf("%o", st.Mode.Perm()), "%U", st.Owner, "%G", st.Group,
			"%u", uid(st.Owner), "%g", uid(st.Group), "%n", x, "%s", strconv.Itoa(fileSize(p, x)))
		p.outf("%s\n", r.Replace(format))
	}
	return 0
}

func uid(name string) string {
	if name == "root" {
		return "0"
	}
	var h uint32
	for _, c := range name {
		h = h*31 + uint32(c)
	}
	return strconv.Itoa(100 + int(h%800))
}

func cmdMktemp(p *proc, args []string) int {
	f := parseFlags(args)
	tmpl := "/tmp/tmp.XXXXXXXXXX"
	if len(f.ops) > 0 {
		tmpl = f.ops[0]
	}
	p.c.pid++
	name := strings.Replace(tmpl, "XXXXXXXX", fmt.Sprintf("%08d", p.c.pid), 1)
	name = strings.ReplaceAll(name, "X", "0")
	a := p.abs(name)
	if !p.n.fs.Exists(path.Dir(a)) {
		p.errf("mktemp: failed to create file via template '%s': No such file or directory\n", tmpl)
		return 1
	}
	var err error
	if f.has("-d") {
		err = p.n.fs.Mkdir(a, "root", "root", p.now())
		_ = p.n.fs.Chmod(a, 0o700)
	} else {
		err = p.n.fs.WriteFile(a, nil, 0o600, "root", "root", p.now())
	}
	if err != nil {
		p.errf("mktemp: %s\n", err)
		return 1
	}
	p.outf("%s\n", name)
	return 0
}

func cmdChmod(p *proc, args []string) int {
	f := parseFlags(args)
	if len(f.ops) < 2 {
		return 1
	}
	m, err := strconv.ParseUint(f.ops[0], 8, 32)
	if err != nil {
		p.errf("chmod: invalid mode: '%s'\n", f.ops[0])
		return 1
	}
	for _, x := range f.ops[1:] {
		if err := p.n.fs.Chmod(p.abs(x), fs.FileMode(m)); err != nil {
			p.errf("chmod: cannot access '%s': No such file or directory\n", x)
			return 1
		}
	}
	return 0
}

func cmdChown(p *proc, args []string) int {
	f := parseFlags(args)
	if len(f.ops) < 2 {
		return 1
	}
	owner, group, _ := strings.Cut(f.ops[0], ":")
	for _, x := range f.ops[1:] {
		for _, y := range p.n.fs.Walk(p.abs(x)) {
			if !f.has("-R") && y != p.abs(x) {
				continue
			}
			if err := p.n.fs.Chown(y, owner, group); err != nil {
				return 1
			}
		}
		if !p.n.fs.Exists(p.abs(x)) {
			p.errf("chown: cannot access '%s': No such file or directory\n", x)
			return 1
		}
	}
	return 0
}

func cmdDirname(p *proc, args []string) int {
	f := parseFlags(args)
	for _, x := range f.ops {
		p.outf("%s\n", path.Dir(x))
	}
	return 0
}

func cmdSleep(p *proc, args []string) int {
	if len(args) > 0 {
		if s, err := strconv.ParseFloat(args[0], 64); err == nil {
			p.c.clock.Advance(time.Duration(s * float64(time.Second)))
		}
	}
	return 0
}

// cmdPython answers the importlib probe of the migrations listing: the
// package directory of argv's module if installed.
func cmdPython(p *proc, args []string) int {
	if len(args) >= 3 && args[0] == "-c" && strings.Contains(args[1], "find_spec") {
		dir := path.Join(sitePackages, args[2])
		if st, err := p.n.fs.Stat(dir); err == nil && st.Dir {
			p.outf("%s\n", dir)
		} else {
			p.outf("\n")
		}
		return 0
	}
	p.errf("python3: simulated interpreter only answers importlib probes\n")
	return 1
}

func cmdEnv(p *proc, args []string) int {
	i := 0
	for ; i < len(args) && strings.Contains(args[i], "="); i++ {
		k, v, _ := strings.Cut(args[i], "=")
		p.env[k] = v
	}
	if i == len(args) {
		for _, k := range slices.Sorted(maps.Keys(p.env)) {
			p.outf("%s=%s\n", k, p.env[k])
		}
		return 0
	}
	return p.run(args[i:])
}

func fileSize(p *proc, name string) int {
	b, _ := p.n.fs.ReadFile(p.abs(name))
	return len(b)
}

// cmdTest answers `test -d|-f|-e|-s|-x path` run as a command.
func cmdTest(p *proc, args []string) int {
	if len(args) > 0 && args[len(args)-1] == "]" {
		args = args[:len(args)-1]
	}
	if len(args) != 2 {
		return 2
	}
	st, err := p.n.fs.Stat(p.abs(args[1]))
	ok := err == nil
	switch args[0] {
	case "-d":
		ok = ok && st.Dir
	case "-f":
		ok = ok && !st.Dir
	case "-s":
		ok = ok && !st.Dir && fileSize(p, args[1]) > 0
	case "-x":
		ok = ok && st.Mode&0o111 != 0
	case "-e":
	default:
		return 2
	}
	if ok {
		return 0
	}
	return 1
}
