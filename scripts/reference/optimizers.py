"""Reference fixtures for Arc's built-in optimizers (arc-builtins/tests/optimizers.rs).

Run with the anchors' venv (PyTorch 2.15 CPU), from the repository root:

    ~/.cache/arc-anchors/venv/bin/python scripts/reference/optimizers.py

Each first-order case trains a tiny MLP (fc1: Linear(4, 5), tanh, fc2: Linear(5, 3), MSE
against a fixed target, float32) for 5 steps with one torch.optim optimizer on its
single-tensor (for-loop) path, and writes arc-builtins/tests/fixtures/optimizers/<case>.json
with: the config (Arc keys), the initial parameters, per step the gradients torch used and
the parameters after the step, and the optimizer state after the last step under Arc's
names (`<param>.<state>`). Floats are float32 values written in full (repr).

LBFGS re-evaluates the loss, so its test runs the objective itself, with Arc's ops. The
MLP is too ill-conditioned for that: in torch alone, perturbing its initial parameters by
1e-7 (relative) moves LBFGS's iterates by ~1e-4 after a few steps, so ulp-level differences
between two correct implementations of tanh and matmul would fail a 1e-4 comparison. The
LBFGS cases minimise instead, over the same four parameter shapes,
`f = sum_i 0.5 a_i p_i^2 + b_i p_i + 0.2 p_i^4` (a_i in [0.05, 5]), where the same
perturbation moves the iterates by < 3e-5; they carry a, b and the loss of each step.
"""
import json
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "arc-builtins", "tests", "fixtures", "optimizers")
STEPS = 5
NAMES = ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
SHAPES = [(5, 4), (5,), (3, 5), (3,)]

CASES = [
    ("sgd", "SGD", {"lr": 0.1}),
    ("sgd_momentum_dampening_wd", "SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01}),
    ("sgd_nesterov", "SGD", {"learning_rate": 0.05, "momentum": 0.9, "nesterov": True}),
    ("sgd_maximize", "SGD", {"lr": 0.1, "momentum": 0.5, "maximize": True}),
    ("adam", "Adam", {"lr": 0.01}),
    ("adam_wd_amsgrad", "Adam", {"lr": 0.01, "betas": [0.8, 0.99], "weight_decay": 0.1, "amsgrad": True}),
    ("adam_maximize", "Adam", {"lr": 0.01, "eps": 1e-6, "maximize": True}),
    ("adamw", "AdamW", {"lr": 0.01}),
    ("adamw_amsgrad", "AdamW", {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}),
    ("rmsprop", "RMSprop", {}),
    ("rmsprop_momentum", "RMSprop", {"lr": 0.01, "momentum": 0.9, "weight_decay": 0.1}),
    ("rmsprop_centered_momentum", "RMSprop", {"lr": 0.01, "alpha": 0.9, "momentum": 0.5, "centered": True}),
    ("rmsprop_centered", "RMSprop", {"lr": 0.01, "centered": True, "eps": 1e-4}),
    ("adagrad", "Adagrad", {"lr": 0.1}),
    ("adagrad_decay_wd", "Adagrad", {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.1,
                                     "initial_accumulator_value": 0.1, "eps": 1e-8}),
    ("adadelta", "Adadelta", {}),
    ("adadelta_wd", "Adadelta", {"lr": 0.5, "rho": 0.8, "weight_decay": 0.1, "maximize": True}),
    ("adamax", "Adamax", {}),
    ("adamax_wd", "Adamax", {"lr": 0.01, "betas": [0.8, 0.9], "weight_decay": 0.1}),
    ("asgd", "ASGD", {}),
    ("asgd_averaging", "ASGD", {"lr": 0.05, "lambd": 0.01, "alpha": 0.5, "t0": 2, "weight_decay": 0.01}),
    ("lbfgs", "LBFGS", {"max_iter": 2}),
    ("lbfgs_short_history", "LBFGS", {"lr": 0.8, "max_iter": 3, "history_size": 2}),
    ("lbfgs_strong_wolfe", "LBFGS", {"max_iter": 2, "line_search_fn": "strong_wolfe"}),
]

# torch's state names that Arc keeps (LBFGS's global state is not compared).
STATE_KEYS = ["step", "momentum_buffer", "exp_avg", "exp_avg_sq", "max_exp_avg_sq", "exp_inf",
              "square_avg", "grad_avg", "sum", "acc_delta", "eta", "mu", "ax"]


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def torch_config(config):
    c = dict(config)
    if "learning_rate" in c:
        c["lr"] = c.pop("learning_rate")
    if "betas" in c:
        c["betas"] = tuple(c["betas"])
    return c


QUARTIC = 0.2


def run_lbfgs(case, config):
    torch.manual_seed(0)
    params = [torch.randn(s).requires_grad_() for s in SHAPES]
    a = [torch.rand(s) * 4.95 + 0.05 for s in SHAPES]
    b = [torch.randn(s) for s in SHAPES]
    opt = torch.optim.LBFGS(params, **torch_config(config))
    out = {
        "case": case,
        "optimizer": "LBFGS",
        "config": config,
        "names": NAMES,
        "shapes": [list(p.shape) for p in params],
        "initial": [flat(p) for p in params],
        "a": [flat(t) for t in a],
        "b": [flat(t) for t in b],
        "quartic": QUARTIC,
        "steps": [],
    }

    def closure():
        opt.zero_grad()
        loss = sum((0.5 * ai * p * p + bi * p + QUARTIC * p**4).sum() for p, ai, bi in zip(params, a, b))
        loss.backward()
        return loss

    for _ in range(STEPS):
        loss = opt.step(closure)
        out["steps"].append({"loss": loss.item(), "params": [flat(p) for p in params]})
    return out


def run(case, kind, config):
    if kind == "LBFGS":
        return run_lbfgs(case, config)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3))
    x, y = torch.randn(6, 4), torch.randn(6, 3)
    params = list(model.parameters())
    opt = getattr(torch.optim, kind)(params, **torch_config(config), foreach=False)
    out = {
        "case": case,
        "optimizer": kind,
        "config": config,
        "names": NAMES,
        "shapes": [list(p.shape) for p in params],
        "initial": [flat(p) for p in params],
        "x": flat(x),
        "y": flat(y),
        "steps": [],
    }

    def closure():
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        return loss

    for _ in range(STEPS):
        loss = closure()
        grads = [flat(p.grad) for p in params]
        opt.step()
        out["steps"].append({"loss": loss.item(), "grads": grads, "params": [flat(p) for p in params]})
    state = {}
    for name, p in zip(NAMES, params):
        for key, value in opt.state[p].items():
            if key in STATE_KEYS:
                state[f"{name}.{key}"] = flat(value) if value.dim() > 0 else float(value)
    out["state"] = state
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    for case, kind, config in CASES:
        with open(os.path.join(OUT, f"{case}.json"), "w") as f:
            json.dump(run(case, kind, config), f, indent=None)
            f.write("\n")
        print(case)


if __name__ == "__main__":
    main()
