"""Dependency direction and optional dependencies.

The runtime must import with torch absent (Jetson images often lack it); every module must import,
and every `--help` must work, without the heavy optional packages. Both are checked in a fresh
interpreter in which importing the blocked packages fails, as it would where they are not installed.
"""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OPTIONAL = ["tensorrt", "pycuda", "cuda", "pyrealsense2", "onnxruntime", "onnx", "cv2", "polygraphy"]
TORCH = ["torch", "torchvision"]
TORCH_LAYER = ("amf_edge.models", "amf_edge.checkpoint", "amf_edge.interop", "train", "convert")

BLOCKER = """
import sys, importlib.abc
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)")
sys.meta_path.insert(0, Block())
"""


def run_blocked(blocked: list[str], code: str) -> subprocess.CompletedProcess:
    script = f"BLOCKED = {blocked!r}\n{BLOCKER}\n{code}"
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=300)


def all_modules() -> list[str]:
    names = []
    for package in ("amf_edge", "runtime", "train", "convert", "bench"):
        names.append(package)
        names += [m.name for m in pkgutil.walk_packages([str(ROOT / package)], prefix=package + ".")]
    return sorted(names)


def test_the_module_list_is_complete():
    assert {"amf_edge.models.network", "amf_edge.cli.main", "amf_edge.visualize", "runtime", "train.loop",
            "bench.cli", "bench.experiments.cpu"} <= set(all_modules())


def test_numpy_layer_runtime_and_cli_import_without_torch_or_optional_packages():
    modules = [m for m in all_modules() if not m.startswith(TORCH_LAYER)]
    result = run_blocked(TORCH + OPTIONAL, "import importlib\n" + "".join(f"importlib.import_module({m!r})\n" for m in modules)
                         + "assert 'torch' not in sys.modules and 'numpy' in sys.modules\nprint('ok')")
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_torch_layer_imports_without_optional_packages():
    modules = [m for m in all_modules() if m.startswith(TORCH_LAYER)]
    result = run_blocked(OPTIONAL, "import importlib\n" + "".join(f"importlib.import_module({m!r})\n" for m in modules) + "print('ok')")
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_every_help_works_without_torch_or_optional_packages():
    code = (
        "from amf_edge.cli.main import COMMANDS, main\n"
        "for command in [[], *([c] for c in COMMANDS)]:\n"
        "    try:\n"
        "        main(command + ['--help'])\n"
        "    except SystemExit as e:\n"
        "        assert e.code == 0, command\n"
        "assert 'torch' not in sys.modules\n"
        "print('ok')"
    )
    result = run_blocked(TORCH + OPTIONAL, code)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr


def test_a_blocked_import_really_fails():
    """The harness itself: importing torch under the blocker must fail, or the tests above prove nothing."""
    result = run_blocked(TORCH, "import torch")
    assert result.returncode != 0 and "blocked by the test" in result.stderr


def imports_of(path: Path) -> set[str]:
    """Every module a file imports, at any depth (lazy imports inside functions included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def violations(package: str, forbidden: tuple[str, ...], exclude: tuple[str, ...] = ()) -> list[str]:
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith(exclude):
            continue
        bad += [f"{rel}: {m}" for m in imports_of(path) if m == forbidden or m.startswith(forbidden) or m.split(".")[0] in forbidden]
    return bad


@pytest.mark.parametrize("package, forbidden, exclude", [
    # The runtime never touches torch or the training/conversion stages. One exception: the PyTorch
    # reference backend runs checkpoints, so it imports torch and amf_edge.checkpoint/models, lazily
    # inside its functions (tests/test_backends.py checks that it imports nothing else of the kind).
    ("runtime", ("torch", "train", "convert", "bench", "amf_edge.models", "amf_edge.checkpoint", "amf_edge.interop",
                 "amf_edge.cli"), ("runtime/backends/torch.py",)),
    # bench measures what the runtime runs, where the runtime runs (no torch); only the script that makes
    # docs/benchmarks.md's models exports them (bench/experiments).
    ("bench", ("torch", "train", "convert", "amf_edge.models", "amf_edge.checkpoint", "amf_edge.interop", "amf_edge.cli"),
     ("bench/experiments/",)),
    # The shared core knows nothing of the stages built on it; only the CLI (the top layer) may.
    ("amf_edge", ("train", "convert", "runtime", "bench"), ("amf_edge/cli/",)),
    ("train", ("runtime", "convert", "bench", "amf_edge.cli"), ()),
    ("convert", ("runtime", "train", "bench", "amf_edge.cli"), ()),
])
def test_dependencies_point_one_way(package, forbidden, exclude):
    assert violations(package, forbidden, exclude) == []
