"""experiments/gpu_check.py (`make gpu-check`) without a GPU: it says so in one line and exits 2; its report
(docs/benchmarks.md's GPU section) from a recorded run; the JUnit parsing; the stage folders from the checkout."""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

from experiments import gpu_check

ROOT = Path(__file__).resolve().parents[2]
NO_GPU = "no NVIDIA GPU visible: {}; `make gpu-check` is for machines with one"

RECORDED = {  # the shape of a run's gpu-check.json (the environment trimmed to what the section shows)
    "command": "make gpu-check",
    "environment": {
        "gpu": {"name": "NVIDIA H200", "driver": "580.159.04", "compute_capability": "9.0", "memory_mib": 143771.0,
                "cuda_runtime": "13.0"},
        "software": {"torch": "2.11.0+cu130", "cuda-python": "13.0.1"}, "torch_cuda": "13.0", "cudnn": 91300,
        "nvcc": "13.0, V13.0.88", "python": "3.12.3", "date": "2026-12-02 14:00 UTC"},
    "steps": {
        "pytest -m gpu": {"status": "passed", "detail": "9 passed"},
        "runtime/cuda.py through cuda-python": {"status": "passed", "detail": "6 passed"},
        "native part with CUDA (ctest)": {"status": "skipped", "detail": "CMake configure failed: a | b"},
        "PyTorch timing": {"status": "passed", "detail": "2 configurations"}},
    "timings": [
        {"preset": "asymfusion-r18", "variant": "FP32", "height": 480, "width": 640, "iters": 200,
         "median_ms": 4.0, "p90_ms": 4.25, "min_ms": 3.9, "peak_mib": 310.4},
        {"preset": "asymfusion-r18", "variant": "FP16 channels_last, CUDA graph", "height": 480, "width": 640,
         "iters": 200, "median_ms": 1.25, "p90_ms": 1.3, "min_ms": 1.2, "peak_mib": 150.6}],
}


def no_gpu_run(argv: list[str], tmp_path: Path, path: str) -> subprocess.CompletedProcess:
    """`argv` + the output and docs options (`{}` in argv's last item stands for them) with PATH=`path`."""
    docs = tmp_path / "benchmarks.md"
    docs.write_text("# Benchmarks\n")
    options = f"--out={tmp_path / 'out'} --docs={docs}"
    argv = [*argv[:-1], argv[-1].format(options)]
    return subprocess.run(argv, cwd=ROOT, env={**os.environ, "PATH": path}, capture_output=True, text=True,
                          timeout=120)


