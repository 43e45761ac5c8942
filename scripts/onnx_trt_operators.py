"""Regenerate convert/tensorrt_onnx_ops/<version>.json: what TensorRT's ONNX parser accepts, per operator.

The source is onnx-tensorrt's docs/operators.md, whose operator support matrix has one row per ONNX operator:

    | Operator | Supported | Supported Types | Restrictions |
    | Conv     | Y         | FP32, FP16, BF16 |
    | DequantizeLinear | Y | INT8, FP8, INT4 | `x_zero_point` must be zero |

This script turns one release's file into a table that convert/lint.py reads (facts from the document; no code
of onnx-tensorrt is used or kept):

    {"version": "10.16",
     "source": {"repo": "onnx/onnx-tensorrt", "path": "docs/operators.md", "ref": "...", "commit": "..."},
     "document": {"tensorrt": "10.16", "opsets": [9, 24], "data_types": ["DOUBLE", "FP32", ...], "notes": [...]},
     "ops": {"Conv": {"supported": true, "types": ["FP32", "FP16", "BF16"], "restrictions": ""}, ...}}

Type names are the document's (FP32, FP16, BF16, FP8, FP4, INT4, INT8, INT32, INT64, UINT8, BOOL; its data-type
sentence's FLOAT32/FLOAT16/BFLOAT16 become FP32/FP16/BF16); `normalized` in the table lists any spelling fixed
on the way (a typo such as INF64). A row whose third cell is prose, not types, keeps it as its restrictions.

usage:
    git -C onnx-tensorrt show 6bde6596eca8:docs/operators.md > /tmp/operators.md
    python scripts/onnx_trt_operators.py /tmp/operators.md --version 10.16 --ref v10.16 --commit 6bde6596eca8...
    options: --repo (default onnx/onnx-tensorrt), --how (a sentence on where the text came from),
             -o DIR (default convert/tensorrt_onnx_ops), --stdout (print instead of writing)

Which onnx-tensorrt commit a TensorRT release uses: NVIDIA/TensorRT pins it as the parsers/onnx submodule
(`git ls-tree v10.3.0 parsers/onnx` in a TensorRT checkout). The tables kept: 10.1 (96e781103cfc, the newest
at or below JetPack 6's 10.3, which lint.py checks 10.3 against), 10.16 (6bde6596eca8) and 11.1 (7c51a63a7191).
TensorRT 10.3 pins 62bdde2a04fcd53c2409cb895ee18db445b7e755; its file was not at hand when these were made:
    git -C onnx-tensorrt show 62bdde2a04fc:docs/operators.md > /tmp/operators.md
    python scripts/onnx_trt_operators.py /tmp/operators.md --version 10.3 --commit 62bdde2a04fc...
adds it, and lint.py then uses it for 10.3 (tests/convert/test_lint.py expects 10.1 there: update that line).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "convert" / "tensorrt_onnx_ops"
TYPES = ("FP32", "FP16", "BF16", "FP8", "FP4", "INT4", "INT8", "INT32", "INT64", "UINT8", "BOOL", "DOUBLE")
SPELLINGS = {"FLOAT32": "FP32", "FLOAT16": "FP16", "BFLOAT16": "BF16"}  # the data-type sentence's names
TYPOS = {"INF64": "INT64"}  # misspellings seen in the matrix (10.x's ConstantOfShape row); recorded in `normalized`
HEADER_RANGE = re.compile(r"TensorRT (\S+) supports operators in the inclusive range of opset (\d+) to opset (\d+)")
HEADER_UP_TO = re.compile(r"TensorRT (\S+) supports operators up to Opset (\d+)", re.IGNORECASE)
DATA_TYPES = re.compile(r"TensorRT supports the following ONNX data types:([^\n]*)")
TYPE_TOKEN = re.compile(r"^[A-Z][A-Z0-9]*$")


def parse(text: str) -> dict:
    """The document's header facts and its operator matrix (see the module docstring for the shape)."""
    normalized: dict[str, str] = {}

    def type_name(token: str) -> str:
        name = SPELLINGS.get(token, token)
        if token in TYPOS:
            name = normalized[token] = TYPOS[token]
        if name not in TYPES:
            raise ValueError(f"unknown type name {token!r} in operators.md")
        return name

    document: dict = {"tensorrt": None, "opsets": None, "data_types": [], "notes": []}
    if m := HEADER_RANGE.search(text):
        document.update(tensorrt=m[1].rstrip("."), opsets=[int(m[2]), int(m[3])])
    elif m := HEADER_UP_TO.search(text):
        document.update(tensorrt=m[1].rstrip("."), opsets=[None, int(m[2])])
    if m := DATA_TYPES.search(text):
        tokens = [t.strip().removeprefix("and ").strip() for t in m[1].replace(" and ", ", ").split(",")]
        document["data_types"] = [type_name(t) for t in tokens if t]
    document["notes"] = [line[1:].strip().removeprefix("Note:").strip()
                         for line in text.splitlines() if line.startswith(">")]

    ops: dict[str, dict] = {}
    columns: list[str] | None = None
    for line in text.splitlines():
        if not line.startswith("|"):
            if columns is not None and ops:
                break  # the matrix ended
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if columns is None:
            if cells and cells[0] in ("Operator", "ONNX Operator"):
                columns = [c.rstrip("?") for c in cells]
            continue
        if set("".join(cells)) <= set("-:+ "):
            continue  # the |---|---| rule under the header
        ops[cells[0]] = _row(cells, columns, type_name)
    if not ops:
        raise ValueError("no operator support matrix found (a table whose first column is 'Operator')")
    return {"document": document, "ops": ops, "normalized": normalized}


