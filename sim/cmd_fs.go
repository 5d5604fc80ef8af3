package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/upgradekit/upgradekit/sim/internal/shell"
	"github.com/upgradekit/upgradekit/sim/internal/vfs"
)

// splitFlags separates leading short/long flags from operands.
func splitFlags(args []string) (flags map[string]bool, ops []string) {
	flags = map[string]bool{}
	done := false
	for _, a := range args {
		switch {
		case done:
			ops = append(ops, a)
		case a == "--":
			done = true
		case strings.HasPrefix(a, "--"):
			flags[a] = true
		case strings.HasPrefix(a, "-") && len(a) > 1:
			for _, c := range a[1:] {
				flags["-"+string(c)] = true
			}
		default:
			ops = append(ops, a)
		}
	}
	return flags, ops
}

func (p *proc) abs(f string) string { return vfs.Clean(p.dir, f) }

// writable reports whether user may create or modify f.
func writable(n *node, f, user string) bool {
	if user == "root" {
		return true
	}
	f = vfs.Clean("/", f)
	if st, err := n.FS.Stat(f); err == nil {
		return st.Owner == user && st.Mode&0o200 != 0 || st.Mode&0o002 != 0
	}
	st, err := n.FS.Stat(path.Dir(f))
	if err != nil {
		return false
	}
	return st.Owner == user && st.Mode&0o200 != 0 || st.Mode&0o002 != 0
}

func (p *proc) readable(f string) bool { return p.canRead(f) }

func (p *proc) fail(tool, f, why string) int {
	p.errf("%s: %s: %s\n", tool, f, why)
	return 1
}

func cmdCat(p *proc) int {
	_, ops := splitFlags(p.argv[1:])
	if len(ops) == 0 {
		_, _ = io.Copy(p.stdout, p.stdin)
		return 0
	}
	code := 0
	for _, f := range ops {
		if f == "-" {
			_, _ = io.Copy(p.stdout, p.stdin)
			continue
		}
		b, err := p.n.FS.ReadFile(p.abs(f))
		switch {
		case err != nil && p.n.FS.Exists(p.abs(f)):
			code = p.fail("cat", f, "Is a directory")
		case err != nil:
			code = p.fail("cat", f, "No such file or directory")
		case !p.readable(p.abs(f)):
			code = p.fail("cat", f, "Permission denied")
		default:
			_, _ = p.stdout.Write(b)
		}
	}
	return code
}

func cmdTee(p *proc) int {
	flags, ops := splitFlags(p.argv[1:])
	data, _ := io.ReadAll(p.stdin)
	_, _ = p.stdout.Write(data)
	code := 0
	for _, f := range ops {
		if strings.HasPrefix(f, "/dev/") {
			continue
		}
		a := p.abs(f)
		if !writable(p.n, a, p.user) {
			code = p.fail("tee", f, "Permission denied")
			continue
		}
		var err error
		if flags["-a"] || flags["--append"] {
			err = p.n.FS.AppendFile(a, data, p.user, p.user, p.now())
		} else {
			err = p.n.FS.WriteFile(a, data, 0o644, p.user, p.user, p.now())
		}
		if err != nil {
			code = p.fail("tee", f, "No such file or directory")
		}
	}
	p.spend(time.Duration(modelledSize(data)) * 10 * time.Nanosecond)
	return code
}

// copyTree copies src (file or directory) to dst; preserve keeps mode,
// owner and times, otherwise the copy belongs to the caller.
func (p *proc) copyTree(src, dst string, preserve bool) error {
	fsys := p.n.FS
	for _, f := range fsys.Walk(src) {
		st, err := fsys.Stat(f)
		if err != nil {
			return err
		}
		target := dst + strings.TrimPrefix(f, src)
		if !preserve {
			st.Owner, st.Group, st.ModTime = p.user, p.user, p.now()
		}
		if !st.Dir {
			st.Data, _ = fsys.ReadFile(f)
		} else if old, err := fsys.Stat(target); err == nil && old.Dir {
			continue
		}
		if err := fsys.Set(target, st); err != nil {
			return err
		}
	}
	return nil
}

