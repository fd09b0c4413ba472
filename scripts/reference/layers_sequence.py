"""Reference fixtures for Arc's sequence layers (MultiHeadAttention,
TransformerEncoderLayer, LSTM, GRU), computed by PyTorch on the CPU.

Run with the anchors' venv (deterministic: every case reseeds):

    ~/.cache/arc-anchors/venv/bin/python scripts/reference/layers_sequence.py

Each case writes arc-builtins/tests/fixtures/layers_sequence/<case>.json with
the layer type and its Arc config, the inputs by port (bool masks as 0/1
with dtype "bool"), every parameter under its state_dict name (in
`named_parameters` order), the output in
eval mode, the upstream gradient `grad_output`, and the gradients of
`sum(output * grad_output)` with respect to the float inputs and the
parameters. Floats are float32 values written as Python floats (exact).
"""

import json
import pathlib

import torch

OUT = pathlib.Path(__file__).resolve().parents[2] / "arc-builtins/tests/fixtures/layers_sequence"


def dump(t):
    t = t.detach()
    dtype = "bool" if t.dtype == torch.bool else "f32"
    data = t.to(torch.float32).reshape(-1).tolist()
    return {"dtype": dtype, "shape": list(t.shape), "data": data}


def run_case(name, layer_type, config, module, inputs, call):
    """`inputs`: list of (port, tensor); float tensors get gradients."""
    module.eval()
    leaves = []
    for port, t in inputs:
        if t.dtype == torch.float32 and "mask" not in port:
            t = t.clone().requires_grad_(True)
        leaves.append((port, t))
    out = call(module, dict(leaves))
    grad_output = torch.randn(out.shape)
    (out * grad_output).sum().backward()
    case = {
        "layer": layer_type,
        "config": config,
        "inputs": [dict(port=p, **dump(t)) for p, t in leaves],
        "params": [dict(name=n, **dump(p)) for n, p in module.named_parameters()],
        "output": dump(out),
        "grad_output": dump(grad_output),
        "input_grads": {p: dump(t.grad) for p, t in leaves if t.requires_grad},
        "param_grads": {n: dump(p.grad) for n, p in module.named_parameters()},
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.json").write_text(json.dumps(case, allow_nan=False))


def mha_call(m, x):
    if "input" in x:
        q = k = v = x["input"]
    else:
        q, k, v = x["query"], x["key"], x["value"]
    out, _ = m(q, k, v, need_weights=False, attn_mask=x.get("attn_mask"),
               key_padding_mask=x.get("key_padding_mask"))
    return out


def mha_cases():
    torch.manual_seed(1)
    config = {"embed_dim": 8, "num_heads": 2}
    m = torch.nn.MultiheadAttention(**config)
    run_case("mha_self_seq_first", "MultiHeadAttention", config, m,
             [("input", torch.randn(4, 2, 8))], mha_call)

    torch.manual_seed(2)
    config = {"embed_dim": 8, "num_heads": 4, "batch_first": True}
    m = torch.nn.MultiheadAttention(**config)
    run_case("mha_cross_batch_first", "MultiHeadAttention", config, m,
             [("query", torch.randn(2, 3, 8)), ("key", torch.randn(2, 5, 8)), ("value", torch.randn(2, 5, 8))],
             mha_call)

    torch.manual_seed(3)
    config = {"embed_dim": 8, "num_heads": 2, "kdim": 6, "vdim": 4, "bias": False}
    m = torch.nn.MultiheadAttention(**config)
    run_case("mha_kdim_vdim_no_bias", "MultiHeadAttention", config, m,
             [("query", torch.randn(3, 2, 8)), ("key", torch.randn(5, 2, 6)), ("value", torch.randn(5, 2, 4))],
             mha_call)

    # Boolean masks: true = not allowed to attend. No row is fully masked.
    torch.manual_seed(4)
    config = {"embed_dim": 8, "num_heads": 2, "batch_first": True}
    m = torch.nn.MultiheadAttention(**config)
    attn_mask = torch.tensor([[False, True, False, False, True],
                              [False, False, True, False, False],
                              [True, False, False, True, False]])
    key_padding_mask = torch.tensor([[False, False, False, False, True],
                                     [False, False, False, True, True]])
    run_case("mha_bool_masks", "MultiHeadAttention", config, m,
             [("query", torch.randn(2, 3, 8)), ("key", torch.randn(2, 5, 8)), ("value", torch.randn(2, 5, 8)),
              ("attn_mask", attn_mask), ("key_padding_mask", key_padding_mask)],
             mha_call)

    # Float masks, added to the scores: a per-head [N*H, L, S] attn_mask, and -1e9 as
    # "-inf" (JSON has no infinities; softmax weighs both 0).
    torch.manual_seed(5)
    config = {"embed_dim": 8, "num_heads": 2}
    m = torch.nn.MultiheadAttention(**config)
    attn_mask = torch.randn(2 * 2, 3, 4)
    key_padding_mask = torch.tensor([[0.0, 0.0, -1.5, 0.0], [0.0, -1e9, 0.0, 0.0]])
    run_case("mha_float_masks", "MultiHeadAttention", config, m,
             [("query", torch.randn(3, 2, 8)), ("key", torch.randn(4, 2, 8)), ("value", torch.randn(4, 2, 8)),
              ("attn_mask", attn_mask), ("key_padding_mask", key_padding_mask)],
             mha_call)


def tel_call(m, x):
    return m(x["src"], src_mask=x.get("src_mask"), src_key_padding_mask=x.get("src_key_padding_mask"))


def transformer_cases():
    torch.manual_seed(11)
    config = {"d_model": 8, "nhead": 2, "dim_feedforward": 16, "dropout": 0.0}
    m = torch.nn.TransformerEncoderLayer(**config)
    kpm = torch.tensor([[False, False, False, False, True], [False, False, True, True, True]])
    run_case("tel_post_norm_relu", "TransformerEncoderLayer", config, m,
             [("src", torch.randn(5, 2, 8)), ("src_key_padding_mask", kpm)], tel_call)

    torch.manual_seed(12)
    config = {"d_model": 8, "nhead": 4, "dim_feedforward": 12, "dropout": 0.0, "activation": "gelu",
              "batch_first": True, "norm_first": True, "layer_norm_eps": 1e-6}
    m = torch.nn.TransformerEncoderLayer(**config)
    run_case("tel_pre_norm_gelu_batch_first", "TransformerEncoderLayer", config, m,
             [("src", torch.randn(2, 4, 8))], tel_call)

    torch.manual_seed(13)
    config = {"d_model": 8, "nhead": 2, "dim_feedforward": 16, "dropout": 0.0, "bias": False,
              "norm_first": True}
    m = torch.nn.TransformerEncoderLayer(**config)
    src_mask = torch.triu(torch.ones(4, 4, dtype=torch.bool), diagonal=1)
    run_case("tel_pre_norm_no_bias_causal", "TransformerEncoderLayer", config, m,
             [("src", torch.randn(4, 3, 8)), ("src_mask", src_mask)], tel_call)


def rnn_call(m, x):
    out, _ = m(x["input"])
    return out


def recurrent_cases():
    for cls in ("LSTM", "GRU"):
        low = cls.lower()
        torch.manual_seed(21)
        config = {"input_size": 3, "hidden_size": 4, "num_layers": 2, "bidirectional": True, "batch_first": True}
        m = getattr(torch.nn, cls)(**config)
        run_case(f"{low}_2layers_bidirectional_batch_first", cls, config, m,
                 [("input", torch.randn(2, 5, 3))], rnn_call)

        torch.manual_seed(22)
        config = {"input_size": 3, "hidden_size": 5}
        m = getattr(torch.nn, cls)(**config)
        run_case(f"{low}_1layer_seq_first", cls, config, m, [("input", torch.randn(6, 2, 3))], rnn_call)

        torch.manual_seed(23)
        config = {"input_size": 2, "hidden_size": 3, "num_layers": 2, "bias": False}
        m = getattr(torch.nn, cls)(**config)
        run_case(f"{low}_2layers_no_bias_unbatched", cls, config, m, [("input", torch.randn(4, 2))], rnn_call)


if __name__ == "__main__":
    torch.set_num_threads(1)
    mha_cases()
    transformer_cases()
    recurrent_cases()
    total = sum(p.stat().st_size for p in OUT.glob("*.json"))
    print(f"wrote {len(list(OUT.glob('*.json')))} fixtures, {total} bytes, to {OUT}")
