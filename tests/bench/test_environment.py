"""amf_edge.bench.environment on faked machines: nvidia-smi outputs, a Jetson file tree, a desktop governor; and
this machine."""

from __future__ import annotations

import importlib.metadata
import json
import math
import os
import platform
import sys
from pathlib import Path

import pytest

from amf_edge.bench import environment
from amf_edge.bench.environment import (
    collect_environment,
    format_environment,
    max_power_mode,
    power_mode_warnings,
    run_command,
)
from amf_edge.gpu import Device

pytestmark = pytest.mark.edge  # torch-free: runs on the edge target too

SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "bench-report.schema.json"
SMI_QUERY = ("nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap,clocks.sm,clocks.max.sm "
             "--format=csv,noheader,nounits")
SMI_QUERY_OLD = ("nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm "
                 "--format=csv,noheader,nounits")
SMI_BANNER = """\
+-----------------------------------------------------------------------------------------+
| NVIDIA-SMI 550.54.14              Driver Version: 550.54.14      CUDA Version: 12.4     |
|-----------------------------------------+------------------------+----------------------+
"""
TEGRA_RELEASE = ("# R36 (release), REVISION: 4.0, GCID: 37537400, BOARD: generic, EABI: aarch64, "
                 "DATE: Fri Sep 13 04:36:44 UTC 2024\n# KERNEL_VARIANT: oot\nTARGET_USERSPACE_LIB_DIR=nvidia\n")
ORIN_CPUINFO = "".join(f"processor\t: {i}\nBogoMIPS\t: 62.50\nCPU implementer\t: 0x41\nCPU architecture: 8\n"
                       f"CPU variant\t: 0x1\nCPU part\t: 0xd42\nCPU revision\t: 1\n\n" for i in range(4))
# Excerpts of /etc/nvpmodel.conf (JetPack 6): mode ids and names differ per board.
AGX_ORIN_CONF = """\
< PARAM TYPE=FILE NAME=CPU_ONLINE >
CPU0 /sys/devices/system/cpu/cpu0/online
< POWER_MODEL ID=0 NAME=MAXN >
CPU_ONLINE CORE_0 1
< POWER_MODEL ID=1 NAME=MODE_15W >
< POWER_MODEL ID=2 NAME=MODE_30W >
< POWER_MODEL ID=3 NAME=MODE_50W >
< PM_CONFIG DEFAULT=2 >
"""
ORIN_NANO_SUPER_CONF = """\
< POWER_MODEL ID=0 NAME=15W >
< POWER_MODEL ID=1 NAME=25W >
< POWER_MODEL ID=2 NAME=MAXN_SUPER >
< PM_CONFIG DEFAULT=2 >
"""
XAVIER_NX_CONF = """\
< POWER_MODEL ID=0 NAME=MODE_15W_2CORE >
< POWER_MODEL ID=2 NAME=MODE_15W_6CORE >
< POWER_MODEL ID=8 NAME=MODE_20W_6CORE >
< POWER_MODEL ID=3 NAME=MODE_10W_2CORE >
"""


class FakeRun:
    """`run` that answers the commands it was given (joined by spaces) and records every call."""

    def __init__(self, answers: dict[str, str] | None = None):
        self.answers = answers or {}
        self.calls: list[str] = []

    def __call__(self, argv: list[str]) -> str | None:
        self.calls.append(" ".join(argv))
        return self.answers.get(" ".join(argv))


def no_device():
    return None


def forbidden_device():
    raise AssertionError("CUDA must not be asked on a machine without a visible GPU")


@pytest.fixture(autouse=True)
def no_cuda_python(monkeypatch):
    """cuda-python's own answer depends on this machine; the fakes decide everything else."""
    monkeypatch.setattr(environment, "_cuda_python_versions", lambda: (None, None))


def write(root: Path, path: str, text: str) -> None:
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)


def environment_validator():
    jsonschema = pytest.importorskip("jsonschema")
    from referencing import Registry, Resource

    schema = json.loads(SCHEMA.read_text())
    uri = schema.get("$id", "urn:amf-edge:bench-report")  # the whole schema, so its own $refs resolve
    registry = Registry().with_resource(uri, Resource.from_contents(schema))
    return jsonschema.Draft202012Validator({"$ref": uri + "#/$defs/environment"}, registry=registry)