func cmdCp(p *proc) int {
	flags, ops := splitFlags(p.argv[1:])
	if len(ops) < 2 {
		p.errf("cp: missing file operand\n")
		return 1
	}
	recursive := flags["-a"] || flags["-r"] || flags["-R"] || flags["--archive"] || flags["--recursive"]
	preserve := flags["-a"] || flags["-p"] || flags["--archive"] || flags["--preserve"]
	noTarget := flags["-T"] || flags["--no-target-directory"]
	dst := p.abs(ops[len(ops)-1])
	dstSt, dstErr := p.n.FS.Stat(dst)
	code := 0
	for _, s := range ops[:len(ops)-1] {
		src := p.abs(s)
		st, err := p.n.FS.Stat(src)
		if err != nil {
			p.errf("cp: cannot stat '%s': No such file or directory\n", s)
			code = 1
			continue
		}
		if st.Dir && !recursive {
			p.errf("cp: -r not specified; omitting directory '%s'\n", s)
			code = 1
			continue
		}
		target := dst
		if dstErr == nil && dstSt.Dir && !noTarget {
			target = dst + "/" + path.Base(src)
		}
		if !writable(p.n, target, p.user) {
			p.errf("cp: cannot create regular file '%s': Permission denied\n", target)
			code = 1
			continue
		}
		if err := p.copyTree(src, target, preserve); err != nil {
			p.errf("cp: cannot create '%s': No such file or directory\n", target)
			code = 1
		}
	}
	p.spend(200 * time.Millisecond)
	return code
}

func cmdMv(p *proc) int {
	flags, ops := splitFlags(p.argv[1:])
	if len(ops) != 2 {
		p.errf("mv: missing file operand\n")
		return 1
	}
	src, dst := p.abs(ops[0]), p.abs(ops[1])
	if st, err := p.n.FS.Stat(dst); err == nil && st.Dir && !flags["-T"] && !flags["--no-target-directory"] {
		dst += "/" + path.Base(src)
	}
	if !writable(p.n, dst, p.user) || !writable(p.n, src, p.user) {
		p.errf("mv: cannot move '%s' to '%s': Permission denied\n", ops[0], ops[1])
		return 1
	}
	if p.n.mounted(src) || p.n.mounted(dst) {
		// rename(2) refuses a mount point, as source or target: EBUSY.
		p.errf("mv: cannot move '%s' to '%s': Device or resource busy\n", ops[0], ops[1])
		return 1
	}
	if err := p.n.FS.Rename(src, dst); err != nil {
		p.errf("mv: cannot stat '%s': No such file or directory\n", ops[0])
		return 1
	}
	for i, m := range p.n.Mounts { // mounts below a renamed directory move with it
		if rest, ok := strings.CutPrefix(m, src+"/"); ok {
			p.n.Mounts[i] = dst + "/" + rest
		}
	}
	return 0
}

// rmMounted is rm -r of a, which is or holds mount points: as on Linux,
// everything else goes, each mount point is emptied but stays (rmdir(2)
// EBUSY), and so do the directories above it (ENOTEMPTY).
func (p *proc) rmMounted(f, a string) bool {
	var mounts []string
	for _, m := range p.n.Mounts {
		if m == a || strings.HasPrefix(m, a+"/") {
			mounts = append(mounts, m)
		}
	}
	if len(mounts) == 0 {
		return false
	}
	keep := func(x string) bool {
		return slices.ContainsFunc(mounts, func(m string) bool { return m == x || strings.HasPrefix(m, x+"/") })
	}
	tree := p.n.FS.Walk(a)
	for i := len(tree) - 1; i >= 0; i-- {
		if !keep(tree[i]) {
			_ = p.n.FS.Remove(tree[i], true)
		}
	}
	for i := len(tree) - 1; i >= 0; i-- {
		if !keep(tree[i]) {
			continue
		}
		why := "Directory not empty"
		if slices.Contains(mounts, tree[i]) {
			why = "Device or resource busy"
		}
		p.errf("rm: cannot remove '%s': %s\n", f+strings.TrimPrefix(tree[i], a), why)
	}
	return true
}

func cmdRm(p *proc) int {
	flags, ops := splitFlags(p.argv[1:])
	force := flags["-f"] || flags["--force"]
	rec := flags["-r"] || flags["-R"] || flags["--recursive"]
	code := 0
	for _, f := range ops {
		a := p.abs(f)
		st, err := p.n.FS.Stat(a)
		if err != nil {
			if !force {
				p.errf("rm: cannot remove '%s': No such file or directory\n", f)
				code = 1
			}
			continue
		}
		if st.Dir && !rec {
			p.errf("rm: cannot remove '%s': Is a directory\n", f)
			code = 1
			continue
		}
		if !writable(p.n, path.Dir(a), p.user) {
			p.errf("rm: cannot remove '%s': Permission denied\n", f)
			code = 1
			continue
		}
		if p.rmMounted(f, a) {
			code = 1
			continue
		}
		_ = p.n.FS.Remove(a, rec)
	}
	return code
}

