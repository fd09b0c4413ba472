"""Loads an Arc safetensors export into the equivalent PyTorch modules with
`load_state_dict(strict=True)` and compares their outputs with `arc predict`.

    arc train examples/specs/iris.yaml --data examples/data/iris.csv --out target/iris-model
    arc predict target/iris-model --data examples/data/iris.csv --out target/iris-pred.csv
    arc export target/iris-model --format safetensors --out target/iris.safetensors
    python scripts/reference/check_safetensors_torch.py target/iris-model target/iris.safetensors \
        examples/data/iris.csv target/iris-pred.csv

The torch model is built from the model directory's spec.yaml, one module per
node in an `nn.ModuleDict` keyed by node name, so its `state_dict` names are
`<node>.<param>` exactly as PyTorch would name them; a name, shape or dtype
that differs from the export fails `load_state_dict(strict=True)`. Layers:
Linear, ReLU, Sigmoid, Tanh, GELU, Softmax, Dropout, LayerNorm, BatchNorm1d,
Embedding, Flatten, Concatenate, Add (legacy `torch.nn.*` names too). The
features go through the fitted scaler of processors.json (standard, robust
or min-max over assembled columns). Exits 0 when every value matches within
1e-5. Needs: torch, numpy, pyyaml (safetensors optional: a small reader is
built in). Documented in docs/EXPORT.md; CI does not run it (no torch there).
"""

import csv
import json
import struct
import sys

import numpy as np
import torch
import yaml
from torch import nn

TOLERANCE = 1e-5


def load_safetensors(path):
    try:
        from safetensors.torch import load_file

        return load_file(path)
    except ImportError:
        pass
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    header.pop("__metadata__", None)
    dtypes = {"F32": np.float32, "I64": np.int64}
    out = {}
    for name, info in header.items():
        start, end = info["data_offsets"]
        raw = np.frombuffer(data[8 + n + start : 8 + n + end], dtype=dtypes[info["dtype"]])
        out[name] = torch.from_numpy(raw.reshape(info["shape"]).copy())
    return out


def resolve(value, vars_):
    if isinstance(value, str) and value.startswith("vars."):
        v = vars_[value[len("vars.") :]]
        return int(v) if float(v).is_integer() else v
    if isinstance(value, list):
        return [resolve(v, vars_) for v in value]
    return value


class Concatenate(nn.Module):
    def __init__(self, dim=-1, num_inputs=2):
        super().__init__()
        self.dim = dim

    def forward(self, *xs):
        return torch.cat(xs, dim=self.dim)


class Add(nn.Module):
    def __init__(self, num_inputs=2):
        super().__init__()

    def forward(self, *xs):
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


def module(layer_type, params):
    name = layer_type.split(".")[-1]
    simple = {"ReLU": nn.ReLU, "Sigmoid": nn.Sigmoid, "Tanh": nn.Tanh}
    if name in simple:
        return simple[name]()
    if name == "Softmax":
        return nn.Softmax(dim=params.get("dim", -1))
    if name == "GELU":
        return nn.GELU(approximate=params.get("approximate", "none"))
    if name == "Concatenate":
        return Concatenate(**params)
    if name == "Add":
        return Add(**params)
    constructors = {
        "Linear": nn.Linear,
        "Dropout": nn.Dropout,
        "LayerNorm": nn.LayerNorm,
        "BatchNorm1d": nn.BatchNorm1d,
        "Embedding": nn.Embedding,
        "Flatten": nn.Flatten,
    }
    if name not in constructors:
        raise SystemExit(f"FAIL: no torch equivalent wired here for layer type `{layer_type}`")
    return constructors[name](**params)


