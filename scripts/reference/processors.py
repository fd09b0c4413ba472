"""Reference values for the built-in feature processors (NumPy only).

Run with the anchors venv: ~/.cache/arc-anchors/venv/bin/python
scripts/reference/processors.py. Writes JSON under
arc-builtins/tests/fixtures/processors/. Inputs are float32 values
(stored as float64, exactly), the statistics are computed in float64 as
scikit-learn's scalers do: StandardScaler (population std), MinMaxScaler,
RobustScaler (numpy.percentile, linear); a zero scale becomes 1. Floats
are written with repr, which round-trips exactly.
"""

import csv
import json
import pathlib

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "arc-builtins" / "tests" / "fixtures" / "processors"


def dump(name, value):
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.json").write_text(json.dumps(value, indent=1) + "\n")


def nonzero(scale):
    return np.where(scale == 0.0, 1.0, scale)


def scalers():
    rng = np.random.default_rng(5)
    x = rng.normal(2.0, 3.0, size=(12, 4)).astype(np.float32)
    x[:, 3] = 2.5  # a constant feature: scale 1
    x_new = rng.normal(2.0, 3.0, size=(5, 4)).astype(np.float32)
    xf, nf = x.astype(np.float64), x_new.astype(np.float64)

    mean, std = xf.mean(axis=0), nonzero(xf.std(axis=0))
    standard = {"mean": mean, "scale": std, "fit": (xf - mean) / std, "new": (nf - mean) / std}

    lo, hi = xf.min(axis=0), xf.max(axis=0)
    minmax = []
    for a, b in ([0.0, 1.0], [-1.0, 2.0]):
        rng_ = nonzero(hi - lo)
        f = lambda v: (v - lo) / rng_ * (b - a) + a
        minmax.append({"feature_range": [a, b], "data_min": lo, "data_max": hi, "fit": f(xf), "new": f(nf)})

    robust = []
    for q in ([25.0, 75.0], [10.0, 90.0]):
        center = np.percentile(xf, 50.0, axis=0)
        scale = nonzero(np.percentile(xf, q[1], axis=0) - np.percentile(xf, q[0], axis=0))
        robust.append({"quantile_range": q, "center": center, "scale": scale,
                       "fit": (xf - center) / scale, "new": (nf - center) / scale})

    def lists(d):
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in d.items()}

    dump("scalers", {
        "x": xf.tolist(), "x_new": nf.tolist(),
        "standard": lists(standard),
        "minmax": [lists(m) for m in minmax],
        "robust": [lists(r) for r in robust],
    })


def fnv1a64(text):
    h = 0xCBF29CE484222325
    for b in text.encode("utf-8"):
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def hashing():
    words = ["", "a", "foobar", "42", "0.5", "-3", "h\u00e9llo", "setosa", "versicolor"]
    buckets = 1000
    texts = ["the cat sat", "  a  b ", "", "one two three four five"]
    max_length, fill = 4, -1
    padded = []
    for t in texts:
        ids = [fnv1a64(tok) % 50 for tok in t.split()][:max_length]
        padded.append(ids + [fill] * (max_length - len(ids)))
    dump("hashing", {
        "words": words,
        # 64-bit hashes as hex strings: JSON numbers lose bits past 2^53.
        "hashes": [format(fnv1a64(w), "016x") for w in words],
        "num_buckets": buckets,
        "buckets": [fnv1a64(w) % buckets for w in words],
        "texts": texts, "pad_buckets": 50, "max_length": max_length, "fill_value": fill,
        "padded": padded,
    })


def sequence():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(2, 5, 3)).astype(np.float32).astype(np.float64)
    cases = []
    for direction, fill in ((2, 9.0), (-1, 0.0), (0, 1.0), (7, -1.0)):
        out = np.full_like(x, fill)
        n = x.shape[1]
        for t in range(n):
            s = t - direction
            if 0 <= s < n:
                out[:, t, :] = x[:, s, :]
        cases.append({"direction": direction, "fill_value": fill, "output": out.tolist()})
    dump("sequence", {"shape": list(x.shape), "x": x.ravel().tolist(), "cases": cases})


def encoding():
    color = ["red", "green", "blue", "green", "red", "Red"]
    size = [10.0, 2.0, 2.0, 0.5, 10.0, 2.0]
    cats_color = sorted(set(color))  # byte order, as np.unique
    cats_size = [float(v) for v in np.unique(size)]  # numerically
    one_hot = []
    for c, s in zip(color, size):
        one_hot.append([1.0 if c == k else 0.0 for k in cats_color] + [1.0 if s == k else 0.0 for k in cats_size])
    labels = ["b", "c", "a", "c", "b", "b"]
    classes, codes = np.unique(labels, return_inverse=True)
    dump("encoding", {
        "color": color, "size": size,
        "categories_color": cats_color,
        "categories_size": ["0.5", "2", "10"],
        "one_hot": one_hot,
        "labels": labels, "classes": classes.tolist(), "codes": codes.tolist(),
    })


def iris():
    with open(ROOT / "examples" / "data" / "iris.csv") as f:
        rows = list(csv.DictReader(f))
    cols = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    x = np.array([[float(r[c]) for c in cols] for r in rows]).astype(np.float32).astype(np.float64)
    mean, std = x.mean(axis=0), nonzero(x.std(axis=0))
    classes, codes = np.unique([r["species"] for r in rows], return_inverse=True)
    dump("iris", {
        "columns": cols, "mean": mean.tolist(), "scale": std.tolist(),
        "standardized": ((x - mean) / std).tolist(),
        "classes": classes.tolist(), "codes": codes.tolist(),
    })


if __name__ == "__main__":
    scalers()
    hashing()
    sequence()
    encoding()
    iris()