func cmdMkdir(p *proc) int {
	args := p.argv[1:]
	mode := fs.FileMode(0)
	var rest []string
	for i := 0; i < len(args); i++ {
		if args[i] == "-m" && i+1 < len(args) {
			m, err := strconv.ParseUint(args[i+1], 8, 32)
			if err == nil {
				mode = fs.FileMode(m)
			}
			i++
			continue
		}
		rest = append(rest, args[i])
	}
	flags, ops := splitFlags(rest)
	parents := flags["-p"] || flags["--parents"]
	code := 0
	for _, f := range ops {
		a := p.abs(f)
		if !writable(p.n, a, p.user) {
			p.errf("mkdir: cannot create directory '%s': Permission denied\n", f)
			code = 1
			continue
		}
		var err error
		if parents {
			err = p.n.FS.MkdirAll(a, p.user, p.user, p.now())
		} else {
			err = p.n.FS.Mkdir(a, p.user, p.user, p.now())
		}
		if err != nil {
			why := "No such file or directory"
			if p.n.FS.Exists(a) {
				why = "File exists"
			}
			p.errf("mkdir: cannot create directory '%s': %s\n", f, why)
			code = 1
			continue
		}
		if mode != 0 {
			_ = p.n.FS.Chmod(a, mode)
		}
	}
	return code
}

func cmdChmod(p *proc) int {
	flags, ops := splitFlags(p.argv[1:])
	if len(ops) < 2 {
		p.errf("chmod: missing operand\n")
		return 1
	}
	m, err := strconv.ParseUint(ops[0], 8, 32)
	if err != nil {
		p.errf("chmod: invalid mode: '%s'\n", ops[0])
		return 1
	}
	code := 0
	for _, f := range ops[1:] {
		targets := []string{p.abs(f)}
		if flags["-R"] {
			targets = p.n.FS.Walk(p.abs(f))
		}
		if len(targets) == 0 || !p.n.FS.Exists(targets[0]) {
			p.errf("chmod: cannot access '%s': No such file or directory\n", f)
			code = 1
			continue
		}
		for _, t := range targets {
			st, _ := p.n.FS.Stat(t)
			if p.user != "root" && st.Owner != p.user {
				p.errf("chmod: changing permissions of '%s': Operation not permitted\n", t)
				code = 1
				continue
			}
			_ = p.n.FS.Chmod(t, fs.FileMode(m))
		}
	}
	return code
}

func cmdChown(p *proc) int {
	flags, ops := splitFlags(p.argv[1:])
	if len(ops) < 2 {
		p.errf("chown: missing operand\n")
		return 1
	}
	owner, group, _ := strings.Cut(strings.Replace(ops[0], ".", ":", 1), ":")
	owner, group = nameOfID(owner), nameOfID(group)
	if p.user != "root" {
		p.errf("chown: changing ownership of '%s': Operation not permitted\n", ops[1])
		return 1
	}
	code := 0
	for _, f := range ops[1:] {
		targets := []string{p.abs(f)}
		if flags["-R"] || flags["--recursive"] {
			targets = p.n.FS.Walk(p.abs(f))
		}
		if len(targets) == 0 || !p.n.FS.Exists(targets[0]) {
			p.errf("chown: cannot access '%s': No such file or directory\n", f)
			code = 1
			continue
		}
		for _, t := range targets {
			_ = p.n.FS.Chown(t, owner, group)
		}
	}
	return code
}

func cmdMktemp(p *proc) int {
	args := p.argv[1:]
	dir := false
	tmpdir := ""
	tmpl := "tmp.XXXXXXXXXX"
	hasTmpl := false
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-d" || a == "--directory":
			dir = true
		case a == "-p" && i+1 < len(args):
			tmpdir = args[i+1]
			i++
		case strings.HasPrefix(a, "--tmpdir="):
			tmpdir = strings.TrimPrefix(a, "--tmpdir=")
		case a == "-t" || a == "-q" || a == "-u" || a == "--":
		default:
			tmpl, hasTmpl = a, true
		}
	}
	if tmpdir == "" && (!hasTmpl || !strings.Contains(tmpl, "/")) {
		tmpdir = p.env["TMPDIR"]
		if tmpdir == "" {
			tmpdir = "/tmp"
		}
	}
	name := tmpl
	if tmpdir != "" && !strings.HasPrefix(tmpl, "/") {
		name = tmpdir + "/" + tmpl
	}
	p.c.st.Seq++
	suffix := fmt.Sprintf("%010d", p.c.st.Seq)
	i := strings.LastIndex(name, "XXX")
	if i < 0 {
		p.errf("mktemp: too few X's in template '%s'\n", tmpl)
		return 1
	}
	j := i
	for j > 0 && name[j-1] == 'X' {
		j--
	}
	nx := i + 3 - j
	if nx > len(suffix) {
		suffix = strings.Repeat("0", nx-len(suffix)) + suffix
	}
	name = name[:j] + suffix[len(suffix)-nx:] + name[i+3:]
	a := p.abs(name)
	if !writable(p.n, a, p.user) {
		p.errf("mktemp: failed to create file via template '%s': Permission denied\n", name)
		return 1
	}
	var err error
	if dir {
		err = p.n.FS.Mkdir(a, p.user, p.user, p.now())
		_ = p.n.FS.Chmod(a, 0o700)
	} else {
		err = p.n.FS.WriteFile(a, nil, 0o600, p.user, p.user, p.now())
	}
	if err != nil {
		p.errf("mktemp: failed to create file via template '%s': No such file or directory\n", name)
		return 1
	}
	p.outf("%s\n", a)
	return 0
}

