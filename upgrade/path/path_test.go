package path

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestChoose(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name              string
		installed, target string
		db                DBVersions
		want              Procedure
		err               error
		via               []string
	}{
		{"patch", "7.4.0", "7.4.1", DBVersions{}, Rolling, nil, nil},
		{"hotfix", "6.10.0", "6.10.0.1-1", DBVersions{"6.10.0", "6.10.0"}, Rolling, nil, nil},
		{"from hotfix", "6.10.0.1-1", "6.10.1", DBVersions{}, Rolling, nil, nil},
		{"minor from hotfix", "6.10.0.1", "7.0.0", DBVersions{}, Full, nil, nil},
		{"hotfix same", "6.8.0.1", "6.8.0.1", DBVersions{"6.8.0", "6.8.0"}, None, nil, nil},
		{"hotfix downgrade", "6.10.0.1", "6.10.0", DBVersions{}, 0, ErrDowngrade, nil},
		{"patch with db", "7.4.0", "7.4.1", DBVersions{"7.4.0", "7.4.0"}, Rolling, nil, nil},
		{"minor", "7.2.0", "7.4.1", DBVersions{"7.2.0", "7.2.0"}, Full, nil, nil},
		{"minor from patch", "7.2.1", "7.4.0", DBVersions{}, Full, nil, nil},
		{"major", "6.10.3", "7.0.0", DBVersions{"6.10.0", "6.10.0"}, Full, nil, nil},
		{"package versions", "7.2.0-1", "7.4.1-1.el9", DBVersions{}, Full, nil, nil},
		{"same", "7.4.1", "7.4.1", DBVersions{"7.4.0", "7.4.0"}, None, nil, nil},
		{"packages done, db pending", "7.4.1", "7.4.1", DBVersions{"7.2.0", "7.2.0"}, Full, nil, nil},
		{"half migrated db", "7.4.1", "7.4.1", DBVersions{"7.4.0", "7.2.0"}, Full, nil, nil},
		{"downgrade patch", "7.4.1", "7.4.0", DBVersions{}, 0, ErrDowngrade, nil},
		{"downgrade minor", "7.4.0", "7.2.0", DBVersions{}, 0, ErrDowngrade, nil},
		{"db newer than target", "7.2.0", "7.2.1", DBVersions{"7.4.0", "7.4.0"}, 0, ErrDowngrade, nil},
		{"skip one minor", "7.0.0", "7.4.0", DBVersions{}, 0, ErrUnsupportedJump, []string{"7.2.0"}},
		{"skip two minors", "6.10.3", "7.4.1", DBVersions{}, 0, ErrUnsupportedJump, []string{"7.0.0", "7.2.0"}},
		{"unknown series", "7.4.0", "7.8.0", DBVersions{}, 0, ErrUnknownRelease, nil},
		{"bad installed", "seven", "7.4.0", DBVersions{}, 0, ErrInvalidVersion, nil},
		{"bad target", "7.4.0", "7", DBVersions{}, 0, ErrInvalidVersion, nil},
		{"bad db", "7.4.0", "7.4.1", DBVersions{Shared: "x"}, 0, ErrInvalidVersion, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := Choose(tt.installed, tt.target, tt.db)
			if tt.err != nil {
				require.Error(t, err)
				assert.ErrorIs(t, err, tt.err)
				if tt.via != nil {
					var re *RefusedError
					require.True(t, errors.As(err, &re))
					var got []string
					for _, v := range re.Via {
						got = append(got, v.String())
					}
					assert.Equal(t, tt.via, got)
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, d.Procedure, d.Reason)
			assert.NotEmpty(t, d.Reason)
		})
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"7.4.1": "7.4.1", "7.4": "7.4.0", "1:7.4.1-1": "7.4.1", "6.10.3-1.el9": "6.10.3", "7.4.1+dfsg": "7.4.1",
		"6.10.0.1-1": "6.10.0.1", "6.8.0.1": "6.8.0.1", "1:6.0.0.3-1.el8": "6.0.0.3", "6.10.0.0": "6.10.0"} {
		v, err := Parse(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, v.String(), in)
	}
	for _, in := range []string{"", "7", "7.x.1", "7.4.1.2.3", "-1.2.3", "7..1", "6.10.0."} {
		_, err := Parse(in)
		assert.ErrorIs(t, err, ErrInvalidVersion, in)
	}
	assert.Equal(t, "7.4.0", DBVersion(MustParse("7.4.1")).String())
	assert.Equal(t, -1, MustParse("6.10.0").Compare(MustParse("7.0.0")))
	// Hotfix releases sort between their base and the next patch release.
	assert.Equal(t, -1, MustParse("6.10.0").Compare(MustParse("6.10.0.1")))
	assert.Equal(t, -1, MustParse("6.10.0.1").Compare(MustParse("6.10.1")))
	assert.Equal(t, 1, MustParse("6.10.0.2").Compare(MustParse("6.10.0.1")))
	assert.Equal(t, "6.10.0", DBVersion(MustParse("6.10.0.1")).String())
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"7.4.1", "1:7.4.1-1", "6.10", "x", "6.10.0.1-1", "6.8.0.1", "7.4.1.2.3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := Parse(s)
		if err != nil {
			return
		}
		again, err := Parse(v.String())
		if err != nil || again != v {
			t.Fatalf("%q → %v → %v, %v", s, v, again, err)
		}
		// Ordering is total and consistent with the string form.
		if v.Compare(again) != 0 || v.Series().Compare(v) > 0 {
			t.Fatalf("%v: inconsistent order", v)
		}
	})
}
