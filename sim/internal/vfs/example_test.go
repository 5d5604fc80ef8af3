package vfs_test

import (
	"fmt"
	"time"

	"github.com/upgradekit/upgradekit/sim/internal/vfs"
)

func Example() {
	fs := vfs.New()
	now := time.Unix(0, 0)
	_ = fs.MkdirAll("/etc/one", "root", "oneadmin", now)
	_ = fs.WriteFile("/etc/one/oned.conf", []byte("PORT = 2633\n"), 0o640, "root", "oneadmin", now)
	_ = fs.Rename("/etc/one", "/etc/one.bak")
	b, _ := fs.ReadFile("/etc/one.bak/oned.conf")
	st, _ := fs.Stat("/etc/one.bak/oned.conf")
	fmt.Printf("%q %v %s:%s %v\n", b, st.Mode, st.Owner, st.Group, fs.Walk("/etc"))
	// Output:
	// "PORT = 2633\n" -rw-r----- root:oneadmin [/etc /etc/one.bak /etc/one.bak/oned.conf]
}