func (p *proc) readInput(tool, f string) ([]byte, bool) {
	if f == "-" {
		b, _ := io.ReadAll(p.stdin)
		return b, true
	}
	b, err := p.n.FS.ReadFile(p.abs(f))
	if err != nil {
		p.errf("%s: %s: No such file or directory\n", tool, f)
		return nil, false
	}
	if !p.readable(p.abs(f)) {
		p.errf("%s: %s: Permission denied\n", tool, f)
		return nil, false
	}
	return b, true
}

func cmdSha256sum(p *proc) int {
	flags, ops := splitFlags(p.argv[1:])
	term := "\n"
	if flags["-z"] || flags["--zero"] {
		term = "\x00"
	}
	if len(ops) == 0 {
		ops = []string{"-"}
	}
	code := 0
	for _, f := range ops {
		b, ok := p.readInput("sha256sum", f)
		if !ok {
			code = 1
			continue
		}
		p.outf("%s  %s%s", sha256hex(b), f, term)
	}
	return code
}

func cmdOpenssl(p *proc) int {
	args := p.argv[1:]
	if len(args) == 0 || args[0] != "dgst" {
		p.errf("Invalid command '%s'; type \"help\" for a list.\n", strings.Join(args, " "))
		return 1
	}
	r := false
	var files []string
	for _, a := range args[1:] {
		switch a {
		case "-sha256":
		case "-r":
			r = true
		default:
			files = append(files, a)
		}
	}
	if len(files) == 0 {
		b, _ := io.ReadAll(p.stdin)
		if r {
			p.outf("%s *stdin\n", sha256hex(b))
		} else {
			p.outf("SHA2-256(stdin)= %s\n", sha256hex(b))
		}
		return 0
	}
	for _, f := range files {
		b, ok := p.readInput("openssl", f)
		if !ok {
			return 1
		}
		if r {
			p.outf("%s *%s\n", sha256hex(b), f)
		} else {
			p.outf("SHA2-256(%s)= %s\n", f, sha256hex(b))
		}
	}
	return 0
}

func numericID(name string) string {
	switch name {
	case "root":
		return "0"
	case "oneadmin":
		return "9869"
	case "":
		return "0"
	}
	if _, err := strconv.Atoi(name); err == nil {
		return name
	}
	return "1000"
}

// nameOfID maps the numeric IDs the simulator hands out back to names.
func nameOfID(id string) string {
	switch id {
	case "0":
		return "root"
	case "9869":
		return "oneadmin"
	}
	return id
}

func cmdFind(p *proc) int {
	args := p.argv[1:]
	var roots []string
	for len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		roots = append(roots, args[0])
		args = args[1:]
	}
	if len(roots) == 0 {
		roots = []string{"."}
	}
	typ, name, printf := "", "", ""
	print0 := false
	minDepth := 0
	var execArgv []string
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "-type":
			if i+1 < len(args) {
				typ = args[i+1]
				i++
			}
		case "-name":
			if i+1 < len(args) {
				name = args[i+1]
				i++
			}
		case "-printf":
			if i+1 < len(args) {
				printf = args[i+1]
				i++
			}
		case "-print0":
			print0 = true
		case "-print", "-xdev":
		case "-mindepth":
			if i+1 < len(args) {
				minDepth, _ = strconv.Atoi(args[i+1])
				i++
			}
		case "-maxdepth":
			i++
		case "-exec":
			execArgv, i = shell.FindExecArgs(args, i)
		default:
			p.errf("find: unknown predicate `%s'\n", args[i])
			return 1
		}
	}
	code := 0
	var matched []string
	for _, r := range roots {
		a := p.abs(r)
		all := p.n.FS.Walk(a)
		if len(all) == 0 {
			p.errf("find: '%s': No such file or directory\n", r)
			code = 1
			continue
		}
		for _, f := range all {
			if minDepth > 0 && f == a {
				continue
			}
			st, _ := p.n.FS.Stat(f)
			if !shell.FindMatch(f, st, typ, name) {
				continue
			}
			shown := r + strings.TrimPrefix(f, a)
			switch {
			case execArgv != nil:
				matched = append(matched, shown)
			case printf != "":
				p.outf("%s", findPrintf(printf, st, strings.TrimPrefix(strings.TrimPrefix(f, a), "/")))
			case print0:
				p.outf("%s\x00", shown)
			default:
				p.outf("%s\n", shown)
			}
		}
	}
	if execArgv != nil && len(matched) > 0 {
		if c := p.sub(shell.FindExec(execArgv, matched), p.stdin, p.stdout, p.stderr); c != 0 {
			code = 1
		}
	}
	return code
}

