"""amf_edge.bench.trtexec: the command for each TensorRT version, its --exportTimes and summary formats, and runs
of a stand-in trtexec (a shell script printing what TensorRT's samples/common/sampleReporting.cpp prints)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from amf_edge.bench import trtexec
from amf_edge.bench.trtexec import (
    banner_version,
    command,
    described,
    find_trtexec,
    parse_export_times,
    parse_summary,
    run_trtexec,
    shell_command,
)
from amf_edge.errors import AmfEdgeError

pytestmark = pytest.mark.edge  # torch-free: runs on the edge target too

SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "bench-report.schema.json"
KEYS = ("startEnqMs", "endEnqMs", "startH2dMs", "endH2dMs", "startComputeMs", "endComputeMs", "startD2hMs", "endD2hMs",
        "h2dMs", "computeMs", "d2hMs", "latencyMs")


def export_times_text(latencies=(1.0, 2.0, 3.0, 4.0), h2d=0.25, d2h=0.125, period=5.0) -> str:
    """What exportJSONTrace writes: '[', then '  { ... }' and ', { ... }' lines with ' : ' and ', ', then ']'.

    Inference i starts its enqueue at 200 + i·period ms (after a 200 ms warm-up), enqueues for 0.1·(i+1) ms,
    copies in for `h2d`, computes for latency − h2d − d2h and copies out for `d2h`.
    """
    lines, sep = ["["], "  "
    for i, latency in enumerate(latencies):
        enq = 200.0 + i * period
        h2d_start = enq + 0.05
        compute_start = h2d_start + h2d
        compute = latency - h2d - d2h
        d2h_start = compute_start + compute
        values = (enq, enq + 0.1 * (i + 1), h2d_start, compute_start, compute_start, d2h_start, d2h_start,
                  d2h_start + d2h, h2d, compute, d2h, latency)
        fields = ", ".join(f'"{k}" : {v:g}' for k, v in zip(KEYS, values, strict=True))
        lines.append(f"{sep}{{ {fields} }}")
        sep = ", "
    return "\n".join(lines + ["]"]) + "\n"


SUMMARY_LOG = """\
&&&& RUNNING TensorRT.trtexec [TensorRT v100300] # trtexec --loadEngine=model.engine --warmUp=200 --iterations=4
[11/24/2026-10:00:00] [I] === Model Options ===
[11/24/2026-10:00:00] [I] TensorRT version: 10.3.0
[11/24/2026-10:00:03] [I] Warmup completed 150 queries over 200 ms
[11/24/2026-10:00:03] [I] Timing trace has 2101 queries over 3.00152 s
[11/24/2026-10:00:03] [I]
[11/24/2026-10:00:03] [I] === Trace details ===
[11/24/2026-10:00:03] [I] Trace averages of 1 runs:
[11/24/2026-10:00:03] [I] Average on 1 runs - GPU latency: 0.7 ms - Host latency: 0.9 ms (enqueue 0.1 ms)
[11/24/2026-10:00:03] [I]
[11/24/2026-10:00:03] [I] === Performance summary ===
[11/24/2026-10:00:03] [I] Throughput: 1403.29 qps
[11/24/2026-10:00:03] [I] Latency: min = 0.736084 ms, max = 2.0625 ms, mean = 0.781458 ms, median = 0.77124 ms, \
percentile(50%) = 0.770996 ms, percentile(90%) = 0.8125 ms, percentile(99%) = 1.07080 ms
[11/24/2026-10:00:03] [I] Enqueue Time: min = 0.0664062 ms, max = 0.3125 ms, mean = 0.0844 ms, median = 0.0810547 ms, \
percentile(50%) = 0.0810547 ms, percentile(90%) = 0.0966797 ms, percentile(99%) = 0.144531 ms
[11/24/2026-10:00:03] [I] H2D Latency: min = 0.0507812 ms, max = 0.0986328 ms, mean = 0.0551 ms, \
median = 0.0546875 ms, percentile(50%) = 0.0546875 ms, percentile(90%) = 0.0576172 ms, percentile(99%) = 0.0703125 ms
[11/24/2026-10:00:03] [I] GPU Compute Time: min = 0.673828 ms, max = 1.98242 ms, mean = 0.70739 ms, median = 0.698 ms, \
percentile(50%) = 0.697998 ms, percentile(90%) = 0.733398 ms, percentile(99%) = 0.98877 ms
[11/24/2026-10:00:03] [I] D2H Latency: min = 1.2e-05 ms, max = 0.0258789 ms, mean = 0.0189 ms, median = 0.0187988 ms, \
percentile(50%) = 0.0187988 ms, percentile(90%) = 0.0200195 ms, percentile(99%) = 0.0234375 ms
[11/24/2026-10:00:03] [I] Total Host Walltime: 3.00152 s
[11/24/2026-10:00:03] [I] Total GPU Compute Time: 1.48623 s
[11/24/2026-10:00:03] [W] * GPU compute time is unstable, with coefficient of variance = 6.31%.
[11/24/2026-10:00:03] [W]   If not already in use, locking GPU clock frequency or adding --useSpinWait may improve the \
stability.
[11/24/2026-10:00:03] [I] Explanations of the performance metrics are printed in the verbose logs.
[11/24/2026-10:00:03] [I]
&&&& PASSED TensorRT.trtexec [TensorRT v100300] # trtexec --loadEngine=model.engine --warmUp=200 --iterations=4
"""


def trtexec_validator():
    jsonschema = pytest.importorskip("jsonschema")
    from referencing import Registry, Resource

    schema = json.loads(SCHEMA.read_text())
    uri = schema.get("$id", "urn:amf-edge:bench-report")  # the whole schema, so its own $refs resolve
    registry = Registry().with_resource(uri, Resource.from_contents(schema))
    return jsonschema.Draft202012Validator({"$ref": uri + "#/$defs/model/properties/trtexec"},
                                           registry=registry)


# --- the command --------------------------------------------------------------------------------------------


def test_command_for_tensorrt_10_matches_our_backend_only_measurement():
    argv = command("m.engine", warmup_s=0.2, iterations=300, cuda_graph=False, trtexec="/opt/trt/bin/trtexec")
    assert argv == ["/opt/trt/bin/trtexec", "--loadEngine=m.engine", "--warmUp=200", "--iterations=300", "--duration=0",
                    "--avgRuns=1", "--percentile=50,90,99", "--useSpinWait"]
    graph = command("m.engine", warmup_s=1.5, iterations=10, cuda_graph=True, export_times="/tmp/t.json",
                    version="10.3.0")
    assert graph[2] == "--warmUp=1500" and graph[-2:] == ["--useCudaGraph", "--exportTimes=/tmp/t.json"]
    assert not any("DataTransfers" in a for a in argv + graph)  # latency_ms includes the copies: keep them
    assert command("m", warmup_s=0.0125, iterations=1, cuda_graph=False)[2] == "--warmUp=12.5"
    assert command("m", warmup_s=0, iterations=1, cuda_graph=False)[2] == "--warmUp=0"
    assert command("m", warmup_s=0.2, iterations=3, cuda_graph=True, version="8.6.1")[-1] == "--useCudaGraph"


def test_command_for_tensorrt_11_states_what_its_new_defaults_would_change():
    plain = command("m.engine", warmup_s=0.2, iterations=300, cuda_graph=False, version="11.1.0")
    assert plain[-2:] == ["--includeDataTransfers", "--noCudaGraph"]
    graph = command("m.engine", warmup_s=0.2, iterations=300, cuda_graph=True, version="11.0.0")
    assert graph[-1] == "--includeDataTransfers"
    assert not {"--useSpinWait", "--useCudaGraph", "--noDataTransfers"} & set(plain + graph)  # deprecated no-ops


@pytest.mark.parametrize("warmup_s, iterations", [(0.2, 0), (0.2, -5), (0.2, 1.5), (0.2, True), (-1, 10),
                                                  (float("nan"), 10)])
def test_command_rejects_bad_counts(warmup_s, iterations):
    with pytest.raises(AmfEdgeError, match="trtexec needs"):
        command("m.engine", warmup_s=warmup_s, iterations=iterations, cuda_graph=False)


def test_shell_command_quotes_for_pasting():
    argv = command("my models/a.engine", warmup_s=0.2, iterations=5, cuda_graph=False)
    assert shell_command(argv).startswith("trtexec '--loadEngine=my models/a.engine' --warmUp=200 ")


@pytest.mark.parametrize("text, version", [("&&&& RUNNING TensorRT.trtexec [TensorRT v100300] # trtexec", "10.3.0"),
                                           ("&&&& RUNNING TensorRT.trtexec [TensorRT v101300] # x", "10.13.0"),
                                           ("&&&& RUNNING TensorRT.trtexec [TensorRT v110100] [b12] # x", "11.1.0"),
                                           ("&&&& RUNNING TensorRT.trtexec [TensorRT v8601] # x", "8.6.1"),
                                           ("[I] TensorRT version: 10.7.0", "10.7.0"), ("no banner", None)])
def test_banner_version(text, version):
    assert banner_version(text) == version


def test_find_trtexec_prefers_path_then_the_root_variables(tmp_path, monkeypatch):
    if os.path.exists(trtexec.JETPACK_TRTEXEC):
        pytest.skip("this machine has JetPack's trtexec, which comes before the variables")
    on_path, root = tmp_path / "path", tmp_path / "TensorRT-10.3"
    for folder in (on_path, root / "bin"):
        executable(folder / "trtexec", "#!/bin/sh\n")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.delenv("TensorRT_ROOT", raising=False)
    monkeypatch.delenv("TRT_ROOT", raising=False)
    assert find_trtexec() is None
    monkeypatch.setenv("TRT_ROOT", str(root))
    assert find_trtexec() == str(root / "bin" / "trtexec")
    monkeypatch.setenv("PATH", str(on_path))
    assert find_trtexec() == str(on_path / "trtexec")


# --- --exportTimes ------------------------------------------------------------------------------------------


def test_export_times_statistics_interpolate_linearly(tmp_path):
    path = tmp_path / "times.json"
    path.write_text(export_times_text())
    stats = parse_export_times(path)
    latency = stats["latency_ms"]
    assert latency["n"] == 4 and latency["min"] == 1.0 and latency["max"] == 4.0 and latency["mean"] == 2.5
    assert latency["p50"] == 2.5  # between the 2nd and 3rd values, not trtexec's nearest rank (2.0)
    assert latency["p90"] == pytest.approx(3.7) and latency["p99"] == pytest.approx(3.97)
    assert latency["jitter"] == 1.0
    assert stats["gpu_compute_ms"]["p50"] == pytest.approx(2.5 - 0.375)
    assert stats["h2d_ms"]["mean"] == 0.25 and stats["d2h_ms"]["max"] == 0.125
    assert [stats["enqueue_ms"][k] for k in ("min", "max")] == pytest.approx([0.1, 0.4])  # endEnqMs − startEnqMs
    # 4 inferences from the first H2D start (200.05) to the last D2H end (215.05 + 4.0): trtexec's own definition.
    assert stats["throughput_qps"] == pytest.approx(4000 / (219.05 - 200.05), abs=1e-3)
    assert parse_export_times(export_times_text()) == stats  # the text itself works too


def test_export_times_sample_is_the_real_layout():
    """Guard the fixture: exportJSONTrace's separators, so the parser is tested on what trtexec writes."""
    lines = export_times_text(latencies=(1.0, 2.0)).splitlines()
    assert lines[0] == "[" and lines[-1] == "]"
    assert lines[1].startswith('  { "startEnqMs" : 200, "endEnqMs" : 200.1, "startH2dMs" : 200.05')
    assert lines[2].startswith(', { "startEnqMs" : 205') and lines[2].endswith('"latencyMs" : 2 }')


