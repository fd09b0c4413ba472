"""Writes the broken-file corpus under tests/corpus/ (committed; rerun to regenerate).

    python3 tests/corpus/make_corpus.py

Standard library only: safetensors files are written by hand (8-byte
little-endian header length, JSON header, raw data). Every case is listed in
tests/corpus/README.md with the error it must give; tests/untrusted_files.rs
loads each one.
"""

import json
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def safetensors(tensors, header_extra=None):
    """(name, dtype, shape, values) -> bytes; f32 values packed little-endian."""
    header, data = {}, b""
    for name, dtype, shape, values in tensors:
        fmt = {"F32": "<%df", "I32": "<%di", "F16": "<%de"}[dtype] % len(values)
        raw = struct.pack(fmt, *([int(v * 10) for v in values] if dtype == "I32" else values))
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if header_extra:
        header.update(header_extra)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def iris_weights(dtype="F32", shapes=None, drop=()):
    shapes = shapes or {"fc1.weight": [16, 4], "fc1.bias": [16], "fc2.weight": [3, 16], "fc2.bias": [3]}
    out = []
    for name, shape in shapes.items():
        if name in drop:
            continue
        n = 1
        for d in shape:
            n *= d
        values = [((i * 7 + len(name)) % 11 - 5) / 10 for i in range(n)]
        out.append((name, dtype if name == "fc1.weight" else "F32", shape, values))
    return out


PROCESSORS = {
    "vars": {"n_features": 4.0, "num_classes": 3.0},
    "states": {
        "label": {"kind": "label_encoder", "numbers": {}, "strings": {"classes": ["setosa", "versicolor", "virginica"], "column": ["species"]}},
        "scaler": {"kind": "standard_scaler", "numbers": {"mean": [5.8, 3.0, 3.8, 1.2], "scale": [0.8, 0.4, 1.7, 0.7]}, "strings": {}},
    },
}
MANIFEST = '{\n  "format": "arc.model_dir",\n  "format_version": 1\n}\n'


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def model_dir(name, spec=None, weights=None, processors=None, manifest=MANIFEST, skip=()):
    d = os.path.join(HERE, "model_dirs", name)
    shutil.rmtree(d, ignore_errors=True)
    with open(os.path.join(ROOT, "examples", "specs", "iris.yaml")) as f:
        files = {
            "spec.yaml": spec if spec is not None else f.read(),
            "model.safetensors": weights if weights is not None else safetensors(iris_weights()),
            "processors.json": processors if processors is not None else json.dumps(PROCESSORS, indent=2),
            "history.json": "[]",
            "arc.json": manifest,
        }
    for file, data in files.items():
        if file not in skip:
            write(os.path.join(d, file), data)


def main():
    good = safetensors(iris_weights())
    st = os.path.join(HERE, "safetensors")
    shutil.rmtree(st, ignore_errors=True)
    cases = {
        "empty.safetensors": b"",
        "short_length_prefix.safetensors": b"\x10\x00\x00",
        "truncated_header.safetensors": good[:40],
        "truncated_data.safetensors": good[: len(good) - 100],
        "corrupt_header_json.safetensors": struct.pack("<Q", 16) + b'{"fc1.weight": [',
        "header_length_too_large.safetensors": struct.pack("<Q", 2**62) + b"{}      ",
        "offsets_beyond_file.safetensors": safetensors(
            [], {"fc1.weight": {"dtype": "F32", "shape": [16, 4], "data_offsets": [0, 256]}}
        ),
        "offsets_mismatch_shape.safetensors": safetensors(
            [("fc1.bias", "F32", [16], [0.0] * 16)],
            {"fc1.weight": {"dtype": "F32", "shape": [16, 4], "data_offsets": [0, 16]}},
        ),
        "wrong_dtype.safetensors": safetensors(iris_weights(dtype="I32")),
        "not_safetensors.safetensors": b"PK\x03\x04 this is a zip file, not safetensors",
    }
    for name, data in cases.items():
        write(os.path.join(st, name), data)

    model_dir("valid")
    for file in ["spec.yaml", "model.safetensors", "processors.json"]:
        model_dir("missing_" + file.split(".")[0], skip=(file,))
    model_dir("missing_weight", weights=safetensors(iris_weights(drop=("fc2.bias",))))
    model_dir(
        "wrong_shape",
        weights=safetensors(
            iris_weights(shapes={"fc1.weight": [4, 16], "fc1.bias": [16], "fc2.weight": [3, 16], "fc2.bias": [3]})
        ),
    )
    model_dir("truncated_weights", weights=good[: len(good) // 2])
    model_dir("offsets_beyond_file", weights=cases["offsets_beyond_file.safetensors"])
    model_dir("wrong_dtype", weights=cases["wrong_dtype.safetensors"])
    model_dir("newer_format_version", manifest='{"format": "arc.model_dir", "format_version": 99}\n')
    model_dir("corrupt_manifest", manifest='{"format": "arc.model_dir", "format_ver')
    model_dir("corrupt_processors", processors=json.dumps(PROCESSORS)[:60])
    model_dir("corrupt_spec", spec="model_name: iris\nmodel: [unclosed\n")
    model_dir("processors_missing_vars", processors=json.dumps({"vars": {}, "states": PROCESSORS["states"]}))


if __name__ == "__main__":
    main()