// findPrintf renders the find -printf directives the system package uses.
func findPrintf(format string, st vfs.File, rel string) string {
	return shell.FindPrintf(format, true, func(b *strings.Builder, v byte) {
		switch v {
		case 'y':
			if st.Dir {
				b.WriteByte('d')
			} else {
				b.WriteByte('f')
			}
		case 'm':
			b.WriteString(strconv.FormatUint(uint64(st.Mode.Perm()), 8))
		case 'U':
			b.WriteString(numericID(st.Owner))
		case 'G':
			b.WriteString(numericID(st.Group))
		case 'u':
			b.WriteString(st.Owner)
		case 'g':
			b.WriteString(st.Group)
		case 'P':
			b.WriteString(rel)
		case 'l':
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			b.WriteByte(v)
		}
	})
}

// tarEntry is one member of the simulator's archive format.
type tarEntry struct {
	Name string   `json:"name"`
	File vfs.File `json:"file"`
}

const tarMagic = "upgradekit-sim-tar\n"

func cmdTar(p *proc) int {
	args := p.argv[1:]
	mode, file, dir := "", "", p.dir
	var ops, excludes []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-C" || a == "--directory":
			if i+1 < len(args) {
				dir = p.abs(args[i+1])
				i++
			}
		case a == "-f" || a == "--file":
			if i+1 < len(args) {
				file = args[i+1]
				i++
			}
		case strings.HasPrefix(a, "--file="):
			file = strings.TrimPrefix(a, "--file=")
		case strings.HasPrefix(a, "--exclude="):
			excludes = append(excludes, path.Clean(strings.TrimPrefix(a, "--exclude=")))
		case strings.HasPrefix(a, "--"):
			if a == "--create" {
				mode = "c"
			} else if a == "--extract" {
				mode = "x"
			}
		case strings.HasPrefix(a, "-") || (i == 0 && !strings.Contains(a, "/")):
			letters := strings.TrimPrefix(a, "-")
			for j, ch := range letters {
				switch ch {
				case 'c', 'x', 't':
					mode = string(ch)
				case 'f':
					if j == len(letters)-1 && i+1 < len(args) {
						file = args[i+1]
						i++
					}
				}
			}
		default:
			ops = append(ops, a)
		}
	}
	switch mode {
	case "c":
		var entries []tarEntry
		for _, o := range ops {
			base := vfs.Clean(dir, o)
			all := p.n.FS.Walk(base)
			if len(all) == 0 {
				p.errf("tar: %s: Cannot stat: No such file or directory\n", o)
				return 2
			}
			for _, f := range all {
				st, _ := p.n.FS.Stat(f)
				if !st.Dir {
					st.Data, _ = p.n.FS.ReadFile(f)
				}
				rel := strings.TrimPrefix(path.Clean(o+strings.TrimPrefix(f, base)), "/")
				if slices.ContainsFunc(excludes, func(e string) bool { return rel == e || strings.HasPrefix(rel, e+"/") }) {
					continue
				}
				entries = append(entries, tarEntry{Name: rel, File: st})
			}
		}
		b, _ := json.Marshal(entries)
		out := append([]byte(tarMagic), b...)
		if file == "" || file == "-" {
			_, _ = p.stdout.Write(out)
		} else if err := p.n.FS.WriteFile(p.abs(file), out, 0o644, p.user, p.user, p.now()); err != nil {
			p.errf("tar: %s: Cannot open: No such file or directory\n", file)
			return 2
		}
		p.spend(time.Second)
		return 0
	case "x", "t":
		var data []byte
		if file == "" || file == "-" {
			data, _ = io.ReadAll(p.stdin)
		} else {
			var err error
			if data, err = p.n.FS.ReadFile(p.abs(file)); err != nil {
				p.errf("tar: %s: Cannot open: No such file or directory\n", file)
				return 2
			}
		}
		var entries []tarEntry
		if !bytes.HasPrefix(data, []byte(tarMagic)) || json.Unmarshal(data[len(tarMagic):], &entries) != nil {
			p.errf("tar: This does not look like a tar archive\ntar: Exiting with failure status due to previous errors\n")
			return 2
		}
		for _, e := range entries {
			if mode == "t" {
				p.outf("%s\n", e.Name)
				continue
			}
			target := vfs.Clean(dir, e.Name)
			if p.user != "root" {
				e.File.Owner, e.File.Group = p.user, p.user
			}
			if err := p.n.FS.Set(target, e.File); err != nil {
				_ = p.n.FS.MkdirAll(path.Dir(target), p.user, p.user, p.now())
				_ = p.n.FS.Set(target, e.File)
			}
		}
		p.spend(time.Second)
		return 0
	}
	p.errf("tar: You must specify one of the '-Acdtrux', '--delete' or '--test-label' options\n")
	return 2
}

