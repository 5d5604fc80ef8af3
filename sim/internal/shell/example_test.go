package shell_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/upgradekit/upgradekit/sim/internal/shell"
	"github.com/upgradekit/upgradekit/sim/internal/vfs"
)

func Example() {
	fsys := vfs.New()
	now := func() time.Time { return time.Unix(0, 0) }
	_ = fsys.MkdirAll("/tmp", "root", "root", now())
	code := shell.Run(context.Background(), &shell.Config{
		FS: fsys, Now: now, Dir: "/tmp", Args: []string{"sh", "world"},
		Stdin: strings.NewReader(""), Stdout: os.Stdout, Stderr: os.Stdout,
		Exec: func(_ map[string]string, _ string, argv []string, _ io.Reader, out, _ io.Writer) int {
			fmt.Fprintf(out, "ran %q\n", argv)
			return 3
		},
		Owner: "root", Umask: 0o022,
	}, `echo "hello $1" > greeting; read g < greeting; echo "$g"; tool x || echo "status $?"`)
	st, _ := fsys.Stat("/tmp/greeting")
	fmt.Println(code, st.Mode)
	// Output:
	// hello world
	// ran ["tool" "x"]
	// status 3
	// 0 -rw-r--r--
}
