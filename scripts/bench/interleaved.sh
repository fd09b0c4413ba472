#!/usr/bin/env bash
# One interleaved benchmark session: the Python anchors and Arc's tables, in
# turns, RUNS times, then one side-by-side table (../shared/anchors/table.py).
# usage: scripts/bench/interleaved.sh [RUNS=2] [OUT=target/bench-session] [GROUPS="hooks tensor"] (BENCH_GROUPS)
# env: PY (default ~/.cache/arc-anchors/venv/bin/python), ANCHORS (default ../shared/anchors)
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-2}
OUT=${2:-target/bench-session}
BENCH_GROUPS=${3:-hooks tensor}
PY=${PY:-$HOME/.cache/arc-anchors/venv/bin/python}
ANCHORS=${ANCHORS:-../shared/anchors}
# Same allocator setting on both sides (anchors README, note 9).
export MALLOC_MMAP_THRESHOLD_=67108864 MALLOC_TRIM_THRESHOLD_=268435456 RAYON_NUM_THREADS=${RAYON_NUM_THREADS:-2}
mkdir -p "$OUT"
cargo bench --bench table --no-run 2>/dev/null
TABLE=$(ls -t target/release/deps/table-* | grep -v '\.d$' | head -1)
for r in $(seq 1 "$RUNS"); do
  for g in $BENCH_GROUPS; do
    case $g in
      hooks) "$PY" "$ANCHORS/pluggy_overhead.py" > "$OUT/pluggy_overhead.run$r.tsv" ;;
      tensor) (cd "$ANCHORS" && "$PY" torch_layers.py) > "$OUT/torch_layers.run$r.tsv"
              (cd "$ANCHORS" && "$PY" numpy_layers.py) > "$OUT/numpy_layers.run$r.tsv" ;;
    esac
    "$TABLE" "$g" > "$OUT/rust_$g.run$r.tsv"
  done
done
"$PY" "$ANCHORS/table.py" "$OUT"/*.run*.tsv > "$OUT/table.tsv"
column -t -s $'\t' "$OUT/table.tsv"