def _row(cells: list[str], columns: list[str], type_name) -> dict:
    supported = cells[1].upper().startswith("Y") if len(cells) > 1 else False
    rest = cells[2:]
    types: list[str] | None = None
    if "Supported Types" in columns:
        types = []
        tokens = [t.strip() for t in rest[0].split(",")] if rest else []
        if all(TYPE_TOKEN.match(t) for t in tokens if t):
            types = [type_name(t) for t in tokens if t]
            rest = rest[1:]
    restrictions = " ".join(c for c in rest if c)
    return {"supported": supported, "types": types, "restrictions": restrictions}


def table(text: str, version: str, source: dict) -> dict:
    parsed = parse(text)
    out = {"version": version, "source": source, "document": parsed["document"]}
    if parsed["normalized"]:
        out["normalized"] = parsed["normalized"]
    out["ops"] = parsed["ops"]
    return out


def dump(data: dict) -> str:
    """JSON with one operator a line, so that a new release's table diffs line by line."""
    def block(items, indent: str) -> str:
        return ",\n".join(f"{indent}{json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in items)

    head = [(k, v) for k, v in data.items() if k not in ("document", "ops")]
    ops = sorted(data["ops"].items(), key=lambda kv: kv[0].lower())
    return (f"{{\n{block(head, ' ')},\n"
            f' "document": {{\n{block(data["document"].items(), "  ")}\n }},\n'
            f' "ops": {{\n{block(ops, "  ")}\n }}\n}}\n')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("operators_md", type=Path, help="onnx-tensorrt's docs/operators.md of one release")
    parser.add_argument("--version", required=True, help="the TensorRT release it belongs to, e.g. 10.16")
    parser.add_argument("--repo", default="onnx/onnx-tensorrt")
    parser.add_argument("--ref", default=None, help="the branch or tag the file was read at")
    parser.add_argument("--commit", default=None, help="the onnx-tensorrt commit the file was read at")
    parser.add_argument("--how", default=None, help="where the text came from, in a sentence")
    parser.add_argument("-o", "--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--stdout", action="store_true")
    args = parser.parse_args(argv)
    source = {"repo": args.repo, "path": "docs/operators.md", "ref": args.ref, "commit": args.commit}
    if args.how:
        source["how"] = args.how
    text = dump(table(args.operators_md.read_text(encoding="utf-8"), args.version, source))
    if args.stdout:
        sys.stdout.write(text)
    else:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"{args.version}.json").write_text(text, encoding="utf-8")
        print(args.out / f"{args.version}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
