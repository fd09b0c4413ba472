"""PyTorch's side of benches/sequence_layers.rs: forward + backward of
MultiheadAttention (batch 32, seq 64, embed 256, 8 heads, self-attention,
batch_first) and LSTM (batch 32, seq 64, input 256, hidden 256, 1 layer) on
2 threads. Prints `case<TAB>value<TAB>unit` rows, median of 5 repeats of
~0.2 s each (the anchors' method).

    ~/.cache/arc-anchors/venv/bin/python scripts/bench/torch_sequence_layers.py
"""

import statistics
import time

import torch


def us_per_call(f):
    n = 1
    while True:
        start = time.perf_counter()
        for _ in range(n):
            f()
        t = time.perf_counter() - start
        if t >= 0.02:
            n = max(1, int(n * 0.2 / t))
            break
        n *= 10
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(n):
            f()
        runs.append((time.perf_counter() - start) / n * 1e6)
    return statistics.median(runs)


def fwd_bwd(module, x, gy, call):
    def step():
        module.zero_grad(set_to_none=False)
        x.grad = None
        call(module, x).backward(gy)
    return us_per_call(step)


def main():
    torch.set_num_threads(2)
    torch.manual_seed(0)
    mha = torch.nn.MultiheadAttention(256, 8, batch_first=True)
    x = torch.randn(32, 64, 256, requires_grad=True)
    gy = torch.randn(32, 64, 256)
    us = fwd_bwd(mha, x, gy, lambda m, x: m(x, x, x, need_weights=False)[0])
    print(f"mha_b32_s64_d256_h8_fwd_bwd\t{us:.1f}\tus/call")

    lstm = torch.nn.LSTM(256, 256)
    x = torch.randn(64, 32, 256, requires_grad=True)
    gy = torch.randn(64, 32, 256)
    us = fwd_bwd(lstm, x, gy, lambda m, x: m(x)[0])
    print(f"lstm_b32_s64_h256_fwd_bwd\t{us:.1f}\tus/call")


if __name__ == "__main__":
    main()
