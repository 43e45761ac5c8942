"""trtexec, TensorRT's own benchmark, on the same engine: a reference our backend-only numbers can be checked against.

What trtexec measures (samples/common/sampleInference.cpp and sampleReporting.cpp of NVIDIA/TensorRT, the
same from 8.6 to 11.1):
  - per inference, CUDA events around the input copies (H2D), the engine (GPU Compute) and the output copies
    (D2H), and host clocks around the enqueue call. "Latency" is H2D + GPU Compute + D2H, which maps to our
    latency_ms (copies included) and GPU Compute to our compute_ms; hence no --noDataTransfers.
  - it keeps two inferences in flight (double buffering, unless --exposeDMA), so its throughput overlaps one
    inference's copies with the next one's compute: it can beat 1000 / latency, unlike our synchronous loop.
  - throughput = timed inferences / (last D2H end − first H2D start).

Percentiles: trtexec's printed summary takes the nearest rank without interpolation (findPercentile:
sorted[max(n − 1 − int((1 − p/100)·n), 0)]) and its median is the mean of the two middle values. The
report therefore recomputes every statistic from the per-inference records of --exportTimes with
amf_edge.bench.stats (linear interpolation), the definition all our numbers use; the summary is parsed only as a
fallback and cross-check.

TensorRT 11 changed trtexec's defaults: data transfers off (--includeDataTransfers turns them on), spin-wait
and CUDA graphs on (--noSpinWait, --noCudaGraph turn them off); --noDataTransfers, --useSpinWait and
--useCudaGraph are kept as deprecated no-ops. `command` picks the flags for the version it is given.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from amf_edge.bench.stats import summarize
from amf_edge.errors import AmfEdgeError

JETPACK_TRTEXEC = "/usr/src/tensorrt/bin/trtexec"
ROOT_VARIABLES = ("TensorRT_ROOT", "TRT_ROOT")
# Per-inference records of --exportTimes (sampleReporting.cpp, exportJSONTrace); there is no enqueue field,
# enqueue time is endEnqMs − startEnqMs.
RECORD_KEYS = ("startEnqMs", "endEnqMs", "startH2dMs", "endH2dMs", "startComputeMs", "endComputeMs", "startD2hMs",
               "endD2hMs", "h2dMs", "computeMs", "d2hMs", "latencyMs")
# Summary lines of printEpilog, in its order, and the report's names for them.
SUMMARY_METRICS = {"Latency": "latency_ms", "Enqueue Time": "enqueue_ms", "H2D Latency": "h2d_ms",
                   "GPU Compute Time": "gpu_compute_ms", "D2H Latency": "d2h_ms"}
STATS_KEYS = ("latency_ms", "gpu_compute_ms", "h2d_ms", "d2h_ms", "enqueue_ms")
PERCENTILES = (50, 90, 99)
PERCENTILES_NOTE = ("trtexec's own summary takes percentiles at the nearest rank (its median averages the middle "
                    "two); the report's trtexec statistics are recomputed from --exportTimes with linear "
                    "interpolation, as all other numbers in it")
TAIL_LINES = 25
_NUMBER = r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|inf|nan)"
_PREFIX = r"^(?:\[[^\]]*\]\s*)*"  # "[11/24/2026-10:00:00] [I] "


# ---------------------------------------------------------------------------------------------- the command


def find_trtexec() -> str | None:
    """trtexec on PATH, else JetPack's /usr/src/tensorrt/bin, else $TensorRT_ROOT/bin or $TRT_ROOT/bin (tarballs)."""
    found = shutil.which("trtexec")
    if found:
        return found
    candidates = [JETPACK_TRTEXEC] + [os.path.join(os.environ[v], "bin", "trtexec")
                                      for v in ROOT_VARIABLES if os.environ.get(v)]
    return next((c for c in candidates if os.path.isfile(c) and os.access(c, os.X_OK)), None)