def features_of(spec, fitted, rows, input_name, source):
    steps = spec.get("features", {}).get("processors", [])

    def producer(tensor):
        return next((s for s in steps if f"tensors.{tensor}" in s.get("outputs", {}).values()), None)

    step = producer(source)
    scaler, columns = None, None
    if step and "assemble_vector" not in step["op"]:
        scaler = step
        raw = step["inputs"]["x"][len("tensors.") :]
        step = producer(raw)
    if not step or "assemble_vector" not in step["op"]:
        raise SystemExit(f"FAIL: input `{input_name}`: only assemble_vector (+ a scaler) pipelines are wired here")
    columns = step["inputs"]["columns"]
    if columns == "feature_columns":
        columns = spec["features"]["feature_columns"]
    x = np.array([[float(r[c]) for c in columns] for r in rows], dtype=np.float64)
    if scaler:
        state_ref = scaler["inputs"].get("state") or scaler.get("outputs", {}).get("state") or f"states.{scaler['name']}"
        state = fitted["states"][state_ref[len("states.") :]]
        nums = {k: np.array(v) for k, v in state["numbers"].items()}
        nonzero = lambda a: np.where(a == 0, 1.0, a)
        if state["kind"] == "standard_scaler":
            x = (x - nums["mean"]) / nonzero(nums["scale"])
        elif state["kind"] == "robust_scaler":
            x = (x - nums["center"]) / nonzero(nums["scale"])
        elif state["kind"] == "minmax_scaler":
            lo, hi = scaler["inputs"].get("feature_range", [0.0, 1.0])
            x = (x - nums["data_min"]) / nonzero(nums["data_max"] - nums["data_min"]) * (hi - lo) + lo
        else:
            raise SystemExit(f"FAIL: scaler state kind `{state['kind']}` is not wired here")
    return torch.tensor(x, dtype=torch.float32)


def main(model_dir, weights_path, data_path, predictions_path):
    with open(f"{model_dir}/spec.yaml") as f:
        spec = yaml.safe_load(f)
    with open(f"{model_dir}/processors.json") as f:
        fitted = json.load(f)
    vars_ = fitted.get("vars", {})
    graph = spec["model"]["graph"]
    modules = nn.ModuleDict()
    for node in graph:
        params = {k: resolve(v, vars_) for k, v in (node.get("params") or {}).items()}
        modules[node["name"]] = module(node["type"], params)
    state = load_safetensors(weights_path)
    modules.load_state_dict(state, strict=True)
    modules.eval()
    print(f"load_state_dict(strict=True): {len(state)} tensors OK")

    with open(data_path, newline="") as f:
        rows = list(csv.DictReader(f))
    inputs = {}
    for name, decl in spec["model"]["inputs"].items():
        source = decl.get("source", f"tensors.{name}") if isinstance(decl, dict) else f"tensors.{name}"
        inputs[name] = features_of(spec, fitted, rows, name, source[len("tensors.") :])
    values = dict(inputs)

    def ref(r):
        r = r[len("inputs.") :] if r.startswith("inputs.") else r
        return r[: -len(".output")] if r.endswith(".output") else r

    with torch.no_grad():
        for i, node in enumerate(graph):
            given = node.get("inputs")
            if given is None:
                args = [values[graph[i - 1]["name"]]] if i else list(inputs.values())
            elif isinstance(given, str):
                args = [values[ref(given)]]
            elif isinstance(given, list):
                args = [values[ref(r)] for r in given]
            else:
                args = [values[ref(r)] for r in given.values()]
            values[node["name"]] = modules[node["name"]](*args)
    outputs = spec["model"].get("outputs") or {graph[-1]["name"]: graph[-1]["name"]}
    pred = spec.get("trainer", {}).get("loss", {}).get("inputs", {}).get("pred", "")
    pred = pred[len("model.") :] if pred.startswith("model.") else pred

    with open(predictions_path, newline="") as f:
        predicted = list(csv.DictReader(f))
    header = list(predicted[0].keys())
    worst = 0.0
    for name, r in outputs.items():
        out = values[ref(r)].double()
        if name == pred:
            cols, ours = [c for c in header if c.startswith("p_")], torch.softmax(out, dim=-1).numpy()
        else:
            cols = [c for c in header if c == name or (c.startswith(name + "_") and c[len(name) + 1 :].isdigit())]
            ours = out.reshape(len(rows), -1).numpy()
        arc = np.array([[float(row[c]) for c in cols] for row in predicted])
        diff = float(np.abs(arc - ours).max())
        worst = max(worst, diff)
        print(f"output {name}: max |torch - arc predict| = {diff:.3g}")
    if worst > TOLERANCE:
        print(f"FAIL: tolerance {TOLERANCE}")
        return 1
    print(f"OK (torch {torch.__version__})")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 5:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(*sys.argv[1:]))
