"""A bench report (the dict of report.json, already valid against docs/bench-report.schema.json) as people read
it: report.md with the environment, the settings and four tables, and PNG plots beside it.

Tables are lists of columns, each a header and a getter from one model's dict to the cell's text, so a column
is added or moved in one place. Plots need matplotlib, imported only by `write_plots`; the markdown does not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from amf_edge.bench.environment import describe_jetson
from amf_edge.bench.stats import ratio
from amf_edge.errors import AmfEdgeError
from amf_edge.lazy import install_hint

# STAGES[0], capture_wait, happens before the frame exists: it is not part of latency, so not of the stage sum
from amf_edge.runtime.pipeline import LATENCY_STAGES, STAGES

DASH = "\u2013"  # a missing value: null in the report
HIST_PNG, STAGES_PNG, TIMELINE_PNG = "latency_hist.png", "stages.png", "timeline.png"
PLOTS = (HIST_PNG, STAGES_PNG, TIMELINE_PNG)
DPI = 100
WIDTH_IN = 10.0
HIST_BINS = 40
LOG_RATIO = 4.0  # models whose median latencies differ more than this share a log axis
# Pipeline efficiency above this is more frames through the pipeline than the model alone delivers: a measurement
# problem, flagged with its cause in report.md and on the terminal.
EFFICIENCY_LIMIT = 1.05
RATE_FROM = {"source": "the source's rate, from its timestamps", "default": "a camera's: the source has no timestamps",
             "option": "--rate"}


# ---------------------------------------------------------------------------------------------------- values


def _get(obj, *keys):
    """obj[k1][k2]…, or None where a level is missing or null (the report's null sections)."""
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _ms(value: float | None) -> str:
    """Milliseconds: 2 decimals, 3 significant digits below 1 ms (a 0.04 ms copy should not read 0.04 or 0.00)."""
    if value is None:
        return DASH
    if value != 0 and abs(value) < 1:
        return f"{value:#.3g}"
    return f"{value:.2f}"


def _fixed(digits: int) -> Callable[[float | None], str]:
    return lambda value: DASH if value is None else f"{value:.{digits}f}"


_fps = _fixed(1)
_mib = _fixed(1)
_fraction = _fixed(2)


def _ratio(value: float | None) -> str:
    """2 decimals, 2 significant digits below 0.1 (a 0.075 ratio should not read 0.07)."""
    if value is None:
        return DASH
    return f"{value:.2f}\u00d7" if value == 0 or abs(value) >= 0.1 else f"{value:#.2g}\u00d7"


def _int(value: int | None) -> str:
    return DASH if value is None else str(int(value))


def _cell(text: str) -> str:
    """Table-safe text: a '|' would end the cell and a newline the row."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def stage_sum(model: dict) -> float | None:
    """Sum of the end-to-end stage means that make up latency (all but capture_wait), None without any."""
    means = [_get(model, "end_to_end", "stages_ms", stage, "mean") for stage in LATENCY_STAGES]
    present = [m for m in means if m is not None]
    return float(sum(present)) if present else None


def end_to_end_mode(report: dict) -> str | None:
    """How the end-to-end runs fed the frames: "paced" (like a camera) or "saturation" (a burst); None without
    end-to-end runs. Reports without settings.mode (written before it existed) were paced exactly when
    rate_fps is set."""
    if not any(m.get("end_to_end") is not None for m in report["models"]):
        return None
    settings = report.get("settings") or {}
    return settings.get("mode") or ("saturation" if settings.get("rate_fps") is None else "paced")


def e2e_over_backend(model: dict) -> float | None:
    """End-to-end latency p50 over backend-only p50: near 1 when a frame waits for nothing but the model."""
    return ratio(_get(model, "end_to_end", "latency_ms", "p50"), _get(model, "backend_only", "latency_ms", "p50"))


def efficiency_flags(report: dict) -> list[str]:
    """One sentence per model whose pipeline efficiency is above EFFICIENCY_LIMIT, with its cause: the pipeline
    cannot deliver more frames than the model alone, so the two halves of the ratio were not measured alike."""
    flags = []
    for m in report["models"]:
        efficiency = _get(m, "end_to_end", "pipeline_efficiency")
        if efficiency is None or efficiency <= EFFICIENCY_LIMIT:
            continue
        # backend only as the caller's clock saw it (throughput comes from it), and the same in the pipeline
        alone = _get(m, "backend_only", "host_ms", "mean") or _get(m, "backend_only", "latency_ms", "mean")
        parts = [_get(m, "end_to_end", "stages_ms", stage, "mean") for stage in ("upload", "inference", "download")]
        inside = sum(v for v in parts if v is not None) if any(v is not None for v in parts) else None
        head = (f"{m['name']}: pipeline efficiency {efficiency:.2f} > {EFFICIENCY_LIMIT:.2f}, more frames through "
                f"the pipeline than the model alone delivers")
        if inside is not None and alone is not None and inside * EFFICIENCY_LIMIT < alone:
            cause = (f"the backend took {_ms(inside)} ms a frame in the pipeline but {_ms(alone)} ms alone: the "
                     "backend-only and pipeline runs did not see the same machine (other load, clocks, thread "
                     "pools); rerun with more --rounds, on a quieter machine")
        else:
            frames, wall = _get(m, "end_to_end", "frames"), _get(m, "end_to_end", "wall_s")
            cause = (f"the backend took as long in the pipeline ({_ms(inside)} ms a frame) as alone ({_ms(alone)} ms), "
                     f"so the throughputs were timed over too little ({_int(frames)} frames in "
                     f"{DASH if wall is None else f'{wall:.3g}'} s); rerun with more --iters")
        flags.append(f"{head}: {cause}")
    return flags


# ---------------------------------------------------------------------------------------------------- tables


class Column(NamedTuple):
    header: str
    get: Callable[[dict], str]
    text: bool = False  # left-aligned; numbers are right-aligned so their digits line up


def _table(columns: Sequence[Column], models: Iterable[dict]) -> list[str]:
    lines = ["| " + " | ".join(_cell(c.header) for c in columns) + " |",
             "|" + "|".join(":---" if c.text else "---:" for c in columns) + "|"]
    lines += ["| " + " | ".join(_cell(c.get(m)) for c in columns) + " |" for m in models]
    return lines


def _stat(section: str, stat: str, key: str = "latency_ms") -> Callable[[dict], str]:
    return lambda m: _ms(_get(m, section, key, stat))


def _stage_mean(stage: str) -> Callable[[dict], str]:
    return lambda m: _ms(_get(m, "end_to_end", "stages_ms", stage, "mean"))


def _backend(model: dict) -> str:
    backend = model["backend"]
    where = [str(backend[k]) for k in ("device", "provider") if backend.get(k) not in (None, "")]
    where = list(dict.fromkeys(where))  # ONNX Runtime's device and provider can say the same thing
    return f"{backend['backend']} ({', '.join(where)})" if where else str(backend["backend"])


_NAME = Column("model", lambda m: m["name"], text=True)

BACKEND_ONLY = [
    _NAME,
    Column("backend", _backend, text=True),
    Column("precision", lambda m: m["precision"], text=True),
    Column("input H×W", lambda m: f"{m['input']['height']}×{m['input']['width']}"),
    Column("timer", lambda m: m["backend_only"]["timer"], text=True),
    *(Column(f"{s} ms", _stat("backend_only", s)) for s in ("p50", "p90", "p99", "max", "mean", "jitter")),
    Column("FPS", lambda m: _fps(m["backend_only"]["throughput_fps"])),
    Column("p50 vs first", lambda m: _ratio(_get(m, "ratios", "backend_only_p50"))),
    Column("compute p50 ms", _stat("backend_only", "p50", "compute_ms")),
    Column("GPU MiB", lambda m: _mib(_get(m, "memory", "gpu_mib"))),
    Column("host RSS Δ MiB", lambda m: _mib(_get(m, "memory", "host_rss_delta_mib"))),
]

END_TO_END = [
    _NAME,
    Column("policy", lambda m: _get(m, "end_to_end", "policy") or DASH, text=True),
    Column("FPS", lambda m: _fps(_get(m, "end_to_end", "throughput_fps"))),
    Column("p50 vs backend only", lambda m: _ratio(e2e_over_backend(m))),
    Column("pipeline efficiency", lambda m: _fraction(_get(m, "end_to_end", "pipeline_efficiency"))),
    Column("backend busy", lambda m: _fraction(_get(m, "end_to_end", "backend_busy"))),
    *(Column(f"latency {s} ms", _stat("end_to_end", s)) for s in ("p50", "p90", "p99", "max")),
    Column("frames", lambda m: _int(_get(m, "end_to_end", "frames"))),
    Column("dropped", lambda m: _int(_get(m, "end_to_end", "dropped"))),
    Column("FPS vs first", lambda m: _ratio(_get(m, "ratios", "end_to_end_throughput"))),
]

STAGE_TABLE = [
    _NAME,
    *(Column(stage, _stage_mean(stage)) for stage in STAGES),
    Column("sum", lambda m: _ms(stage_sum(m))),
    Column("latency mean", _stat("end_to_end", "mean")),
]

TRTEXEC = [
    _NAME,
    Column("trtexec qps", lambda m: _fps(_get(m, "trtexec", "throughput_qps"))),
    Column("ours FPS", lambda m: _fps(m["backend_only"]["throughput_fps"])),
    Column("trtexec latency p50", _stat("trtexec", "p50")),
    Column("ours p50", _stat("backend_only", "p50")),
    Column("trtexec latency p99", _stat("trtexec", "p99")),
    Column("ours p99", _stat("backend_only", "p99")),
    Column("trtexec GPU compute p50", _stat("trtexec", "p50", "gpu_compute_ms")),
    Column("ours compute p50", _stat("backend_only", "p50", "compute_ms")),
    Column("trtexec GPU compute p99", _stat("trtexec", "p99", "gpu_compute_ms")),
    Column("ours compute p99", _stat("backend_only", "p99", "compute_ms")),
]


# ---------------------------------------------------------------------------------------------------- sections


def _joined(*parts: str | None, sep: str = ", ") -> str:
    return sep.join(p for p in parts if p)


def _labelled(label: str, value) -> str | None:
    return f"{label} {value}" if value not in (None, "") else None


def _gpu_line(gpu: dict | None) -> str:
    if gpu is None:
        return "no GPU"
    memory = gpu.get("memory_mib")
    return _joined(gpu["name"], _labelled("driver", gpu.get("driver")),
                   _labelled("CUDA driver", gpu.get("cuda_driver")), _labelled("CUDA runtime", gpu.get("cuda_runtime")),
                   _labelled("compute capability", gpu.get("compute_capability")),
                   f"{memory:.0f} MiB" if memory is not None else None)


def _environment(env: dict) -> list[str]:
    host = env["host"]
    memory = host.get("memory_gib")
    os_text = _joined(host.get("os"), _labelled("kernel", host.get("kernel")), host.get("machine"))
    software = _joined(*(f"{name} {version}" for name, version in env["software"].items() if version))
    lines = ["## Environment", "",
             f"- CPU: {host['cpu']}, {host['cores_usable']} of {host['cores_logical']} logical cores usable",
             f"- memory: {memory:.1f} GiB" if memory is not None else f"- memory: {DASH}",
             f"- OS: {os_text or DASH}",
             f"- GPU: {_gpu_line(env['gpu'])}"]
    if env["jetson"] is not None:
        lines.append(f"- Jetson: {describe_jetson(env['jetson'])}")
    if software:
        lines.append(f"- software: {software}")
    for warning in env["warnings"]:
        # a blank line between them: consecutive quote lines would merge into one paragraph
        lines += ["", f"> **Warning:** {warning}"]
    return lines


def _seconds(value) -> str:
    return DASH if value is None else f"{value:g} s"


# (label, getter from settings) in the order they are listed; absent optional settings read "–"
SETTINGS = [
    ("source", lambda s: f"`{s['source']}`" if s.get("source") else DASH),
    ("frames", lambda s: _int(s.get("frames"))),
    ("timed iterations per model", lambda s: str(s["iters"])),
    ("warm-up per model", lambda s: _seconds(s["warmup_s"])),
    ("rounds", lambda s: str(s["rounds"])),
    ("policy", lambda s: s.get("policy") or DASH),
    ("end to end", lambda s: _pacing(s)),
    ("sinks", lambda s: ", ".join(s["sinks"]) if s.get("sinks") else "none"),
    ("device", lambda s: s.get("device") or DASH),
    ("threads", lambda s: _int(s.get("threads"))),
    ("end-to-end runs", lambda s: DASH if s.get("end_to_end") is None else ("yes" if s["end_to_end"] else "no")),
]


def _pacing(settings: dict) -> str:
    if settings.get("end_to_end") is False:
        return DASH
    rate = settings.get("rate_fps")
    if settings.get("mode") == "saturation" or rate is None:
        return "saturation: frames in a burst, as fast as the pipeline takes them"
    origin = RATE_FROM.get(settings.get("rate_from") or "")
    return f"paced at {rate:g} FPS" + (f" ({origin})" if origin else "") + ", like a camera"


def _settings(settings: dict) -> list[str]:
    return ["## Settings", "", *(f"- {label}: {get(settings)}" for label, get in SETTINGS)]


def _backend_only(report: dict) -> list[str]:
    lines = ["## Backend only", "",
             "One inference as the caller sees it (host↔device copies included), after warm-up. "
             "Ratios are this model over the first; compute is device time without copies.", "",
             *_table(BACKEND_ONLY, report["models"])]
    peak = report.get("peak_host_rss_mib")
    if peak is not None:
        lines += ["", f"Peak host RSS of the whole run: {peak:.1f} MiB."]
    return lines


def _end_to_end(report: dict, models: list[dict]) -> list[str]:
    if not models:
        return ["## End to end", "", "No model ran end to end."]
    policy = (report.get("settings") or {}).get("policy") or models[0]["end_to_end"].get("policy") or "lossless"
    if end_to_end_mode(report) == "saturation":
        lines = ["## End to end: saturation", "",
                 f"**Saturation**: frames replayed in a burst, as fast as the pipeline takes them ({policy} policy). "
                 "The FPS is the pipeline's maximum; the latency is mostly frames waiting in the queues (the queue "
                 "stage below), not what a camera at its own rate would see: for that, run without --rate 0 "
                 "(paced at the source's rate, the default)."]
    else:
        lines = ["## End to end", "",
                 f"Frames {_pacing(report.get('settings') or {})}, with the {policy} policy: the latency is what a "
                 "live user sees, and near the backend-only latency when nothing but the model makes a frame wait. "
                 "The source limits the FPS, so pipeline efficiency measures the camera here; `--rate 0` measures "
                 "saturation. The camera streams until each turn's frames are out; dropped counts its frames that "
                 "came while the model was busy with another (a model slower than the camera shows there, not as "
                 "a queue)."]
    lines += ["", "Capture to output through the real pipeline. p50 vs backend only is the end-to-end latency p50 "
                  "over the backend-only p50. Pipeline efficiency is end-to-end over backend-only throughput; backend "
                  "busy is the share of the pipeline runs' time the backend worked (the same runs, so drift between "
                  "the models' turns does not enter it).", "", *_table(END_TO_END, models)]
    for flag in efficiency_flags(report):
        lines += ["", f"> **Warning:** {flag}"]
    return lines + ["", "## Stages (mean ms, end to end)", "",
                    "`sum` adds every stage but capture_wait (the wait for the source, before the frame exists); "
                    "it matches the latency mean.", "", *_table(STAGE_TABLE, models)]


def _trtexec(models: list[dict]) -> list[str]:
    if not models:
        return []
    ran = [m for m in models if m["trtexec"]["ran"]]
    lines = ["## trtexec", ""]
    if ran:
        lines += ["TensorRT's own benchmark on the same engines, beside our backend-only numbers (ms).", "",
                  *_table(TRTEXEC, ran), ""]
    lines += ["The equivalent trtexec commands (`amf-edge bench --trtexec` runs them):", ""]
    for m in models:
        t = m["trtexec"]
        # ran with an error: trtexec finished but its per-inference times could not be read
        outcome = ("ran" if t["ran"] else "not run") + (f"; {t['error']}" if t.get("error") else "")
        lines += [f"- {m['name']} ({outcome}):", "", "  ```", f"  {t['command']}", "  ```"]
    return lines


def _notes(notes: Sequence[str]) -> list[str]:
    return ["## Notes", "", *(f"- {note}" for note in notes)] if notes else []


def _plots(plots: Iterable[str | Path]) -> list[str]:
    names = [Path(p).name for p in plots]
    if not names:
        return []
    # a blank line between images: in one paragraph they would sit side by side
    return ["## Plots", *(f"\n![{Path(n).stem.replace('_', ' ')}]({n})" for n in names)]


def markdown(report: dict, plots: Iterable[str | Path] = ()) -> str:
    """report.md's text. `plots` are the PNG files (beside the report) to link at the end."""
    tool = report["tool"]
    end_to_end = [m for m in report["models"] if m["end_to_end"] is not None]
    sections = [
        [f"# amf-edge bench, {report['created']}", "",
         f"{tool['name']} {tool['version']} ({tool['implementation']}), report schema `{report['schema']}`:", "",
         "```", report["command"], "```"],
        _environment(report["environment"]),
        _settings(report["settings"]),
        _backend_only(report),
        _end_to_end(report, end_to_end),
        _trtexec([m for m in report["models"] if m["trtexec"] is not None]),
        _notes(report.get("notes") or ()),
        _plots(plots),
    ]
    return "\n\n".join("\n".join(s) for s in sections if s) + "\n"


def write_markdown(report: dict, path: str | Path) -> Path:
    """Write report.md; link the plots that exist beside it, so write the plots first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    plots = [name for name in PLOTS if (path.parent / name).is_file()]
    path.write_text(markdown(report, plots), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------------- plots


def _pyplot():
    try:
        import matplotlib
    except ImportError as e:
        raise AmfEdgeError(f"the bench plots need matplotlib: {install_hint('matplotlib')} "
                           f"(or pass --no-plots) [{e}]") from None
    matplotlib.use("Agg")  # files only: no display, and no GUI toolkit to find on a headless Jetson
    import matplotlib.pyplot as plt

    return plt


def _finite(values) -> np.ndarray:
    x = np.asarray(values if values is not None else [], dtype=np.float64).reshape(-1)
    return x[np.isfinite(x)]


def _backend_samples(model: dict) -> np.ndarray:
    return _finite(_get(model, "backend_only", "samples_ms"))


def _e2e_latency(model: dict) -> np.ndarray:
    return _finite(_get(model, "end_to_end", "samples", "latency_ms"))


def figure_size(plot: str, rows: int) -> tuple[float, float]:
    """Inches of a plot with `rows` models (times DPI = pixels; the timeline's rows are its panels: one per model
    end to end, and the backend-only one): width fixed, height grows with the rows."""
    heights = {HIST_PNG: 1.0 + 1.8 * rows, STAGES_PNG: max(3.2, 1.4 + 0.5 * rows), TIMELINE_PNG: 1.25 + 2.5 * rows}
    return WIDTH_IN, heights[plot]


def _wide(samples: list[np.ndarray]) -> bool:
    """Whether the models' typical latencies differ so much (a CPU model beside a TensorRT engine) that a linear
    axis would flatten the fast ones: then the axis is logarithmic and every model keeps its shape."""
    medians = [float(np.median(x)) for x in samples]
    return min(medians) > 0 and max(medians) / min(medians) > LOG_RATIO


def _log_axis(axis) -> None:
    """A log scale labelled 2, 3, 5, 10, 20, 30, 50 ms (plain numbers, not 2×10⁰ and the like)."""
    from matplotlib.ticker import FuncFormatter  # matplotlib is there: _pyplot imported it

    def label(value: float, _position) -> str:
        mantissa = value / 10 ** np.floor(np.log10(value)) if value > 0 else 0
        return f"{value:g}" if round(mantissa) in (1, 2, 3, 5) else ""

    axis.set_major_formatter(FuncFormatter(label))
    axis.set_minor_formatter(FuncFormatter(label))


def _bins(x: np.ndarray, log: bool) -> tuple[np.ndarray, float]:
    """Bin edges over one model's samples (each model gets its resolution even on a shared axis), and the top:
    a few stalls above twice the p99 would squash the rest into a couple of bins, so they are counted, not drawn."""
    lo, hi = float(x.min()), min(float(x.max()), 2.0 * float(np.percentile(x, 99)))
    if hi - lo < 1e-9 * max(abs(hi), 1.0):  # all samples equal: one bin around them
        lo, hi = lo * 0.99, (hi * 1.01 if hi > 0 else hi + 1.0)
    edges = np.geomspace(lo, hi, HIST_BINS + 1) if log and lo > 0 else np.linspace(lo, hi, HIST_BINS + 1)
    return edges, hi


def _hist_series(model: dict) -> list[tuple[str, np.ndarray]]:
    series = [("backend only", _backend_samples(model)), ("end to end", _e2e_latency(model))]
    return [s for s in series if s[1].size]


def _hist_panel(ax, series: list[tuple[str, np.ndarray]], log: bool) -> None:
    edges, hi = _bins(np.concatenate([x for _, x in series]), log)
    for j, (label, x) in enumerate(series):
        colour = f"C{j}"
        hidden = int(np.sum(x > hi))
        text = f"{label} (n={x.size}" + (f", {hidden} above {hi:.1f} ms not drawn)" if hidden else ")")
        # backend-only filled, end-to-end as an outline over it: both stay visible where they overlap
        ax.hist(x, bins=edges, histtype="stepfilled" if j == 0 else "step", alpha=0.5 if j == 0 else 1.0,
                color=colour, linewidth=1.5, label=text)
        # of the samples drawn: the end-to-end series has no precomputed statistics to take them from
        # (amf_edge.bench.stats's linear interpolation, as for latency_ms)
        p50, p99 = np.percentile(x, [50, 99])
        ax.axvline(p50, color=colour, linestyle="-", linewidth=1.2, label=f"{label} p50 {_ms(p50)} ms")
        ax.axvline(p99, color=colour, linestyle="--", linewidth=1.2, label=f"{label} p99 {_ms(p99)} ms")


def _latency_hist(plt, models: list[dict]):
    rows = [(m, _hist_series(m)) for m in models]
    rows = [r for r in rows if r[1]]
    if not rows:
        return None
    log = _wide([x for _, series in rows for _, x in series])
    fig, axes = plt.subplots(len(rows), 1, sharex=True, squeeze=False, layout="constrained",
                             figsize=figure_size(HIST_PNG, len(rows)))
    for ax, (model, series) in zip(axes[:, 0], rows):
        _hist_panel(ax, series, log)
        if log:
            ax.set_xscale("log")
            _log_axis(ax.xaxis)
        ax.set_title(model["name"], fontsize=10)
        ax.set_ylabel("count")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    axes[-1, 0].set_xlabel("latency (ms, log scale)" if log else "latency (ms)")
    fig.suptitle("Latency distribution per model (solid line p50, dashed p99)")
    return fig


def _stages(plt, models: list[dict]):
    rows = [m for m in models if m["end_to_end"] is not None]
    if not rows:
        return None
    means = np.array([[_get(m, "end_to_end", "stages_ms", s, "mean") or 0.0 for s in LATENCY_STAGES] for m in rows])
    fig, ax = plt.subplots(layout="constrained", figsize=figure_size(STAGES_PNG, len(rows)))
    y = np.arange(len(rows))
    left = np.zeros(len(rows))
    for j, stage in enumerate(LATENCY_STAGES):
        ax.barh(y, means[:, j], left=left, height=0.6, color=f"C{j}", label=stage)
        left += means[:, j]
    for yi, total in zip(y, left):
        ax.text(total, yi, f" {total:.2f} ms", va="center", fontsize=8)
    ax.set_xlim(0, max(float(left.max()), 1e-3) * 1.15)  # room for the totals
    ax.set_yticks(y)
    ax.set_yticklabels([m["name"] for m in rows])
    ax.invert_yaxis()  # the first model on top, as in the tables
    ax.set_xlabel("mean time per frame (ms)")
    ax.set_title("Where a frame's time goes, end to end (mean per stage)\n"
                 "capture_wait is not shown: it happens before the frame exists and is not part of its latency",
                 fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, title="stage")
    return fig


def _timeline_panel(ax, lines: list[tuple[int, str, np.ndarray, np.ndarray]], title: str, xlabel: str,
                    **style) -> None:
    for i, name, x, y in lines:
        # the model's index picks its colour, so a model keeps its colour in both panels
        ax.plot(x, y, color=f"C{i % 10}", linewidth=0.8, label=name, **style)
    log = _wide([y for *_, y in lines])
    if log:
        ax.set_yscale("log")
        _log_axis(ax.yaxis)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("latency (ms, log scale)" if log else "latency (ms)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))


def timeline_series(model: dict) -> tuple[np.ndarray, dict[str, np.ndarray], str]:
    """The frames of one model end to end on the real time axis: their capture times (s), each latency stage's
    ms per frame, and the column the times come from: `capture_s` (seconds since the run's first frame, one
    clock for every model and round), or in reports without it `received_s`."""
    samples = _get(model, "end_to_end", "samples") or {}
    x_key = "capture_s" if "capture_s" in samples else "received_s"
    if x_key not in samples:
        return np.empty(0), {}, x_key
    columns = {stage: samples.get(f"{stage}_ms") for stage in LATENCY_STAGES}
    x = np.asarray(samples[x_key], dtype=np.float64).reshape(-1)
    present = {stage: np.asarray(v, dtype=np.float64).reshape(-1) for stage, v in columns.items() if v is not None}
    n = min([x.size, *(v.size for v in present.values())])  # a short column must not break the plot
    x = x[:n]
    stacks = {stage: np.nan_to_num(v[:n]) for stage, v in present.items()}
    keep = np.isfinite(x)
    return x[keep], {stage: v[keep] for stage, v in stacks.items()}, x_key


def _bar_width(x: np.ndarray) -> float:
    """Most of the usual spacing between frames, so neighbours do not overlap."""
    steps = np.diff(np.sort(x))
    steps = steps[steps > 0]
    span = float(x.max() - x.min()) if x.size else 0.0
    return 0.8 * float(np.median(steps)) if steps.size else max(span / 100, 1e-3)


def _timeline(plt, models: list[dict]):
    e2e = [(i, m, *timeline_series(m)) for i, m in enumerate(models)]
    e2e = [row for row in e2e if row[2].size and row[3]]
    if not e2e:
        return None
    backend = [(i, m["name"], _backend_samples(m)) for i, m in enumerate(models)]
    backend = [(i, name, np.arange(y.size), y) for i, name, y in backend if y.size]
    panels = len(e2e) + bool(backend)
    fig, axes = plt.subplots(panels, 1, squeeze=False, layout="constrained", figsize=figure_size(TIMELINE_PNG, panels))
    # one time axis for every model: a model's turns sit where they ran, the others' turns in the gaps
    lo = min(float(x.min()) for _, _, x, _, _ in e2e)
    hi = max(float(x.max()) for _, _, x, _, _ in e2e)
    pad = max((hi - lo) * 0.01, 1e-3)
    for k, (_, model, x, stacks, x_key) in enumerate(e2e):
        ax = axes[k, 0]
        width, bottom = _bar_width(x), np.zeros(x.size)
        for j, stage in enumerate(LATENCY_STAGES):
            if stage in stacks:
                ax.bar(x, stacks[stage], width=width, bottom=bottom, align="center", color=f"C{j}", label=stage,
                       linewidth=0)
                bottom = bottom + stacks[stage]
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_title(f"{model['name']}: each frame's latency by stage, at its capture time", fontsize=10)
        ax.set_ylabel("ms")
        ax.set_xlabel("capture time (s since the run's first frame; gaps: backend-only and other models' turns)"
                      if x_key == "capture_s" else
                      "capture time (s since the model's end-to-end run started, rounds back to back)")
        if k == 0:
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="stage")
    if backend:
        _timeline_panel(axes[-1, 0], backend, "Backend only: latency of each timed iteration, in order",
                        "timed iteration (after warm-up)")
    fig.suptitle("Timeline: capture to output of every frame (stacked stages), on the run's clock")
    return fig


_DRAW = {HIST_PNG: _latency_hist, STAGES_PNG: _stages, TIMELINE_PNG: _timeline}


def write_plots(report: dict, directory: str | Path) -> list[Path]:
    """Write latency_hist.png, stages.png and timeline.png into `directory`; those without data are skipped
    (and a same-named file from an earlier run removed, so report.md does not link a stale plot)."""
    plt = _pyplot()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, draw in _DRAW.items():
        path = directory / name
        fig = draw(plt, report["models"])
        if fig is None:
            path.unlink(missing_ok=True)
            continue
        try:
            fig.savefig(path, dpi=DPI)
        finally:
            plt.close(fig)  # pyplot keeps every figure alive until closed
        written.append(path)
    return written
