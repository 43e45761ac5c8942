"""GPU truth: what CI cannot check, checked by one command on a machine with an NVIDIA GPU and PyTorch with CUDA.

    make gpu-check                     (python -m experiments.gpu_check; a few minutes)

1. the GPU: nvidia-smi and PyTorch must both see one; else one line and exit status 2, so it is safe anywhere;
2. `pytest -m gpu` over the gpu-marked test modules, among them tests/runtime/test_cuda_gpu.py, which drives
   runtime/cuda.py's cuda-python implementation (memory, pinned memory, streams, timing events, copies both
   ways, a captured graph);
3. the native part configured with the CUDA toolkit into build/native-cuda, built, and its ctest (the Cuda.*
   tests are the ones that use the GPU; NATIVE_CMAKE_ARGS adds configure options);
4. asymfusion-r18 and -r34 timed in PyTorch at 480×640, batch 1: FP32, FP16, FP16 channels_last, and that in
   a CUDA graph, the nearest stand-in for a TensorRT engine without TensorRT.

It writes OUT/gpu-check.json (default runs/gpu-check) and rewrites docs/benchmarks.md between BEGIN and END;
`--render JSON` rewrites it from a recorded run. Exit status 1 when a step failed; a step whose tools are
missing (pytest, CMake, nlohmann-json, GoogleTest) is skipped and says so. Where amf-edge is not installed (a
GPU machine's own Python), its stage folders are imported from this checkout (`use_checkout`).
"""

from __future__ import annotations

import argparse
import importlib.abc
import importlib.util
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- bench:gpu:begin -->", "<!-- bench:gpu:end -->"
COMMAND = "make gpu-check"
NO_GPU_EXIT = 2
# pyproject.toml's [tool.setuptools.package-dir]: the stage folders an install maps into amf_edge
STAGES = {"amf_edge.train": "train", "amf_edge.convert": "convert", "amf_edge.runtime": "runtime",
          "amf_edge.bench": "bench"}
CUDA_TESTS = "tests/runtime/test_cuda_gpu.py"
# (label, float16, channels_last, CUDA graph). At batch 1 the eager rows are bound by Python's kernel launches (on
# an H200, FP16 eager ran slower than FP32), so the graph rows in both precisions are the ones that compare precision
VARIANTS = (("FP32", False, False, False), ("FP16", True, False, False), ("FP16 channels_last", True, True, False),
            ("FP32, CUDA graph", False, False, True), ("FP16 channels_last, CUDA graph", True, True, True))


class _StageFinder(importlib.abc.MetaPathFinder):
    """amf_edge.train, .convert, .runtime, .bench from this checkout's folders, as the editable install maps them."""

    def find_spec(self, name, path=None, target=None):
        if name not in STAGES:
            return None
        folder = ROOT / STAGES[name]
        return importlib.util.spec_from_file_location(name, folder / "__init__.py",
                                                      submodule_search_locations=[str(folder)])


def use_checkout() -> None:
    """Make `import amf_edge.runtime` (and the other stages) work from this checkout without `pip install`."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    if importlib.util.find_spec("amf_edge.runtime") is None:
        sys.meta_path.append(_StageFinder())


def run(argv: list[str], timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    """A step's command, its output kept and echoed; a command that hangs is stopped after `timeout` s (exit 124)."""
    print("$", shlex.join(str(a) for a in argv), flush=True)
    try:
        done = subprocess.run(argv, capture_output=True, text=True, errors="replace", check=False, timeout=timeout,
                              **kwargs)
    except subprocess.TimeoutExpired:
        done = subprocess.CompletedProcess(argv, 124, "", f"{argv[0]} did not finish within {timeout:g} s\n")
    print(done.stdout + done.stderr, end="", flush=True)
    return done


def last_line(text: str) -> str:
    return next((line.strip() for line in reversed(text.splitlines()) if line.strip()), "")


# -- 1. the GPU ----------------------------------------------------------------------------------------------


