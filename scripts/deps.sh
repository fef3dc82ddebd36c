#!/bin/sh
# Install the Debian packages Parley builds, tests and benchmarks with, but
# only those that are missing, so a machine that has them all is not touched.
set -e
PKGS="build-essential pkg-config libuv1-dev libcurl4-openssl-dev libcjson-dev
libircclient-dev libsqlite3-dev libssl-dev libinih-dev libutf8proc-dev check
python3-pytest sqlite3 openssl"
# The benchmarks' baselines. Only `make bench` installs them: Debian starts
# ngircd on port 6667 where systemd runs, which would take make run's port.
if [ "${1:-}" = "bench" ]; then
    PKGS="$PKGS ngircd"
fi
missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0
echo "parley: installing missing Debian packages:$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
