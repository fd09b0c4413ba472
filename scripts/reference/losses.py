"""Reference fixtures for Arc's built-in losses (arc-builtins/tests/losses.rs).

Run with the anchors venv (PyTorch 2.15 CPU):

    ~/.cache/arc-anchors/venv/bin/python scripts/reference/losses.py

For each loss it writes arc-builtins/tests/fixtures/losses/<Loss>.json: a list of
cases, each with the loss's config (as YAML params), its inputs (name, dtype,
shape, data, and whether the test differentiates it), the output and the
gradients of sum(output * grad_output) with respect to the differentiated
inputs (grad_output is all ones for a scalar output, fixed random values for
reduction 'none'). Seeds are fixed, so the files are reproducible; floats are
written as Python reprs of float32 values, which round-trip exactly.
"""

import json
import os
import warnings

import torch
import torch.nn as nn

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "arc-builtins", "tests", "fixtures", "losses")
REDUCTIONS = ["mean", "sum", "none"]

gen = torch.Generator().manual_seed(20261125)


def randn(*shape, scale=1.0):
    return torch.randn(*shape, generator=gen) * scale


def rand(*shape, low=0.0, high=1.0):
    return low + (high - low) * torch.rand(*shape, generator=gen)


def signs(*shape):
    return torch.randint(0, 2, shape, generator=gen).float() * 2 - 1


def classes(*shape, c):
    return torch.randint(0, c, shape, generator=gen)


def tensor_json(t):
    t = t.detach()
    data = t.reshape(-1).tolist()
    return {"shape": list(t.shape), "data": data}


def case(module_name, config, inputs, label):
    """inputs: list of (name, tensor, differentiate)."""
    module = getattr(nn, module_name)(**{k: torch.tensor(v) if k in ("weight", "pos_weight") else v for k, v in config.items()})
    leaves = []
    for name, t, diff in inputs:
        t = t.clone()
        if diff:
            t.requires_grad_(True)
        leaves.append((name, t, diff))
    out = module(*[t for _, t, _ in leaves])
    if out.dim() == 0:
        grad_output = torch.ones(())
    else:
        grad_output = randn(*out.shape)
    if any(d for _, _, d in leaves):
        (out * grad_output).sum().backward()
    return {
        "label": label,
        "config": config,
        "inputs": [
            {
                "name": name,
                "dtype": "i64" if t.dtype == torch.int64 else "f32",
                "differentiate": diff,
                **tensor_json(t),
            }
            for name, t, diff in leaves
        ],
        "output": tensor_json(out),
        "grad_output": tensor_json(grad_output),
        "grads": [tensor_json(t.grad) if diff else None for _, t, diff in leaves],
    }


def with_reductions(module_name, make_inputs, base=None, label=""):
    base = base or {}
    return [case(module_name, {**base, "reduction": r}, make_inputs(), f"{label}reduction={r}") for r in REDUCTIONS]


def pair(shape, target=None):
    def make():
        return [("pred", randn(*shape), True), ("target", target() if target else randn(*shape), False)]

    return make


def regression():
    out = {}
    out["MSELoss"] = with_reductions("MSELoss", pair((4, 3))) + [case("MSELoss", {}, pair((2, 3, 2))(), "3-D, defaults")]
    out["L1Loss"] = with_reductions("L1Loss", pair((4, 3))) + [case("L1Loss", {}, pair((5,))(), "1-D, defaults")]
    out["SmoothL1Loss"] = (
        with_reductions("SmoothL1Loss", lambda: [("pred", randn(4, 3, scale=1.5), True), ("target", randn(4, 3), False)])
        + [case("SmoothL1Loss", {"beta": 0.5}, pair((4, 3))(), "beta=0.5")]
        + [case("SmoothL1Loss", {"beta": 2.0, "reduction": "none"}, pair((4, 3))(), "beta=2 none")]
        + [case("SmoothL1Loss", {"beta": 0.0}, pair((4, 3))(), "beta=0 (L1)")]
    )
    out["HuberLoss"] = (
        with_reductions("HuberLoss", lambda: [("pred", randn(4, 3, scale=1.5), True), ("target", randn(4, 3), False)])
        + [case("HuberLoss", {"delta": 0.7}, pair((4, 3))(), "delta=0.7")]
        + [case("HuberLoss", {"delta": 2.5, "reduction": "sum"}, pair((4, 3))(), "delta=2.5 sum")]
    )
    counts = lambda: torch.poisson(rand(4, 3, low=0.5, high=4.0), generator=gen)  # noqa: E731
    out["PoissonNLLLoss"] = (
        with_reductions("PoissonNLLLoss", lambda: [("pred", randn(4, 3, scale=0.5), True), ("target", counts(), False)])
        + [case("PoissonNLLLoss", {"log_input": False}, [("pred", rand(4, 3, low=0.1, high=3.0), True), ("target", counts(), False)], "log_input=false")]
        + [case("PoissonNLLLoss", {"full": True, "reduction": "none"}, [("pred", randn(4, 3, scale=0.5), True), ("target", counts(), False)], "full none")]
        + [case("PoissonNLLLoss", {"full": True, "log_input": False, "eps": 0.01}, [("pred", rand(4, 3, low=0.1, high=3.0), True), ("target", counts(), False)], "full, log_input=false, eps=0.01")]
    )

    def kl_inputs(log_target=False):
        def make():
            pred = torch.log_softmax(randn(3, 5), dim=1)
            target = torch.softmax(randn(3, 5, scale=2.0), dim=1)
            target[0, 1] = 0.0  # 0 log 0 = 0
            if log_target:
                target = torch.log_softmax(randn(3, 5), dim=1)
            return [("pred", pred, True), ("target", target, False)]

        return make

    out["KLDivLoss"] = (
        [case("KLDivLoss", {"reduction": r}, kl_inputs()(), f"reduction={r}") for r in REDUCTIONS + ["batchmean"]]
        + [case("KLDivLoss", {"log_target": True, "reduction": "batchmean"}, kl_inputs(True)(), "log_target batchmean")]
        + [case("KLDivLoss", {"log_target": True, "reduction": "none"}, kl_inputs(True)(), "log_target none")]
    )
    return out


