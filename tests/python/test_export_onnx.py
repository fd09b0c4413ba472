"""Runs an exported ONNX model with onnxruntime and compares with `arc predict`.

A consumer Arc did not write. The inputs are the raw CSV columns the
model's metadata lists (`arc.input.<name>.columns`: the exported graph does
the scaling itself). Each output is compared with `arc predict`'s columns:
the classifier output (`--classifier NAME`) through a softmax against the
`p_<class>` columns, any other output against its `<name>_<i>` columns
(or `<name>` for one value per row).

    python3 tests/python/test_export_onnx.py MODEL.onnx DATA_CSV PREDICTIONS_CSV [--classifier NAME]

Exits 0 when every value matches within 1e-5; prints the largest
difference per output. Needs: numpy, onnxruntime.
"""

import csv
import sys

import numpy as np
import onnxruntime as ort

TOLERANCE = 1e-5


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def main(model_path, data_path, predictions_path, classifier):
    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    rows = read_csv(data_path)
    feeds = {}
    for arg in session.get_inputs():
        key = f"arc.input.{arg.name}.columns"
        if key not in meta:
            print(f"FAIL: input `{arg.name}` lists no raw columns in the metadata")
            return 1
        columns = meta[key].split(",")
        feeds[arg.name] = np.array([[float(r[c]) for c in columns] for r in rows], dtype=np.float32)
    outputs = dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))
    predicted = read_csv(predictions_path)
    header = list(predicted[0].keys())
    worst = 0.0
    for name, value in outputs.items():
        if name == classifier:
            cols = [c for c in header if c.startswith("p_")]
            ours = softmax(value.astype(np.float64))
        else:
            cols = [c for c in header if c == name or (c.startswith(name + "_") and c[len(name) + 1 :].isdigit())]
            ours = value.reshape(len(rows), -1).astype(np.float64)
        arc = np.array([[float(r[c]) for c in cols] for r in predicted])
        if arc.shape != ours.shape:
            print(f"FAIL: output `{name}`: onnxruntime gives {ours.shape}, arc predict {arc.shape} ({cols})")
            return 1
        diff = float(np.abs(arc - ours).max())
        worst = max(worst, diff)
        print(f"output {name}: rows {len(rows)}  max |onnxruntime - arc predict| = {diff:.3g}")
    if not outputs:
        print("FAIL: no outputs")
        return 1
    if worst > TOLERANCE:
        print(f"FAIL: tolerance {TOLERANCE}")
        return 1
    print(f"OK (onnxruntime {ort.__version__})")
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    classifier = None
    if "--classifier" in args:
        i = args.index("--classifier")
        classifier = args[i + 1]
        del args[i : i + 2]
    if len(args) != 3:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(*args, classifier))
