#!/usr/bin/env bash
# One interleaved session: torch, arc, numpy, arc, torch (anchors' case names and units).
# usage: docs/perf/tensor/run_quiet.sh OUTDIR   (ANCHOR_STAT=min for best-of-5 on both sides)
# Each run waits for an idle machine and is repeated (up to 3 tries) when other processes
# took >5% of the machine during it (quiet_run.py); the allocator setting of
# anchors/README.md is applied to both sides.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
export MALLOC_MMAP_THRESHOLD_=67108864 MALLOC_TRIM_THRESHOLD_=268435456
export ANCHOR_STAT=${ANCHOR_STAT:-median}
OUT=$(mkdir -p "$1" && cd "$1" && pwd)
PY=${PY:-~/.cache/arc-anchors/venv/bin/python}
ANCHORS=${ANCHORS:-/work/shared/anchors}
Q="$PY $ROOT/docs/perf/tensor/quiet_run.py"
cd "$ROOT" && cargo bench --bench tensor_ops --no-run 2>&1 | tail -1
BIN=$(ls -t target/release/deps/tensor_ops-* | grep -v '\.d$' | head -1)
$Q "$OUT/torch.run1.tsv" "$PY" "$ANCHORS/torch_layers.py"
$Q "$OUT/arc.run1.tsv" "$BIN" --table
$Q "$OUT/numpy.run1.tsv" "$PY" "$ANCHORS/numpy_layers.py"
$Q "$OUT/arc.run2.tsv" "$BIN" --table
$Q "$OUT/torch.run2.tsv" "$PY" "$ANCHORS/torch_layers.py"
"$PY" "$ROOT/docs/perf/tensor/compare.py" "$OUT"