def find_gpu() -> str | None:
    """None when nvidia-smi and PyTorch both see a GPU, else why not."""
    if shutil.which("nvidia-smi") is None:
        return "nvidia-smi not found"
    try:
        done = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=60, check=False)
    except subprocess.TimeoutExpired:
        return "nvidia-smi did not answer within 60 s"
    if done.returncode != 0 or "GPU" not in done.stdout:
        return f"nvidia-smi lists no GPU ({last_line(done.stdout + done.stderr) or f'exit {done.returncode}'})"
    if importlib.util.find_spec("torch") is None:
        return f"PyTorch is not installed for {sys.executable} (make gpu-check GPU_PYTHON=... picks another Python)"
    import torch

    if not torch.cuda.is_available():
        return f"PyTorch {torch.__version__} sees no CUDA device (a CPU build of torch?)"
    return None


def environment() -> dict:
    import torch

    from amf_edge.bench.environment import collect_environment

    env = collect_environment()
    nvcc = subprocess.run(["nvcc", "--version"], capture_output=True, text=True, check=False).stdout \
        if shutil.which("nvcc") else ""
    release = next((line.split("release", 1)[1].strip() for line in nvcc.splitlines() if "release" in line), None)
    return {"gpu": env["gpu"], "software": env["software"], "torch_cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(), "nvcc": release,
            "python": platform.python_version(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


# -- 2. pytest -m gpu ----------------------------------------------------------------------------------------


def gpu_test_files() -> list[str]:
    """The test modules with gpu-marked tests (pytest imports every module it is given; the others need packages
    a GPU machine's Python may lack)."""
    return sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").rglob("test_*.py")
                  if "pytest.mark.gpu" in p.read_text(encoding="utf-8"))


def junit_cases(path: Path) -> list[dict]:
    """[{name, outcome: passed|failed|skipped, detail}] from pytest's or ctest's JUnit XML."""
    cases = []
    for case in ET.parse(path).getroot().iter("testcase"):
        outcome, detail = "passed", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = "skipped" if child.tag == "skipped" else "failed"
                message = child.get("message") or ""
                detail = "" if message == "SKIP_REGULAR_EXPRESSION_MATCHED" else (message.splitlines() or [""])[0]
        if case.get("status") in ("notrun", "disabled"):  # ctest's
            outcome = "skipped"
        name, group = case.get("name", ""), case.get("classname")  # ctest repeats the name as the classname
        cases.append({"name": f"{group}.{name}" if group and group != name else name, "outcome": outcome,
                      "detail": detail})
    return cases


def step_result(cases: list[dict], what: str) -> dict:
    """One step's status from its test cases: failed if any failed, passed if any passed, else skipped."""
    counts = {o: sum(c["outcome"] == o for c in cases) for o in ("passed", "failed", "skipped")}
    status = "failed" if counts["failed"] else "passed" if counts["passed"] else "skipped"
    reasons = sorted({c["detail"] for c in cases if c["outcome"] == "skipped" and c["detail"]})
    detail = ", ".join(f"{n} {o}" for o, n in counts.items() if n) or f"no {what} found"
    return {"status": status, "detail": detail + (f" ({'; '.join(reasons)})" if reasons else ""), "tests": cases}


def pytest_gpu(out: Path) -> tuple[dict, dict]:
    """(all gpu-marked tests, the runtime/cuda.py ones among them)."""
    if importlib.util.find_spec("pytest") is None:
        skipped = {"status": "skipped", "detail": f"pytest is not installed for {sys.executable}"}
        return skipped, skipped
    xml = out / "pytest-gpu.xml"
    xml.unlink(missing_ok=True)  # a file from an earlier run would stand in for a run that wrote none
    boot = "import sys; from experiments.gpu_check import use_checkout; use_checkout(); import pytest; " \
           "sys.exit(pytest.main(sys.argv[1:]))"
    done = run([sys.executable, "-c", boot, "-m", "gpu", "-p", "no:cacheprovider", f"--junitxml={xml}",
                *gpu_test_files()], cwd=ROOT)
    failed = {"status": "failed",
              "detail": f"pytest exit {done.returncode}: {last_line(done.stdout) or last_line(done.stderr)}"}
    if not xml.exists():
        return failed, failed
    cases = junit_cases(xml)
    everything = step_result(cases, "gpu-marked tests")
    if done.returncode not in (0, 5) and everything["status"] != "failed":  # e.g. a module that does not import
        everything.update(failed)
    module = CUDA_TESTS.removesuffix(".py").replace("/", ".")
    return everything, step_result([c for c in cases if c["name"].startswith(module)], f"tests in {CUDA_TESTS}")


# -- 3. the native part with CUDA ----------------------------------------------------------------------------


def native(out: Path, build: Path) -> dict:
    if shutil.which("cmake") is None:
        return {"status": "skipped", "detail": "cmake not found"}
    generator = ["-G", "Ninja"] if shutil.which("ninja") and not (build / "CMakeCache.txt").exists() else []
    configure = run(["cmake", "-S", str(ROOT), "-B", str(build), *generator, "-DCMAKE_BUILD_TYPE=Release",
                     *shlex.split(os.environ.get("NATIVE_CMAKE_ARGS", ""))])
    log = configure.stdout + configure.stderr
    if configure.returncode != 0:
        missing = "nlohmann_json" in log or "GoogleTest" in log
        reason = next((line.strip() for line in log.splitlines() if "needs" in line or "need " in line), "")
        return {"status": "skipped" if missing else "failed",
                "detail": f"CMake configure failed: {reason or last_line(log)}"}
    cuda_line = next((line.split("CUDA toolkit", 1)[1].strip() for line in log.splitlines() if "CUDA toolkit" in line),
                     "")
    if cuda_line.startswith("not found"):
        return {"status": "failed", "detail": "CMake found no CUDA toolkit (set CUDAToolkit_ROOT in NATIVE_CMAKE_ARGS)"}
    built = run(["cmake", "--build", str(build), "--parallel"])
    if built.returncode != 0:
        return {"status": "failed", "detail": f"build failed: {last_line(built.stdout + built.stderr)}"}
    xml = out / "ctest.xml"
    xml.unlink(missing_ok=True)
    run(["ctest", "--test-dir", str(build), "--output-on-failure", "--output-junit", str(xml.resolve())])
    if not xml.exists():
        return {"status": "failed", "detail": "ctest wrote no results"}
    cases = junit_cases(xml)
    result = step_result(cases, "ctest tests")
    cuda = [c for c in cases if c["name"].startswith("Cuda.")]  # native/tests/cuda_test.cpp's
    each = ", ".join(f"{c['name']} {c['outcome']}" for c in cuda)
    result["detail"] += f"; CUDA toolkit {cuda_line}; {each or 'no Cuda.* tests'}"
    result["cuda_tests"] = cuda
    return result


# -- 4. timing -----------------------------------------------------------------------------------------------


def time_presets(presets: list[str], height: int, width: int, iters: int, warmup: int) -> list[dict]:
    """Each preset in each variant: median of `iters` back-to-back forwards (ensemble logits), CUDA events."""
    import torch

    from amf_edge.models import build_model

    torch.backends.cudnn.benchmark = True  # cuDNN picks its fastest kernels per shape, as TensorRT's tactics do
    rows = []
    for preset in presets:
        for label, fp16, channels_last, graph in VARIANTS:
            torch.manual_seed(0)  # random weights: latency does not depend on their values
            dtype = torch.float16 if fp16 else torch.float32
            fmt = torch.channels_last if channels_last else torch.contiguous_format
            model = build_model(preset, num_classes=40).eval().to("cuda", dtype).to(memory_format=fmt)
            rgb = torch.randn(1, 3, height, width, device="cuda", dtype=dtype).contiguous(memory_format=fmt)
            depth = torch.rand(1, 1, height, width, device="cuda", dtype=dtype).contiguous(memory_format=fmt)
            with torch.no_grad():
                forward = partial(model, rgb, depth)
                step = captured(forward) if graph else forward
                ms = event_times(step, iters, warmup)
            rows.append({"preset": preset, "variant": label, "height": height, "width": width, "iters": iters,
                         "median_ms": ms[len(ms) // 2], "p90_ms": ms[int(len(ms) * 0.9)], "min_ms": ms[0],
                         "peak_mib": torch.cuda.max_memory_allocated() / 2**20})
            print(f"{preset} {label}: median {rows[-1]['median_ms']:.3f} ms", flush=True)
            del model, rgb, depth, forward, step
            torch.cuda.empty_cache()
    return rows


def captured(forward):
    """`forward` captured into a CUDA graph; returns its replay."""
    import torch

    side = torch.cuda.Stream()  # warm up off the default stream before capture, as PyTorch's docs require
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            forward()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        forward()
    return graph.replay


def event_times(step, iters: int, warmup: int) -> list[float]:
    """Sorted milliseconds of `iters` calls of `step`, each between two CUDA events, after `warmup` calls. The peak
    memory counter restarts after the warm-up: cuDNN's autotuning tries workspaces there that the steady state does
    not hold (4.3 GiB for the first configuration on an H200)."""
    import torch

    for _ in range(warmup):
        step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(iters)]
    for start, end in events:
        start.record()
        step()
        end.record()
    torch.cuda.synchronize()
    return sorted(start.elapsed_time(end) for start, end in events)


# -- the report ----------------------------------------------------------------------------------------------


def render(report: dict | None) -> str:
    """docs/benchmarks.md's GPU section, BEGIN and END included; without a report, that no run has been made."""
    lines = [BEGIN, "## GPU check: `make gpu-check`", "", "```", COMMAND, "```", ""]
    if report is None:
        lines += ["No GPU run has been made yet. On a machine with an NVIDIA GPU and PyTorch with CUDA, "
                  "`make gpu-check` (`python -m experiments.gpu_check`) runs the gpu-marked tests, builds the native "
                  "part with CUDA and runs its ctest, drives runtime/cuda.py through cuda-python, times "
                  "asymfusion-r18 and asymfusion-r34 at 480×640 in PyTorch (FP32, FP16, channels_last, CUDA graphs) "
                  "and rewrites this section with what it measured.", END]
        return "\n".join(lines)
    env, gpu = report["environment"], report["environment"]["gpu"] or {}
    sw = env["software"]
    lines += [f"Measured on {env['date']}: {gpu.get('name')} (driver {gpu.get('driver')}, compute capability "
              f"{gpu.get('compute_capability')}, {gpu.get('memory_mib') or 0:.0f} MiB), CUDA {env['torch_cuda']} "
              f"(PyTorch's; CUDA runtime {gpu.get('cuda_runtime')} through cuda-python, nvcc: {env['nvcc']}), "
              f"PyTorch {sw.get('torch')}, cuDNN {env['cudnn']}, cuda-python {sw.get('cuda-python')}, "
              f"Python {env['python']}.", "", "| check | result | detail |", "|---|---|---|"]
    lines += [f"| {name} | {step['status']} | {step['detail'].replace('|', '/')} |"
              for name, step in report["steps"].items()]
    if report.get("timings"):
        first = report["timings"][0]
        lines += ["", f"Latency at {first['height']}×{first['width']}, batch 1, 40 classes, random weights (latency "
                  "does not depend on their values), eval mode: the network's forward to ensemble logits at stride 4 "
                  f"(no upsampling or argmax). Median of {first['iters']} back-to-back forwards, each between two "
                  "CUDA events, after warm-up; cuDNN autotuning on; FP32 with PyTorch's defaults (TF32 "
                  "convolutions, as TensorRT's FP32 engines use by default). PyTorch stands in for a TensorRT "
                  "engine, which this check cannot build: the CUDA graph rows remove Python's kernel launches, "
                  "as an engine does, but not PyTorch's kernel choice; eager rows at batch 1 are bound by those "
                  "launches, so precision compares between the graph rows. Peak MiB: PyTorch's allocated memory during "
                  "the timed forwards, after cuDNN's autotuning; a graph's activations live in its private pool, "
                  "which that counter does not see, so the graph rows show little more than the weights.", ""]
        lines += [timing_table(report["timings"])]
    lines.append(END)
    return "\n".join(lines)


def timing_table(rows: list[dict]) -> str:
    lines = ["| preset | variant | p50 ms | p90 ms | min ms | FPS | × FP32 | peak MiB |",
             "|---|---|---|---|---|---|---|---|"]
    fp32 = {r["preset"]: r["median_ms"] for r in rows if r["variant"] == "FP32"}
    for r in rows:
        ratio = f"{r['median_ms'] / fp32[r['preset']]:.2f}" if r["preset"] in fp32 else "–"
        lines.append(f"| {r['preset']} | {r['variant']} | {r['median_ms']:.2f} | {r['p90_ms']:.2f} | "
                     f"{r['min_ms']:.2f} | {1000 / r['median_ms']:.0f} | {ratio} | {r['peak_mib']:.0f} |")
    return "\n".join(lines)


def write_section(path: Path, section: str) -> None:
    text = path.read_text(encoding="utf-8")
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text, encoding="utf-8")


