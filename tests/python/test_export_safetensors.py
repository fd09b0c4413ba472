"""Recomputes the exported iris MLP with NumPy and compares with `arc predict`.

A consumer Arc did not write: the weights come from the exported safetensors
file through the `safetensors` package alone, the scaler's mean and scale
from the model directory's processors.json, and the forward pass
(`fc1` Linear -> ReLU -> `fc2` Linear -> softmax, torch's layout
`y = x @ W.T + b`) is written here with NumPy.

    python3 tests/python/test_export_safetensors.py WEIGHTS MODEL_DIR DATA_CSV PREDICTIONS_CSV

Exits 0 when every probability matches `arc predict` within 1e-5 and the
predicted classes agree; prints the largest difference either way.
Needs: numpy, safetensors.
"""

import csv
import json
import sys

import numpy as np
from safetensors.numpy import load_file

TOLERANCE = 1e-5
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
EXPECTED = {"fc1.weight": (16, 4), "fc1.bias": (16,), "fc2.weight": (3, 16), "fc2.bias": (3,)}


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def main(weights_path, model_dir, data_path, predictions_path):
    weights = load_file(weights_path)
    shapes = {name: tuple(t.shape) for name, t in weights.items()}
    if shapes != EXPECTED:
        print(f"FAIL: state_dict shapes {shapes}, expected {EXPECTED}")
        return 1
    if any(t.dtype != np.float32 for t in weights.values()):
        print("FAIL: weights are not float32")
        return 1
    with open(f"{model_dir}/processors.json") as f:
        scaler = json.load(f)["states"]["scaler"]["numbers"]
    mean, scale = np.array(scaler["mean"]), np.array(scaler["scale"])

    rows = read_csv(data_path)
    raw = np.array([[float(r[c]) for c in FEATURES] for r in rows], dtype=np.float64)
    x = ((raw - mean) / scale).astype(np.float32)
    h = np.maximum(x @ weights["fc1.weight"].T + weights["fc1.bias"], 0.0)
    logits = h @ weights["fc2.weight"].T + weights["fc2.bias"]
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs = e / e.sum(axis=1, keepdims=True)

    predicted = read_csv(predictions_path)
    classes = [c[len("p_"):] for c in predicted[0].keys() if c.startswith("p_")]
    arc = np.array([[float(r["p_" + c]) for c in classes] for r in predicted])
    if arc.shape != probs.shape:
        print(f"FAIL: arc predict gave {arc.shape} probabilities, NumPy {probs.shape}")
        return 1
    diff = float(np.abs(arc - probs).max())
    labels = [classes[i] for i in probs.argmax(axis=1)]
    mismatched = sum(a != r["species"] for a, r in zip(labels, predicted))
    print(f"rows {len(rows)}  max |numpy - arc predict| = {diff:.3g}  class mismatches {mismatched}")
    if diff > TOLERANCE or mismatched:
        print(f"FAIL: tolerance {TOLERANCE}")
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 5:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(*sys.argv[1:]))
