#!/usr/bin/env python3
"""A/B of two or more builds of the benchmark table on a noisy host.

Runs each table binary in turn, ROUNDS times (the order reversed every other round, so that a
slow drift of the host weighs on every side alike), and prints for every case the best, the
median and the worst of the rounds per binary, and the ratio of each binary's best and median
to the first one's. On a shared host whose memory system other tenants load, single runs move
20-140%; the best of many alternated rounds moves a few percent.

usage: scripts/bench/ab.py [--rounds N] [--filter GROUP] BINARY_A BINARY_B [...]
  (copy each build's `target/release/deps/table-*` aside first: cargo reuses the name)
env: as the table's (MALLOC_*, RAYON_NUM_THREADS, ANCHOR_STAT) are set here when unset.
"""

import argparse
import os
import statistics
import subprocess
import sys


def run(binary, group, env):
    out = subprocess.run([binary, group], env=env, capture_output=True, text=True, check=True).stdout
    rows = {}
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[2] in ("us/call", "ns/call"):
            rows[parts[0]] = float(parts[1])
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--filter", default="tensor", help="the table's group or case filter")
    ap.add_argument("binaries", nargs="+")
    args = ap.parse_args()
    env = dict(os.environ)
    for k, v in (
        ("MALLOC_MMAP_THRESHOLD_", "67108864"),
        ("MALLOC_TRIM_THRESHOLD_", "268435456"),
        ("RAYON_NUM_THREADS", "2"),
        ("ANCHOR_STAT", "min"),
    ):
        env.setdefault(k, v)
    times = {b: {} for b in args.binaries}
    for r in range(args.rounds):
        order = args.binaries if r % 2 == 0 else list(reversed(args.binaries))
        for b in order:
            for case, t in run(b, args.filter, env).items():
                times[b].setdefault(case, []).append(t)
        print(f"# round {r + 1}/{args.rounds} done", file=sys.stderr)
    first = args.binaries[0]
    print("case\tbinary\tbest\tmedian\tworst\tbest/first\tmedian/first")
    for case in times[first]:
        base = times[first][case]
        for b in args.binaries:
            ts = times[b].get(case)
            if not ts:
                continue
            best, med = min(ts), statistics.median(ts)
            print(
                f"{case}\t{os.path.basename(b)}\t{best:.1f}\t{med:.1f}\t{max(ts):.1f}\t"
                f"{best / min(base):.3f}\t{med / statistics.median(base):.3f}"
            )


if __name__ == "__main__":
    main()
