#!/usr/bin/env python3
"""Derives examples/data/wine_alcohol.csv from examples/data/wine.csv.

A regression data set made from real measurements: the alcohol content (% vol)
of 178 Italian wines, to be predicted from the twelve other chemical
measurements of UCI Wine. The cultivar column `class` is dropped (it would
give the answer away too easily) and `alcohol` moves to the last column, the
target. Rows keep their order; values are copied as written.

Standard library only. Run from the repository root:

    python3 scripts/data/make_wine_alcohol.py
"""

import csv
import os
import sys

SOURCE = "examples/data/wine.csv"
TARGET = "examples/data/wine_alcohol.csv"


def main() -> int:
    with open(SOURCE, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        print(f"{SOURCE}: no rows", file=sys.stderr)
        return 1
    features = [c for c in rows[0] if c not in ("alcohol", "class")]
    columns = features + ["alcohol"]
    tmp = TARGET + ".tmp"
    with open(tmp, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(row[c] for c in columns)
    os.replace(tmp, TARGET)
    print(f"wrote {TARGET}: {len(rows)} rows, {len(features)} features + alcohol")
    return 0


if __name__ == "__main__":
    sys.exit(main())