def test_without_nvidia_smi_it_says_so_and_exits_2(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    done = no_gpu_run([sys.executable, "-c", "import sys, experiments.gpu_check as g; sys.exit(g.main(sys.argv[1:]))",
                       "{}"], tmp_path, str(empty))
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == NO_GPU.format("nvidia-smi not found")
    assert (tmp_path / "benchmarks.md").read_text() == "# Benchmarks\n" and not (tmp_path / "out").exists()


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_gpu_check_where_the_driver_does_not_answer(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    smi = bin_dir / "nvidia-smi"  # what nvidia-smi says on a machine with the tools but no usable GPU
    smi.write_text("#!/bin/sh\necho \"NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA "
                   "driver.\"\nexit 9\n")
    smi.chmod(0o755)
    done = no_gpu_run(["make", "--no-print-directory", "gpu-check", f"GPU_PYTHON={sys.executable}",
                       "GPU_CHECK_ARGS={}"], tmp_path, f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    assert done.returncode == 2, done.stdout + done.stderr
    reason = "nvidia-smi lists no GPU (NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.)"
    assert NO_GPU.format(reason) in done.stderr.splitlines()


def test_the_docs_section_from_a_recorded_run(tmp_path):
    section = gpu_check.render(RECORDED)
    assert section.startswith(gpu_check.BEGIN) and section.endswith(gpu_check.END)
    assert ("Measured on 2026-12-02 14:00 UTC: NVIDIA H200 (driver 580.159.04, compute capability 9.0, 143771 MiB), "
            "CUDA 13.0 (PyTorch's; CUDA runtime 13.0 through cuda-python") in section
    assert "| native part with CUDA (ctest) | skipped | CMake configure failed: a / b |" in section  # no stray column
    assert "Median of 200 back-to-back forwards" in section
    docs = tmp_path / "benchmarks.md"
    docs.write_text(f"# Benchmarks\n\nbefore\n\n{gpu_check.render(None)}\n\nafter\n")
    gpu_check.write_section(docs, section)
    assert docs.read_text() == f"# Benchmarks\n\nbefore\n\n{section}\n\nafter\n"
    gpu_check.write_section(docs, gpu_check.render(None))  # and back: only the part between the markers changes
    assert docs.read_text() == f"# Benchmarks\n\nbefore\n\n{gpu_check.render(None)}\n\nafter\n"


def test_the_timing_table():
    assert gpu_check.timing_table(RECORDED["timings"]).splitlines() == [
        "| preset | variant | p50 ms | p90 ms | min ms | FPS | × FP32 | peak MiB |",
        "|---|---|---|---|---|---|---|---|",
        "| asymfusion-r18 | FP32 | 4.00 | 4.25 | 3.90 | 250 | 1.00 | 310 |",
        "| asymfusion-r18 | FP16 channels_last, CUDA graph | 1.25 | 1.30 | 1.20 | 800 | 0.31 | 151 |"]


def test_render_rewrites_the_docs_from_a_recorded_json(tmp_path):
    recorded, docs = tmp_path / "gpu-check.json", tmp_path / "benchmarks.md"
    recorded.write_text(json.dumps(RECORDED))
    docs.write_text("# Benchmarks\n")
    assert gpu_check.main(["--render", str(recorded), "--docs", str(docs)]) == 0
    assert docs.read_text() == f"# Benchmarks\n\n{gpu_check.render(RECORDED)}\n"


def test_the_docs_say_whether_a_gpu_run_was_made():
    text = (ROOT / "docs/benchmarks.md").read_text(encoding="utf-8")
    section = text[text.index(gpu_check.BEGIN):text.index(gpu_check.END) + len(gpu_check.END)]
    assert section == gpu_check.render(None) or "\nMeasured on " in section


PYTEST_XML = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="tests.core.test_models_gpu" name="test_cuda_matches_cpu[asymfusion-r18]" time="1.0"/>
<testcase classname="tests.runtime.test_cuda_gpu" name="test_device_and_memory" time="0.1"/>
<testcase classname="tests.runtime.test_cuda_gpu" name="test_round_trip" time="0.1">
<failure message="AssertionError: arrays differ&#10;more">trace</failure></testcase>
<testcase classname="tests.train.test_train" name="test_amp_training_on_cuda" time="0.0">
<skipped type="pytest.skip" message="needs a CUDA GPU">here</skipped></testcase>
</testsuite></testsuites>"""

CTEST_XML = """<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="Linux-c++" tests="3" failures="0" disabled="0" skipped="1" hostname="" time="0" timestamp="">
<testcase name="Cuda.VersionOfTheRuntimeNeedsNoGpu" classname="Cuda.VersionOfTheRuntimeNeedsNoGpu" time="0.01"
 status="run"><system-out>ok</system-out></testcase>
<testcase name="Cuda.CopiesEventsAndAGraphOnTheDevice" classname="Cuda.CopiesEventsAndAGraphOnTheDevice" time="0.01"
 status="notrun"><skipped message="SKIP_REGULAR_EXPRESSION_MATCHED"/><system-out>needs a CUDA GPU</system-out>
</testcase>
<testcase name="Stats.Percentiles" classname="Stats.Percentiles" time="0.01" status="run"/>
</testsuite>"""


def test_test_results_from_junit_xml(tmp_path):
    (tmp_path / "pytest.xml").write_text(PYTEST_XML)
    cases = gpu_check.junit_cases(tmp_path / "pytest.xml")
    assert [c["outcome"] for c in cases] == ["passed", "passed", "failed", "skipped"]
    assert cases[2] == {"name": "tests.runtime.test_cuda_gpu.test_round_trip", "outcome": "failed",
                        "detail": "AssertionError: arrays differ"}
    everything = gpu_check.step_result(cases, "tests")
    assert everything == {"status": "failed", "detail": "2 passed, 1 failed, 1 skipped (needs a CUDA GPU)",
                          "tests": cases}
    assert gpu_check.step_result(cases[-1:], "tests")["status"] == "skipped"
    assert gpu_check.step_result([], "gpu-marked tests")["detail"] == "no gpu-marked tests found"
    (tmp_path / "ctest.xml").write_text(CTEST_XML)
    assert [tuple(c.values()) for c in gpu_check.junit_cases(tmp_path / "ctest.xml")] == [  # as ctest writes it
        ("Cuda.VersionOfTheRuntimeNeedsNoGpu", "passed", ""), ("Cuda.CopiesEventsAndAGraphOnTheDevice", "skipped", ""),
        ("Stats.Percentiles", "passed", "")]


def test_the_gpu_tests_are_found():
    files = gpu_check.gpu_test_files()
    assert {gpu_check.CUDA_TESTS, "tests/core/test_models_gpu.py"} <= set(files)
    assert "tests/experiments/test_gpu_check.py" not in files


def test_the_stage_folders_import_from_the_checkout_without_an_install():
    # -S: no site-packages processing, so no .pth and no editable install's finder; this environment's
    # site-packages (numpy) go on the path by hand
    code = ("import sys; sys.path += sys.argv[2:]; sys.path.insert(0, sys.argv[1]); "
            "from experiments.gpu_check import use_checkout; use_checkout(); "
            "import amf_edge.runtime.cuda, amf_edge.bench.environment; print(amf_edge.runtime.cuda.__file__)")
    done = subprocess.run([sys.executable, "-S", "-c", code, str(ROOT), *site.getsitepackages()], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()) == ROOT / "runtime" / "cuda.py"


def test_a_run_records_every_step_and_fails_when_one_failed(tmp_path, monkeypatch):
    """main's glue, the GPU's steps faked: the JSON and the docs section get every step; a failed step is exit 1."""
    steps = RECORDED["steps"]
    monkeypatch.setattr(gpu_check, "find_gpu", lambda: None)
    monkeypatch.setattr(gpu_check, "environment", lambda: RECORDED["environment"])
    monkeypatch.setattr(gpu_check, "pytest_gpu", lambda out: (steps["pytest -m gpu"],
                                                               steps["runtime/cuda.py through cuda-python"]))
    monkeypatch.setattr(gpu_check, "native", lambda out, build: steps["native part with CUDA (ctest)"])
    monkeypatch.setattr(gpu_check, "time_presets", lambda *args: RECORDED["timings"])
    docs, out = tmp_path / "benchmarks.md", tmp_path / "out"
    docs.write_text("# Benchmarks\n")
    assert gpu_check.main([f"--out={out}", f"--docs={docs}"]) == 0
    report = json.loads((out / "gpu-check.json").read_text())
    assert report["steps"] == {**steps, "PyTorch timing": {"status": "passed", "detail": "2 configurations"}}
    assert docs.read_text() == f"# Benchmarks\n\n{gpu_check.render(report)}\n"

    def broken(*args):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    monkeypatch.setattr(gpu_check, "time_presets", broken)
    assert gpu_check.main([f"--out={out}", f"--docs={docs}", "--skip", "native"]) == 1
    report = json.loads((out / "gpu-check.json").read_text())
    assert report["steps"]["PyTorch timing"] == {
        "status": "failed", "detail": "RuntimeError: CUDA error: an illegal memory access was encountered"}
    assert report["steps"]["native part with CUDA (ctest)"] == {"status": "skipped", "detail": "--skip"}
