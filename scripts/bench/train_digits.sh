#!/usr/bin/env bash
# `arc train` on digits for 20 epochs against the same training in PyTorch
# (scripts/bench/torch_digits_train.py), run in turns N times on this machine,
# and the start-up time of `arc plugins`. Prints one Markdown table: min and
# median of each side, and the ratio of the medians arc / torch (below 1: Arc
# is faster).
#
# usage: scripts/bench/train_digits.sh [N=5] [PLUGINS_RUNS=50]
# env:   PY (default ~/.cache/arc-anchors/venv/bin/python: torch 2.15 + numpy),
#        TORCH_THREADS (default "2 1": one torch side per value, each run in turn),
#        OUT (default target/bench-train-digits: the raw times, one file per series)
#
# Times are taken with bash's $EPOCHREALTIME (no process is started to read the
# clock) around each whole process, as a user would see it: interpreter and
# library start-up, CSV reading, training, writing the model. Each side also
# reports the span from after reading the CSV to the written model ("train":
# Arc's "model written ... in X s"), and torch its 20 epochs alone ("loop").
# Threads: RAYON_NUM_THREADS=2 for Arc (the machine's 2 cores);
# torch.set_num_threads(T) for each T of TORCH_THREADS.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-5}
PLUGINS_RUNS=${2:-50}
PY=${PY:-$HOME/.cache/arc-anchors/venv/bin/python}
TORCH_THREADS=${TORCH_THREADS:-2 1}
OUT=${OUT:-target/bench-train-digits}
export RAYON_NUM_THREADS=${RAYON_NUM_THREADS:-2}
ARC=target/release/arc
SPEC=examples/specs/digits.yaml
DATA=examples/data/digits.csv

cargo build --release --bin arc --quiet
"$PY" -c 'import torch, numpy' # warm the page cache before torch's first timed run
mkdir -p "$OUT"
rm -f "$OUT"/*.txt

# elapsed START prints the seconds since START (an $EPOCHREALTIME).
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.6f\n", b - a }'; }

for r in $(seq 1 "$N"); do
  start=$EPOCHREALTIME
  "$ARC" train "$SPEC" --data "$DATA" --epochs 20 --out target/bench-digits-model > "$OUT/arc.log"
  elapsed "$start" >> "$OUT/arc_process.txt"
  sed -n 's/^model written to .* in \([0-9.]*\)s$/\1/p' "$OUT/arc.log" >> "$OUT/arc_train.txt"
  line="round $r/$N: arc $(tail -1 "$OUT/arc_process.txt") s"
  for t in $TORCH_THREADS; do
    side=torch$t
    start=$EPOCHREALTIME
    "$PY" scripts/bench/torch_digits_train.py "$DATA" target/bench-torch-digits-model 20 "$t" \
      > "$OUT/$side.log" 2> "$OUT/$side.err"
    elapsed "$start" >> "$OUT/${side}_process.txt"
    for m in train loop imports; do
      sed -n "s/^TIME $m //p" "$OUT/$side.err" >> "$OUT/${side}_$m.txt"
    done
    line="$line, torch ($t threads) $(tail -1 "$OUT/${side}_process.txt") s"
  done
  echo "$line" >&2
done
grep -h '^final' "$OUT"/*.log >&2

# `arc plugins`: the whole process, its output to /dev/null.
"$ARC" plugins > /dev/null
for r in $(seq 1 "$PLUGINS_RUNS"); do
  start=$EPOCHREALTIME
  "$ARC" plugins > /dev/null
  elapsed "$start" >> "$OUT/arc_plugins.txt"
done

"$PY" - "$OUT" "$N" "$PLUGINS_RUNS" $TORCH_THREADS <<'EOF'
import statistics, sys
out, n, m, threads = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
def stats(name, scale=1.0):
    values = [float(x) * scale for x in open(f"{out}/{name}.txt").read().split()]
    return min(values), statistics.median(values)
def row(case, arc, torch, unit="s"):
    cells = [case]
    for side in (arc, torch):
        cells += [f"{side[0]:.3f}", f"{side[1]:.3f}"] if side else ["", ""]
    cells.append(f"{arc[1] / torch[1]:.3f}" if arc and torch else "")
    print("| " + " | ".join(cells + [unit]) + " |")
print(f"digits, 20 epochs: {n} runs of each side, in turns; arc plugins: {m} runs")
print()
print("| case | arc min | arc median | torch min | torch median | arc / torch (medians) | unit |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for t in threads:
    row(f"train, whole process (torch {t} threads)", stats("arc_process"), stats(f"torch{t}_process"))
    row(f"train, CSV read to model written (torch {t} threads)", stats("arc_train"), stats(f"torch{t}_train"))
    row(f"torch's 20 epochs alone ({t} threads)", None, stats(f"torch{t}_loop"))
    row(f"import torch, numpy ({t} threads run)", None, stats(f"torch{t}_imports"))
row("arc plugins, whole process", stats("arc_plugins", 1000.0), None, "ms")
EOF
