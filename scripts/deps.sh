#!/bin/sh
# Install the Debian packages Parley needs, but only those that are missing,
# so a machine that has them all is not touched.
#   scripts/deps.sh        what `make run` needs: the build
#   scripts/deps.sh test   plus what `make test` needs: test tools, clients
#   scripts/deps.sh bench  plus the benchmarks' baselines
#   scripts/deps.sh fuzz   plus clang and libFuzzer, for `make fuzz` only
set -e
what="${1:-run}"
PKGS="build-essential pkg-config libuv1-dev libcurl4-openssl-dev libcjson-dev
libircclient-dev libsqlite3-dev libssl-dev libinih-dev libutf8proc-dev
libsodium-dev libh2o-dev"
if [ "$what" = test ] || [ "$what" = bench ]; then
    PKGS="$PKGS check python3-pytest sqlite3 openssl irssi weechat-headless
tmux znc chromium clang-format python3-pyflakes"
    # This machine kind ships Node.js with npm; elsewhere Debian's will do.
    command -v npm >/dev/null 2>&1 || PKGS="$PKGS nodejs npm"
fi
# libFuzzer and the sanitizer runtimes come with clang's runtime package,
# which --no-install-recommends would leave out.
if [ "$what" = fuzz ]; then
    PKGS="$PKGS clang libclang-rt-14-dev"
fi
# Only `make bench` installs the baselines: where systemd runs, Debian starts
# ngircd and bitlbee on port 6667, which would take make run's port.
if [ "$what" = bench ]; then
    PKGS="$PKGS ngircd bitlbee bitlbee-plugin-mastodon"
fi
missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
if [ -n "$missing" ]; then
    echo "parley: installing missing Debian packages:$missing"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
        --no-install-recommends $missing
fi
# The Lounge and Playwright (for the browser test) come from the npm
# registry, pinned by tests/clients/package-lock.json.
if { [ "$what" = test ] || [ "$what" = bench ]; } &&
    [ -f tests/clients/package.json ] &&
    [ ! -d tests/clients/node_modules ]; then
    echo "parley: installing test clients from npm (tests/clients)"
    (cd tests/clients && npm ci --no-audit --no-fund --loglevel=error)
fi