func cmdLs(p *proc) int {
	flags, ops := splitFlags(p.argv[1:])
	if len(ops) == 0 {
		ops = []string{"."}
	}
	code := 0
	for _, f := range ops {
		a := p.abs(f)
		st, err := p.n.FS.Stat(a)
		if err != nil {
			p.errf("ls: cannot access '%s': No such file or directory\n", f)
			code = 2
			continue
		}
		list := []string{a}
		if st.Dir && !flags["-d"] {
			list, _ = p.n.FS.ReadDir(a)
		}
		for _, e := range list {
			if flags["-l"] {
				s, _ := p.n.FS.Stat(e)
				b, _ := p.n.FS.ReadFile(e)
				kind := "-"
				if s.Dir {
					kind = "d"
				}
				p.outf("%s%s 1 %s %s %d %s %s\n", kind, s.Mode.Perm().String()[1:], s.Owner, s.Group, len(b), s.ModTime.Format("Jan _2 15:04"), path.Base(e))
			} else {
				p.outf("%s\n", path.Base(e))
			}
		}
	}
	return code
}

func cmdTest(p *proc) int {
	args := p.argv[1:]
	if path.Base(p.argv[0]) == "[" {
		if len(args) == 0 || args[len(args)-1] != "]" {
			p.errf("[: missing ]\n")
			return 2
		}
		args = args[:len(args)-1]
	}
	neg := false
	if len(args) > 0 && args[0] == "!" {
		neg, args = true, args[1:]
	}
	res := false
	switch {
	case len(args) == 0:
	case len(args) == 1:
		res = args[0] != ""
	case len(args) == 2:
		st, err := p.n.FS.Stat(p.abs(args[1]))
		switch args[0] {
		case "-e":
			res = err == nil
		case "-f":
			res = err == nil && !st.Dir
		case "-d":
			res = err == nil && st.Dir
		case "-s":
			b, _ := p.n.FS.ReadFile(p.abs(args[1]))
			res = err == nil && len(b) > 0
		case "-r":
			res = err == nil && p.readable(p.abs(args[1]))
		case "-w":
			res = writable(p.n, p.abs(args[1]), p.user)
		case "-z":
			res = args[1] == ""
		case "-n":
			res = args[1] != ""
		}
	case len(args) == 3:
		switch args[1] {
		case "=", "==":
			res = args[0] == args[2]
		case "!=":
			res = args[0] != args[2]
		}
	}
	if res != neg {
		return 0
	}
	return 1
}

func cmdDirname(p *proc) int {
	_, ops := splitFlags(p.argv[1:])
	for _, o := range ops {
		p.outf("%s\n", path.Dir(o))
	}
	return 0
}

func cmdBasename(p *proc) int {
	_, ops := splitFlags(p.argv[1:])
	if len(ops) > 0 {
		b := path.Base(ops[0])
		if len(ops) > 1 {
			b = strings.TrimSuffix(b, ops[1])
		}
		p.outf("%s\n", b)
	}
	return 0
}

func cmdWc(p *proc) int {
	flags, ops := splitFlags(p.argv[1:])
	count := func(b []byte) int {
		if flags["-l"] {
			return bytes.Count(b, []byte("\n"))
		}
		return len(b)
	}
	if len(ops) == 0 {
		b, _ := io.ReadAll(p.stdin)
		p.outf("%d\n", count(b))
		return 0
	}
	for _, f := range ops {
		b, ok := p.readInput("wc", f)
		if !ok {
			return 1
		}
		p.outf("%d %s\n", count(b), f)
	}
	return 0
}

