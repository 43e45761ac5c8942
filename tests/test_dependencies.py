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
OPTIONAL = ["tensorrt", "pycuda", "cuda", "pyrealsense2", "onnxruntime", "onnx", "cv2", "polygraphy", "yaml", "tqdm",
            "matplotlib", "onnxscript", "onnxslim", "tensorboard", "rosbags", "apsw"]
TORCH = ["torch", "torchvision"]
TORCH_LAYER = ("amf_edge.models", "amf_edge.checkpoint", "amf_edge.interop", "amf_edge.train", "amf_edge.convert")

BLOCKER = """
import sys, importlib.abc
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
sys.meta_path.insert(0, Block())
"""


def run_blocked(blocked: list[str], code: str) -> subprocess.CompletedProcess:
    script = f"BLOCKED = {blocked!r}\n{BLOCKER}\n{code}"
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=300)


# the installed package: the repository folder of each amf_edge subpackage that lives outside amf_edge/
STAGES = {"amf_edge.train": "train", "amf_edge.convert": "convert", "amf_edge.runtime": "runtime",
          "amf_edge.bench": "bench"}


def package_folders() -> dict[str, Path]:
    """Every package of the installed namespace and the folder it is installed from."""
    found = {}
    for package, folder in {"amf_edge": "amf_edge", **STAGES}.items():
        for init in sorted((ROOT / folder).rglob("__init__.py")):
            rel = init.parent.relative_to(ROOT / folder)
            found[".".join([package, *rel.parts])] = init.parent
    return found


def all_modules() -> list[str]:
    names = []
    for package, folder in package_folders().items():
        names.append(package)
        names += [f"{package}.{m.name}" for m in pkgutil.iter_modules([str(folder)]) if not m.ispkg]
    return sorted(names)


def test_the_module_list_is_complete():
    assert {"amf_edge.models.network", "amf_edge.cli.main", "amf_edge.visualize", "amf_edge.runtime",
            "amf_edge.train.loop", "amf_edge.runtime.sinks.window", "amf_edge.cli.bench"} <= set(all_modules())


def test_numpy_layer_runtime_and_cli_import_without_torch_or_optional_packages():
    modules = [m for m in all_modules() if not m.startswith(TORCH_LAYER)]
    result = run_blocked(TORCH + OPTIONAL, "import importlib\n"
                         + "".join(f"importlib.import_module({m!r})\n" for m in modules)
                         + "assert 'torch' not in sys.modules and 'numpy' in sys.modules\nprint('ok')")
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_torch_layer_imports_without_optional_packages():
    modules = [m for m in all_modules() if m.startswith(TORCH_LAYER)]
    result = run_blocked(OPTIONAL, "import importlib\n" + "".join(f"importlib.import_module({m!r})\n" for m in modules)
                         + "print('ok')")
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


def files_of(layer: str) -> list[Path]:
    """The files of one layer: a stage's folder, or the core (amf_edge/ without its cli/ roof)."""
    if layer == "core":
        return sorted(p for p in (ROOT / "amf_edge").rglob("*.py")
                      if "cli" not in p.relative_to(ROOT / "amf_edge").parts)
    return sorted((ROOT / layer).rglob("*.py"))


def violations(layer: str, forbidden: tuple[str, ...]) -> list[str]:
    bad = []
    for path in files_of(layer):
        rel = path.relative_to(ROOT).as_posix()
        bad += [f"{rel}: {m}" for m in imports_of(path) if any(m == f or m.startswith(f + ".") for f in forbidden)]
    return bad


STAGE_NAMES = tuple(STAGES)
TORCH_PARTS = ("torch", "torchvision", "amf_edge.models", "amf_edge.checkpoint", "amf_edge.interop")


