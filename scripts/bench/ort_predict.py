"""onnxruntime's side of the predictor table (issue 8): the iris and digits
models that `arc train` wrote, exported by `arc export --format onnx`
(opset 17, the scalers included as ONNX ops, as Arc's predictor applies
them), run as `session.run(None, {input: x})` on one row, one intra-op
thread, sequential execution. Each of N calls is timed with
`time.perf_counter_ns`, sorted, and p50 / p99 printed as
`case<TAB>value<TAB>unit` rows with an `ort_` prefix.

    python scripts/bench/ort_predict.py IRIS.onnx DIGITS.onnx [N=100000]
"""

import sys
import time

import numpy as np
import onnxruntime as ort


def latency(session, rows, n):
    name = session.get_inputs()[0].name
    for i in range(1000):
        session.run(None, {name: rows[i % len(rows)]})
    times = []
    clock = time.perf_counter_ns
    for i in range(n):
        x = rows[i % len(rows)]
        start = clock()
        session.run(None, {name: x})
        times.append(clock() - start)
    times.sort()
    return times[n // 2], times[n * 99 // 100]


def main():
    iris, digits = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 100_000
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    print(f"# onnxruntime {ort.__version__}, CPUExecutionProvider, 1 thread")
    rng = np.random.default_rng(0)
    for name, path in (("iris", iris), ("digits", digits)):
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        width = session.get_inputs()[0].shape[-1]
        rows = [rng.normal(size=(1, width)).astype(np.float32) for _ in range(256)]
        p50, p99 = latency(session, rows, n)
        print(f"ort_predict_row_{name}_p50\t{p50 / 1000:.4f}\tus")
        print(f"ort_predict_row_{name}_p99\t{p99 / 1000:.4f}\tus")


if __name__ == "__main__":
    main()