var strftime = strings.NewReplacer("%Y", "2006", "%m", "01", "%d", "02", "%H", "15", "%M", "04", "%S", "05", "%F", "2006-01-02", "%T", "15:04:05", "%y", "06", "%b", "Jan", "%a", "Mon", "%Z", "MST", "%z", "-0700")

func cmdDate(p *proc) int {
	now := p.now().UTC()
	for _, a := range p.argv[1:] {
		if strings.HasPrefix(a, "+") {
			f := a[1:]
			if f == "%s" {
				p.outf("%d\n", now.Unix())
				return 0
			}
			f = strings.ReplaceAll(f, "%s", strconv.FormatInt(now.Unix(), 10))
			p.outf("%s\n", now.Format(strftime.Replace(f)))
			return 0
		}
	}
	p.outf("%s\n", now.Format("Mon Jan _2 15:04:05 MST 2006"))
	return 0
}

func cmdHostname(p *proc) int { p.outf("%s\n", p.n.Name); return 0 }

func cmdWhoami(p *proc) int { p.outf("%s\n", p.user); return 0 }

func cmdID(p *proc) int {
	uid := map[string]int{"root": 0, "oneadmin": 9869}[p.user]
	if p.user != "root" && uid == 0 {
		uid = 1000
	}
	flags, _ := splitFlags(p.argv[1:])
	switch {
	case flags["-u"] && flags["-n"]:
		p.outf("%s\n", p.user)
	case flags["-u"]:
		p.outf("%d\n", uid)
	default:
		p.outf("uid=%d(%s) gid=%d(%s) groups=%d(%s)\n", uid, p.user, uid, p.user, uid, p.user)
	}
	return 0
}

func cmdSleep(p *proc) int {
	if len(p.argv) < 2 {
		p.errf("sleep: missing operand\n")
		return 1
	}
	s, err := strconv.ParseFloat(strings.TrimSuffix(p.argv[1], "s"), 64)
	if err != nil {
		p.errf("sleep: invalid time interval '%s'\n", p.argv[1])
		return 1
	}
	p.spend(time.Duration(s * float64(time.Second)))
	return 0
}

func cmdStat(p *proc) int {
	format := ""
	var ops []string
	for i := 1; i < len(p.argv); i++ {
		a := p.argv[i]
		switch {
		case a == "-c" || a == "--format" || a == "--printf":
			if i+1 < len(p.argv) {
				format = p.argv[i+1]
				i++
			}
		case strings.HasPrefix(a, "--format=") || strings.HasPrefix(a, "-c"):
			format = strings.TrimPrefix(strings.TrimPrefix(a, "--format="), "-c")
		case a == "-L" || a == "--":
		default:
			ops = append(ops, a)
		}
	}
	for _, f := range ops {
		st, err := p.n.FS.Stat(p.abs(f))
		if err != nil {
			p.errf("stat: cannot statx '%s': No such file or directory\n", f)
			return 1
		}
		b, _ := p.n.FS.ReadFile(p.abs(f))
		kind := "regular file"
		if st.Dir {
			kind = "directory"
		}
		r := strings.NewReplacer("%U", st.Owner, "%G", st.Group, "%u", numericID(st.Owner), "%g", numericID(st.Group), "%a", strconv.FormatUint(uint64(st.Mode.Perm()), 8),
			"%s", strconv.Itoa(len(b)), "%n", f, "%F", kind, "%Y", strconv.FormatInt(st.ModTime.Unix(), 10))
		if format == "" {
			format = "%n %s %U %G %a"
		}
		p.outf("%s\n", r.Replace(format))
	}
	return 0
}

func cmdEcho(p *proc) int {
	args := p.argv[1:]
	nl := true
	if len(args) > 0 && args[0] == "-n" {
		nl, args = false, args[1:]
	}
	p.outf("%s", strings.Join(args, " "))
	if nl {
		p.outf("\n")
	}
	return 0
}

func cmdPrintf(p *proc) int {
	if len(p.argv) < 2 {
		return 1
	}
	f := strings.NewReplacer(`\n`, "\n", `\t`, "\t").Replace(p.argv[1])
	args := make([]any, 0, len(p.argv)-2)
	for _, a := range p.argv[2:] {
		args = append(args, a)
	}
	p.outf("%s", fmt.Sprintf(strings.ReplaceAll(f, "%s", "%v"), args...))
	return 0
}

