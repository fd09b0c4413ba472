#!/usr/bin/env python3
"""Reference fixtures for Arc's basic built-in layers (arc-builtins/src/layers/basic/).

Run with the anchors' venv (PyTorch 2.15 CPU + NumPy):

    ~/.cache/arc-anchors/venv/bin/python scripts/reference/layers_basic.py

Writes one JSON file per case under arc-builtins/tests/fixtures/layers_basic/. Each case holds
the layer's type and YAML params, its parameter values (loaded into the Arc layer by their
state_dict names), and a list of steps run in order on the same layer. Each step records the
mode (train/eval), the named inputs, a fixed random `grad_output` g, the output y, and the
gradients of `sum(y * g)` with respect to every float input and every parameter (parameter
gradients are zeroed between steps). `buffers` and `params_after` are the state after all
steps (BatchNorm1d's running statistics, Embedding's max_norm renormalised weight).

Tensors are `{"shape": [...], "dtype": "f32" | "i64", "data": [...]}`; f32 values are written
as the exact doubles of the float32 numbers, so they round-trip bit for bit. Everything is
seeded, so reruns give identical files.
"""

import json
import os

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "arc-builtins", "tests", "fixtures", "layers_basic")


def enc(t):
    """A tensor (or array) as fixture JSON."""
    t = torch.as_tensor(t).detach()
    if t.dtype in (torch.int64, torch.int32):
        return {"shape": list(t.shape), "dtype": "i64", "data": [int(v) for v in t.reshape(-1).tolist()]}
    t = t.to(torch.float32)
    return {"shape": list(t.shape), "dtype": "f32", "data": [float(v) for v in t.reshape(-1).tolist()]}


def randn(gen, *shape, scale=1.0):
    return torch.randn(*shape, generator=gen) * scale


def run_steps(module, fn, steps, gen):
    """Runs `fn(*inputs)` for each (mode, inputs dict) step and records everything."""
    out_steps = []
    for mode, inputs in steps:
        if module is not None:
            module.train(mode == "train")
            for p in module.parameters():
                p.grad = None
        leaves = {}
        for name, value in inputs.items():
            if value.dtype == torch.float32:
                leaves[name] = value.clone().requires_grad_(True)
            else:
                leaves[name] = value.clone()
        y = fn(*leaves.values())
        g = randn(gen, *y.shape)
        (y * g).sum().backward()
        step = {
            "mode": mode,
            "inputs": {k: enc(v) for k, v in inputs.items()},
            "grad_output": enc(g),
            "output": enc(y),
            "input_grads": {k: enc(v.grad) for k, v in leaves.items() if v.dtype == torch.float32},
            "param_grads": {},
        }
        if module is not None:
            for name, p in module.named_parameters():
                step["param_grads"][name] = enc(p.grad if p.grad is not None else torch.zeros_like(p))
        out_steps.append(step)
    return out_steps


def case(name, layer_type, config, module, steps, gen, fn=None, params_after=False):
    params = {} if module is None else {k: enc(v) for k, v in module.named_parameters()}
    recorded = run_steps(module, fn or module, steps, gen)
    data = {"type": layer_type, "config": config, "params": params, "steps": recorded}
    if module is not None:
        data["buffers"] = {k: enc(v) for k, v in module.named_buffers()}
        if params_after:
            data["params_after"] = {k: enc(v) for k, v in module.named_parameters()}
    with open(os.path.join(OUT, f"{name}.json"), "w") as f:
        json.dump(data, f, separators=(",", ":"))
        f.write("\n")


def randomize(module, gen):
    """Replaces every parameter by N(0, 1) draws so gradients are non-trivial."""
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(randn(gen, *p.shape))


