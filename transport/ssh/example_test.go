package ssh_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/upgradekit/upgradekit/transport"
	sshx "github.com/upgradekit/upgradekit/transport/ssh"
)

// A Config can come from the operator's OpenSSH client configuration;
// New reads it but does not connect. A known_hosts file that does not
// exist is refused there, before any host is dialled.
func ExampleNew() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	cfgFile, known := filepath.Join(dir, "config"), filepath.Join(dir, "known_hosts")
	_ = os.WriteFile(known, nil, 0o644) // ssh-keyscan output, checked by hand
	_ = os.WriteFile(cfgFile, []byte(`Host fe1
  HostName 192.0.2.10
  Port 2222
  User oneadmin
  ProxyJump bastion
Host bastion
  HostName 192.0.2.1
Host *
  UserKnownHostsFile `+known+`
`), 0o644)

	cfg := sshx.NewConfig("fe1")
	cfg.ConfigFile = cfgFile
	cfg.UseAgent, cfg.AgentSocket = true, "/run/user/0/agent.sock" // keys from an agent
	c, err := sshx.New(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	fmt.Println(c.Host(), c.Addr())

	cfg.KnownHostsFiles = []string{filepath.Join(dir, "known_hosts.typo")}
	_, err = sshx.New(cfg)
	fmt.Println(errors.Is(err, sshx.ErrKnownHostsMissing))
	// Output:
	// fe1 192.0.2.10:2222
	// true
}

// Run a command on a host. A non-zero exit is data; transport.Output turns
// it into an *ExitError. Unknown host keys are refused unless a
// TrustOnFirstUse policy records them.
func ExampleClient_Run() {
	cfg := sshx.NewConfig("192.0.2.10:22")
	cfg.User = "root"
	cfg.IdentityFiles = []string{"/root/.ssh/id_ed25519"}
	cfg.KnownHostsFiles = []string{"/root/.ssh/known_hosts"}
	c, err := sshx.New(cfg, sshx.WithHostKeyPolicy(sshx.TrustOnFirstUse("/var/lib/upgradekit/known_hosts")))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := transport.Output(ctx, c, transport.Query("onezone", "show", "0", "-x"))
	switch {
	case errors.Is(err, transport.ErrHostKeyChanged):
		fmt.Println("refusing: host key changed")
	case err != nil:
		fmt.Println(err)
	default:
		fmt.Printf("%s", out)
	}
}

// Fan a command out over many hosts, at most 50 at a time. Every failed
// host's error stays reachable through errors.Is and errors.As.
func ExampleMap() {
	base := sshx.Config{User: "root", IdentityFiles: []string{"/root/.ssh/id_ed25519"}}
	p, err := sshx.NewPool(base)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()
	hosts := []string{"kvm1", "kvm2", "kvm3"}
	results, err := sshx.Map(context.Background(), p, hosts, 50,
		func(ctx context.Context, host string, t transport.Transport) (string, error) {
			out, err := transport.Output(ctx, t, transport.Query("uname", "-r"))
			return string(out), err
		})
	for _, r := range results {
		if r.Err == nil {
			fmt.Printf("%s: %s", r.Host, r.Value)
		}
	}
	if he, ok := errors.AsType[*transport.HostError](err); ok {
		fmt.Println("first failure on", he.Host)
	}
}
