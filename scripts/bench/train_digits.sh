#!/usr/bin/env bash
# `arc train` on digits for 20 epochs against the same training in PyTorch
# (scripts/bench/torch_digits_train.py), run in turns N times on this machine,
# and the start-up time of `arc plugins`. Prints one table: min and median of
# each side and the ratio arc / torch (below 1: Arc is faster).
#
# usage: scripts/bench/train_digits.sh [N=5] [PLUGINS_RUNS=50]
# env:   PY (default ~/.cache/arc-anchors/venv/bin/python: torch 2.15 + numpy),
#        OUT (default target/bench-train-digits: the raw times, one file per column)
#
# Times are taken with bash's $EPOCHREALTIME (no process is started to read the
# clock) around each whole process, as a user would see them: interpreter and
# library start-up, CSV reading, training, writing the model. Each side also
# reports the span from after reading the CSV to the written model ("train":
# Arc's "model written ... in X s"), and torch the epochs alone ("loop").
# Threads: RAYON_NUM_THREADS=2 for Arc, torch.set_num_threads(2) in the script.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-5}
PLUGINS_RUNS=${2:-50}
PY=${PY:-$HOME/.cache/arc-anchors/venv/bin/python}
OUT=${OUT:-target/bench-train-digits}
export RAYON_NUM_THREADS=${RAYON_NUM_THREADS:-2}
ARC=target/release/arc
SPEC=examples/specs/digits.yaml
DATA=examples/data/digits.csv

cargo build --release --bin arc --quiet
"$PY" -c 'import torch, numpy' # warm the page cache for torch's first run
mkdir -p "$OUT"
rm -f "$OUT"/*.txt

# elapsed START prints the seconds since START (an $EPOCHREALTIME).
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.6f\n", b - a }'; }

for r in $(seq 1 "$N"); do
  start=$EPOCHREALTIME
  "$ARC" train "$SPEC" --data "$DATA" --epochs 20 --out target/bench-digits-model > "$OUT/arc.log"
  elapsed "$start" >> "$OUT/arc_process.txt"
  sed -n 's/^model written to .* in \([0-9.]*\)s$/\1/p' "$OUT/arc.log" >> "$OUT/arc_train.txt"

  start=$EPOCHREALTIME
  "$PY" scripts/bench/torch_digits_train.py "$DATA" target/bench-torch-digits-model 20 > "$OUT/torch.log" 2> "$OUT/torch.err"
  elapsed "$start" >> "$OUT/torch_process.txt"
  sed -n 's/^TIME train //p' "$OUT/torch.err" >> "$OUT/torch_train.txt"
  sed -n 's/^TIME loop //p' "$OUT/torch.err" >> "$OUT/torch_loop.txt"
  sed -n 's/^TIME imports //p' "$OUT/torch.err" >> "$OUT/torch_imports.txt"
  echo "round $r/$N: arc $(tail -1 "$OUT/arc_process.txt") s, torch $(tail -1 "$OUT/torch_process.txt") s" >&2
done
grep '^final' "$OUT/arc.log" | sed 's/^/arc   /' >&2
grep '^final' "$OUT/torch.log" | sed 's/^/torch /' >&2

# `arc plugins`: the whole process, output to /dev/null.
"$ARC" plugins > /dev/null
for r in $(seq 1 "$PLUGINS_RUNS"); do
  start=$EPOCHREALTIME
  "$ARC" plugins > /dev/null
  elapsed "$start" >> "$OUT/arc_plugins.txt"
done

"$PY" - "$OUT" "$N" "$PLUGINS_RUNS" <<'EOF'
import statistics, sys
out, n, m = sys.argv[1], sys.argv[2], sys.argv[3]
def stats(name, scale):
    if name is None:
        return None
    values = [float(x) * scale for x in open(f"{out}/{name}.txt").read().split()]
    return min(values), statistics.median(values)
def row(case, arc, torch, unit="s", scale=1.0):
    a, t = stats(arc, scale), stats(torch, scale)
    cells = [case]
    for side in (a, t):
        cells += [f"{side[0]:.3f}", f"{side[1]:.3f}"] if side else ["", ""]
    cells.append(f"{a[1] / t[1]:.2f}" if a and t else "")
    print("| " + " | ".join(cells + [unit]) + " |")
print(f"digits, 20 epochs: {n} runs of each, in turns; arc plugins: {m} runs")
print()
print("| case | arc min | arc median | torch min | torch median | arc / torch (medians) | unit |")
print("| --- | --- | --- | --- | --- | --- | --- |")
row("train: whole process", "arc_process", "torch_process")
row("train: CSV read to model written", "arc_train", "torch_train")
row("train: the 20 epochs alone", None, "torch_loop")
row("import torch, numpy", None, "torch_imports")
row("arc plugins: whole process", "arc_plugins", None, "ms", 1000.0)
EOF
