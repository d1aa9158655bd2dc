#!/bin/sh
# Installs the Debian 12 packages Ferry needs to build, test and demo,
# only when one is missing. As root it installs them; otherwise it prints
# the exact command to run. systemd is there for systemd-analyze only
# (scenario install rates the units; nothing is started).
set -eu
PKGS="build-essential pkg-config libzmq3-dev libsodium-dev liblmdb-dev \
libmsgpack-dev libjansson-dev libinih-dev lmdb-utils clang libclang-rt-14-dev \
python3 python3-msgpack python3-nacl python3-zmq e2fsprogs util-linux procps \
chromium \
spin systemd"
missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "ferry: missing Debian packages:$missing" >&2
	echo "run as root: apt-get update && apt-get install -y$missing" >&2
	exit 1
fi
echo "ferry: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq $missing >/dev/null