def classification():
    out = {}
    n, c = 5, 4

    def ce_idx(shape=(n, c), ignore=None):
        def make():
            x = randn(*shape, scale=1.5)
            tshape = (shape[0],) + tuple(shape[2:]) if len(shape) > 1 else ()
            t = classes(*tshape, c=shape[1] if len(shape) > 1 else shape[0])
            if ignore is not None:
                t.view(-1)[1] = ignore
                t.view(-1)[3] = ignore
            return [("pred", x, True), ("target", t, False)]

        return make

    w = [0.5, 2.0, 1.0, 1.5]
    ce = with_reductions("CrossEntropyLoss", ce_idx())
    ce += with_reductions("CrossEntropyLoss", ce_idx(), {"weight": w}, "weight ")
    ce += [case("CrossEntropyLoss", {"ignore_index": 2}, ce_idx(ignore=2)(), "ignore_index=2")]
    ce += [case("CrossEntropyLoss", {"ignore_index": -1, "weight": w, "reduction": "none"}, ce_idx(ignore=-1)(), "ignore_index=-1 weight none")]
    ce += [case("CrossEntropyLoss", {"label_smoothing": 0.1}, ce_idx()(), "label_smoothing=0.1")]
    ce += [case("CrossEntropyLoss", {"label_smoothing": 0.2, "weight": w}, ce_idx(ignore=-100)(), "label_smoothing=0.2 weight ignored")]
    ce += [case("CrossEntropyLoss", {"label_smoothing": 0.2, "weight": w, "reduction": "sum"}, ce_idx()(), "label_smoothing=0.2 weight sum")]
    ce += [case("CrossEntropyLoss", {"reduction": r}, ce_idx((2, c, 3, 2))(), f"4-D reduction={r}") for r in REDUCTIONS]
    ce += [case("CrossEntropyLoss", {"weight": w}, ce_idx((2, c, 3))(), "3-D weight")]
    ce += [case("CrossEntropyLoss", {}, ce_idx((c,))(), "1-D input, scalar target")]

    def ce_prob(shape=(n, c)):
        def make():
            x = randn(*shape, scale=1.5)
            t = torch.softmax(randn(*shape, scale=2.0), dim=1)
            return [("pred", x, True), ("target", t, False)]

        return make

    ce += with_reductions("CrossEntropyLoss", ce_prob(), label="probabilities ")
    ce += [case("CrossEntropyLoss", {"weight": w, "label_smoothing": 0.15}, ce_prob()(), "probabilities weight label_smoothing")]
    ce += [case("CrossEntropyLoss", {"weight": w, "reduction": "none"}, ce_prob((2, c, 3))(), "probabilities 3-D weight none")]
    out["CrossEntropyLoss"] = ce

    def nll(shape=(n, c), ignore=None):
        def make():
            [(_, x, _), (_, t, _)] = ce_idx(shape, ignore)()
            return [("pred", torch.log_softmax(x, dim=1 if len(shape) > 1 else 0), True), ("target", t, False)]

        return make

    nl = with_reductions("NLLLoss", nll())
    nl += with_reductions("NLLLoss", nll(), {"weight": w}, "weight ")
    nl += [case("NLLLoss", {"ignore_index": 1}, nll(ignore=1)(), "ignore_index=1")]
    nl += [case("NLLLoss", {"ignore_index": 0, "weight": w, "reduction": "sum"}, nll(ignore=0)(), "ignore_index=0 weight sum")]
    nl += [case("NLLLoss", {"reduction": r, "weight": w}, nll((2, c, 3))(), f"3-D weight reduction={r}") for r in REDUCTIONS]
    nl += [case("NLLLoss", {"reduction": "none"}, nll((c,))(), "1-D input none")]
    out["NLLLoss"] = nl
    return out


