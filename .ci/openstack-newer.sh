#!/bin/sh
# openstack-newer.sh: bring a newer OpenStack release's real management tools onto this machine
# as a Debian 13 (trixie, OpenStack 2025.1) root, for the cross-release tests of the openstack
# package (crossrelease_real_test.go). Idempotent: a root whose stamp file is present is kept.
#
#   sudo .ci/openstack-newer.sh [ROOT]     # default ROOT=/srv/openstack-trixie
#
# The tests then find the root through UPGRADEKIT_OPENSTACK_NEWER_ROOT (or the default path) and run
# its tools with chroot(8) against the test's private MariaDB on TCP 127.0.0.1.
set -eu
if [ "$(id -u)" -ne 0 ]; then
	echo "openstack-newer: must run as root" >&2
	exit 1
fi
ROOT=${1:-${UPGRADEKIT_OPENSTACK_NEWER_ROOT:-/srv/openstack-trixie}}
MIRROR=${DEBIAN_MIRROR:-$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
PKGS="python3-keystone keystone glance-common python3-placement placement-common nova-common neutron-common cinder-common heat-common mariadb-client"
STAMP="$ROOT/.upgradekit-newer-done"
start=$(date +%s)
if [ -f "$STAMP" ]; then
	echo "openstack-newer: $ROOT already prepared ($(cat "$STAMP"))"
	exit 0
fi
command -v debootstrap >/dev/null 2>&1 || {
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -q debootstrap >/dev/null
}
if [ ! -x "$ROOT/usr/bin/apt-get" ]; then
	debootstrap --variant=minbase trixie "$ROOT" "$MIRROR"
fi
# Packages' maintainer scripts must not start services or talk to a database inside the root.
printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
chmod 0755 "$ROOT/usr/sbin/policy-rc.d"
mountpoint -q "$ROOT/proc" || mount -t proc proc "$ROOT/proc"
trap 'umount "$ROOT/proc" 2>/dev/null || true' EXIT
# The debconf answers shared with .ci/openstack-deps.sh: every database/keystone/rabbit question
# answered false, so no maintainer script runs dbconfig-common or db_sync.
chroot "$ROOT" debconf-set-selections <"$(dirname "$0")/openstack-preseed.debconf"
chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get update -q
chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $PKGS
chroot "$ROOT" dpkg-query -W -f '${Package} ${Version}\n' $PKGS
echo "$(date -u +%FT%TZ) $(( $(date +%s) - start ))s" >"$STAMP"
echo "openstack-newer: prepared $ROOT in $(( $(date +%s) - start ))s"
