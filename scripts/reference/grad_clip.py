"""Reference fixture for Arc's gradient clipping (tests/train_features.rs).

Run with the anchors venv (PyTorch 2.15 CPU):

    ~/.cache/arc-anchors/venv/bin/python scripts/reference/grad_clip.py

Writes tests/fixtures/grad_clip.json: three parameters' gradients (shapes
[2, 3], [3] and [1, 2]) and, for each case, what
`torch.nn.utils.clip_grad_norm_` (the returned total norm and the clipped
gradients) or `torch.nn.utils.clip_grad_value_` leaves in `.grad`. Seeds
are fixed, so the file is reproducible; floats are written as Python reprs
of float32 values, which round-trip exactly.
"""

import json
import math
import os

import torch

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "grad_clip.json")
SHAPES = [[2, 3], [3], [1, 2]]

gen = torch.Generator().manual_seed(20261125)
GRADS = [torch.randn(*s, generator=gen) * 1.5 for s in SHAPES]


def params():
    ps = []
    for g in GRADS:
        p = torch.zeros_like(g, requires_grad=True)
        p.grad = g.clone()
        ps.append(p)
    return ps


def floats(t):
    return [float(x) for x in t.reshape(-1).tolist()]


def norm_case(max_norm, norm_type):
    ps = params()
    total = torch.nn.utils.clip_grad_norm_(ps, max_norm=max_norm, norm_type=norm_type)
    return {
        "kind": "norm",
        "max_norm": max_norm,
        "norm_type": "inf" if math.isinf(norm_type) else norm_type,
        "total_norm": float(total),
        "grads": [floats(p.grad) for p in ps],
    }


def value_case(value):
    ps = params()
    torch.nn.utils.clip_grad_value_(ps, clip_value=value)
    return {"kind": "value", "value": value, "grads": [floats(p.grad) for p in ps]}


cases = [
    norm_case(1.0, 2.0),
    norm_case(0.5, 1.0),
    norm_case(0.75, float("inf")),
    norm_case(2.0, 3.0),
    # Larger than the total norm: PyTorch multiplies by the clamped coefficient 1.
    norm_case(100.0, 2.0),
    value_case(0.5),
    value_case(10.0),
]
doc = {
    "torch": torch.__version__,
    "shapes": SHAPES,
    "grads": [floats(g) for g in GRADS],
    "cases": cases,
}
with open(OUT, "w") as f:
    json.dump(doc, f, indent=1)
    f.write("\n")
print(f"wrote {OUT}: {len(cases)} cases")