// sedSub splits "s/re/repl/flags" (any delimiter) into its parts.
func sedSub(script string) []string {
	if len(script) < 4 || script[0] != 's' {
		return nil
	}
	d := script[1]
	var parts []string
	var cur strings.Builder
	for i := 2; i < len(script); i++ {
		ch := script[i]
		if ch == '\\' && i+1 < len(script) && script[i+1] == d {
			cur.WriteByte(d)
			i++
			continue
		}
		if ch == d && len(parts) < 2 {
			parts = append(parts, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteByte(ch)
	}
	if len(parts) != 2 || (cur.String() != "" && cur.String() != "g") {
		return nil
	}
	return []string{script, string(d), parts[0], parts[1], cur.String()}
}

func cmdSed(p *proc) int {
	inPlace := false
	var script string
	var files []string
	for _, a := range p.argv[1:] {
		switch {
		case a == "-i" || strings.HasPrefix(a, "-i"):
			inPlace = true
		case a == "-e" || a == "-E" || a == "-r":
		case script == "":
			script = a
		default:
			files = append(files, a)
		}
	}
	m := sedSub(script)
	if m == nil {
		p.errf("sed: -e expression #1, char 1: unknown command\n")
		return 1
	}
	re, err := regexp.Compile(m[2])
	if err != nil {
		p.errf("sed: -e expression #1: %s\n", err)
		return 1
	}
	repl := regexp.MustCompile(`\\(\d)`).ReplaceAllString(m[3], "$${$1}")
	apply := func(b []byte) []byte {
		lines := strings.SplitAfter(string(b), "\n")
		for i, l := range lines {
			if m[4] == "g" {
				lines[i] = re.ReplaceAllString(l, repl)
			} else if loc := re.FindStringSubmatchIndex(l); loc != nil {
				var dst []byte
				dst = re.ExpandString(dst, repl, l, loc)
				lines[i] = l[:loc[0]] + string(dst) + l[loc[1]:]
			}
		}
		return []byte(strings.Join(lines, ""))
	}
	if len(files) == 0 {
		b, _ := io.ReadAll(p.stdin)
		_, _ = p.stdout.Write(apply(b))
		return 0
	}
	for _, f := range files {
		b, ok := p.readInput("sed", f)
		if !ok {
			return 2
		}
		if inPlace {
			if !writable(p.n, p.abs(f), p.user) {
				p.errf("sed: couldn't open temporary file: Permission denied\n")
				return 4
			}
			_ = p.n.FS.WriteFile(p.abs(f), apply(b), 0o644, p.user, p.user, p.now())
		} else {
			_, _ = p.stdout.Write(apply(b))
		}
	}
	return 0
}

func cmdGrep(p *proc) int {
	flags, ops := splitFlags(p.argv[1:])
	if len(ops) == 0 {
		p.errf("Usage: grep [OPTION]... PATTERNS [FILE]...\n")
		return 2
	}
	pat := ops[0]
	if !flags["-E"] && !flags["-P"] {
		pat = regexp.QuoteMeta(pat)
		pat = strings.ReplaceAll(pat, `\.\*`, ".*")
		pat = strings.ReplaceAll(pat, `\^`, "^")
		pat = strings.ReplaceAll(pat, `\$`, "$")
	}
	if flags["-F"] {
		pat = regexp.QuoteMeta(ops[0])
	}
	re, err := regexp.Compile(pat)
	if err != nil {
		return 2
	}
	var data []byte
	if len(ops) == 1 {
		data, _ = io.ReadAll(p.stdin)
	} else {
		for _, f := range ops[1:] {
			b, ok := p.readInput("grep", f)
			if !ok {
				return 2
			}
			data = append(data, b...)
		}
	}
	found := false
	for _, l := range strings.SplitAfter(string(data), "\n") {
		if l == "" {
			continue
		}
		if re.MatchString(strings.TrimSuffix(l, "\n")) != flags["-v"] {
			found = true
			if !flags["-q"] {
				p.outf("%s", l)
				if !strings.HasSuffix(l, "\n") {
					p.outf("\n")
				}
			}
		}
	}
	if found {
		return 0
	}
	return 1
}

func cmdLn(p *proc) int {
	_, ops := splitFlags(p.argv[1:])
	if len(ops) != 2 {
		p.errf("ln: missing file operand\n")
		return 1
	}
	return p.sub([]string{"cp", "-a", ops[0], ops[1]}, p.stdin, p.stdout, p.stderr)
}

func cmdTouch(p *proc) int {
	_, ops := splitFlags(p.argv[1:])
	for _, f := range ops {
		a := p.abs(f)
		if p.n.FS.Exists(a) {
			continue
		}
		if !writable(p.n, a, p.user) || p.n.FS.WriteFile(a, nil, 0o644, p.user, p.user, p.now()) != nil {
			p.errf("touch: cannot touch '%s': Permission denied\n", f)
			return 1
		}
	}
	return 0
}
