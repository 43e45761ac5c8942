"""scripts/install-system-deps.sh, the first thing `make demo` and `make test` run on a fresh machine.

The script runs on a PATH of its own: fake apt-get, apt-cache, id, ldconfig and sudo that log what they are
asked, stand-ins for the commands its `cmd:` checks look for, and the few real tools it uses. So the test decides
which packages look missing (its `file:` checks read the host's files, and the assertions allow for that) and
sees what would be installed, by whom, without installing anything. The packages and their checks are read from
the script's own table, so a package added there is covered here without an edit.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "install-system-deps.sh"
BASH = shutil.which("bash")


def checks(kind: str) -> dict[str, str]:
    """The script's own table (its PACKAGES heredoc): package -> what its `kind` check looks for."""
    text = SCRIPT.read_text()
    table = text.split("<<'END'", 1)[1].split("\nEND\n", 1)[0]
    rows = (line.split()[:2] for line in table.splitlines()[1:] if line.strip())
    return {package: check.lstrip("?").split(":", 1)[1] for package, check in rows
            if check.lstrip("?").startswith(kind + ":")}


LIBS = checks("lib")  # the shared libraries the fake ldconfig may list
COMMANDS = checks("cmd")  # the commands the test's PATH may hold
# the file: checks read the host; where a file is absent, its package is (rightly) on the list too
FILES = checks("file")

pytestmark = pytest.mark.skipif(BASH is None, reason="needs bash")


def run(tmp_path: Path, *args: str, uid: int = 0, sudo: bool = False, libs=LIBS, commands=COMMANDS,
        apt_get: str = "", extra: dict[str, str] | None = None):
    """Runs the script with the fakes (`apt_get` is appended to apt-get's, `extra` adds more); returns
    (result, the fakes' log lines)."""
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    log = tmp_path / "calls.log"
    log.write_text("")
    fakes = {
        "apt-get": f'echo "apt-get $*" >> {log}\n{apt_get}',
        "apt-cache": 'echo "  Candidate: 1.0-1"',
        "id": f'[ "$1" = -u ] && echo {uid}',
        "ldconfig": "".join(f'echo "\t{so} (libc6,x86-64) => /lib/{so}"\n' for so in libs.values()),
        **({"sudo": f'echo "sudo $*" >> {log}; exec "$@"'} if sudo else {}),
        **{name: "true" for name in commands.values()},
        **(extra or {}),
    }
    for name, body in fakes.items():
        (bin_ / name).write_text(f"#!{BASH}\n{body}\n")
        (bin_ / name).chmod(0o755)
    for tool in ("env", "grep", "sed"):  # the real tools it uses, and nothing else of the host's PATH
        (bin_ / tool).symlink_to(shutil.which(tool))
    result = subprocess.run([BASH, str(SCRIPT), *args], capture_output=True, text=True, timeout=60,
                            env={"PATH": str(bin_), "HOME": str(tmp_path)})
    return result, log.read_text().splitlines()


def installed(calls: list[str]) -> set[str]:
    (install,) = [c for c in calls if c.startswith("apt-get install ")]  # as apt-get saw it (after sudo)
    return set(install.split("--no-install-recommends", 1)[1].split())


def absent_files() -> set[str]:
    return {package for package, path in FILES.items() if not os.path.exists(path)}


def test_list_names_every_package(tmp_path):
    result, calls = run(tmp_path, "--list")
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) == {*LIBS, *COMMANDS, *FILES, "python3-venv"}
    assert {"libusb-1.0-0", "libgl1", "cmake", "xvfb", "chromium"} <= set(result.stdout.split())
    assert calls == []


def test_installs_only_what_is_missing_after_an_update(tmp_path):
    result, calls = run(tmp_path, libs={k: v for k, v in LIBS.items() if k != "libgl1"},
                        commands={k: v for k, v in COMMANDS.items() if k != "cmake"})
    assert result.returncode == 0, result.stderr
    assert calls[0] == "apt-get update -qq", calls
    assert installed(calls) == {"libgl1", "cmake", *absent_files()}
    assert "installing" in result.stderr and "libgl1" in result.stderr


def test_nothing_missing_runs_no_apt(tmp_path):
    if absent_files():
        pytest.skip(f"this host lacks {sorted(absent_files())}, which the script would rightly install")
    result, calls = run(tmp_path)
    assert result.returncode == 0, result.stderr
    assert calls == [] and result.stderr == ""


def test_not_root_goes_through_sudo(tmp_path):
    result, calls = run(tmp_path, uid=1000, sudo=True, libs={})
    assert result.returncode == 0, result.stderr
    assert calls[:2] == ["sudo apt-get update -qq", "apt-get update -qq"], calls
    assert any(c.startswith("sudo env DEBIAN_FRONTEND=noninteractive apt-get install") for c in calls), calls
    assert set(LIBS) <= installed(calls)


def test_without_root_or_sudo_it_prints_the_command_and_fails(tmp_path):
    result, calls = run(tmp_path, uid=1000, libs={})
    assert result.returncode == 1
    assert calls == []  # apt was never called
    assert "sudo is not available" in result.stderr
    line = next(ln for ln in result.stderr.splitlines() if "apt-get install" in ln)
    assert line.strip().startswith("apt-get update && apt-get install -y --no-install-recommends")
    assert set(LIBS) <= set(line.split())


def test_a_failed_update_says_what_to_run(tmp_path):
    result, calls = run(tmp_path, libs={}, apt_get='[ "$1" != update ] || exit 100')
    assert result.returncode == 1
    assert calls == ["apt-get update -qq"]  # nothing installed after it
    assert "apt-get update failed" in result.stderr and "libusb-1.0-0" in result.stderr


def test_a_debian_python_without_venv_gets_its_venv_package(tmp_path):
    # a Debian-packaged Python 3.10 without ensurepip: the fake prints its version as the script's probe does
    result, calls = run(tmp_path, "py310", extra={"py310": "echo 3.10"})
    assert result.returncode == 0, result.stderr
    system = Path("/usr/bin/python3")  # the script names python3.X-venv unless X is the system Python's
    default = subprocess.run([system, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True,
                             text=True).stdout.strip() if system.exists() else ""
    assert ("python3-venv" if default == "3.10" else "python3.10-venv") in installed(calls)
