"""PyTorch eager's side of the predictor table (issue 8): the same MLPs as
benches/table/predictor.rs -- iris 4 -> 16 -> ReLU -> 3 and digits
64 -> 128 -> ReLU -> 10 -- called as `model(x)` on one row under
`torch.inference_mode()`, one torch thread. Each of N calls is timed with
`time.perf_counter_ns`, sorted, and p50 / p99 printed as
`case<TAB>value<TAB>unit` rows, named like Arc's rows with a `torch_` prefix.

Weights are PyTorch's default initialisation (the timing does not depend
on their values); the rows are random normal features.

    ~/.cache/arc-anchors/venv/bin/python scripts/bench/torch_predict.py [N=100000]
"""

import sys
import time

import torch

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000

MODELS = {
    "iris": (4, 16, 3),
    "digits": (64, 128, 10),
}


def latency(model, rows):
    times = []
    with torch.inference_mode():
        for i in range(1000):
            model(rows[i % len(rows)])
        clock = time.perf_counter_ns
        for i in range(N):
            x = rows[i % len(rows)]
            start = clock()
            model(x)
            times.append(clock() - start)
    times.sort()
    return times[N // 2], times[N * 99 // 100]


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    print(f"# torch {torch.__version__} eager, inference_mode, 1 thread")
    for name, (n_in, hidden, n_out) in MODELS.items():
        model = torch.nn.Sequential(
            torch.nn.Linear(n_in, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, n_out)
        ).eval()
        rows = [torch.randn(1, n_in) for _ in range(256)]
        p50, p99 = latency(model, rows)
        print(f"torch_predict_row_{name}_p50\t{p50 / 1000:.4f}\tus")
        print(f"torch_predict_row_{name}_p99\t{p99 / 1000:.4f}\tus")


if __name__ == "__main__":
    main()
