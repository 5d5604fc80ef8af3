// Command onesim is the simulator's multi-call binary. Installed under
// the names of the OpenNebula and system tools it answers (onezone, onedb,
// onevm, onehost, oned, onecfg, systemctl, apt-get, dpkg-query, rpm, dnf,
// yum, zypper), it dispatches on argv[0] and answers as the front-end or
// hypervisor named by $UPGRADEKIT_SIM_NODE of the cloud saved in
// $UPGRADEKIT_SIM_STATE (a directory).
//
//	onesim init -state DIR -topology ha|solo|federation [-nodes 3] [-version 7.2.0]
//	onesim install -dir BINDIR         # create the symlinks
//	onesim run -state DIR -node fe1 -- onezone show 0 -x
//	onesim events -state DIR
//
// With $UPGRADEKIT_SIM_REAL_FILES=1 file access goes to the real file
// system (per-host /etc/one and /var/lib/one in a mount namespace, or
// under $UPGRADEKIT_SIM_ROOT). With
// $UPGRADEKIT_SIM_MARIADB="fe1=user:password@host:port/name;..." at init,
// each listed front-end's database is mirrored in a real MariaDB database
// (onedb backup/restore then run the real mysqldump and mariadb).
package main
