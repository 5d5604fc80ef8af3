package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strings"

	"github.com/upgradekit/upgradekit/sim"
)

// Tools are the names the binary answers to.
var tools = []string{"onezone", "onedb", "onevm", "onehost", "oned", "onecfg", "systemctl",
	"apt-get", "dpkg-query", "rpm", "dnf", "yum", "zypper"}

func main() {
	os.Exit(run(os.Args, os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	name := filepath.Base(args[0])
	if name != "onesim" {
		return dispatch(name, args[1:], stdin, stdout, stderr)
	}
	if len(args) < 2 {
		fmt.Fprintln(stderr, "usage: onesim init|install|run|events [flags]")
		return 2
	}
	fs := flag.NewFlagSet("onesim "+args[1], flag.ContinueOnError)
	fs.SetOutput(stderr)
	state := fs.String("state", os.Getenv("UPGRADEKIT_SIM_STATE"), "state directory")
	topo := fs.String("topology", "ha", "ha, solo or federation")
	nodes := fs.Int("nodes", 3, "front-ends of the HA topology")
	version := fs.String("version", "7.2.0", "installed OpenNebula version")
	dir := fs.String("dir", "", "directory for the symlinks")
	node := fs.String("node", os.Getenv("UPGRADEKIT_SIM_NODE"), "node that answers")
	if err := fs.Parse(args[2:]); err != nil {
		return 2
	}
	switch args[1] {
	case "init":
		var c *sim.Cloud
		opts, err := mirrorOpts(os.Getenv("UPGRADEKIT_SIM_MARIADB"))
		if err != nil {
			fmt.Fprintln(stderr, "onesim:", err)
			return 2
		}
		switch *topo {
		case "ha":
			c, err = sim.HA(*nodes, *version, opts...)
		case "solo":
			c, err = sim.Solo(*version, opts...)
		case "federation":
			c, err = sim.Federation(*version, opts...)
		default:
			err = fmt.Errorf("unknown topology %q", *topo)
		}
		if err == nil {
			err = sim.Init(*state, c)
		}
		if err != nil {
			fmt.Fprintln(stderr, "onesim:", err)
			return 1
		}
		return 0
	case "install":
		self, err := os.Executable()
		if err != nil || *dir == "" {
			fmt.Fprintln(stderr, "onesim: install needs -dir")
			return 2
		}
		for _, t := range tools {
			l := filepath.Join(*dir, t)
			_ = os.Remove(l)
			if err := os.Symlink(self, l); err != nil {
				fmt.Fprintln(stderr, "onesim:", err)
				return 1
			}
		}
		return 0
	case "run":
		if fs.NArg() == 0 {
			fmt.Fprintln(stderr, "onesim: run needs a command")
			return 2
		}
		os.Setenv("UPGRADEKIT_SIM_STATE", *state)
		os.Setenv("UPGRADEKIT_SIM_NODE", *node)
		return dispatch(fs.Arg(0), fs.Args()[1:], stdin, stdout, stderr)
	case "events":
		c, err := load(*state)
		if err != nil {
			fmt.Fprintln(stderr, "onesim:", err)
			return 1
		}
		enc := json.NewEncoder(stdout)
		for _, e := range c.Events() {
			_ = enc.Encode(e)
		}
		return 0
	}
	fmt.Fprintf(stderr, "onesim: unknown subcommand %q\n", args[1])
	return 2
}

// mirrorOpts parses $UPGRADEKIT_SIM_MARIADB:
// "fe1=user:password@127.0.0.1:3306/opennebula;fe2=...".
func mirrorOpts(spec string) ([]sim.Option, error) {
	var opts []sim.Option
	for _, part := range strings.Split(spec, ";") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		node, dsn, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("UPGRADEKIT_SIM_MARIADB: want node=user:password@host:port/name")
		}
		m, err := sim.ParseMariaDB(dsn)
		if err != nil {
			return nil, err
		}
		opts = append(opts, sim.WithMariaDB(node, m))
	}
	return opts, nil
}

func load(dir string) (*sim.Cloud, error) {
	f, err := os.Open(filepath.Join(dir, sim.StateFile))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return sim.Load(f)
}

func dispatch(name string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	state, node := os.Getenv("UPGRADEKIT_SIM_STATE"), os.Getenv("UPGRADEKIT_SIM_NODE")
	if state == "" || node == "" {
		fmt.Fprintf(stderr, "%s: UPGRADEKIT_SIM_STATE and UPGRADEKIT_SIM_NODE must be set\n", name)
		return 127
	}
	env := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok && !strings.HasPrefix(k, "UPGRADEKIT_SIM_") {
			env[k] = v
		}
	}
	usr := "root"
	if u, err := user.Current(); err == nil {
		usr = u.Username
	}
	dir, _ := os.Getwd()
	code, err := sim.Invoke(context.Background(), sim.Invocation{
		StateDir: state, Node: node, Argv: append([]string{name}, args...), Env: env, User: usr, Dir: dir,
		Stdin: stdin, Stdout: stdout, Stderr: stderr, RealFiles: os.Getenv("UPGRADEKIT_SIM_REAL_FILES") == "1",
		FilesRoot: os.Getenv("UPGRADEKIT_SIM_ROOT"),
	})
	if err != nil {
		fmt.Fprintf(stderr, "%s: simulator: %v\n", name, err)
		return 255
	}
	return code
}
