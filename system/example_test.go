package system_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/upgradekit/upgradekit/system"
	"github.com/upgradekit/upgradekit/transport"
	"github.com/upgradekit/upgradekit/transport/fake"
	"github.com/upgradekit/upgradekit/transport/local"
)

// Stopping the OpenNebula services on a front-end and making sure they
// are down (share/pkgs/services/systemd/: stopping opennebula does not stop the others).
func Example() {
	ctx := context.Background()
	fe := fake.New("fe1")
	fe.Expect(fake.Exact("systemctl", "list-units", "--type=service", "--state=active", "--no-legend", "--plain", "--full", "--", "opennebula*")).
		Reply("opennebula-flow.service loaded active running OpenNebula Flow Service\n" +
			"opennebula.service      loaded active running OpenNebula Cloud Controller Daemon\n")
	fe.Expect(fake.Exact("systemctl", "stop", "--", "opennebula-flow.service", "opennebula.service"))
	// is-active exits 3 when no unit is active: data, not an error.
	fe.Expect(fake.Exact("systemctl", "is-active", "--", "opennebula-flow.service", "opennebula.service")).
		Stdout("inactive\nfailed\n").Exit(3)

	units, err := system.ActiveUnits(ctx, fe, "opennebula*")
	if err != nil {
		panic(err)
	}
	if err := system.Stop(ctx, fe, units...); err != nil {
		panic(err)
	}
	fmt.Println("stopped:", units, "verified:", system.WaitStopped(ctx, fe, units...) == nil)
	for _, c := range fe.Calls() {
		fmt.Println(c.Command)
	}
	// Output:
	// stopped: [opennebula-flow.service opennebula.service] verified: true
	// sudo -n -- systemctl list-units '--type=service' '--state=active' --no-legend --plain --full -- 'opennebula*'
	// sudo -n -- systemctl stop -- opennebula-flow.service opennebula.service
	// sudo -n -- systemctl is-active -- opennebula-flow.service opennebula.service
}

func ExampleSystem_VerifyStopped() {
	fe := fake.New("fe1")
	fe.Expect(fake.Prefix("systemctl", "is-active")).Stdout("inactive\ndeactivating\n").Exit(3)
	err := system.VerifyStopped(context.Background(), fe, "opennebula", "opennebula-fireedge")
	fmt.Println(errors.Is(err, system.ErrStillActive))
	fmt.Println(err)
	// Output:
	// true
	// host fe1: units still active: opennebula-fireedge (deactivating)
}

func ExampleSystem_BackupDir() {
	clock := func() time.Time { return time.Date(2026, 11, 21, 9, 5, 7, 0, time.UTC) }
	s, _ := system.New(system.WithClock(clock))
	fe := fake.New("fe1")
	fe.Expect(fake.Exact("test", "-d", "/etc/one"))
	fe.Expect(fake.Exact("test", "-e", "/etc/one.2026-11-21_090507")).Exit(1)
	fe.Expect(fake.Exact("cp", "-a", "-T", "--", "/etc/one", "/etc/one.2026-11-21_090507"))
	backup, err := s.BackupDir(context.Background(), fe, "/etc/one")
	fmt.Println(backup, err)

	// Twice in the same second: refused, never overwritten.
	fe.Expect(fake.Exact("test", "-d", "/etc/one"))
	fe.Expect(fake.Exact("test", "-e", "/etc/one.2026-11-21_090507"))
	_, err = s.BackupDir(context.Background(), fe, "/etc/one")
	fmt.Println(errors.Is(err, system.ErrBackupExists))
	// Output:
	// /etc/one.2026-11-21_090507 <nil>
	// true
}

func ExampleUpgradeCommand() {
	c, _ := system.UpgradeCommand(system.Apt, "opennebula", "opennebula-gate", "python3-pyone")
	fmt.Println(c.AsRoot())
	c, _ = system.UpgradeCommand(system.Dnf, "opennebula", "opennebula-gate")
	fmt.Println(c)
	// Output:
	// sudo -n -- env 'DEBIAN_FRONTEND=noninteractive' apt-get install --only-upgrade -y -o 'Dpkg::Options::=--force-confold' -o 'Dpkg::Options::=--force-confdef' opennebula opennebula-gate python3-pyone
	// dnf upgrade -y opennebula opennebula-gate
}

// Copying /etc/one from the leader to a follower, keeping the follower's
// own file. Here both "hosts" are this machine.
func ExampleSystem_CopyTree() {
	ctx := context.Background()
	tmp, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(tmp)
	srcDir, dstDir := filepath.Join(tmp, "leader", "one"), filepath.Join(tmp, "follower", "one")
	_ = os.MkdirAll(srcDir, 0o750)
	_ = os.MkdirAll(dstDir, 0o750)
	_ = os.WriteFile(filepath.Join(srcDir, "oned.conf"), []byte("PORT = 2633\n"), 0o640)
	_ = os.WriteFile(filepath.Join(srcDir, "monitord.conf"), []byte("NETWORK = []\n"), 0o640)
	_ = os.WriteFile(filepath.Join(srcDir, "own.conf"), []byte("leader\n"), 0o640)
	_ = os.WriteFile(filepath.Join(dstDir, "own.conf"), []byte("follower\n"), 0o640)

	leader, _ := local.New(local.WithHostName("leader"))
	follower, _ := local.New(local.WithHostName("follower"))
	defer leader.Close()
	defer follower.Close()
	s, _ := system.New(system.WithSudo(false)) // the example runs unprivileged
	res, err := s.CopyTree(ctx, leader, srcDir, follower, dstDir,
		system.CopyOptions{Exclude: []string{"own.conf"}, IgnoreOwner: os.Geteuid() != 0})
	if err != nil {
		panic(err)
	}
	own, _ := os.ReadFile(filepath.Join(dstDir, "own.conf"))
	conf, _ := os.ReadFile(filepath.Join(dstDir, "oned.conf"))
	fmt.Printf("files: %d, own.conf: %s", res.Files, own)
	fmt.Printf("oned.conf: %s", conf)
	// Output:
	// files: 2, own.conf: follower
	// oned.conf: PORT = 2633
}

var _ transport.Transport = (*fake.Transport)(nil)