def sinusoid_table(max_len, d_model):
    """pe[pos, 2i] = sin(pos / 10000^(2i/d)), pe[pos, 2i+1] = cos(pos / 10000^(2i/d)), in f64."""
    pos = np.arange(max_len, dtype=np.float64)[:, None]
    two_i = np.arange(0, d_model, 2, dtype=np.float64)[None, :]
    angle = pos / np.power(10000.0, two_i / d_model)
    pe = np.zeros((max_len, d_model), dtype=np.float64)
    pe[:, 0::2] = np.sin(angle)
    pe[:, 1::2] = np.cos(angle[:, : d_model // 2])
    return torch.from_numpy(pe.astype(np.float32))


def main():
    os.makedirs(OUT, exist_ok=True)
    for old in os.listdir(OUT):
        if old.endswith(".json"):
            os.remove(os.path.join(OUT, old))
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1234)
    nn = torch.nn

    # Linear: y = x W^T + b.
    m = nn.Linear(5, 3)
    case("linear", "Linear", {"in_features": 5, "out_features": 3}, m, [("train", {"input": randn(gen, 4, 5)})], gen)
    m = nn.Linear(4, 6, bias=False)
    case("linear_no_bias_3d", "Linear", {"in_features": 4, "out_features": 6, "bias": False}, m,
         [("train", {"input": randn(gen, 2, 3, 4)})], gen)

    # Activations.
    for name in ["ReLU", "Sigmoid", "Tanh"]:
        case(name.lower(), name, {}, getattr(nn, name)(), [("train", {"input": randn(gen, 3, 5, scale=2.0)})], gen)
    case("gelu", "GELU", {}, nn.GELU(), [("train", {"input": randn(gen, 4, 6, scale=2.0)})], gen)
    case("gelu_tanh", "GELU", {"approximate": "tanh"}, nn.GELU(approximate="tanh"),
         [("train", {"input": randn(gen, 4, 6, scale=2.0)})], gen)
    case("softmax_last_dim", "Softmax", {}, nn.Softmax(dim=-1), [("train", {"input": randn(gen, 3, 4, 5)})], gen)
    case("softmax_dim1", "Softmax", {"dim": 1}, nn.Softmax(dim=1), [("train", {"input": randn(gen, 3, 4, 5)})], gen)

    # Dropout in eval mode is the identity (train mode is checked statistically in Rust).
    case("dropout_eval", "Dropout", {"p": 0.3}, nn.Dropout(p=0.3), [("eval", {"input": randn(gen, 4, 5)})], gen)

    # BatchNorm1d: two train steps (batch statistics, running-stat updates), then eval.
    m = nn.BatchNorm1d(4)
    randomize(m, gen)
    case("batchnorm_2d", "BatchNorm1d", {"num_features": 4}, m,
         [("train", {"input": randn(gen, 6, 4, scale=2.0) + 1.0}),
          ("train", {"input": randn(gen, 6, 4) - 0.5}),
          ("eval", {"input": randn(gen, 5, 4)})], gen)
    m = nn.BatchNorm1d(3, eps=1e-3, momentum=None)
    randomize(m, gen)
    case("batchnorm_3d_cumulative", "BatchNorm1d", {"num_features": 3, "eps": 1e-3, "momentum": None}, m,
         [("train", {"input": randn(gen, 4, 3, 5) + 2.0}),
          ("train", {"input": randn(gen, 4, 3, 5, scale=3.0)}),
          ("eval", {"input": randn(gen, 2, 3, 5)})], gen)
    m = nn.BatchNorm1d(3, momentum=0.3, affine=False, track_running_stats=False)
    case("batchnorm_no_affine_no_stats", "BatchNorm1d",
         {"num_features": 3, "momentum": 0.3, "affine": False, "track_running_stats": False}, m,
         [("train", {"input": randn(gen, 5, 3)}), ("eval", {"input": randn(gen, 4, 3, 2)})], gen)

    # LayerNorm.
    m = nn.LayerNorm(6)
    randomize(m, gen)
    case("layernorm", "LayerNorm", {"normalized_shape": 6}, m, [("train", {"input": randn(gen, 3, 6)})], gen)
    m = nn.LayerNorm([3, 4], eps=1e-3)
    randomize(m, gen)
    case("layernorm_2d_shape", "LayerNorm", {"normalized_shape": [3, 4], "eps": 1e-3}, m,
         [("train", {"input": randn(gen, 2, 3, 4, scale=2.0)})], gen)
    m = nn.LayerNorm(5, bias=False)
    randomize(m, gen)
    case("layernorm_no_bias", "LayerNorm", {"normalized_shape": [5], "bias": False}, m,
         [("train", {"input": randn(gen, 2, 3, 5)})], gen)
    m = nn.LayerNorm(5, elementwise_affine=False)
    case("layernorm_no_affine", "LayerNorm", {"normalized_shape": 5, "elementwise_affine": False}, m,
         [("train", {"input": randn(gen, 4, 5)})], gen)

    # Embedding.
    ids = lambda *shape, n: torch.randint(0, n, shape, generator=gen)  # noqa: E731
    m = nn.Embedding(10, 4)
    case("embedding", "Embedding", {"num_embeddings": 10, "embedding_dim": 4}, m,
         [("train", {"input": ids(2, 3, n=10)})], gen)
    m = nn.Embedding(10, 4, padding_idx=1)
    with torch.no_grad():  # a non-zero padding row: it must still get no gradient
        m.weight[1] = randn(gen, 4)
    case("embedding_padding_idx", "Embedding", {"num_embeddings": 10, "embedding_dim": 4, "padding_idx": 1}, m,
         [("train", {"input": torch.tensor([[1, 3, 1, 5], [2, 1, 9, 3]])})], gen)
    m = nn.Embedding(6, 3, padding_idx=-2)
    case("embedding_negative_padding_idx", "Embedding", {"num_embeddings": 6, "embedding_dim": 3, "padding_idx": -2},
         m, [("train", {"input": torch.tensor([4, 0, 4, 2, 5])})], gen)
    m = nn.Embedding(8, 5, max_norm=1.5)
    case("embedding_max_norm", "Embedding", {"num_embeddings": 8, "embedding_dim": 5, "max_norm": 1.5}, m,
         [("train", {"input": torch.tensor([[0, 2, 2], [7, 3, 0]])})], gen, params_after=True)
    m = nn.Embedding(8, 3, max_norm=2.0, norm_type=1.0)
    case("embedding_max_norm_l1", "Embedding",
         {"num_embeddings": 8, "embedding_dim": 3, "max_norm": 2.0, "norm_type": 1.0}, m,
         [("train", {"input": torch.tensor([1, 4, 6, 1])})], gen, params_after=True)
    m = nn.Embedding(7, 3, scale_grad_by_freq=True, padding_idx=0)
    case("embedding_scale_grad_by_freq", "Embedding",
         {"num_embeddings": 7, "embedding_dim": 3, "scale_grad_by_freq": True, "padding_idx": 0}, m,
         [("train", {"input": torch.tensor([[2, 2, 5], [2, 0, 6], [5, 1, 0]])})], gen)

    # PositionalEncoding: x + pe[:L] with the f64 NumPy table above (dropout off or eval).
    pe = sinusoid_table(50, 8)
    case("positional_encoding_eval", "PositionalEncoding", {"d_model": 8, "max_len": 50}, None,
         [("eval", {"input": randn(gen, 2, 5, 8)})], gen, fn=lambda x: x + pe[: x.shape[1]].unsqueeze(0))
    pe = sinusoid_table(5000, 7)
    case("positional_encoding_seq_first_odd", "PositionalEncoding",
         {"d_model": 7, "dropout": 0.0, "batch_first": False}, None,
         [("train", {"input": randn(gen, 40, 2, 7)})], gen, fn=lambda x: x + pe[: x.shape[0]].unsqueeze(1))
    # Table rows far along the sequence, against which Rust checks `0 + pe` on a [1, 5000, d] input.
    rows = [0, 1, 2, 37, 1000, 4998, 4999]
    tables = {}
    for d in [16, 7]:
        pe = sinusoid_table(5000, d)
        tables[str(d)] = {"positions": rows, "rows": enc(pe[rows])}
    with open(os.path.join(OUT, "positional_encoding_table.json"), "w") as f:
        json.dump({"max_len": 5000, "d_model": tables}, f, separators=(",", ":"))
        f.write("\n")

    # Multi-input layers: ports input_0, input_1, ...
    case("concatenate", "Concatenate", {"num_inputs": 3}, None,
         [("train", {"input_0": randn(gen, 2, 3), "input_1": randn(gen, 2, 4), "input_2": randn(gen, 2, 1)})], gen,
         fn=lambda a, b, c: torch.cat([a, b, c], dim=-1))
    case("concatenate_dim0", "Concatenate", {"dim": 0}, None,
         [("train", {"input_0": randn(gen, 2, 3, 2), "input_1": randn(gen, 1, 3, 2)})], gen,
         fn=lambda a, b: torch.cat([a, b], dim=0))
    case("add", "Add", {}, None, [("train", {"input_0": randn(gen, 3, 4), "input_1": randn(gen, 3, 4)})], gen,
         fn=lambda a, b: a + b)
    case("add_broadcast", "Add", {"num_inputs": 3}, None,
         [("train", {"input_0": randn(gen, 2, 3), "input_1": randn(gen, 3), "input_2": randn(gen, 2, 1)})], gen,
         fn=lambda a, b, c: a + b + c)

    # Flatten.
    case("flatten", "Flatten", {}, nn.Flatten(), [("train", {"input": randn(gen, 2, 3, 4)})], gen)
    case("flatten_0_1", "Flatten", {"start_dim": 0, "end_dim": 1}, nn.Flatten(0, 1),
         [("train", {"input": randn(gen, 2, 3, 4)})], gen)
    case("flatten_middle", "Flatten", {"start_dim": -3, "end_dim": -2}, nn.Flatten(-3, -2),
         [("train", {"input": randn(gen, 2, 3, 4, 2)})], gen)

    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {len(os.listdir(OUT))} fixtures, {total} bytes, to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
