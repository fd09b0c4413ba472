#!/usr/bin/env python3
"""PyTorch's side of the digits training benchmark: what
`arc train examples/specs/digits.yaml --data examples/data/digits.csv --epochs 20`
does, written as a PyTorch user would, in one process.

The same work as Arc's trainer (arc-core/src/train/mod.rs):
- read the CSV (the standard library's csv module into a NumPy array; no pandas);
- hold out a seeded 20% validation split;
- fit MinMaxNormalization (scikit-learn's MinMaxScaler: (x - min) / (max - min), a
  constant feature's range taken as 1) on the training rows, apply it to both splits;
- label-encode `digit` (sorted distinct values);
- a 64-128-10 MLP (Linear, ReLU, Linear; PyTorch's default init), Adam (lr 0.003,
  PyTorch's defaults otherwise), CrossEntropyLoss (mean), batch 32, the training rows
  shuffled every epoch, 20 epochs; each batch's loss read back (`.item()`, as Arc does
  to stop on a NaN);
- after each epoch, in eval mode without autograd: the validation loss, accuracy and
  macro-F1, one printed line per epoch;
- write a model directory (weights, scaler state, label classes, history) to a
  temporary directory renamed into place.

Threads: torch.set_num_threads(2) (the machine's 2 cores; Arc's rayon pool is 2 too), or
the 4th argument (scripts/bench/train_digits.sh also runs 1: on a loaded 2-core host
PyTorch's OpenMP threads spin-wait for each other and 2 threads can be 50x slower).

Prints the times it measured itself on stderr as `TIME name seconds` lines:
`imports` (torch and numpy), `read` (the CSV), `train` (split, scaler, model,
20 epochs, save: the span Arc reports as "model written ... in X s") and `loop`
(the 20 epochs alone). The whole process, interpreter start included, is timed
from outside by scripts/bench/train_digits.sh.

usage: torch_digits_train.py [DATA=examples/data/digits.csv] [OUT=target/torch-digits-model] [EPOCHS=20] [THREADS=2]
"""

import time

T0 = time.perf_counter()

import csv  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

T_IMPORTS = time.perf_counter()

SEED = 42
BATCH = 32
LR = 0.003
HIDDEN = 128
VALIDATION = 0.2


def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    data = np.array(body, dtype=np.float64)
    target = header.index("digit")
    features = [j for j in range(len(header)) if j != target]
    return data[:, features], data[:, target]


def macro_f1(pred, target, classes):
    f1s = []
    for c in range(classes):
        tp = ((pred == c) & (target == c)).sum().item()
        fp = ((pred == c) & (target != c)).sum().item()
        fn = ((pred != c) & (target == c)).sum().item()
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return sum(f1s) / classes


def save(out, model, low, scale, classes, history):
    parent = os.path.dirname(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{os.path.basename(out)}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    torch.save(model.state_dict(), os.path.join(tmp, "model.pt"))
    with open(os.path.join(tmp, "processors.json"), "w") as f:
        json.dump({"min": low.tolist(), "scale": scale.tolist(), "classes": classes}, f)
    with open(os.path.join(tmp, "history.json"), "w") as f:
        json.dump(history, f)
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)


def main():
    data = sys.argv[1] if len(sys.argv) > 1 else "examples/data/digits.csv"
    out = sys.argv[2] if len(sys.argv) > 2 else "target/torch-digits-model"
    epochs = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    threads = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    torch.set_num_threads(threads)
    torch.manual_seed(SEED)

    x_all, y_all = read_csv(data)
    t_read = time.perf_counter()

    # The split, the scaler fitted on the training rows, the labels.
    rng = np.random.default_rng(SEED)
    order = rng.permutation(len(x_all))
    n_val = round(len(x_all) * VALIDATION)
    val_rows, train_rows = np.sort(order[:n_val]), np.sort(order[n_val:])
    low = x_all[train_rows].min(axis=0)
    span = x_all[train_rows].max(axis=0) - low
    scale = np.where(span == 0, 1.0, span)
    classes = sorted(set(y_all[train_rows].tolist()))
    code = {c: i for i, c in enumerate(classes)}

    def prepare(rows):
        x = torch.from_numpy(((x_all[rows] - low) / scale).astype(np.float32))
        y = torch.tensor([code[v] for v in y_all[rows].tolist()], dtype=torch.int64)
        return x, y

    x_train, y_train = prepare(train_rows)
    x_val, y_val = prepare(val_rows)

    model = torch.nn.Sequential(
        torch.nn.Linear(x_train.shape[1], HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, len(classes))
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(SEED)
    history = []
    t_loop = time.perf_counter()
    for epoch in range(1, epochs + 1):
        model.train()
        total = 0.0
        for batch in torch.randperm(len(x_train), generator=generator).split(BATCH):
            optimizer.zero_grad()
            loss = loss_fn(model(x_train[batch]), y_train[batch])
            value = loss.item()
            if value != value or value in (float("inf"), float("-inf")):
                raise SystemExit(f"loss is {value} at epoch {epoch}: training stopped")
            total += value * len(batch)
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            logits = model(x_val)
            val_loss = loss_fn(logits, y_val).item()
            pred = logits.argmax(dim=1)
            accuracy = (pred == y_val).float().mean().item()
            f1 = macro_f1(pred, y_val, len(classes))
        record = {"epoch": epoch, "train_loss": total / len(x_train), "val_loss": val_loss, "accuracy": accuracy}
        record["macro_f1"] = f1
        history.append(record)
        print(
            f"epoch {epoch:3}/{epochs}  loss {record['train_loss']:.4f}  val_loss {val_loss:.4f}  "
            f"accuracy {accuracy:.4f}  macro_f1 {f1:.4f}",
            flush=True,
        )
    t_loop_end = time.perf_counter()
    save(out, model, low, scale, [str(int(c)) for c in classes], history)
    t_end = time.perf_counter()
    print(f"final (validation): accuracy {history[-1]['accuracy']:.4f}  macro_f1 {history[-1]['macro_f1']:.4f}")
    print(f"model written to {out} in {t_end - t_read:.2f}s")
    for name, seconds in [
        ("imports", T_IMPORTS - T0),
        ("read", t_read - T_IMPORTS),
        ("train", t_end - t_read),
        ("loop", t_loop_end - t_loop),
    ]:
        print(f"TIME {name} {seconds:.6f}", file=sys.stderr)


if __name__ == "__main__":
    main()
