"""The machine a benchmark ran on: CPU, memory, OS, package versions, GPU, and on Jetson the power mode and clocks.

Latency numbers mean little without it: the same engine runs at half the frame rate on a Jetson left in a
low power mode or with unpinned clocks, and a CPU governor other than `performance` adds noise on a desktop.
`collect_environment()` returns the `environment` object of docs/bench-report.schema.json, with a
`warnings` list for the settings that make numbers incomparable.

Every probe is guarded: a missing file, command or package leaves its field None and never raises, so
the report still gets written on machines we did not foresee. Files are read under `root` and commands
go through `run`, so tests fake a Jetson or an nvidia-smi on a machine that has neither. Standard library
only at import time: package versions come from importlib.metadata, not from importing the packages.
"""

from __future__ import annotations

import csv
import glob
import importlib.metadata
import importlib.util
import math
import os
import platform
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from amf_edge.errors import AmfEdgeError

Runner = Callable[[list[str]], "str | None"]
COMMAND_TIMEOUT_S = 5.0

# Distributions that provide each reported package, first found wins (importlib.metadata normalizes -/_).
PACKAGES = {
    "numpy": ("numpy",),
    "onnxruntime": ("onnxruntime", "onnxruntime-gpu"),
    "torch": ("torch",),
    # pip's `tensorrt` is a meta-package over tensorrt-cu12 (-bindings, -libs); the lean runtime is last.
    "tensorrt": ("tensorrt", "tensorrt-cu12", "tensorrt-cu13", "tensorrt-cu11", "tensorrt-cu12-bindings",
                 "tensorrt-cu13-bindings", "tensorrt-cu11-bindings", "tensorrt_lean"),
    "cuda-python": ("cuda-python", "cuda-bindings"),
    "pycuda": ("pycuda",),
    "opencv": ("opencv-python-headless", "opencv-python", "opencv-contrib-python-headless", "opencv-contrib-python"),
    "pyrealsense2": ("pyrealsense2",),
    "amf-edge": ("amf-edge",),
}
SMI_FIELDS = ("name", "driver_version", "memory.total", "compute_cap", "clocks.sm", "clocks.max.sm")
# Jetson GPU devfreq nodes are named after the GPU (e.g. 17000000.ga10b on Orin, 57000000.gpu on Nano).
JETSON_GPUS = {"ga10b": ("Orin (ga10b)", "8.7"), "gv11b": ("Xavier (gv11b)", "7.2"),
               "gp10b": ("TX2 (gp10b)", "6.2"), "gm20b": ("Nano/TX1 (gm20b)", "5.3")}
GPU_DEVFREQ_MARKERS = ("gpu", *JETSON_GPUS)
# (implementer, part) of /proc/cpuinfo on ARM boards, whose kernels print no "model name".
ARM_CORES = {("0x41", "0xd07"): "ARM Cortex-A57", ("0x41", "0xd08"): "ARM Cortex-A72",
             ("0x41", "0xd42"): "ARM Cortex-A78AE", ("0x4e", "0x004"): "NVIDIA Carmel",
             ("0x41", "0xd0c"): "ARM Neoverse-N1", ("0x41", "0xd40"): "ARM Neoverse-V1",
             ("0x41", "0xd4f"): "ARM Neoverse-V2", ("0x41", "0xd81"): "ARM Cortex-A720"}
JETSON_CLOCKS_HINT = "run `sudo jetson_clocks` (after `sudo nvpmodel -m <max mode>`) for comparable numbers"
GOVERNOR_HINT = "`sudo cpupower frequency-set -g performance` for steadier numbers"


# ---------------------------------------------------------------------------------------------- entry points


def collect_environment(*, run: Runner | None = None, root: str | Path = "/",
                        device: Callable[[], object | None] | None = None) -> dict:
    """The report's `environment`: host, software, gpu, jetson, warnings.

    `run(argv)` returns a command's stdout or None (missing, failed, timed out); `root` is where /proc,
    /sys and /etc are read; `device()` returns CUDA's view of GPU 0 (an `amf_edge.gpu.Device`) or None.
    The defaults probe this machine; tests pass fakes.
    """
    run = run or run_command
    device = device or cuda_device
    root = Path(root)
    warnings: list[str] = []
    jetson = jetson_info(run, root, warnings)
    gpu = gpu_info(run, root, device, jetson)
    host = host_info(root, jetson)
    if jetson is None:
        warnings.extend(governor_warnings(host.get("cpu_governor")))
    return {"host": host, "software": software_versions(), "gpu": gpu, "jetson": jetson, "warnings": warnings}


