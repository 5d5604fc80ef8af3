package onedconf_test

import (
	"errors"
	"fmt"

	"github.com/upgradekit/upgradekit/onedconf"
)

const conf = `# oned.conf (excerpt)
PORT = 2633

FEDERATION = [
    MODE             = "STANDALONE",
    ZONE_ID          = 0,
    SERVER_ID        = -1, # set on HA members
    MASTER_ONED      = ""
]
`

// After /etc/one was copied from the leader, a follower gets its own
// SERVER_ID back; nothing else in the file changes.
func Example() {
	f, err := onedconf.Parse([]byte(conf))
	if err != nil {
		panic(err)
	}
	id, _ := f.Get("FEDERATION/SERVER_ID")
	fmt.Println("before:", id)
	if err := f.Set("FEDERATION/SERVER_ID", "2"); err != nil {
		panic(err)
	}
	if err := f.Set("FEDERATION/MASTER_ONED_GRPC", ""); err != nil {
		panic(err)
	}
	fmt.Print(string(f.Bytes()))
	// Output:
	// before: -1
	// # oned.conf (excerpt)
	// PORT = 2633
	//
	// FEDERATION = [
	//     MODE             = "STANDALONE",
	//     ZONE_ID          = 0,
	//     SERVER_ID        = 2, # set on HA members
	//     MASTER_ONED      = "",
	//     MASTER_ONED_GRPC = ""
	// ]
}

func ExampleFile_Federation() {
	f, err := onedconf.Parse([]byte(`FEDERATION = [ MODE = "SLAVE", ZONE_ID = 100, SERVER_ID = 2,
  MASTER_ONED = "http://192.168.150.1:2633/RPC2" ]`))
	if err != nil {
		panic(err)
	}
	fed, _ := f.Federation()
	fmt.Printf("%s zone %d server %d master %s\n", fed.Mode, fed.ZoneID, fed.ServerID, fed.MasterOned)
	// Output: SLAVE zone 100 server 2 master http://192.168.150.1:2633/RPC2
}

func ExampleFile_Get_repeated() {
	f, _ := onedconf.Parse([]byte("VM_MAD = [ NAME = \"kvm\" ]\nVM_MAD = [ NAME = \"lxc\" ]\n"))
	_, err := f.Get("VM_MAD/NAME")
	fmt.Println(errors.Is(err, onedconf.ErrAmbiguous))
	name, _ := f.Get("VM_MAD[1]/NAME")
	fmt.Println(name)
	// Output:
	// true
	// lxc
}

func ExampleParse_error() {
	_, err := onedconf.Parse([]byte("DB = [ BACKEND = \"mysql\",\n  SERVER = \"localhost ]\n"))
	fmt.Println(err)
	// Output: oned.conf:2:12: attribute DB/SERVER: unterminated quoted value
}
