package system

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/upgradekit/upgradekit/transport/fake"
)

func TestDownload(t *testing.T) {
	t.Parallel()
	pkgs := []string{"opennebula", "opennebula-fireedge"}
	tests := []struct {
		pm   PackageManager
		argv []string
	}{
		{Apt, append([]string{"apt-get", "install", "--only-upgrade", "--download-only", "-y"}, pkgs...)},
		{Dnf, append([]string{"dnf", "upgrade", "--downloadonly", "-y"}, pkgs...)},
		{Yum, append([]string{"yum", "upgrade", "--downloadonly", "-y"}, pkgs...)},
		{Zypper, append([]string{"zypper", "--non-interactive", "update", "--download-only"}, pkgs...)},
	}
	for _, tt := range tests {
		t.Run(string(tt.pm), func(t *testing.T) {
			t.Parallel()
			s, err := New(WithPackageManager(tt.pm))
			require.NoError(t, err)
			fe := fake.New("fe1")
			fe.Expect(fake.Exact(tt.argv...))
			require.NoError(t, s.Download(t.Context(), fe, pkgs...))
			fe.AssertExpectations(t)
			assert.True(t, fe.Calls()[0].Command.Sudo)
		})
	}
	t.Run("failure", func(t *testing.T) {
		t.Parallel()
		s, _ := New(WithPackageManager(Apt))
		fe := fake.New("fe1")
		fe.Expect(fake.Prefix("apt-get", "install")).Exit(100, "E: Failed to fetch https://downloads.opennebula.io/...\n")
		err := s.Download(t.Context(), fe, "opennebula")
		pe, ok := errors.AsType[*PackageError](err)
		require.True(t, ok, "%v", err)
		assert.Equal(t, "download", pe.Op)
	})
	t.Run("invalid names never run", func(t *testing.T) {
		t.Parallel()
		s, _ := New(WithPackageManager(Apt))
		fe := fake.New("fe1")
		assert.ErrorIs(t, s.Download(t.Context(), fe, "$(id)"), ErrInvalid)
		assert.Empty(t, fe.Calls())
	})
}
