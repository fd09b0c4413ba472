#!/usr/bin/env bash
# The predictor table (issue 8): Arc's predictor rows (`cargo bench --bench table predictor`),
# PyTorch eager (scripts/bench/torch_predict.py) and onnxruntime on the same iris and digits
# models exported by `arc export --format onnx` (scripts/bench/ort_predict.py) in turns, RUNS
# times, each side's rows kept per run; prints every run's rows side by side.
# usage: scripts/bench/predict_interleaved.sh [RUNS=2] [OUT=target/bench-predictor-session]
# env: PY (default ~/.cache/arc-anchors/venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-2}
OUT=${2:-target/bench-predictor-session}
PY=${PY:-$HOME/.cache/arc-anchors/venv/bin/python}
export MALLOC_MMAP_THRESHOLD_=67108864 MALLOC_TRIM_THRESHOLD_=268435456 RAYON_NUM_THREADS=${RAYON_NUM_THREADS:-2}
mkdir -p "$OUT"
cargo bench --bench table --no-run 2>/dev/null
TABLE=$(ls -t target/release/deps/table-* | grep -v '\.d$' | head -1)
# The ONNX models: iris and digits trained by the release CLI, then exported (opset 17).
cargo build --release --quiet
for m in iris digits; do
  target/release/arc train "examples/specs/$m.yaml" --data "examples/data/$m.csv" --out "$OUT/$m-model" > /dev/null
  target/release/arc export "$OUT/$m-model" --format onnx --out "$OUT/$m.onnx"
done
for r in $(seq 1 "$RUNS"); do
  "$PY" scripts/bench/torch_predict.py > "$OUT/torch_predict.run$r.tsv"
  "$PY" scripts/bench/ort_predict.py "$OUT/iris.onnx" "$OUT/digits.onnx" > "$OUT/ort_predict.run$r.tsv"
  "$TABLE" predictor > "$OUT/rust_predictor.run$r.tsv"
done
for r in $(seq 1 "$RUNS"); do
  echo "## run $r"
  cat "$OUT/torch_predict.run$r.tsv" "$OUT/ort_predict.run$r.tsv" "$OUT/rust_predictor.run$r.tsv" \
    | grep -v '^#' | column -t -s $'\t'
done