# --- nvidia-smi ---------------------------------------------------------------------------------------------


def test_nvidia_smi_fields_driver_and_cuda_version(tmp_path):
    run = FakeRun({SMI_QUERY: "NVIDIA GeForce RTX 4090, 550.54.14, 24564, 8.9, 210, 3120\n", "nvidia-smi": SMI_BANNER})
    env = collect_environment(run=run, root=tmp_path, device=no_device)
    gpu = env["gpu"]
    assert gpu["name"] == "NVIDIA GeForce RTX 4090"
    assert (gpu["driver"], gpu["cuda_driver"], gpu["compute_capability"]) == ("550.54.14", "12.4", "8.9")
    assert gpu["memory_mib"] == 24564
    assert gpu["clocks"] == {"sm_mhz": 210, "sm_max_mhz": 3120}
    assert gpu["count"] == 1
    assert env["jetson"] is None and env["warnings"] == []  # desktop clocks are recorded, never warned about
    assert SMI_QUERY_OLD not in run.calls  # the first query answered


def test_nvidia_smi_not_available_fields_become_none_and_cuda_fills_in(tmp_path):
    run = FakeRun({SMI_QUERY: "Orin (nvgpu), 540.4.0, [N/A], [N/A], [N/A], [Not Supported]\n"})
    gpu = collect_environment(run=run, root=tmp_path, device=lambda: Device("Orin", "8.7", True))["gpu"]
    assert gpu["name"] == "Orin (nvgpu)" and gpu["driver"] == "540.4.0"
    assert gpu["memory_mib"] is None and gpu["clocks"] == {"sm_mhz": None, "sm_max_mhz": None}
    assert gpu["compute_capability"] == "8.7" and gpu["integrated"] is True  # from CUDA, nvidia-smi had [N/A]
    assert gpu["cuda_driver"] is None  # no banner answered


def test_old_driver_without_compute_cap_is_asked_again_without_it(tmp_path):
    run = FakeRun({SMI_QUERY_OLD: "Tesla K80, 470.82.01, 11441, 562, 875\n"})
    gpu = collect_environment(run=run, root=tmp_path, device=no_device)["gpu"]
    assert run.calls[:2] == [SMI_QUERY, SMI_QUERY_OLD]
    assert (gpu["name"], gpu["driver"], gpu["memory_mib"]) == ("Tesla K80", "470.82.01", 11441)
    assert gpu["compute_capability"] is None and gpu["clocks"] == {"sm_mhz": 562, "sm_max_mhz": 875}
    with_cuda = collect_environment(run=run, root=tmp_path, device=lambda: Device("Tesla K80", "3.7"))["gpu"]
    assert with_cuda["compute_capability"] == "3.7"


def test_the_gpu_cuda_uses_is_picked_among_several(tmp_path):
    rows = "NVIDIA T400, 550.54.14, 2048, 7.5, 300, 1425\nNVIDIA RTX A6000, 550.54.14, 49140, 8.6, 210, 2100\n"
    gpu = collect_environment(run=FakeRun({SMI_QUERY: rows}), root=tmp_path,
                              device=lambda: Device("NVIDIA RTX A6000", "8.6"))["gpu"]
    assert (gpu["name"], gpu["memory_mib"], gpu["count"]) == ("NVIDIA RTX A6000", 49140, 2)


def test_no_gpu_no_nvidia_smi_means_gpu_none_without_asking_cuda(tmp_path):
    env = collect_environment(run=FakeRun(), root=tmp_path, device=forbidden_device)
    assert env["gpu"] is None and env["jetson"] is None and env["warnings"] == []


def test_driver_version_from_proc_when_nvidia_smi_is_missing(tmp_path):
    write(tmp_path, "proc/driver/nvidia/version",
          "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.14  Thu Feb 22 01:44:30 UTC 2024\n")
    gpu = collect_environment(run=FakeRun(), root=tmp_path, device=lambda: Device("NVIDIA L4", "8.9"))["gpu"]
    assert (gpu["name"], gpu["driver"], gpu["compute_capability"]) == ("NVIDIA L4", "550.54.14", "8.9")


# --- Jetson -------------------------------------------------------------------------------------------------