# -- the command ---------------------------------------------------------------------------------------------


def _size(text: str) -> tuple[int, int]:
    h, _, w = text.partition("x")
    if not (h.isdigit() and w.isdigit()):
        raise argparse.ArgumentTypeError(f"expected HxW, e.g. 480x640, got {text!r}")
    return int(h), int(w)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "runs/gpu-check", help="where gpu-check.json goes")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs/benchmarks.md")
    parser.add_argument("--build", type=Path, default=ROOT / "build/native-cuda")
    parser.add_argument("--presets", nargs="+", default=["asymfusion-r18", "asymfusion-r34"])
    parser.add_argument("--size", type=_size, default=(480, 640), metavar="HxW")
    parser.add_argument("--iters", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--skip", nargs="+", default=[], choices=["pytest", "native", "timing"])
    parser.add_argument("--render", type=Path, metavar="JSON", help="only rewrite --docs from a recorded run")
    args = parser.parse_args(argv)
    if args.render:
        write_section(args.docs, render(json.loads(args.render.read_text())))
        print(f"wrote {args.docs}")
        return 0
    use_checkout()
    missing = find_gpu()
    if missing:
        print(f"no NVIDIA GPU visible: {missing}; `{COMMAND}` is for machines with one", file=sys.stderr)
        return NO_GPU_EXIT
    args.out.mkdir(parents=True, exist_ok=True)
    report = {"command": COMMAND, "environment": environment(), "steps": {}, "timings": []}
    skipped = {"status": "skipped", "detail": "--skip"}
    steps = report["steps"]
    tests, cuda = pytest_gpu(args.out) if "pytest" not in args.skip else (skipped, skipped)
    steps["pytest -m gpu"], steps["runtime/cuda.py through cuda-python"] = tests, cuda
    steps["native part with CUDA (ctest)"] = native(args.out, args.build) if "native" not in args.skip else skipped
    if "timing" in args.skip:
        steps["PyTorch timing"] = skipped
    else:
        try:
            report["timings"] = time_presets(args.presets, *args.size, args.iters, args.warmup)
            steps["PyTorch timing"] = {"status": "passed", "detail": f"{len(report['timings'])} configurations"}
        except Exception as e:  # noqa: BLE001 -- recorded as the step's failure; the other steps' results stay
            steps["PyTorch timing"] = {"status": "failed", "detail": f"{type(e).__name__}: {e}"}
    saved = args.out / "gpu-check.json"
    saved.write_text(json.dumps(report, indent=1))
    write_section(args.docs, render(report))
    for name, step in steps.items():
        print(f"{step['status']:>8}  {name}: {step['detail']}")
    print(f"wrote {saved} and {args.docs}")
    return 1 if any(step["status"] == "failed" for step in steps.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