def format_environment(env: dict) -> list[str]:
    """A few lines for the terminal and report.md (warnings are the caller's to print, they come separately)."""
    host, sw = env["host"], env["software"]
    memory = f", {host['memory_gib']:g} GiB" if host.get("memory_gib") is not None else ""
    lines = [(f"CPU: {host['cpu']} ({host['cores_usable']} of {host['cores_logical']} cores usable{memory}); "
              f"{host.get('os') or '?'}, kernel {host.get('kernel') or '?'}, {host.get('machine') or '?'}")]
    lines.append(f"GPU: {_describe_gpu(env.get('gpu'))}")
    names = (("python", "Python"), ("tensorrt", "TensorRT"), ("onnxruntime", "onnxruntime"), ("torch", "torch"),
             ("numpy", "numpy"), ("amf-edge", "amf-edge"))
    lines.append("Software: " + ", ".join(f"{label} {sw[key]}" for key, label in names if sw.get(key)))
    if env.get("jetson"):
        lines.append(f"Jetson: {describe_jetson(env['jetson'])}")
    return lines


def _describe_gpu(gpu: dict | None) -> str:
    if not gpu:
        return "none found"
    details = [f"compute capability {gpu['compute_capability']}" if gpu.get("compute_capability") else None,
               f"{gpu['memory_mib']:g} MiB" if gpu.get("memory_mib") is not None else None,
               f"driver {gpu['driver']}" if gpu.get("driver") else None,
               f"CUDA driver {gpu['cuda_driver']}" if gpu.get("cuda_driver") else None,
               f"CUDA runtime {gpu['cuda_runtime']}" if gpu.get("cuda_runtime") else None]
    shown = [d for d in details if d]
    return gpu["name"] + (f" ({', '.join(shown)})" if shown else "")


def describe_jetson(jetson: dict) -> str:
    """The board, L4T release and power mode in one line (the terminal and report.md)."""
    mode = jetson.get("power_mode") or "unknown"
    mode_id = f" (id {jetson['power_mode_id']})" if jetson.get("power_mode_id") is not None else ""
    return f"{jetson['model']}, L4T {jetson.get('l4t') or '?'}, power mode {mode}{mode_id}"


# ---------------------------------------------------------------------------------------------- probes