def jetson_tree(root: Path, *, pinned: bool, governor: str = "schedutil") -> None:
    write(root, "etc/nv_tegra_release", TEGRA_RELEASE)
    write(root, "proc/device-tree/model", "NVIDIA Jetson AGX Orin Developer Kit\x00")
    write(root, "proc/cpuinfo", ORIN_CPUINFO)
    write(root, "proc/meminfo", "MemTotal:       65890520 kB\nMemFree:         1000 kB\n")
    write(root, "etc/nvpmodel.conf", AGX_ORIN_CONF)
    for cpu in range(4):
        base = f"sys/devices/system/cpu/cpu{cpu}/cpufreq"
        write(root, f"{base}/scaling_cur_freq", "2201600\n" if pinned else "729600\n")
        write(root, f"{base}/scaling_min_freq", "2201600\n" if pinned else "115200\n")
        write(root, f"{base}/scaling_max_freq", "2201600\n")
        write(root, f"{base}/scaling_governor", f"{governor}\n")
    write(root, "sys/class/devfreq/15340000.vic/max_freq", "729600000\n")  # not the GPU: must be skipped
    write(root, "sys/class/devfreq/15340000.vic/min_freq", "115200000\n")
    gpu = "sys/class/devfreq/17000000.ga10b"
    write(root, f"{gpu}/cur_freq", "1300500000\n" if pinned else "306000000\n")
    write(root, f"{gpu}/min_freq", "1300500000\n" if pinned else "306000000\n")
    write(root, f"{gpu}/max_freq", "1300500000\n")


def test_jetson_in_maxn_with_pinned_clocks_has_no_warnings(tmp_path):
    jetson_tree(tmp_path, pinned=True)
    env = collect_environment(run=FakeRun({"nvpmodel -q": "NV Fan Mode:quiet\nNV Power Mode: MAXN\n0\n"}),
                              root=tmp_path, device=no_device)
    jetson = env["jetson"]
    assert jetson["model"] == "NVIDIA Jetson AGX Orin Developer Kit"
    assert (jetson["l4t"], jetson["power_mode"], jetson["power_mode_id"]) == ("36.4.0", "MAXN", 0)
    assert jetson["clocks"]["gpu"] == {"node": "17000000.ga10b", "cur_mhz": 1300.5, "min_mhz": 1300.5,
                                       "max_mhz": 1300.5}
    assert [c["cpu"] for c in jetson["clocks"]["cpu"]] == [0, 1, 2, 3]
    assert jetson["clocks"]["cpu"][0] == {"cpu": 0, "cur_mhz": 2201.6, "min_mhz": 2201.6, "max_mhz": 2201.6}
    assert jetson["clocks"]["emc"] is None  # debugfs needs root
    assert env["warnings"] == []  # schedutil on a Jetson is fine once jetson_clocks pinned the minimum
    assert env["host"]["cpu"] == "ARM Cortex-A78AE on NVIDIA Jetson AGX Orin Developer Kit"
    assert env["host"]["memory_gib"] == pytest.approx(62.84, abs=0.01)
    gpu = env["gpu"]  # no nvidia-smi, no CUDA binding: named after its devfreq node
    assert (gpu["name"], gpu["compute_capability"], gpu["integrated"]) == ("Orin (ga10b)", "8.7", True)
    assert gpu["clocks"] == {"sm_mhz": 1300.5, "sm_max_mhz": 1300.5}


def test_jetson_in_a_lower_mode_with_loose_clocks_warns_twice(tmp_path):
    jetson_tree(tmp_path, pinned=False)
    env = collect_environment(run=FakeRun({"nvpmodel -q": "NV Power Mode: MODE_30W\n2\n"}), root=tmp_path,
                              device=no_device)
    assert (env["jetson"]["power_mode"], env["jetson"]["power_mode_id"]) == ("MODE_30W", 2)
    mode, clocks = env["warnings"]
    assert "power mode 'MODE_30W' (id 2) is not the maximum" in mode
    assert "`sudo nvpmodel -m 0`" in mode and "sudo jetson_clocks" in mode
    assert "not pinned" in clocks and "GPU min 306 < max 1300.5 MHz" in clocks
    assert "CPU cores 0,1,2,3" in clocks and "sudo jetson_clocks" in clocks


