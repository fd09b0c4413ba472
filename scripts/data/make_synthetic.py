"""Makes the two synthetic data sets of examples/data/ (standard library only, seeded):

- diabetes.csv: the original schema's Example 1 (`diabetes_predictor_final`): age, bmi,
  glucose_level and a 0/1 `outcome` drawn from a logistic model of the three.
- sessions.csv: browsing sessions for the next-item example (examples/specs/next_item.yaml,
  in the spirit of the original's Example 2): a user's age, country and device, and the
  session's items (`event_id`) and their categories (`event_category`) as
  whitespace-separated tokens. Each item is followed by its country group's successor 85% of
  the time, by a random item otherwise, so a model that reads the country and the items so far
  can predict the next one about 85% of the time.

    python3 scripts/data/make_synthetic.py   # rewrites both files

The item names are chosen so that no two share a bucket of `transform.hash_and_pad` (FNV-1a
64 modulo 512, as arc-builtins/src/processors/hashing.rs computes it) and none lands in bucket
0, the padding id.
"""

import math
import random
from pathlib import Path

OUT = Path(__file__).resolve().parents[2] / "examples" / "data"
BUCKETS = 512
ITEMS = 40
CATEGORIES = ["books", "music", "film", "games", "garden"]
COUNTRIES = ["de", "fr", "it", "es", "nl", "pl", "se", "pt"]
DEVICES = ["mobile", "desktop", "tablet"]


def fnv1a64(text: str) -> int:
    h = 0xCBF29CE484222325
    for b in text.encode():
        h = ((h ^ b) * 0x100000001B3) % (1 << 64)
    return h


def diabetes(rng: random.Random, rows: int = 4000) -> str:
    lines = ["age,bmi,glucose_level,outcome"]
    for _ in range(rows):
        age = rng.randint(21, 80)
        bmi = round(rng.gauss(30.0, 6.0), 1)
        glucose = round(rng.gauss(120.0, 30.0))
        z = 0.06 * (age - 50) + 0.2 * (bmi - 30) + 0.08 * (glucose - 120)
        outcome = 1 if rng.random() < 1 / (1 + math.exp(-z)) else 0
        lines.append(f"{age},{bmi},{glucose},{outcome}")
    return "\n".join(lines) + "\n"


def item_names() -> list[str]:
    names, used = [], {0}
    k = 0
    while len(names) < ITEMS:
        name = f"i{k}"
        bucket = fnv1a64(name) % BUCKETS
        if bucket not in used:
            used.add(bucket)
            names.append(name)
        k += 1
    return names


def sessions(rng: random.Random, rows: int = 1200) -> str:
    items = item_names()
    category = {item: CATEGORIES[i % len(CATEGORIES)] for i, item in enumerate(items)}
    # Two country groups, each with its own successor of every item.
    successors = []
    for _ in range(2):
        order = items[:]
        rng.shuffle(order)
        successors.append({order[i]: order[(i + 1) % ITEMS] for i in range(ITEMS)})
    lines = ["age,country,device,event_id,event_category"]
    for _ in range(rows):
        country = rng.choice(COUNTRIES)
        follow = successors[COUNTRIES.index(country) % 2]
        length = rng.randint(3, 12)
        seq = [rng.choice(items)]
        while len(seq) < length:
            seq.append(follow[seq[-1]] if rng.random() < 0.85 else rng.choice(items))
        cats = " ".join(category[i] for i in seq)
        lines.append(f"{rng.randint(18, 70)},{country},{rng.choice(DEVICES)},{' '.join(seq)},{cats}")
    return "\n".join(lines) + "\n"


def main() -> None:
    rng = random.Random(20261207)
    (OUT / "diabetes.csv").write_text(diabetes(rng))
    (OUT / "sessions.csv").write_text(sessions(rng))


if __name__ == "__main__":
    main()
