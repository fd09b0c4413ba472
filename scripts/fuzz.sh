#!/usr/bin/env bash
# Runs the fuzz targets of fuzz/ (cargo-fuzz, libFuzzer; a nightly toolchain):
#   scripts/fuzz.sh [spec|csv|model_dir|all] [SECONDS]      (default: all, 30 s each)
# A panic that escapes the library, an abort, or an allocation over 2 GiB fails a target.
# New inputs go to target/fuzz-corpus/TARGET (the committed seeds in fuzz/corpus/ are read
# only); a failing input is saved under fuzz/artifacts/TARGET/ — keep it as a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo +nightly -V >/dev/null 2>&1; then
    echo "scripts/fuzz.sh: the fuzz targets need a nightly toolchain (\`cargo +nightly\`), and none is installed" >&2
    exit 1
fi
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

targets="${1:-all}"
seconds="${2:-30}"
[ "$targets" = all ] && targets="spec csv model_dir"
for target in $targets; do
    work="target/fuzz-corpus/$target"
    mkdir -p "$work"
    extra=()
    [ "$target" = spec ] && extra=(-dict=fuzz/spec.dict)
    echo "== fuzz $target for ${seconds}s"
    cargo +nightly fuzz run "$target" "$work" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=2048 -print_final_stats=1 "${extra[@]}"
done