@pytest.mark.parametrize("content, message", [("", "is not JSON"), ("[]", "holds an empty list"),
                                              ('{"latencyMs": 1}', "holds a dict"),
                                              ("[{ \"startEnqMs\" : 1 ", "is not JSON"),
                                              ('[{"startEnqMs": 1, "latencyMs": 2}]', "lacks numeric endEnqMs"),
                                              ('[{"latencyMs": "fast"}]', "lacks numeric startEnqMs")])
def test_export_times_errors_name_the_file_and_the_expected_format(tmp_path, content, message):
    path = tmp_path / "times.json"
    path.write_text(content)
    with pytest.raises(AmfEdgeError, match=message) as error:
        parse_export_times(path)
    assert str(path) in str(error.value) and "--exportTimes" in str(error.value)


def test_export_times_missing_file(tmp_path):
    with pytest.raises(AmfEdgeError, match=r"cannot read .*nothing\.json"):
        parse_export_times(tmp_path / "nothing.json")


# --- the printed summary ------------------------------------------------------------------------------------


def test_summary_lines_are_parsed():
    summary = parse_summary(SUMMARY_LOG)
    assert summary["version"] == "10.3.0" and summary["throughput_qps"] == 1403.29
    assert summary["latency_ms"] == {"min": 0.736084, "max": 2.0625, "mean": 0.781458, "median": 0.77124,
                                     "p50": 0.770996, "p90": 0.8125, "p99": 1.0708}
    assert summary["h2d_ms"]["min"] == 0.0507812  # not mistaken for Latency
    assert summary["gpu_compute_ms"]["median"] == 0.698 and summary["enqueue_ms"]["p99"] == 0.144531
    assert summary["d2h_ms"]["min"] == 1.2e-05
    assert summary["total_host_walltime_s"] == 3.00152 and summary["total_gpu_compute_time_s"] == 1.48623