def run_command(argv: list[str], timeout: float = COMMAND_TIMEOUT_S) -> str | None:
    """stdout of `argv`, or None when the program is missing, fails or hangs (a wedged driver can hang nvidia-smi)."""
    # Non-login shells often lack /usr/sbin, where JetPack installs nvpmodel.
    search = os.pathsep.join([os.environ.get("PATH", os.defpath), "/usr/sbin", "/sbin"])
    exe = shutil.which(argv[0], path=search)
    if exe is None:
        return None
    try:
        done = subprocess.run([exe, *argv[1:]], capture_output=True, text=True, errors="replace", timeout=timeout,
                              check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def cuda_device() -> object | None:
    """CUDA's GPU 0 (`amf_edge.gpu.Device`), or None without a CUDA binding, driver or GPU."""
    from amf_edge.gpu import query_device

    try:
        return query_device()
    except (AmfEdgeError, OSError, RuntimeError):
        return None


def _read(root: Path, path: str) -> str | None:
    """A text file under `root`, or None when it is missing or unreadable (debugfs needs root: skip quietly)."""
    try:
        return (root / path.lstrip("/")).read_text(errors="replace")
    except (OSError, ValueError):
        return None


def _read_number(root: Path, path: str) -> float | None:
    text = _read(root, path)
    try:
        return float(text.strip()) if text is not None else None
    except ValueError:
        return None


def _mhz(value: float | None, per_mhz: float) -> float | None:
    return round(value / per_mhz, 1) if value is not None else None


# ---------------------------------------------------------------------------------------------- host


def host_info(root: Path, jetson: dict | None = None) -> dict:
    """CPU model, cores, memory, OS; the CPU governor too (noise on desktops, see `governor_warnings`)."""
    logical = os.cpu_count() or 1
    # taskset and container cpusets restrict the cores a process may use; the bench's threads only get those.
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else logical
    quota = cgroup_cpu_quota(root)
    if quota is not None:
        usable = max(1, min(usable, math.ceil(quota)))
    governor = _read(root, "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
    return {
        "cpu": cpu_model(root, jetson),
        "cores_logical": logical,
        "cores_usable": usable,
        "memory_gib": memory_gib(root),
        "os": os_name(root),
        "kernel": platform.release(),
        "machine": platform.machine(),
        "cpu_governor": governor.strip() if governor else None,
    }


def cgroup_cpu_quota(root: Path) -> float | None:
    """CPUs' worth of time a container may use (docker --cpus), None when unlimited.

    cgroup v2's cpu.max holds "max 100000" or "<quota> <period>"; v1 splits them into cpu.cfs_quota_us (-1: none)
    and cpu.cfs_period_us.
    """
    v2 = (_read(root, "/sys/fs/cgroup/cpu.max") or "").split()
    if len(v2) == 2:
        quota, period = v2
    else:
        quota = (_read(root, "/sys/fs/cgroup/cpu/cpu.cfs_quota_us") or "").strip()
        period = (_read(root, "/sys/fs/cgroup/cpu/cpu.cfs_period_us") or "").strip()
    try:
        value = float(quota) / float(period)
    except ValueError:  # "max", empty: no limit, or no cgroup files
        return None
    return value if value > 0 else None


def cpu_model(root: Path, jetson: dict | None = None) -> str:
    """/proc/cpuinfo's model name; on ARM boards (no model name) the core type and the board."""
    fields = _cpuinfo_fields(_read(root, "/proc/cpuinfo") or "")
    if fields.get("model name"):
        return fields["model name"]
    core = ARM_CORES.get((fields.get("CPU implementer", "").lower(), fields.get("CPU part", "").lower()))
    board = fields.get("Hardware") or (jetson or {}).get("model") or _device_tree_model(root)
    if core or board:
        return " on ".join(x for x in (core, board) if x)
    return platform.processor() or platform.machine() or "unknown"


def _cpuinfo_fields(text: str) -> dict[str, str]:
    """The first value of each key (the first core's block: every core of the boards we run on is alike)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() not in fields:
            fields[key.strip()] = value.strip()
    return fields


def memory_gib(root: Path) -> float | None:
    match = re.search(r"^MemTotal:\s+(\d+)\s*kB", _read(root, "/proc/meminfo") or "", re.MULTILINE)
    return round(int(match.group(1)) / 2**20, 2) if match else None


def os_name(root: Path) -> str:
    """PRETTY_NAME of os-release; the platform's own name where there is none (macOS, Windows, minimal images)."""
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        match = re.search(r'^PRETTY_NAME=("?)(.*)\1\s*$', _read(root, path) or "", re.MULTILINE)
        if match and match.group(2):
            return match.group(2)
    return platform.platform(terse=True) or platform.system() or "unknown"


def governor_warnings(governor: str | None) -> list[str]:
    """A desktop CPU left to an on-demand governor ramps its clock with load: noise in the latencies.

    Machines without cpufreq (most VMs) have no governor; nothing to say there.
    """
    if governor is None or governor == "performance":
        return []
    return [(f"CPU frequency governor is '{governor}', not 'performance': clock changes add noise to the latencies; "
             f"{GOVERNOR_HINT}")]


# ---------------------------------------------------------------------------------------------- software


def software_versions() -> dict[str, str | None]:
    """Versions of Python and the packages that shape the numbers; None for those not installed."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for key, dists in PACKAGES.items():
        versions[key] = _dist_version(dists)
    if versions["tensorrt"] is None:
        versions["tensorrt"] = _module_version("tensorrt")
    if versions["amf-edge"] is None:
        from amf_edge import __version__  # a checkout on sys.path without `pip install -e`

        versions["amf-edge"] = __version__
    return versions


def _dist_version(dists: tuple[str, ...]) -> str | None:
    for dist in dists:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def _module_version(module: str) -> str | None:
    """__version__ of an importable module without pip metadata (JetPack's python3-libnvinfer installs tensorrt
    through apt). Imported only when it exists and no distribution answered."""
    try:
        if importlib.util.find_spec(module) is None:
            return None
        version = getattr(importlib.import_module(module), "__version__", None)
    except Exception:  # noqa: BLE001 -- a broken install (missing libnvinfer) must not stop the report
        return None
    return str(version) if version is not None else None


# ---------------------------------------------------------------------------------------------- GPU


def gpu_info(run: Runner, root: Path, device: Callable[[], object | None], jetson: dict | None) -> dict | None:
    """The GPU the bench runs on, from nvidia-smi where it answers, else CUDA (Jetson), else Jetson's sysfs."""
    rows = nvidia_smi_rows(run)
    visible = bool(rows) or jetson is not None or _nvidia_driver_loaded(root)
    cuda = device() if visible else None
    if not rows and cuda is None and jetson is None:
        return None
    row = _matching_row(rows, getattr(cuda, "name", None))
    gpu = {"name": None, "driver": None, "cuda_driver": None, "cuda_runtime": None, "compute_capability": None,
           "memory_mib": None, "integrated": None, "clocks": None, "count": len(rows) or None}
    if row:
        gpu.update(row)
    if cuda is not None:
        # CUDA's answer is authoritative for what the bench uses (it honours CUDA_VISIBLE_DEVICES).
        gpu["name"] = gpu["name"] or cuda.name
        gpu["compute_capability"] = gpu["compute_capability"] or cuda.compute_capability
        gpu["integrated"] = bool(cuda.integrated)
    if jetson is not None:
        _fill_from_jetson(gpu, jetson)
    gpu["name"] = gpu["name"] or "unknown NVIDIA GPU"
    gpu["driver"] = gpu["driver"] or _proc_driver_version(root)
    gpu["cuda_driver"] = _cuda_driver_version(run) if rows else None
    driver, runtime = _cuda_python_versions() if visible else (None, None)
    gpu["cuda_driver"] = gpu["cuda_driver"] or driver
    gpu["cuda_runtime"] = runtime
    return gpu


def nvidia_smi_rows(run: Runner) -> list[dict]:
    """One dict per GPU nvidia-smi lists; [] without nvidia-smi or GPU.

    Drivers before R510 reject the compute_cap field (the whole query fails), so ask again without it.
    """
    for fields in (SMI_FIELDS, tuple(f for f in SMI_FIELDS if f != "compute_cap")):
        out = run(["nvidia-smi", f"--query-gpu={','.join(fields)}", "--format=csv,noheader,nounits"])
        if out is not None and out.strip():
            rows = csv.reader(out.strip().splitlines(), skipinitialspace=True)
            return [_smi_row(dict(zip(fields, values, strict=False))) for values in rows]  # short rows: fields None
    return []


def _smi_row(raw: dict[str, str]) -> dict:
    value = {k: _smi_value(v) for k, v in raw.items()}
    return {
        "name": value.get("name"),
        "driver": value.get("driver_version"),
        "memory_mib": _number(value.get("memory.total")),
        "compute_capability": value.get("compute_cap"),
        # Recorded, not judged: desktop GPUs idle at low clocks and boost under load.
        "clocks": {"sm_mhz": _number(value.get("clocks.sm")), "sm_max_mhz": _number(value.get("clocks.max.sm"))},
    }


def _smi_value(text: str) -> str | None:
    """nvidia-smi writes [N/A] or [Not Supported] (Jetson, some vGPUs) for what it cannot tell."""
    text = text.strip()
    return None if not text or text.startswith("[") or text in ("N/A", "Not Supported") else text


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _matching_row(rows: list[dict], cuda_name: str | None) -> dict | None:
    """nvidia-smi's row for CUDA's device 0: nvidia-smi orders by PCI bus, CUDA fastest first."""
    for row in rows:
        if cuda_name and row.get("name") == cuda_name:
            return row
    return rows[0] if rows else None


def _nvidia_driver_loaded(root: Path) -> bool:
    return any((root / p).exists() for p in ("proc/driver/nvidia/version", "dev/nvidia0", "dev/nvhost-ctrl-gpu"))


def _proc_driver_version(root: Path) -> str | None:
    """The kernel module's version ("NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.14 ...")."""
    text = _read(root, "/proc/driver/nvidia/version") or ""
    match = re.search(r"Kernel Module(?:\s+for\s+\S+)?\s+(\d+\.\d+(?:\.\d+)?)", text)
    return match.group(1) if match else None


def _cuda_driver_version(run: Runner) -> str | None:
    """The CUDA version the driver supports, from nvidia-smi's banner ("CUDA Version: 12.6")."""
    match = re.search(r"CUDA Version:\s*(\d+\.\d+)", run(["nvidia-smi"]) or "")
    return match.group(1) if match else None


def _cuda_python_versions() -> tuple[str | None, str | None]:
    """(driver, runtime) CUDA versions through cuda-python when it is installed; its runtime is the one it binds."""
    if importlib.util.find_spec("cuda") is None:
        return None, None
    from amf_edge.gpu import cuda_python_runtime

    try:
        rt = cuda_python_runtime()
        return _cuda_version(rt.cudaDriverGetVersion()), _cuda_version(rt.cudaRuntimeGetVersion())
    except Exception:  # noqa: BLE001 -- a binding without its libraries must not stop the report
        return None, None


def _cuda_version(answer) -> str | None:
    """cuda-python answers (error, 12060); 0 means no driver."""
    err, value = answer
    if int(err) != 0 or not value:
        return None
    return f"{value // 1000}.{value % 1000 // 10}"


def _fill_from_jetson(gpu: dict, jetson: dict) -> None:
    """Jetson's GPU shares the host memory and is named by its devfreq node when CUDA cannot be asked."""
    gpu["integrated"] = True
    devfreq = (jetson.get("clocks") or {}).get("gpu") or {}
    known = next((v for k, v in JETSON_GPUS.items() if k in (devfreq.get("node") or "")), None)
    if known:
        gpu["name"] = gpu["name"] or known[0]
        gpu["compute_capability"] = gpu["compute_capability"] or known[1]
    if gpu.get("clocks") is None or not any(gpu["clocks"].values()):
        gpu["clocks"] = {"sm_mhz": devfreq.get("cur_mhz"), "sm_max_mhz": devfreq.get("max_mhz")}


# ---------------------------------------------------------------------------------------------- Jetson


def jetson_info(run: Runner, root: Path, warnings: list[str]) -> dict | None:
    """Model, L4T release, power mode and clocks of a Jetson, None elsewhere; appends what to fix to `warnings`."""
    release = _read(root, "/etc/nv_tegra_release")
    model = _device_tree_model(root)
    if release is None and not _is_jetson_model(root, model):
        return None
    mode, mode_id = power_mode(run)
    clocks = jetson_clocks(root)
    info = {"model": model or "NVIDIA Jetson (model unknown)", "l4t": l4t_version(release), "power_mode": mode,
            "power_mode_id": mode_id, "clocks": clocks}
    warnings.extend(power_mode_warnings(mode, mode_id, _read(root, "/etc/nvpmodel.conf")))
    warnings.extend(clock_warnings(clocks))
    return info


def _device_tree_model(root: Path) -> str | None:
    for path in ("/proc/device-tree/model", "/sys/firmware/devicetree/base/model"):
        text = _read(root, path)
        if text:
            return text.replace("\x00", "").strip() or None
    return None


def _is_jetson_model(root: Path, model: str | None) -> bool:
    """A Jetson (or IGX) board without nv_tegra_release: its model says Jetson, or NVIDIA on a Tegra SoC."""
    if not model:
        return False
    compatible = (_read(root, "/proc/device-tree/compatible") or "").lower()
    return "jetson" in model.lower() or ("nvidia" in model.lower() and "tegra" in compatible)


def l4t_version(release: str | None) -> str | None:
    """"# R36 (release), REVISION: 4.0, GCID: ..." -> "36.4.0"."""
    match = re.search(r"#\s*R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)", release or "")
    return f"{match.group(1)}.{match.group(2).rstrip('.')}" if match else None


def power_mode(run: Runner) -> tuple[str | None, int | None]:
    """(name, id) from `nvpmodel -q` ("NV Power Mode: MAXN" then the id on its own line)."""
    out = run(["nvpmodel", "-q"])
    match = re.search(r"NV Power Mode:\s*(\S+)\s*\n\s*(\d+)?", out or "")
    if not match:
        return None, None
    return match.group(1), int(match.group(2)) if match.group(2) is not None else None


def power_mode_warnings(mode: str | None, mode_id: int | None, conf: str | None) -> list[str]:
    """Anything but the board's maximum mode throttles the GPU and CPU (ESANet users measured half the FPS)."""
    if mode is None:
        return [("nvpmodel not found or did not answer: the power mode is unknown; `sudo nvpmodel -m 0` "
                 "(the maximum on most boards) then `sudo jetson_clocks` for comparable numbers")]
    best = max_power_mode(conf)
    if best is not None and (best[0] == mode_id or best[1] == mode):
        return []
    if best is None and mode.upper().startswith("MAXN"):
        return []
    target = best[0] if best is not None else 0
    shown_id = mode_id if mode_id is not None else "?"
    return [(f"power mode '{mode}' (id {shown_id}) is not the maximum; `sudo nvpmodel -m {target}` then "
             "`sudo jetson_clocks` for comparable numbers — ESANet users measured half the FPS without it")]


def max_power_mode(conf: str | None) -> tuple[int, str] | None:
    """(id, name) of the fastest mode in /etc/nvpmodel.conf: the MAXN one, else the most watts.

    Mode ids differ per board (Orin Nano's MAXN_SUPER is 2, Xavier NX has no MAXN), so id 0 is only a guess.
    """
    modes = [(int(i), name) for i, name in re.findall(r"<\s*POWER_MODEL\s+ID=(\d+)\s+NAME=(\S+?)\s*>", conf or "")]
    if not modes:
        return None
    maxn = [m for m in modes if "MAXN" in m[1].upper()]
    if maxn:
        return next((m for m in maxn if "SUPER" in m[1].upper()), maxn[0])
    return max(modes, key=lambda m: _watts(m[1]))


def _watts(name: str) -> float:
    match = re.search(r"(\d+(?:\.\d+)?)W", name.upper())
    return float(match.group(1)) if match else -1.0


def jetson_clocks(root: Path) -> dict:
    """CPU cores' and the GPU's current/min/max clocks in MHz, and the EMC (memory) clock where readable."""
    return {"cpu": cpu_clocks(root), "gpu": gpu_devfreq(root), "emc": emc_clock(root)}


def cpu_clocks(root: Path) -> list[dict]:
    """Per online core, from cpufreq (kHz)."""
    cores = []
    for path in sorted(glob.glob(str(root / "sys/devices/system/cpu/cpu[0-9]*/cpufreq")), key=_core_number):
        rel = os.path.relpath(path, root)
        values = {k: _mhz(_read_number(root, f"{rel}/scaling_{k}_freq"), 1e3) for k in ("cur", "min", "max")}
        cores.append({"cpu": _core_number(path), **{f"{k}_mhz": v for k, v in values.items()}})
    return cores


def _core_number(path: str) -> int:
    match = re.search(r"cpu(\d+)", os.path.basename(os.path.dirname(path)))
    return int(match.group(1)) if match else -1


def gpu_devfreq(root: Path) -> dict | None:
    """The GPU's devfreq node (Hz): ga10b (Orin), gv11b (Xavier), gp10b (TX2), *.gpu (Nano)."""
    for path in sorted(glob.glob(str(root / "sys/class/devfreq/*"))):
        node = os.path.basename(path)
        if any(marker in node.lower() for marker in GPU_DEVFREQ_MARKERS):
            rel = os.path.relpath(path, root)
            values = {k: _mhz(_read_number(root, f"{rel}/{k}_freq"), 1e6) for k in ("cur", "min", "max")}
            return {"node": node, **{f"{k}_mhz": v for k, v in values.items()}}
    return None


def emc_clock(root: Path) -> dict | None:
    """The memory clock from BPMP's debugfs (Hz); only root can read it, so usually None."""
    base = "/sys/kernel/debug/bpmp/debug/clk/emc"
    rate = _read_number(root, f"{base}/rate")
    if rate is None:
        return None
    return {"cur_mhz": _mhz(rate, 1e6), "max_mhz": _mhz(_read_number(root, f"{base}/max_rate"), 1e6)}


def clock_warnings(clocks: dict) -> list[str]:
    """jetson_clocks pins each clock's minimum to its maximum; a lower minimum means it was not run."""
    loose = []
    gpu = clocks.get("gpu") or {}
    if _below(gpu.get("min_mhz"), gpu.get("max_mhz")):
        loose.append(f"GPU min {gpu['min_mhz']:g} < max {gpu['max_mhz']:g} MHz")
    cpus = [c["cpu"] for c in clocks.get("cpu") or [] if _below(c.get("min_mhz"), c.get("max_mhz"))]
    if cpus:
        loose.append(f"CPU cores {','.join(map(str, cpus))} min < max")
    if not loose:
        return []
    return [f"clocks are not pinned ({'; '.join(loose)}): {JETSON_CLOCKS_HINT}"]


def _below(low: float | None, high: float | None) -> bool:
    return low is not None and high is not None and low < high