def binary():
    out = {}

    def bce(shape=(4, 3), edge=False):
        def make():
            x = rand(*shape, low=0.02, high=0.98)
            y = rand(*shape)
            y[0, 0] = 1.0
            y[1, 1] = 0.0
            if edge:
                x[0, 0], x[0, 1], x[2, 2] = 1.0, 0.0, 1.0
            return [("pred", x, True), ("target", y, False)]

        return make

    out["BCELoss"] = (
        with_reductions("BCELoss", bce())
        + with_reductions("BCELoss", bce(), {"weight": [0.5, 1.0, 2.0]}, "weight ")
        + [case("BCELoss", {"reduction": "none"}, bce(edge=True)(), "saturated 0 and 1, none")]
        + [case("BCELoss", {"weight": [3.0]}, bce()(), "one weight")]
    )

    def logits(shape=(4, 3), scale=2.0, big=False):
        def make():
            x = randn(*shape, scale=scale)
            if big:
                x[0, 0], x[1, 1], x[2, 2], x[3, 0] = 40.0, -40.0, 90.0, -90.0
            y = rand(*shape)
            y[0, 1] = 1.0
            y[1, 2] = 0.0
            return [("pred", x, True), ("target", y, False)]

        return make

    pw = [0.5, 3.0, 1.5]
    out["BCEWithLogitsLoss"] = (
        with_reductions("BCEWithLogitsLoss", logits())
        + with_reductions("BCEWithLogitsLoss", logits(), {"pos_weight": pw}, "pos_weight ")
        + [case("BCEWithLogitsLoss", {"weight": [2.0, 0.5, 1.0]}, logits()(), "weight")]
        + [case("BCEWithLogitsLoss", {"weight": [2.0, 0.5, 1.0], "pos_weight": pw, "reduction": "none"}, logits()(), "weight pos_weight none")]
        + [case("BCEWithLogitsLoss", {"reduction": "none"}, logits(big=True)(), "large logits none")]
        + [case("BCEWithLogitsLoss", {"pos_weight": [2.0]}, logits((2, 3, 3))(), "3-D one pos_weight")]
    )

    def multilabel(shape=(4, 5)):
        def make():
            return [("pred", randn(*shape, scale=2.0), True), ("target", (rand(*shape) > 0.5).float(), False)]

        return make

    out["MultiLabelSoftMarginLoss"] = (
        with_reductions("MultiLabelSoftMarginLoss", multilabel())
        + [case("MultiLabelSoftMarginLoss", {"weight": [1.0, 2.0, 0.5, 1.0, 3.0], "reduction": r}, multilabel()(), f"weight reduction={r}") for r in ["mean", "none"]]
        + [case("MultiLabelSoftMarginLoss", {"reduction": "none"}, multilabel((5,))(), "1-D none")]
    )
    return out