def test_summary_with_default_percentiles():
    line = ("[I] Latency: min = 1 ms, max = 3 ms, mean = 2 ms, median = 2 ms, percentile(90%) = 2.9 ms, "
            "percentile(95%) = 2.95 ms, percentile(99%) = 3 ms, percentile(99.9%) = 3 ms")
    summary = parse_summary(f"[I] === Performance summary ===\n[I] Throughput: 500 qps\n{line}\n")
    assert set(summary["latency_ms"]) == {"min", "max", "mean", "median", "p90", "p95", "p99", "p99.9"}
    assert summary["gpu_compute_ms"] is None and summary["version"] is None


def test_summary_missing_is_an_error():
    with pytest.raises(AmfEdgeError, match="no '=== Performance summary ==='"):
        parse_summary(SUMMARY_LOG.split("=== Performance summary")[0])


# --- running a stand-in trtexec -----------------------------------------------------------------------------


def executable(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def stand_in(tmp_path: Path, *, help_version: str | None = "100300", run_version: str = "100300", exit_code: int = 0,
             times: str | None = None) -> Path:
    """A trtexec that records its arguments, answers --help with its banner, writes --exportTimes, prints a log."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "times-src.json").write_text(times if times is not None else export_times_text())
    (tmp_path / "summary.log").write_text(SUMMARY_LOG.replace("v100300", f"v{run_version}"))
    help_banner = f'echo "&&&& RUNNING TensorRT.trtexec [TensorRT v{help_version}] # trtexec --help"' \
        if help_version else "true"
    return executable(tmp_path / "bin" / "trtexec", f"""#!/bin/sh
echo "$*" >> "{tmp_path}/calls"
if [ "$1" = "--help" ]; then {help_banner}; exit 0; fi
for a in "$@"; do case "$a" in --exportTimes=*) cp "{tmp_path}/times-src.json" "${{a#--exportTimes=}}";; esac; done
if [ {exit_code} -ne 0 ]; then
  echo "[E] Error[1]: IRuntime::deserializeCudaEngine: Error Code 1: Serialization (engine plan file is incompatible)"
  echo "&&&& FAILED TensorRT.trtexec [TensorRT v{run_version}] # trtexec"; exit {exit_code}
