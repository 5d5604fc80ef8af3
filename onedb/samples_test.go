package onedb

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// sample returns the body of the case in testdata/<file> whose "### "
// header contains header. A case starts at a "###" line that follows a
// blank line (or the top of the file); later "###" lines inside it are
// annotations and are dropped.
func sample(t testing.TB, file, header string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	require.NoError(t, err)
	lines := strings.Split(string(b), "\n")
	for i := 0; i < len(lines); i++ {
		if !strings.HasPrefix(lines[i], "###") || (i > 0 && lines[i-1] != "") || !strings.Contains(lines[i], header) {
			continue
		}
		var body []string
		for j := i + 1; j < len(lines); j++ {
			l := lines[j]
			if strings.HasPrefix(l, "###") {
				if lines[j-1] == "" {
					break
				}
				continue
			}
			body = append(body, l)
		}
		return strings.Join(body, "\n")
	}
	t.Fatalf("no case %q in %s", header, file)
	return ""
}

func TestSampleHelper(t *testing.T) {
	t.Parallel()
	got := sample(t, "onedb-backup.txt", "`onedb backup` (MySQL backend")
	require.Equal(t, "mysqldump: [Warning] Using a password on the command line interface can be insecure.\n"+
		"MySQL dump stored in /var/lib/one/mysql_localhost_opennebula_2025-11-21_9:05:07.sql\n"+
		"Use 'onedb restore' or restore the DB using the mysql command:\n"+
		"mysql -u user -h server -P port db_name < backup_file\n\n", got)
}