def margin():
    out = {}

    def ranking(shape=(6,)):
        def make():
            return [("input1", randn(*shape), True), ("input2", randn(*shape), True), ("target", signs(*shape), False)]

        return make

    out["MarginRankingLoss"] = (
        with_reductions("MarginRankingLoss", ranking())
        + [case("MarginRankingLoss", {"margin": 0.5, "reduction": r}, ranking()(), f"margin=0.5 reduction={r}") for r in ["mean", "none"]]
        + [case("MarginRankingLoss", {"margin": 0.3}, ranking((3, 2))(), "2-D margin=0.3")]
    )

    def hinge(shape=(4, 3)):
        def make():
            return [("pred", rand(*shape, low=-0.5, high=2.5), True), ("target", signs(*shape), False)]

        return make

    out["HingeEmbeddingLoss"] = (
        with_reductions("HingeEmbeddingLoss", hinge())
        + [case("HingeEmbeddingLoss", {"margin": 2.0, "reduction": r}, hinge()(), f"margin=2 reduction={r}") for r in ["mean", "none"]]
        + [case("HingeEmbeddingLoss", {"reduction": "none"}, [("pred", rand(6, low=-0.5, high=2.5), True), ("target", signs(6).long(), False)], "i64 target none")]
    )

    def mlm(n=4, c=5, one_d=False):
        def make():
            x = randn(n, c, scale=1.5)
            t = torch.full((n, c), -1, dtype=torch.int64)
            t[0, :2] = torch.tensor([3, 0])
            t[1, :1] = torch.tensor([4])
            t[2, :4] = torch.tensor([1, 2, 1, 0])  # a repeated target counts twice
            t[3, :3] = torch.tensor([2, -1, 4])  # ends at the first -1
            if one_d:
                return [("pred", x[0], True), ("target", t[0], False)]
            return [("pred", x, True), ("target", t, False)]

        return make

    out["MultiLabelMarginLoss"] = with_reductions("MultiLabelMarginLoss", mlm()) + [
        case("MultiLabelMarginLoss", {"reduction": r}, mlm(one_d=True)(), f"1-D reduction={r}") for r in ["mean", "none"]
    ]

    def mm(n=5, c=4):
        def make():
            return [("pred", randn(n, c, scale=1.0), True), ("target", classes(n, c=c), False)]

        return make

    w = [0.5, 2.0, 1.0, 1.5]
    out["MultiMarginLoss"] = (
        with_reductions("MultiMarginLoss", mm())
        + with_reductions("MultiMarginLoss", mm(), {"p": 2}, "p=2 ")
        + [case("MultiMarginLoss", {"margin": 0.5}, mm()(), "margin=0.5")]
        + [case("MultiMarginLoss", {"weight": w, "reduction": r}, mm()(), f"weight reduction={r}") for r in ["mean", "none"]]
        + [case("MultiMarginLoss", {"weight": w, "p": 2, "margin": 1.5, "reduction": "sum"}, mm()(), "weight p=2 margin=1.5 sum")]
        + [case("MultiMarginLoss", {"reduction": "none"}, [("pred", randn(4), True), ("target", classes(1, c=4), False)], "1-D none")]
        + [case("MultiMarginLoss", {"reduction": "none"}, [("pred", randn(4), True), ("target", classes(c=4).reshape(()), False)], "1-D scalar target none")]
    )

    def triplet(shape=(5, 3)):
        def make():
            a = randn(*shape)
            return [("anchor", a, True), ("positive", a + randn(*shape, scale=0.8), True), ("negative", randn(*shape, scale=1.2), True)]

        return make

    out["TripletMarginLoss"] = (
        with_reductions("TripletMarginLoss", triplet())
        + [case("TripletMarginLoss", {"p": 1.0, "reduction": "none"}, triplet()(), "p=1 none")]
        + [case("TripletMarginLoss", {"p": 3.0}, triplet()(), "p=3")]
        + [case("TripletMarginLoss", {"swap": True, "reduction": "none"}, triplet()(), "swap none")]
        + [case("TripletMarginLoss", {"margin": 0.5, "eps": 1e-3, "reduction": "sum"}, triplet()(), "margin=0.5 eps=1e-3 sum")]
        + [case("TripletMarginLoss", {"margin": 2.0}, triplet((4,))(), "1-D margin=2")]
    )

    def cosine(n=6, d=3, one_d=False):
        def make():
            x1 = randn(n, d)
            x2 = x1 * 0.5 + randn(n, d)
            y = signs(n)
            if one_d:
                return [("input1", x1[0], True), ("input2", x2[0], True), ("target", y[0], False)]
            return [("input1", x1, True), ("input2", x2, True), ("target", y, False)]

        return make

    out["CosineEmbeddingLoss"] = (
        with_reductions("CosineEmbeddingLoss", cosine())
        + [case("CosineEmbeddingLoss", {"margin": 0.3, "reduction": r}, cosine()(), f"margin=0.3 reduction={r}") for r in ["mean", "none"]]
        + [case("CosineEmbeddingLoss", {"margin": -0.2}, cosine(one_d=True)(), "1-D margin=-0.2")]
        + [case("CosineEmbeddingLoss", {"reduction": "none"}, [(n, t.long() if n == "target" else t, d) for n, t, d in cosine()()], "i64 target none")]
    )
    return out


def main():
    # KLDivLoss's 'mean' is tested on purpose (its FutureWarning says 'batchmean' is the true KL).
    warnings.filterwarnings("ignore", message="reduction: 'mean' divides the total loss")
    os.makedirs(OUT, exist_ok=True)
    torch.set_default_dtype(torch.float32)
    fixtures = {}
    for group in (regression, classification, binary, margin):
        fixtures.update(group())
    for name, cases in fixtures.items():
        with open(os.path.join(OUT, f"{name}.json"), "w") as f:
            json.dump({"loss": name, "torch": torch.__version__, "cases": cases}, f, indent=None, separators=(",", ":"))
            f.write("\n")
    print(f"wrote {sum(len(c) for c in fixtures.values())} cases for {len(fixtures)} losses to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
