#!/usr/bin/env bash
# Fetches the prebuilt libduckdb.so (DuckDB 1.5.6, Linux x86-64) that the `duckdb` feature
# links, from the npm registry's `@duckdb/node-bindings-linux-x64` package (no npm needed:
# the tarball is fetched by URL with curl, or Python where curl is missing), checks its
# sha256, and unpacks the library into DIR (default: target/libduckdb). Then:
#   DUCKDB_LIB_DIR=DIR LD_LIBRARY_PATH=DIR cargo test -p arc-builtins --features duckdb ...
# The crate version must match: `duckdb = "~1.10506"` (crate 1.105xx = DuckDB 1.5.x).
set -euo pipefail

VERSION="1.5.6-r.1"
URL="https://registry.npmjs.org/@duckdb/node-bindings-linux-x64/-/node-bindings-linux-x64-${VERSION}.tgz"
SHA256="1b9f82478539bb9a1d1df44bd103121a12ae52142c07158dc52b97d2ec1d69ff"

cd "$(dirname "$0")/.."
DIR="${1:-target/libduckdb}"
mkdir -p "$DIR"
if [ -f "$DIR/libduckdb.so" ] && [ "$(cat "$DIR/VERSION" 2>/dev/null)" = "$VERSION" ]; then
    echo "libduckdb $VERSION already in $DIR"
    exit 0
fi

TGZ="$(mktemp "${TMPDIR:-/tmp}/libduckdb.XXXXXX.tgz")"
trap 'rm -f "$TGZ"' EXIT
if command -v curl >/dev/null; then
    curl -sSfL --retry 3 -o "$TGZ" "$URL"
else
    python3 -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' "$URL" "$TGZ"
fi
echo "$SHA256  $TGZ" | sha256sum -c --quiet -
# Only the library; the tarball's Node addon is not needed.
tar -xzf "$TGZ" -C "$DIR" --strip-components=1 package/libduckdb.so package/LICENSE
echo "$VERSION" > "$DIR/VERSION"
echo "libduckdb $VERSION in $DIR"
