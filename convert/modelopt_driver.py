"""INT8 Q/DQ with NVIDIA ModelOpt, run by path with the Python of the isolated environment that `make modelopt` makes.

ModelOpt pins its own onnx and pulls onnxruntime-gpu, which would replace the onnxruntime of a shared environment,
so it lives in .venv-modelopt and this script runs there: it imports nothing of amf_edge (amf_edge.convert.quantize
starts it with `--quantizer modelopt` and gives the result amf-edge's metadata, lint and scoring).

    .venv-modelopt/bin/python -I convert/modelopt_driver.py FP32.onnx --calib calib.npz --method max -o OUT.onnx \\
        [--info OUT.json] [--exclude NODE ...]

calib.npz holds the model inputs of every calibration frame, stacked: {"rgb": uint8 N×H×W×3, "depth": float32
N×H×W}. Each --exclude names a node (exactly) that stays float32. OUT.json receives {"modelopt": version, "onnx":
version, "onnxruntime": version} on success and {"error": one line} on failure; the exit status is 0 or 1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
from importlib import metadata
from pathlib import Path

METHODS = ("max", "entropy")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, help="FP32 ONNX")
    parser.add_argument("--calib", type=Path, required=True, help=".npz of stacked model inputs")
    parser.add_argument("--method", choices=METHODS, default="max")
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--info", type=Path, help="JSON file for the versions used (or the error)")
    parser.add_argument("--exclude", action="append", default=[], metavar="NODE", help="a node kept in float32")
    args = parser.parse_args(argv)
    try:
        info = quantize(args.model, args.calib, args.method, args.output, args.exclude)
    except Exception as error:  # noqa: BLE001 - reported as one line, whatever ModelOpt raised
        message = f"{type(error).__name__}: {error}".splitlines()[0] if str(error) else type(error).__name__
        if args.info:
            args.info.write_text(json.dumps({"error": message}))
        print(f"modelopt_driver: error: {message}", file=sys.stderr)
        return 1
    if args.info:
        args.info.write_text(json.dumps(info))
    return 0


def quantize(model: Path, calib: Path, method: str, output: Path, exclude: list[str] = ()) -> dict:
    import numpy as np
    from modelopt.onnx.quantization import quantize as modelopt_quantize

    with np.load(calib) as stored:
        data = {name: stored[name] for name in stored.files}
    if not data or len({len(v) for v in data.values()}) != 1:
        raise ValueError(f"{calib}: expected inputs with one frame count, got "
                         f"{ {k: v.shape for k, v in data.items()} }")
    # ModelOpt logs its progress on stdout; the caller keeps stdout for its own messages
    with contextlib.redirect_stdout(sys.stderr):
        modelopt_quantize(str(model), quantize_mode="int8", calibration_data=data, calibration_method=method,
                          calibration_eps=["cpu"], high_precision_dtype="fp32", output_path=str(output),
                          # ModelOpt takes node-name patterns (re.match): exact names, escaped
                          nodes_to_exclude=[re.escape(name) + "$" for name in exclude] or None,
                          log_level="WARNING")
    if not output.is_file():
        raise RuntimeError(f"ModelOpt wrote no {output}")
    return {package: _version(dist) for package, dist in
            (("modelopt", "nvidia-modelopt"), ("onnx", "onnx"), ("onnxruntime", "onnxruntime-gpu"))}


def _version(dist: str) -> str | None:
    with contextlib.suppress(metadata.PackageNotFoundError):
        return metadata.version(dist)
    with contextlib.suppress(metadata.PackageNotFoundError):
        return metadata.version(dist.removesuffix("-gpu"))
    return None


if __name__ == "__main__":
    sys.exit(main())
