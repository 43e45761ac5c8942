"""README.md's code is the project's code: its Python blocks run, and every `amf_edge.…` name, `python -m`
module, `make` target, `amf-edge` command and option, and repository path it names exists.

Everything is read from README.md when this module is collected, so each claim is a test of its own and a
failure names the README's text. Names resolve against the installed amf_edge (the editable install)."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")

FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.M | re.S)
BLOCKS = [(lang, body) for lang, body in FENCE.findall(README)]
PROSE = FENCE.sub("", README)
SPANS = re.findall(r"`([^`\n]+)`", PROSE)  # inline code, outside the fenced blocks
PYTHON_BLOCKS = [body for lang, body in BLOCKS if lang == "python"]
SHELL_LINES = [line for lang, body in BLOCKS if lang != "python" for line in body.splitlines()]
CODE = SPANS + SHELL_LINES  # where README claims commands, names and paths (prose around them is not parsed)


def unique(items) -> list[str]:
    return list(dict.fromkeys(items))


# -- the Python blocks run ------------------------------------------------------------------------------------


@pytest.fixture
def readme_folder(tmp_path, tiny_checkpoint) -> Path:
    """A working folder with the files the blocks open: `ckpt.pt`, a tiny amf-edge checkpoint."""
    shutil.copy(tiny_checkpoint(), tmp_path / "ckpt.pt")
    return tmp_path


def test_readme_has_python_blocks():
    assert len(PYTHON_BLOCKS) >= 2  # the model and the checkpoint: a broken fence would silently drop them


@pytest.mark.slow  # the r18 forward at 480×640 on the CPU: seconds
@pytest.mark.parametrize("code", PYTHON_BLOCKS, ids=[f"block{i}" for i in range(len(PYTHON_BLOCKS))])
def test_python_block_runs(code, readme_folder):
    pytest.importorskip("torch")
    done = subprocess.run([sys.executable, "-c", code], cwd=readme_folder, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, f"README block failed:\n{code}\n{done.stderr}"


# -- amf_edge names --------------------------------------------------------------------------------------------

NAMES = unique(m for span in SPANS for m in re.findall(r"\bamf_edge(?:\.[A-Za-z_]\w*)+", span))


def resolve(dotted: str):
    """Import the longest module prefix of `dotted`, then getattr the rest: amf_edge.contract.read_metadata."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        module_name = ".".join(parts[:i])
        try:
            obj = importlib.import_module(module_name)
        except ModuleNotFoundError as e:  # only "no such module": a module failing to import is a failure
            if e.name is None or not module_name.startswith(e.name):
                raise
            continue
        for attribute in parts[i:]:
            obj = getattr(obj, attribute)
        return obj
    raise ModuleNotFoundError(dotted)


def test_readme_names_amf_edge_objects():
    assert "amf_edge.models.build_model" in NAMES and len(NAMES) > 10  # the spans were found


@pytest.mark.parametrize("name", NAMES)
def test_amf_edge_name_resolves(name):
    try:
        resolve(name)
    except (ImportError, AttributeError) as e:
        pytest.fail(f"README.md names `{name}`, which does not resolve: {e}")


# -- python -m MODULE ------------------------------------------------------------------------------------------

PLACEHOLDER = re.compile(r"^[A-Z][A-Z0-9_]*$")  # NAME, DIR, PRESET: the reader fills them in
RUN_MODULE = re.compile(r"(?:\bpython3?|\btorchrun\b.*?)\s-m\s+([A-Za-z_][\w.]*)")  # not pytest's -m MARKER
MODULES = unique(m for text in CODE for m in RUN_MODULE.findall(text))


def test_readme_runs_modules():
    assert {"experiments.cpu", "amf_edge.cli.main"} <= set(MODULES)


def find_spec(module: str):
    try:
        return importlib.util.find_spec(module)
    except ModuleNotFoundError:  # a parent package is missing
        return None


