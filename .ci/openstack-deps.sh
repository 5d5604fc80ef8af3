#!/bin/bash
# Installs the Debian 12 (bookworm, OpenStack Zed) management tools that the
# openstack package's real-tool tests run: keystone-manage/-status,
# glance-manage/-status, placement-manage/-status, nova-manage/-status,
# neutron-db-manage, cinder-manage/-status, heat-manage/-status, plus MariaDB
# (server for the private test instance, client for mysqldump/mariadb).
#
# Non-interactive: every debconf "configure_db/ksat/rabbit/endpoint"
# question is preseeded to false (their defaults, made explicit), so no
# postinst runs dbconfig-common or db_sync; a policy-rc.d that exits 101
# keeps every daemon from starting (removed again afterwards when this
# script created it). Idempotent: a second run installs nothing.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
	echo "openstack-deps: must run as root" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive

PKGS=(
	mariadb-server mariadb-client
	python3-keystone keystone
	glance-common
	python3-placement placement-common
	nova-common
	neutron-common
	cinder-common
	heat-common
)

missing=()
for p in "${PKGS[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
		missing+=("$p")
	fi
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "openstack-deps: all packages already installed"
	exit 0
fi

created_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	created_policy=1
fi
cleanup() {
	if [ "$created_policy" = 1 ]; then
		rm -f /usr/sbin/policy-rc.d
	fi
}
trap cleanup EXIT

debconf-set-selections "$(dirname "$0")/openstack-preseed.debconf"

apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"

for tool in keystone-manage keystone-status glance-manage glance-status placement-manage \
	placement-status nova-manage nova-status neutron-db-manage cinder-manage cinder-status \
	heat-manage heat-status mariadbd mysqldump mariadb; do
	command -v "$tool" >/dev/null || { echo "openstack-deps: $tool missing after install" >&2; exit 1; }
done
echo "openstack-deps: installed ${missing[*]}"
