#!/bin/bash
# build.sh SRC REF DEST: build OpenNebula (oned, onedb, the CLI, the dummy
# drivers) from the source tree SRC and install it self-contained into DEST
# (an ONE_LOCATION layout), for the real-OpenNebula test bed (testbed/opennebula).
#
# - SRC is a checkout or an export of OpenNebula/one at REF. When SRC does not
#   exist and ONE_GIT_DIR names a git dir of OpenNebula/one, REF is exported
#   there first (git archive). Nothing of OpenNebula's code lives in this repo.
# - Debian 12 packages only: missing build and Ruby runtime packages are
#   installed with apt-get (NO_APT=1 to only check for them).
# - Idempotent: a second run with the same SRC/REF/DEST does nothing
#   (FORCE=1 rebuilds; scons itself is incremental). Compiles go through
#   ccache (CCACHE_DIR, default $(dirname DEST)/ccache) with paths relative
#   to the parent of SRC, so a second tag reuses the first one's objects.
# - JOBS (default 2) is passed to scons -j. Run it under `nice -n 19` on a
#   shared machine.
#
# After install.sh, DEST is fixed where a self-contained install trips (each
# fix is made here on the installed files, never on the source):
#   1. lib/ruby/.../load_opennebula_paths.rb call Gem.use_paths on
#      $ONE_LOCATION/share/gems, which raises when the directory is absent
#      (no bundled gems: we use Debian's ruby-* packages); creating the
#      directory empty instead hides Ruby's own bundled gems (rexml). The call
#      is made conditional on the directory existing.
# From an exported tree (no .git) OpenNebula's SConstruct gets nothing from
# `git describe`, so `oned --version` prints "OpenNebula 7.4.0 ()" where a
# packaged build prints the 8-character commit id.
# Everything else the bed needs (ONE_AUTH, RUBYLIB, per-server etc/var) is
# per front-end and done by the Go bed at start.
set -euo pipefail

usage() { echo "usage: $0 SRC REF DEST" >&2; exit 2; }
[ $# -eq 3 ] || usage
SRC=$1 REF=$2 DEST=$3
case $SRC in /*) ;; *) SRC=$PWD/$SRC ;; esac
case $DEST in /*) ;; *) DEST=$PWD/$DEST ;; esac
JOBS=${JOBS:-2}

BUILD_DEPS="scons g++ pkg-config ccache libxml2-dev libxmlrpc-c++8-dev libxmlrpc-core-c3-dev
 libmariadb-dev libmariadb-dev-compat libsqlite3-dev libssl-dev zlib1g-dev libcurl4-openssl-dev
 ruby ruby-dev"
RUBY_DEPS="ruby-sequel ruby-mysql2 ruby-sqlite3 ruby-nokogiri ruby-xmlrpc ruby-json ruby-ox
 ruby-augeas ruby-parse-cron ruby-treetop ruby-ipaddress ruby-activesupport ruby-ffi-rzmq"

log() { echo "build.sh: $*" >&2; }

missing=
for p in $BUILD_DEPS $RUBY_DEPS; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$st" = "install ok installed" ] || missing="$missing $p"
done
if [ -n "$missing" ]; then
	if [ "${NO_APT:-}" = 1 ]; then
		log "missing Debian packages:$missing"; exit 1
	fi
	log "apt-get install$missing"
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
fi

STAMP=$DEST/.upgradekit-build
want="ref=$REF src=$SRC"
if [ "${FORCE:-}" != 1 ] && [ -x "$DEST/bin/oned" ] && [ -f "$STAMP" ] && [ "$(head -1 "$STAMP")" = "$want" ]; then
	log "$DEST already holds $REF from $SRC (FORCE=1 to rebuild)"
	exit 0
fi

if [ ! -f "$SRC/SConstruct" ]; then
	if [ -n "${ONE_GIT_DIR:-}" ] && [ ! -e "$SRC" ]; then
		log "exporting $REF from $ONE_GIT_DIR into $SRC"
		mkdir -p "$SRC.tmp"
		git --git-dir="$ONE_GIT_DIR" archive "$REF" | tar -x -C "$SRC.tmp"
		mv "$SRC.tmp" "$SRC"
	else
		log "$SRC is not an OpenNebula source tree (no SConstruct); set ONE_GIT_DIR to export $REF"
		exit 1
	fi
fi

export CCACHE_DIR=${CCACHE_DIR:-$(dirname "$DEST")/ccache}
mkdir -p "$CCACHE_DIR"
# scons gives its children only PATH: carry ccache's settings in the
# compiler command itself.
ccenv="env CCACHE_DIR=$CCACHE_DIR CCACHE_BASEDIR=$(dirname "$SRC") CCACHE_NOHASHDIR=1 CCACHE_MAXSIZE=5G ccache"
export CC="$ccenv gcc" CXX="$ccenv g++"

cd "$SRC"
t0=$(date +%s)
log "scons in $SRC ($REF), -j$JOBS"
scons -j"$JOBS" mysql=yes sqlite=yes grpc=no svncterm=no fireedge=no systemd=no gitversion="$REF"
t1=$(date +%s)

log "install.sh -d $DEST"
mkdir -p "$DEST"
# install.sh copies what exists and reports what it cannot find (man pages,
# gRPC stubs, FireEdge, vendor binaries): those lines are expected.
./install.sh -d "$DEST" > "$DEST/.install.log" 2>&1 || { tail -20 "$DEST/.install.log" >&2; exit 1; }
log "install.sh: $(grep -c 'cannot stat' "$DEST/.install.log" || true) files not built (see $DEST/.install.log)"
t2=$(date +%s)

# Fix 1 (see the header): guard Gem.use_paths on the gems directory.
grep -rlE '^[[:space:]]*Gem\.use_paths\(File\.realpath\(GEMS_LOCATION\)\)[[:space:]]*$' "$DEST/lib" "$DEST/bin" "$DEST/var/remotes" 2>/dev/null |
while read -r f; do
	sed -i -E 's/^([[:space:]]*)Gem\.use_paths\(File\.realpath\(GEMS_LOCATION\)\)[[:space:]]*$/\1Gem.use_paths(File.realpath(GEMS_LOCATION)) if File.directory?(GEMS_LOCATION)/' "$f"
	log "guarded Gem.use_paths in ${f#$DEST/}"
done

"$DEST/bin/oned" --version >/dev/null
printf '%s\nscons_s=%s install_s=%s built=%s\n' "$want" $((t1 - t0)) $((t2 - t1)) "$(date -u +%FT%TZ)" > "$STAMP"
log "done: $REF in $DEST (scons $((t1 - t0)) s, install $((t2 - t1)) s)"
ccache -d "$CCACHE_DIR" -s 2>/dev/null | sed 's/^/build.sh: ccache: /' >&2 || true