def test_jetson_without_nvpmodel_says_so(tmp_path):
    jetson_tree(tmp_path, pinned=True)
    env = collect_environment(run=FakeRun(), root=tmp_path, device=no_device)
    assert env["jetson"]["power_mode"] is None
    assert len(env["warnings"]) == 1 and "nvpmodel not found" in env["warnings"][0]


def test_jetson_detected_by_device_tree_alone_and_cuda_named_gpu(tmp_path):
    write(tmp_path, "proc/device-tree/model", "NVIDIA Jetson Nano Developer Kit\x00")
    env = collect_environment(run=FakeRun({"nvpmodel -q": "NV Power Mode: MAXN\n0\n"}), root=tmp_path,
                              device=lambda: Device("NVIDIA Tegra X1", "5.3", True))
    assert env["jetson"]["model"] == "NVIDIA Jetson Nano Developer Kit" and env["jetson"]["l4t"] is None
    assert env["gpu"]["name"] == "NVIDIA Tegra X1" and env["warnings"] == []


@pytest.mark.parametrize("conf, expected", [(AGX_ORIN_CONF, (0, "MAXN")), (ORIN_NANO_SUPER_CONF, (2, "MAXN_SUPER")),
                                            (XAVIER_NX_CONF, (8, "MODE_20W_6CORE")), (None, None), ("", None)])
def test_the_maximum_power_mode_depends_on_the_board(conf, expected):
    assert max_power_mode(conf) == expected


def test_power_mode_warnings_name_the_boards_maximum():
    assert power_mode_warnings("MAXN_SUPER", 2, ORIN_NANO_SUPER_CONF) == []
    (warning,) = power_mode_warnings("15W", 0, ORIN_NANO_SUPER_CONF)
    assert "'15W' (id 0) is not the maximum" in warning and "`sudo nvpmodel -m 2`" in warning
    assert power_mode_warnings("MODE_20W_6CORE", 8, XAVIER_NX_CONF) == []
    assert power_mode_warnings("MAXN", 0, None) == []  # no conf: trust the name
    assert "`sudo nvpmodel -m 0`" in power_mode_warnings("MODE_10W", 1, None)[0]


def test_garbage_files_never_raise(tmp_path):
    jetson_tree(tmp_path, pinned=True)
    for path in ("proc/meminfo", "etc/nv_tegra_release", "sys/class/devfreq/17000000.ga10b/max_freq",
                 "sys/devices/system/cpu/cpu0/cpufreq/scaling_max_freq", "etc/nvpmodel.conf", "proc/cpuinfo"):
        write(tmp_path, path, "\x00garbage: ??\n")
    (tmp_path / "etc" / "os-release").mkdir()  # a folder where a file should be
    env = collect_environment(run=FakeRun({"nvpmodel -q": "garbage"}), root=tmp_path, device=no_device)
    assert env["host"]["memory_gib"] is None and env["jetson"]["l4t"] is None
    assert env["jetson"]["clocks"]["gpu"]["max_mhz"] is None and env["host"]["os"]  # falls back to the platform
    assert any("nvpmodel" in w for w in env["warnings"])


@pytest.mark.parametrize("files, quota", [({"sys/fs/cgroup/cpu.max": "max 100000\n"}, None),
                                          ({"sys/fs/cgroup/cpu.max": "150000 100000\n"}, 1.5),
                                          ({"sys/fs/cgroup/cpu/cpu.cfs_quota_us": "-1\n",
                                            "sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000\n"}, None),
                                          ({"sys/fs/cgroup/cpu/cpu.cfs_quota_us": "200000\n",
                                            "sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000\n"}, 2.0),
                                          ({}, None)])
def test_container_cpu_quota_limits_the_usable_cores(tmp_path, files, quota):
    for path, text in files.items():
        write(tmp_path, path, text)
    assert environment.cgroup_cpu_quota(tmp_path) == quota
    host = collect_environment(run=FakeRun(), root=tmp_path, device=no_device)["host"]
    if quota is not None:
        assert host["cores_usable"] == min(len(os.sched_getaffinity(0)), math.ceil(quota))


# --- desktop governor ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("governor, warned", [("powersave", True), ("schedutil", True), ("performance", False),
                                              (None, False)])