fi
cat "{tmp_path}/summary.log"
""")


def calls(tmp_path: Path) -> list[str]:
    return (tmp_path / "calls").read_text().splitlines()


def test_run_trtexec_returns_the_reports_trtexec_object(tmp_path):
    exe = stand_in(tmp_path)
    result = run_trtexec(tmp_path / "m.engine", warmup_s=0.2, iterations=4, cuda_graph=True, workdir=tmp_path / "w",
                         trtexec=str(exe))
    assert result["ran"] is True and result["error"] is None and result["version"] == "10.3.0"
    assert result["latency_ms"]["p50"] == 2.5 and result["throughput_qps"] == pytest.approx(210.526, abs=1e-3)
    assert result["summary"]["throughput_qps"] == 1403.29  # trtexec's own words, kept for the cross-check
    assert calls(tmp_path)[0] == "--help"
    assert "--useCudaGraph" in calls(tmp_path)[1] and "--exportTimes=" in calls(tmp_path)[1]
    assert result["command"].startswith(f"{exe} --loadEngine={tmp_path / 'm.engine'} --warmUp=200 --iterations=4")
    assert (tmp_path / "w" / "m.engine.trtexec.log").read_text().startswith("&&&& RUNNING")


def test_run_trtexec_uses_tensorrt_11_flags_when_the_binary_is_11(tmp_path):
    exe = stand_in(tmp_path, help_version="110100", run_version="110100")
    result = run_trtexec("m.engine", warmup_s=0.2, iterations=4, cuda_graph=False, workdir=tmp_path, trtexec=str(exe))
    assert len(calls(tmp_path)) == 2 and "--includeDataTransfers --noCudaGraph" in calls(tmp_path)[1]
    assert result["version"] == "11.1.0"


def test_run_trtexec_runs_again_when_only_the_run_reveals_tensorrt_11(tmp_path):
    exe = stand_in(tmp_path, help_version=None, run_version="110000")
    result = run_trtexec("m.engine", warmup_s=0.2, iterations=4, cuda_graph=False, workdir=tmp_path, trtexec=str(exe))
    first, second = calls(tmp_path)[1:]
    assert "--useSpinWait" in first and "--includeDataTransfers --noCudaGraph" in second
    assert result["version"] == "11.0.0" and "--includeDataTransfers" in result["command"]


def test_run_trtexec_failure_shows_the_end_of_its_output(tmp_path):
    exe = stand_in(tmp_path, exit_code=1)
    with pytest.raises(AmfEdgeError, match=r"trtexec failed \(exit 1\)") as error:
        run_trtexec("m.engine", warmup_s=0.2, iterations=4, cuda_graph=False, workdir=tmp_path, trtexec=str(exe))
    assert "engine plan file is incompatible" in str(error.value) and "amf-edge build" in str(error.value)


def test_run_trtexec_with_unusable_times_falls_back_to_the_summary(tmp_path):
    exe = stand_in(tmp_path, times="[]")
    result = run_trtexec("m.engine", warmup_s=0.2, iterations=4, cuda_graph=False, workdir=tmp_path, trtexec=str(exe))
    assert result["latency_ms"] is None and result["throughput_qps"] == 1403.29
    assert "empty list" in result["error"]


def test_run_trtexec_times_out_with_advice(tmp_path):
    exe = executable(tmp_path / "trtexec", "#!/bin/sh\n[ \"$1\" = --help ] && exit 0\nsleep 5\n")
    with pytest.raises(AmfEdgeError, match="did not finish within 0.3 s"):
        run_trtexec("m.engine", warmup_s=0, iterations=1, cuda_graph=False, workdir=tmp_path, trtexec=str(exe),
                    timeout_s=0.3)


def test_run_trtexec_without_trtexec(tmp_path, monkeypatch):
    monkeypatch.setattr(trtexec, "find_trtexec", lambda: None)
    with pytest.raises(AmfEdgeError, match="trtexec not found"):
        run_trtexec("m.engine", warmup_s=0.2, iterations=4, cuda_graph=False, workdir=tmp_path)


def test_default_timeout_grows_with_iterations():
    assert trtexec.default_timeout(1.0, 100) == 120
    assert trtexec.default_timeout(2.0, 1000) == 60 + 4 + 500


def test_described_gives_the_command_and_no_numbers():
    result = described("m.engine", warmup_s=0.5, iterations=200, cuda_graph=False, trtexec="trtexec")
    assert result["ran"] is False and result["error"] is None
    assert all(result[k] is None for k in ("throughput_qps", "latency_ms", "gpu_compute_ms", "h2d_ms", "d2h_ms",
                                           "enqueue_ms"))
    assert result["command"] == ("trtexec --loadEngine=m.engine --warmUp=500 --iterations=200 --duration=0 "
                                 "--avgRuns=1 --percentile=50,90,99 --useSpinWait")


def test_trtexec_objects_validate_against_the_schema(tmp_path):
    validator = trtexec_validator()
    ran = run_trtexec("m.engine", warmup_s=0.2, iterations=4, cuda_graph=False, workdir=tmp_path / "a",
                      trtexec=str(stand_in(tmp_path / "a")))
    fallback = run_trtexec("m.engine", warmup_s=0.2, iterations=4, cuda_graph=False, workdir=tmp_path / "b",
                           trtexec=str(stand_in(tmp_path / "b", times="[]")))
    for result in (ran, fallback, described("m.engine", warmup_s=0.5, iterations=200, cuda_graph=True)):
        validator.validate(result)
    assert not validator.is_valid({**ran, "latency_ms": {**ran["latency_ms"], "n": "4"}})  # the validator does check