@pytest.mark.parametrize("module", MODULES)
def test_python_dash_m_module_exists_and_runs_as_main(module):
    parts = module.split(".")
    if PLACEHOLDER.match(parts[-1]):  # `python -m experiments.NAME`: the package and some module in it
        package = find_spec(".".join(parts[:-1]))
        assert package and package.submodule_search_locations, f"README.md names `python -m {module}`"
        assert any(Path(p).glob("[a-z]*.py") for p in package.submodule_search_locations)
        return
    spec = find_spec(module)
    assert spec is not None, f"README.md runs `python -m {module}`, which is not importable"
    if spec.submodule_search_locations is not None:
        assert find_spec(module + ".__main__"), f"package {module} has no __main__"
    elif spec.origin and Path(spec.origin).resolve().is_relative_to(ROOT):
        source = Path(spec.origin).read_text(encoding="utf-8")
        assert re.search(r"""^if __name__ == ["']__main__["']:""", source, re.M), \
            f"`python -m {module}` would import {spec.origin} and do nothing"


# -- make TARGET ----------------------------------------------------------------------------------------------

TARGETS = unique(m for text in CODE for m in re.findall(r"(?<![\w-])make\s+([a-z][\w-]*)", text))


def makefile_targets() -> set[str]:
    targets = set()
    for line in (ROOT / "Makefile").read_text().splitlines():
        rule = re.match(r"^([A-Za-z0-9_.-]+(?:[ \t]+[A-Za-z0-9_.-]+)*)[ \t]*::?(?!=)", line)
        if rule:
            targets.update(rule.group(1).split())
    return targets


def test_readme_names_make_targets():
    assert {"demo", "test"} <= set(TARGETS)


@pytest.mark.parametrize("target", TARGETS)
def test_make_target_is_defined(target):
    assert target in makefile_targets(), f"README.md says `make {target}`; the Makefile has no such target"


# -- amf-edge COMMAND --option --------------------------------------------------------------------------------


def command_lines() -> list[str]:
    """`amf-edge …` invocations: inline spans and fenced lines (with their indented continuation lines), and
    `… -m amf_edge.cli.main COMMAND …` (torchrun)."""
    lines, fenced = [s for s in SPANS if s.startswith("amf-edge ")], []
    for lang, body in BLOCKS:
        if lang == "python":
            continue
        for line in body.splitlines():
            if line[:1].isspace() and fenced:
                fenced[-1] = fenced[-1].rstrip("\\ ") + " " + line.strip()  # less the line-end backslash
            elif line.startswith("amf-edge ") or "-m amf_edge.cli.main " in line:
                fenced.append(line)
            else:
                fenced.append("")  # a line that is not a command ends the previous one
    lines += [line for line in fenced if line]
    return [re.sub(r"^.*?-m amf_edge\.cli\.main ", "amf-edge ", line) for line in lines]


COMMAND_LINES = unique(command_lines())


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return next((a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction)), {})


def test_readme_shows_commands():
    assert any(line.startswith("amf-edge build ") for line in COMMAND_LINES) and len(COMMAND_LINES) > 20


OPTION = re.compile(r"\[*(--?[A-Za-z][\w-]*)(?:=(\S*))?\]*")


@pytest.mark.parametrize("line", COMMAND_LINES, ids=[f"{i}-{'-'.join(line.split()[1:3])}" for i, line in
                                                     enumerate(COMMAND_LINES)])
def test_command_and_its_options_exist(line):
    """The command (and subcommand) exists, so does every option, and a value README gives an option with fixed
    choices is one of them (`--precision fp16|int8`: each alternative)."""
    from amf_edge.cli.main import build_parser

    words = shlex.split(line, comments=True)[1:]
    parser, said = build_parser(), "amf-edge"
    while words and words[0] in subparsers(parser):  # amf-edge calib collect: the command, then its subcommand
        parser, said = subparsers(parser)[words[0]], f"{said} {words[0]}"
        words = words[1:]
    assert said != "amf-edge", f"README.md: `{line}`: no such command (amf-edge has {sorted(subparsers(parser))})"
    if subparsers(parser) and words and not words[0].startswith("-"):
        pytest.fail(f"README.md: `{line}`: `{said}` has no subcommand {words[0]} ({sorted(subparsers(parser))})")
    actions = {option: action for action in parser._actions for option in action.option_strings}
    for i, word in enumerate(words):
        option = OPTION.fullmatch(word)
        if not option:
            continue
        name, value = option.group(1), option.group(2)
        assert name in actions, f"README.md: `{line}`: `{said}` has no option {name}"
        choices = actions[name].choices
        if value is None and i + 1 < len(words) and not words[i + 1].startswith(("-", "[")):
            value = words[i + 1]
        if choices and value and all(isinstance(c, str) for c in choices) and not PLACEHOLDER.match(value):
            wrong = [v for v in value.strip("[]").split("|") if v not in choices]
            assert not wrong, f"README.md: `{line}`: {name} takes {sorted(choices)}, not {', '.join(wrong)}"


