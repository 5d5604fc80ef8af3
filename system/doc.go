// Package system holds the host-level primitives an upgrade needs on any
// Linux cloud node, OpenNebula or OpenStack alike: systemd units, package
// managers, directory backups, checksums and copies between hosts.
//
// Everything runs through a transport.Transport, as root through `sudo -n`
// unless WithSudo(false). The package-level functions use the default
// configuration; New builds a System with options (logger, clock, package
// manager, wait bounds, and WithTimer to run WaitStopped's polls on a
// virtual clock such as the simulator's).
//
// systemd: Stop, Start, Restart and DaemonReload run `systemctl VERB --
// UNITS`; IsActive reads `systemctl is-active`, whose non-zero exit is
// data (0 active, 3 not active, 4 no such unit on systemd ≥ 253);
// ActiveUnits and ListUnits parse `systemctl list-units --no-legend
// --plain`; VerifyStopped and WaitStopped return a *StillActiveError
// naming the units still running.
//
// Packages: DetectPackageManager (from /etc/os-release, else PATH),
// SwitchRepository (writes an apt .list/.sources or an rpm .repo file
// from a typed Repo through transport.Upload, so an Enterprise token never
// reaches argv or logs), Upgrade (only the named packages, keeping
// modified configuration files) and InstalledVersion.
//
// Files: BackupDir copies DIR to DIR.YYYY-MM-DD_HHMMSS and never
// overwrites; RestoreDir puts a backup's contents back in place (the
// directory itself stays, so it may be a mount point); Checksum hashes a file.
// CopyTree and CopyFile move a tree or a file from one host to another
// through the controller with ownership and modes kept and SHA-256
// verified on both ends (stream hashes and per-file manifests), staging
// on the destination so a corrupted copy never replaces anything.
package system