def trtexec_version(trtexec: str, timeout: float = 30.0) -> str | None:
    """The TensorRT version of a trtexec binary ("10.3.0"), from the banner `--help` prints; None if it will not say."""
    try:
        done = subprocess.run([trtexec, "--help"], capture_output=True, text=True, errors="replace", timeout=timeout,
                              check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return banner_version(done.stdout + done.stderr)


def banner_version(text: str) -> str | None:
    """"&&&& RUNNING TensorRT.trtexec [TensorRT v100300] # ..." -> "10.3.0".

    NV_TENSORRT_VERSION is major·10000 + minor·100 + patch since TensorRT 10, major·1000 + minor·100 + patch before.
    """
    match = re.search(r"\[TensorRT v(\d+)\]", text)
    if match:
        v = int(match.group(1))
        major, rest = (v // 10000, v % 10000) if v >= 10000 else (v // 1000, v % 1000)
        return f"{major}.{rest // 100}.{rest % 100}"
    match = re.search(r"TensorRT version:\s*(\d+\.\d+\.\d+)", text)
    return match.group(1) if match else None


def command(engine_path: str | Path, *, warmup_s: float, iterations: int, cuda_graph: bool,
            trtexec: str = "trtexec", export_times: str | Path | None = None, version: str | None = None) -> list[str]:
    """The trtexec invocation equivalent to our backend-only measurement of an engine.

    Exactly `iterations` timed inferences after `warmup_s` of warm-up (--duration=0 drops trtexec's 3 s minimum),
    copies included, spin-waiting on events, CUDA graph only when `cuda_graph`. `version` is trtexec's TensorRT
    version ("11.1.0"); None takes TensorRT 10's flags (also right for 8.6).
    """
    _check_counts(warmup_s, iterations)
    argv = [trtexec, f"--loadEngine={engine_path}", f"--warmUp={_decimal(warmup_s * 1e3)}",
            f"--iterations={iterations}", "--duration=0", "--avgRuns=1",
            f"--percentile={','.join(map(str, PERCENTILES))}"]
    if _major(version) >= 11:
        argv.append("--includeDataTransfers")  # spin-wait is the default there; --useSpinWait only warns
        if not cuda_graph:
            argv.append("--noCudaGraph")
    else:
        argv.append("--useSpinWait")
        if cuda_graph:
            argv.append("--useCudaGraph")
    if export_times is not None:
        argv.append(f"--exportTimes={export_times}")
    return argv


def shell_command(argv: list[str]) -> str:
    """The command quoted for a POSIX shell, to print and paste."""
    return shlex.join(str(a) for a in argv)


def _check_counts(warmup_s: float, iterations: int) -> None:
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise AmfEdgeError(f"trtexec needs a whole number of iterations ≥ 1, got {iterations!r}; pass --iters N")
    if not (isinstance(warmup_s, (int, float)) and math.isfinite(warmup_s) and warmup_s >= 0):
        raise AmfEdgeError(f"trtexec needs a warm-up of 0 or more seconds, got {warmup_s!r}; pass --warmup SECONDS")


def _decimal(value: float) -> str:
    """200.0 -> "200", 12.5 -> "12.5": trtexec reads floats, people read the command."""
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _major(version: str | None) -> int:
    match = re.match(r"\s*(\d+)", version or "")
    return int(match.group(1)) if match else 10


# ---------------------------------------------------------------------------------------------- parsing


def parse_export_times(path_or_text: str | Path) -> dict:
    """Statistics of a --exportTimes file: {latency_ms, gpu_compute_ms, h2d_ms, d2h_ms, enqueue_ms, throughput_qps}.

    Takes a path, or the JSON text itself (a str starting with "[" or "{"). The file holds the timed inferences only
    (warm-up excluded); times are ms since the run started, printed with 6 significant digits, so enqueue times
    (differences of two such stamps) are only as fine as the run is short: 0.01 ms within the first 10 s.
    """
    text, source = _load(path_or_text)
    records = _records(text, source)
    column = {k: [float(r[k]) for r in records] for k in RECORD_KEYS}
    enqueue = [end - start for start, end in zip(column["startEnqMs"], column["endEnqMs"], strict=True)]
    span_ms = column["endD2hMs"][-1] - column["startH2dMs"][0]
    return {
        "throughput_qps": round(len(records) * 1e3 / span_ms, 3) if span_ms > 0 else None,
        "latency_ms": summarize(column["latencyMs"]),
        "gpu_compute_ms": summarize(column["computeMs"]),
        "h2d_ms": summarize(column["h2dMs"]),
        "d2h_ms": summarize(column["d2hMs"]),
        "enqueue_ms": summarize(enqueue),
    }


def _load(path_or_text: str | Path) -> tuple[str, str]:
    if isinstance(path_or_text, str) and (not path_or_text.strip() or path_or_text.lstrip()[0] in "[{"):
        return path_or_text, "trtexec --exportTimes output"
    path = Path(path_or_text)
    try:
        return path.read_text(errors="replace"), str(path)
    except OSError as e:
        raise AmfEdgeError(f"cannot read trtexec's --exportTimes file {path} ({e.strerror or e}); expected the JSON "
                           "file trtexec writes with --exportTimes=FILE: check that trtexec ran to the end") from None


def _records(text: str, source: str) -> list[dict]:
    expected = (f"expected trtexec's --exportTimes JSON, a list of per-inference records with "
                f"{', '.join(RECORD_KEYS[:2])} ... {RECORD_KEYS[-1]}")
    try:
        records = json.loads(text)
    except ValueError as e:
        raise AmfEdgeError(f"{source} is not JSON ({e}); {expected}; run trtexec again") from None
    if not isinstance(records, list) or not records:
        got = "an empty list" if records == [] else f"a {type(records).__name__}"
        raise AmfEdgeError(f"{source} holds {got}; {expected} (an empty list means no timed inference ran)")
    for i, record in enumerate(records):
        missing = [k for k in RECORD_KEYS if not isinstance(record, dict) or not _is_number(record.get(k))]
        if missing:
            raise AmfEdgeError(f"record {i} of {source} lacks numeric {', '.join(missing)}; {expected} "
                               "(written by TensorRT 8.6 to 11)")
    return records


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def parse_summary(text: str) -> dict:
    """trtexec's "=== Performance summary ===": {version, throughput_qps, <metric>_ms: {min, max, mean, median, p..}}.

    The percentile keys are those trtexec printed (p90, p95, p99 by default; p50, p90, p99 with our command).
    Raises AmfEdgeError when the output has no summary (trtexec failed or was cut short).
    """
    start = text.find("=== Performance summary ===")
    if start < 0:
        raise AmfEdgeError("trtexec's output has no '=== Performance summary ===' section; expected the log of a "
                           "trtexec run that finished (it prints the summary last): look at the log for its error")
    summary: dict = {"version": banner_version(text), "throughput_qps": None,
                     **{key: None for key in SUMMARY_METRICS.values()},
                     "total_host_walltime_s": None, "total_gpu_compute_time_s": None}
    for line in text[start:].splitlines():
        _summary_line(line, summary)
    return summary


def _summary_line(line: str, summary: dict) -> None:
    match = re.match(_PREFIX + r"(Throughput|Total Host Walltime|Total GPU Compute Time):\s*(" + _NUMBER + ")", line)
    if match:
        key = {"Throughput": "throughput_qps", "Total Host Walltime": "total_host_walltime_s",
               "Total GPU Compute Time": "total_gpu_compute_time_s"}[match.group(1)]
        summary[key] = float(match.group(2))
        return
    match = re.match(_PREFIX + "(" + "|".join(map(re.escape, SUMMARY_METRICS)) + r"):\s*(min = .*)$", line)
    if match:
        summary[SUMMARY_METRICS[match.group(1)]] = _metric(match.group(2))


def _metric(text: str) -> dict:
    """"min = 0.73 ms, max = 1.2 ms, mean = .., median = .., percentile(90%) = .. ms" -> {min, max, .., p90}."""
    values = {}
    pattern = r"(min|max|mean|median|percentile\((" + _NUMBER + r")%\))\s*=\s*(" + _NUMBER + r")\s*ms"
    for name, percent, value in re.findall(pattern, text):
        values[f"p{percent}" if percent else name] = float(value)
    return values


# ---------------------------------------------------------------------------------------------- running


def described(engine_path: str | Path, *, warmup_s: float, iterations: int, cuda_graph: bool,
              trtexec: str | None = None, version: str | None = None) -> dict:
    """The report's `trtexec` object for a run left to the user: the command to paste, no numbers."""
    argv = command(engine_path, warmup_s=warmup_s, iterations=iterations, cuda_graph=cuda_graph,
                   trtexec=trtexec or find_trtexec() or "trtexec", version=version)
    return _result(argv, ran=False)


def run_trtexec(engine_path: str | Path, *, warmup_s: float, iterations: int, cuda_graph: bool,
                workdir: str | Path, trtexec: str | None = None, timeout_s: float | None = None) -> dict:
    """Run trtexec on the engine and return the report's `trtexec` object, statistics from --exportTimes.

    Writes <engine>.trtexec.log and <engine>.trtexec-times.json into `workdir`. Raises AmfEdgeError when
    trtexec is missing, fails (with the end of its output) or outlasts the timeout.
    """
    exe = trtexec or find_trtexec()
    if exe is None:
        raise AmfEdgeError("trtexec not found on PATH, in /usr/src/tensorrt/bin (JetPack) or in $TensorRT_ROOT/bin "
                           "or $TRT_ROOT/bin; add TensorRT's bin folder to PATH, or bench without --trtexec")
    _check_counts(warmup_s, iterations)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    name = Path(engine_path).name
    times, log = workdir / f"{name}.trtexec-times.json", workdir / f"{name}.trtexec.log"
    timeout = timeout_s if timeout_s is not None else default_timeout(warmup_s, iterations)
    version = trtexec_version(exe)
    argv, output = _attempt(engine_path, exe, version, times, log, warmup_s, iterations, cuda_graph, timeout)
    ran_version = banner_version(output)
    if version is None and _major(ran_version) >= 11:
        # --help did not say, so TensorRT 10 flags were guessed; TensorRT 11 has other defaults: run with its flags.
        version = ran_version
        argv, output = _attempt(engine_path, exe, version, times, log, warmup_s, iterations, cuda_graph, timeout)
    return _collect(argv, output, times, log, version or ran_version)


def default_timeout(warmup_s: float, iterations: int) -> float:
    """Generous: engine loading plus half a second per inference (a large model on a Nano), never under 2 min."""
    return max(120.0, 60.0 + 2 * warmup_s + 0.5 * iterations)


def check_trtexec(models: Sequence[Path], *, run: bool) -> bool:
    """Whether `amf-edge bench` reports trtexec beside the measured `models`: when an engine is among them (its
    trtexec command is printed and reported), run for real with `run` (--trtexec), checked before any model loads."""
    engines = [m for m in models if m.suffix.lower() == ".engine"]
    if run and not engines:
        raise AmfEdgeError("--trtexec compares TensorRT engines with trtexec; no .engine model was given")
    if run and find_trtexec() is None:
        raise AmfEdgeError("--trtexec: trtexec was not found on PATH, in /usr/src/tensorrt/bin (JetPack) or in "
                           "$TensorRT_ROOT/bin; install TensorRT's tools or drop --trtexec")
    return bool(engines)


def trtexec_runs(subjects: Sequence, *, run: bool, report_dir: Path | None, warmup_s: float, iterations: int,
                 tensorrt_version: str | None, log: Callable[[str], None] = print) -> dict[str, dict]:
    """The report's `trtexec` object of every engine among the measured subjects (amf_edge.bench.measure.Subject),
    by name: with `run`, trtexec's own run (its files in REPORT_DIR/trtexec, ./trtexec without a report); else
    the command to paste, with the flags of `tensorrt_version`."""
    runs = {}
    for s in subjects:
        if s.format != "engine":
            continue
        kwargs = {"warmup_s": warmup_s, "iterations": iterations, "cuda_graph": s.cuda_graph}
        if run:
            workdir = (report_dir or Path(".")) / "trtexec"
            runs[s.name] = run_trtexec(s.path, workdir=workdir, **kwargs)
        else:
            runs[s.name] = described(s.path, version=tensorrt_version, **kwargs)
        log(f"trtexec equivalent of {s.name}: {runs[s.name]['command']}")
    return runs


def _attempt(engine_path, exe, version, times, log, warmup_s, iterations, cuda_graph, timeout) -> tuple[list, str]:
    times.unlink(missing_ok=True)  # a stale file from an earlier run must not pass for this one's
    argv = command(engine_path, warmup_s=warmup_s, iterations=iterations, cuda_graph=cuda_graph, trtexec=exe,
                   export_times=times, version=version)
    try:
        done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise AmfEdgeError(f"trtexec did not finish within {timeout:g} s: `{shell_command(argv)}`; fewer --iters, "
                           "or run it by hand to see where it hangs") from None
    except OSError as e:
        raise AmfEdgeError(f"cannot start trtexec {exe} ({e.strerror or e}); expected an executable trtexec: "
                           "check the file, or put TensorRT's bin folder on PATH") from None
    log.write_text(done.stdout)
    if done.returncode != 0:
        tail = "\n".join(done.stdout.rstrip().splitlines()[-TAIL_LINES:])
        raise AmfEdgeError(f"trtexec failed (exit {done.returncode}) on {engine_path}; the end of its output:\n{tail}\n"
                           f"(full log {log}); an engine from another TensorRT version or GPU will not load: "
                           "rebuild it with `amf-edge build` on this machine")
    return argv, done.stdout


def _collect(argv: list[str], output: str, times: Path, log: Path, version: str | None) -> dict:
    """Statistics from the times file; trtexec's summary stands in (throughput only) when that file is unusable."""
    try:
        summary = parse_summary(output)
    except AmfEdgeError:
        summary = None
    try:
        stats, error = parse_export_times(times), None
    except AmfEdgeError as e:
        stats, error = {"throughput_qps": (summary or {}).get("throughput_qps")}, str(e)
    return _result(argv, ran=True, version=version, log=str(log), summary=summary, error=error, **stats)


def _result(argv: list[str], *, ran: bool, error: str | None = None, **found) -> dict:
    result = {"command": shell_command(argv), "ran": ran, "version": None, "throughput_qps": None,
              **{key: None for key in STATS_KEYS}, "summary": None, "log": None, "error": error}
    result.update(found)
    return result