@pytest.mark.parametrize("layer, forbidden", [
    # The shared core knows nothing of the stages built on it, nor of the command line above them.
    ("core", STAGE_NAMES + ("amf_edge.cli",)),
    ("train", ("amf_edge.runtime", "amf_edge.convert", "amf_edge.bench", "amf_edge.cli")),
    ("convert", ("amf_edge.runtime", "amf_edge.train", "amf_edge.bench", "amf_edge.cli")),
    # The runtime never touches the training or conversion stages; torch only through its PyTorch backend (below).
    ("runtime", ("amf_edge.train", "amf_edge.convert", "amf_edge.bench", "amf_edge.cli")),
    # bench measures what the runtime runs, where the runtime runs: no torch of its own.
    ("bench", ("amf_edge.train", "amf_edge.convert", "amf_edge.cli") + TORCH_PARTS),
])
def test_dependencies_point_one_way(layer, forbidden):
    assert violations(layer, forbidden) == []


def test_the_runtime_reaches_torch_only_through_its_pytorch_backend_and_only_lazily():
    """runtime/backends/torch.py runs checkpoints, so it needs torch and the model; it imports them inside its
    functions (tests/test_backends.py checks that loading it imports nothing else of the kind)."""
    torch_users = sorted(p.relative_to(ROOT).as_posix() for p in files_of("runtime")
                         if any(m.startswith(TORCH_PARTS) for m in imports_of(p)))
    assert torch_users == ["runtime/backends/torch.py"]
    tree = ast.parse((ROOT / "runtime/backends/torch.py").read_text())
    top_level = {a.name for n in tree.body if isinstance(n, ast.Import) for a in n.names}
    top_level |= {n.module for n in tree.body if isinstance(n, ast.ImportFrom) and n.module}
    assert not {m for m in top_level if m.startswith(TORCH_PARTS)}


def test_nothing_imports_a_generic_top_level_package():
    """Only the amf_edge namespace is installed: `import runtime` would find a user's own runtime/ first."""
    code_files = [p for layer in ("core", *STAGES.values()) for p in files_of(layer)]
    code_files += sorted((ROOT / "amf_edge" / "cli").rglob("*.py")) + sorted((ROOT / "tests").rglob("*.py"))
    bad = [f"{p.relative_to(ROOT)}: {m}" for p in code_files for m in imports_of(p)
           if m.split(".")[0] in ("train", "convert", "runtime", "bench")]
    assert bad == []


@pytest.mark.parametrize("blocked, args, extra", [
    (TORCH, ["info", "asymfusion-r18", "--classes", "40"], "train"),
    (TORCH, ["export", "missing.pt", "-o", "x.onnx"], "convert"),
    (["onnxruntime"], ["run", "model.onnx", "--source", "synthetic://?n=1"], "runtime"),
])
def test_a_command_without_its_extra_names_the_extra(blocked, args, extra, tmp_path):
    """`pip install .` alone (numpy only): every command says which extra to install, never a traceback."""
    (tmp_path / "model.onnx").write_bytes(b"")
    code = f"import os; os.chdir({str(tmp_path)!r})\nfrom amf_edge.cli.main import main\nsys.exit(main({args!r}))"
    result = run_blocked(blocked, code)
    assert result.returncode == 1, result.stderr
    assert f'pip install "amf-edge[{extra}]"' in result.stderr and "Traceback" not in result.stderr


def test_pyproject_lists_every_package_folder():
    tomllib = pytest.importorskip("tomllib")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert sorted(config["packages"]) == sorted(package_folders())
    assert {k: v for k, v in config["package-dir"].items() if k != "amf_edge"} == STAGES


@pytest.mark.slow
def test_the_wheel_installs_one_namespace(tmp_path):
    """What `pip install .` puts into site-packages: amf_edge and its metadata, the recipes included."""
    import shutil
    import zipfile

    source = tmp_path / "src"
    for name in ("amf_edge", *STAGES.values()):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", str(source),
                    "-w", str(tmp_path / "dist")], check=True, capture_output=True, timeout=300)
    (wheel,) = (tmp_path / "dist").glob("amf_edge-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"amf_edge", wheel.name.split("-py")[0] + ".dist-info"}
    assert "amf_edge/train/configs/synthetic-r18.yaml" in names and "amf_edge/runtime/sinks/window.py" in names
    assert not any("experiments" in n or "tests/" in n for n in names)
