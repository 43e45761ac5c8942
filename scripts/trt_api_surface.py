"""Regenerate tests/data/trt_api/tensorrt-<version>.json: the exact Python API of a TensorRT release.

TensorRT's Python bindings are a pybind11 extension (`tensorrt_bindings/tensorrt.so` in the public
`tensorrt-cu12-bindings` wheel, about 1.3 MB) that links against libnvinfer, libnvonnxparser and
libnvinfer_plugin but calls only a handful of C entry points from them while it registers its classes.
This script builds empty stand-ins for those libraries (each missing symbol a function returning 0),
imports the real extension against them in a child process (nothing of TensorRT runs: creating a
Builder would fail, but registering classes does not need one), and walks what pybind11 registered:

    {"version": "10.3.0",
     "api": {"Builder": "class", "Builder.create_network": "method", "BuilderFlag.FP16": "enum_value",
             "IBuilderConfig.max_aux_streams": "property", "ICudaEngine.num_io_tensors": "property(ro)", ...},
     "signatures": {"Builder.create_network": ["create_network(self: ..., flags: int = 0) -> ..."], ...}}

The lists are exact for names (no false positives: it is the live registry) and say nothing about
behaviour. tests/trt_standin.py turns them into stand-in modules; tests/test_trt_conformance.py runs
the build path and the backend against them.

usage:
    python scripts/trt_api_surface.py --version 10.3.0 --version 11.4.0.106     # pip download, then extract
    python scripts/trt_api_surface.py wheels/tensorrt_cu12_bindings-10.16.1.11-*.whl
    options: -o DIR (default tests/data/trt_api), --keep (keep the scratch directory)

Needs Linux with gcc, readelf and nm (binutils), and a Python the wheel supports (cp3xx tag).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "tests" / "data" / "trt_api"
PACKAGE = "tensorrt-cu12-bindings"
# Symbols the extension leaves to the C/C++ runtime and Python, not to TensorRT's libraries.
SYSTEM_SYMBOL = re.compile(r"^(_ITM|__gmon|__pthread|pthread|dl[a-z]+|_Py|Py|__|_Unwind|_Z)")
TENSORRT_MANGLED = re.compile(r"nvinfer|nvonnxparser|nvcaffeparser|nvuffparser|nvparsers")

# Runs in the child process: import the extension and list what it registered.
WALKER = r'''
import inspect, json, sys

sys.path.insert(0, sys.argv[1])
# the package, not only its extension: its __init__ adds __version__ and Python helpers (nptype, volume...)
module = __import__(sys.argv[2])
KEEP_DUNDER = ("__init__", "__call__")
OBJECT_NAMES = set(dir(object))


def member_kind(owner, attr, value, enum_members):
    if enum_members is not None and attr in enum_members:
        return "enum_value"
    if enum_members is not None and attr in ("name", "value"):
        return "enum_builtin"
    if isinstance(value, property):
        return "property" if value.fset is not None else "property(ro)"
    if callable(value):
        return "method"
    return type(value).__name__


def signature_lines(attr, value):
    doc = (getattr(value, "__doc__", None) or "").strip().splitlines()
    heads = (attr + "(",) + tuple(f"{i}. {attr}(" for i in range(1, 5))
    return [line.strip() for line in doc if line.strip().startswith(heads)]


api, signatures = {}, {}
for name in dir(module):
    if name.startswith("__"):
        continue
    obj = getattr(module, name)
    if not inspect.isclass(obj):
        api[name] = "function" if callable(obj) else type(obj).__name__
        continue
    api[name] = "class"
    enum_members = getattr(obj, "__members__", None)
    for attr in dir(obj):
        if attr.startswith("__") and attr not in KEEP_DUNDER:
            continue
        if attr == "_pybind11_conduit_v1_" or (attr in OBJECT_NAMES and attr not in KEEP_DUNDER):
            continue
        try:
            value = inspect.getattr_static(obj, attr)
        except AttributeError:
            continue
        kind = member_kind(obj, attr, value, enum_members)
        api[f"{name}.{attr}"] = kind
        if kind == "method":
            lines = signature_lines(attr, value)
            if lines:
                signatures[f"{name}.{attr}"] = lines
print(json.dumps({"version": getattr(module, "__version__", None), "api": api, "signatures": signatures}))
'''


def download(version: str, into: Path) -> Path:
    """The bindings wheel of `version` for this Python, through pip (the ordinary client)."""
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                    f"{PACKAGE}=={version}", "-d", str(into)], check=True)
    wheels = sorted(into.glob(f"{PACKAGE.replace('-', '_')}-{version}-*.whl"))
    if not wheels:
        sys.exit(f"pip downloaded no {PACKAGE} {version} wheel into {into}")
    return wheels[-1]


def stub_libraries(extension: Path, into: Path) -> None:
    """One empty shared library per TensorRT library the extension needs, exporting what it imports."""
    dynamic = subprocess.run(["readelf", "-d", str(extension)], capture_output=True, text=True, check=True).stdout
    needed = re.findall(r"\[(libnv[^\]]+)\]", dynamic)
    listing = subprocess.run(["nm", "-D", "--undefined-only", str(extension)], capture_output=True, text=True,
                             check=True).stdout
    undefined = [line.split()[-1] for line in listing.splitlines() if line.strip()]  # "    U name" / "    w name"
    plain = {s for s in undefined if "@" not in s and re.match(r"^[A-Za-z_]\w*$", s) and not SYSTEM_SYMBOL.match(s)}
    mangled = {s.split("@")[0] for s in undefined if s.startswith("_ZN") and TENSORRT_MANGLED.search(s)}
    symbols = sorted(plain | mangled)
    source = into / "stubs.c"
    source.write_text("".join(f"void *{s}(void) {{ return 0; }}\n" for s in symbols))
    for library in needed:
        subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(into / library), f"-Wl,-soname,{library}", str(source)],
                       check=True)
    print(f"  stubbed {len(needed)} libraries ({', '.join(needed)}): {', '.join(symbols)}", file=sys.stderr)


def importable(wheel: Path, scratch: Path) -> tuple[Path, str, dict[str, str]]:
    """Unpack `wheel` and stub its TensorRT libraries: (directory for sys.path, package name, environment
    for a child process that imports it). tests/test_trt_conformance.py uses this too."""
    unpacked = scratch / wheel.stem
    with zipfile.ZipFile(wheel) as z:
        z.extractall(unpacked)
    packages = [d for d in unpacked.iterdir() if d.is_dir() and not d.name.endswith(".dist-info")]
    if len(packages) != 1:
        sys.exit(f"{wheel.name}: expected one package directory, found {[p.name for p in packages]}")
    extensions = sorted(packages[0].glob("tensorrt*.so*"))
    if not extensions:
        sys.exit(f"{wheel.name}: no tensorrt*.so extension in {packages[0].name}/")
    stubs = scratch / (wheel.stem + "-stubs")
    stubs.mkdir()
    stub_libraries(extensions[0], stubs)
    library_path = os.pathsep.join(filter(None, [str(stubs), os.environ.get("LD_LIBRARY_PATH")]))
    env = dict(os.environ, LD_LIBRARY_PATH=library_path)
    return unpacked, packages[0].name, env


def surface_of(wheel: Path, scratch: Path) -> dict:
    unpacked, package, env = importable(wheel, scratch)
    walker = scratch / "walker.py"
    walker.write_text(WALKER)
    result = subprocess.run([sys.executable, str(walker), str(unpacked), package], capture_output=True, text=True,
                            env=env, check=False)
    if result.returncode != 0:
        sys.exit(f"importing {wheel.name} against the stubs failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("wheels", nargs="*", type=Path, help=f"{PACKAGE} wheel files")
    parser.add_argument("--version", action="append", default=[], help=f"download {PACKAGE}==VERSION with pip")
    parser.add_argument("-o", "--out", type=Path, default=DEFAULT_OUT,
                        help=f"output directory (default: {DEFAULT_OUT})")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory and print its path")
    args = parser.parse_args(argv)
    if not args.wheels and not args.version:
        parser.error("give wheel files or --version VERSION")
    scratch = Path(tempfile.mkdtemp(prefix="trt-api-"))
    try:
        wheels = list(args.wheels) + [download(v, scratch) for v in args.version]
        args.out.mkdir(parents=True, exist_ok=True)
        for wheel in wheels:
            print(f"{wheel.name}:", file=sys.stderr)
            surface = surface_of(wheel, scratch)
            path = args.out / f"tensorrt-{surface['version']}.json"
            path.write_text(json.dumps(surface, indent=1, sort_keys=True))
            print(f"  {path}: {len(surface['api'])} names, {len(surface['signatures'])} methods with signatures",
                  file=sys.stderr)
    finally:
        if args.keep:
            print(f"scratch directory: {scratch}", file=sys.stderr)
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