OVERRIDE = re.compile(r"(model|data|optim)(\.\w+)+=\S*")


def train_overrides() -> list[tuple[str | None, list[str]]]:
    """(recipe, `section.key=value` words) of each `amf-edge train` line README gives."""
    found = []
    for line in COMMAND_LINES:
        words = shlex.split(line, comments=True)
        if words[1] == "train":
            recipe = words[words.index("--config") + 1] if "--config" in words else None
            found.append((recipe, [w for w in words if OVERRIDE.fullmatch(w)]))
    return [(recipe, overrides) for recipe, overrides in found if overrides]


TRAIN_OVERRIDES = train_overrides()
# inline `data.depth_dropout_both=true`: switches README names in its prose, to add to a recipe
SWITCHES = unique(w for span in SPANS for w in span.split() if all(OVERRIDE.fullmatch(x) for x in span.split()))


def test_readme_gives_overrides():
    assert any(recipe == "synthetic-r18" for recipe, _ in TRAIN_OVERRIDES) and len(SWITCHES) > 10


@pytest.mark.parametrize(("recipe", "overrides"), TRAIN_OVERRIDES, ids=[" ".join(o)[:60] for _, o in TRAIN_OVERRIDES])
def test_train_command_recipe_loads(recipe, overrides):
    """An `amf-edge train` line's recipe with its overrides loads as training would load it: every key names a
    setting, every value has its type, and the settings agree with each other."""
    from amf_edge.train.config import load_config

    load_config(recipe, overrides)


@pytest.mark.parametrize("switch", SWITCHES)
def test_switch_names_a_setting(switch):
    """A switch README names in its prose is a real setting: a renamed or mistyped key (`data.depth_dropout_mask=
    true`) fails here rather than at the reader's first training. (Alone a switch may be refused for a setting it
    needs, e.g. masking the depth head without the gate, so only the key is checked.)"""
    from amf_edge.train.config import TrainConfig

    node = TrainConfig().to_dict()
    for key in switch.partition("=")[0].split("."):
        if isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        elif isinstance(node, dict) and key in node:
            node = node[key]
        else:
            pytest.fail(f"README.md names `{switch}`, but the training settings have no {key!r} there")


# -- repository paths ----------------------------------------------------------------------------------------


def repository_roots() -> set[str]:
    """The checkout's top-level entries, less what is generated (.gitignore'd: build/, runs/, ...)."""
    ignored = {line.strip().strip("/") for line in (ROOT / ".gitignore").read_text().splitlines()}
    return {p.name for p in ROOT.iterdir() if not p.name.startswith(".") and p.name not in ignored
            and not p.name.endswith(".egg-info")}


def readme_paths() -> list[str]:
    roots, found = repository_roots(), []
    links = re.findall(r"\]\(([^)\s#]+)\)", PROSE)
    words = [w for text in CODE for w in re.split(r"[\s`(),]+", text)]
    for candidate in [*links, *SPANS, *words]:
        candidate = candidate.strip().rstrip(".:;")
        first = candidate.split("/")[0]
        if "/" not in candidate or first not in roots or "://" in candidate:
            continue
        if any(PLACEHOLDER.match(part) or "<" in part for part in candidate.split("/")):
            continue  # calib_data/NAME: the reader's own
        found.append(candidate)
    return unique(found)


PATHS = readme_paths()


def test_readme_names_repository_paths():
    assert "docs/bench-report.md" in PATHS and len(PATHS) > 20  # links, spans and code lines were read


@pytest.mark.parametrize("path", PATHS)
def test_repository_path_exists(path):
    assert list(ROOT.glob(path.rstrip("/"))), f"README.md names `{path}`, which is not in the repository"