def test_desktop_governor_warning(tmp_path, governor, warned):
    if governor is not None:
        write(tmp_path, "sys/devices/system/cpu/cpu0/cpufreq/scaling_governor", f"{governor}\n")
    env = collect_environment(run=FakeRun(), root=tmp_path, device=no_device)
    assert env["host"]["cpu_governor"] == governor
    assert bool(env["warnings"]) == warned
    if warned:
        assert f"'{governor}'" in env["warnings"][0] and "cpupower frequency-set -g performance" in env["warnings"][0]


# --- software -----------------------------------------------------------------------------------------------


def test_software_versions_come_from_package_metadata():
    software = environment.software_versions()
    assert software["python"] == platform.python_version()
    assert software["numpy"] == importlib.metadata.version("numpy")
    assert software["amf-edge"]
    assert set(software) >= {"onnxruntime", "torch", "tensorrt", "cuda-python", "pycuda", "opencv", "pyrealsense2"}


def test_tensorrt_without_metadata_is_read_from_the_module(tmp_path, monkeypatch):
    """JetPack's python3-libnvinfer has no pip metadata: the version comes from tensorrt.__version__."""
    write(tmp_path, "tensorrt/__init__.py", '__version__ = "10.3.0"\n')
    monkeypatch.setitem(environment.PACKAGES, "tensorrt", ("no-such-distribution",))
    monkeypatch.delitem(sys.modules, "tensorrt", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert environment.software_versions()["tensorrt"] == "10.3.0"
    monkeypatch.delitem(sys.modules, "tensorrt", raising=False)


# --- this machine, the runner, the text ---------------------------------------------------------------------


def test_this_machine_validates_against_the_schema():
    validator = environment_validator()
    env = collect_environment()
    validator.validate(env)
    assert env["host"]["cores_logical"] >= env["host"]["cores_usable"] >= 1
    json.dumps(env)  # report.json must be able to hold it


def test_faked_jetson_and_gpu_validate_against_the_schema(tmp_path):
    validator = environment_validator()
    jetson_tree(tmp_path, pinned=False)
    run = FakeRun({SMI_QUERY: "Orin (nvgpu), 540.4.0, [N/A], [N/A], [N/A], [N/A]\n", "nvidia-smi": SMI_BANNER,
                   "nvpmodel -q": "NV Power Mode: MODE_15W\n1\n"})
    env = collect_environment(run=run, root=tmp_path, device=lambda: Device("Orin", "8.7", True))
    validator.validate(env)
    assert not validator.is_valid({**env, "gpu": {**env["gpu"], "name": None}})  # the validator does check


def test_run_command_returns_none_for_missing_failing_or_slow_commands():
    assert run_command([sys.executable, "-c", "print('hi')"]) == "hi\n"
    assert run_command(["amf-edge-no-such-command-here"]) is None
    assert run_command([sys.executable, "-c", "raise SystemExit(3)"]) is None
    assert run_command([sys.executable, "-c", "import time; time.sleep(5)"], timeout=0.2) is None


def test_format_environment_lines(tmp_path):
    jetson_tree(tmp_path, pinned=True)
    run = FakeRun({SMI_QUERY: "Orin (nvgpu), 540.4.0, [N/A], 8.7, [N/A], [N/A]\n", "nvidia-smi": SMI_BANNER,
                   "nvpmodel -q": "NV Power Mode: MAXN\n0\n"})
    lines = format_environment(collect_environment(run=run, root=tmp_path, device=no_device))
    text = "\n".join(lines)
    assert lines[0].startswith("CPU: ARM Cortex-A78AE on NVIDIA Jetson AGX Orin Developer Kit")
    assert "GPU: Orin (nvgpu) (compute capability 8.7, driver 540.4.0, CUDA driver 12.4)" in text
    assert f"Python {platform.python_version()}" in text
    assert "Jetson: NVIDIA Jetson AGX Orin Developer Kit, L4T 36.4.0, power mode MAXN (id 0)" in text
    bare = format_environment(collect_environment(run=FakeRun(), root=tmp_path / "empty", device=no_device))
    assert "GPU: none found" in bare and not any(line.startswith("Jetson") for line in bare)
