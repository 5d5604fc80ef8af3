package sim

import (
	"context"
	"io"
	"path"
	"slices"
	"strings"

	"github.com/upgradekit/upgradekit/sim/internal/shell"
)

// shell interprets script like /bin/sh -c: builtins come from
// mvdan.cc/sh, every external command and every file access goes to the
// simulated node.
func (p *proc) shell(script string, params []string) int {
	return shell.Run(p.ctx, &shell.Config{
		FS:            p.n.FS,
		Now:           p.now,
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
			q.dir = dir
			code := q.sub(argv, in, out, errw)
			p.cost += q.cost
			return code
		},
		CanRead:  p.canRead,
		CanWrite: func(a string) bool { return writable(p.n, a, p.user) },
		Owner:    p.user,
		Umask:    0o022,
		DevNull:  true,
	}, script)
}

// callHandler rewrites the few builtins the interpreter lacks or would
// answer from the real machine.
func (p *proc) callHandler(ctx context.Context, args []string) ([]string, error) {
	switch args[0] {
	case "command", "type", "which":
		if len(args) >= 3 && (args[1] == "-v" || args[1] == "-V") || args[0] != "command" && len(args) >= 2 {
			return shell.Lookup(args[len(args)-1], func(base string) bool {
				_, ok := p.c.cmds[base]
				return ok && !(p.n.Hypervisor && frontendOnly[base])
			}), nil
		}
	}
	return args, nil
}

// consumesStdin reports whether argv reads its standard input.
func consumesStdin(argv []string) bool {
	name := path.Base(argv[0])
	ops, dash := shell.Operands(argv)
	if dash {
		return true
	}
	switch name {
	case "tee":
		return true
	case "cat", "sha256sum", "wc":
		return len(ops) == 0
	case "openssl":
		return len(ops) <= 1
	case "sed", "grep":
		return len(ops) <= 1
	case "tar":
		return !slices.ContainsFunc(argv[1:], func(a string) bool { return strings.Contains(a, "f") && !strings.HasPrefix(a, "--") }) && !slices.Contains(argv, "--file")
	case "sh", "bash", "env", "sudo", "onedb":
		return true
	}
	return false
}
