"""Measure models on this machine: backend-only latency and end to end through the real pipeline, per stage.

Every model listed runs on the same frames (read once from --source, then replayed from memory), the
models taking turns so that a noisy machine affects them alike; ratios are against the first model.
Backend only: inferences back to back (wall clock; device events for TensorRT, with and without CUDA
graphs, copies timed apart), on a worker thread like the pipeline's inference. End to end: the `amf-edge run`
pipeline with the stage times of every frame, the frames paced at the source's rate (30 FPS for the synthetic
scenes, a recording's own) with the live policy, as a camera runs; `--rate 0` replays them in a burst instead
(saturation: the pipeline's maximum throughput, and latency that is mostly time in the queues).
The report says what ran where: CPU, GPU, driver, CUDA, TensorRT and ONNX Runtime versions, and on Jetson
the power mode and clocks (warning when not at maximum).

examples:
  amf-edge bench r18.onnx r18-int8-cpu.onnx runs/r18/best.pt --report runs/bench/r18
  amf-edge bench r18.engine --trtexec --report runs/bench/orin          (TensorRT, trtexec beside ours)
  amf-edge bench r18.onnx --source bag://walk.bag --sink video://walk.mp4   (paced at the recording's rate)
  amf-edge bench r18.onnx --rate 0                                      (saturation: frames in a burst)

The report folder gets report.json (docs/bench-report.md), report.md and PNG plots.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

HELP = "measure latency and throughput of models, backend only and end to end, per stage"
EXTRAS = "runtime,bench"  # pip install "amf-edge[runtime,bench]" brings what this command needs
DEFAULT_SIZE = (240, 320)


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("models", type=Path, nargs="+", metavar="MODEL",
                        help="models to compare: .onnx, .engine (+ .json) or .pt; ratios are against the first")
    parser.add_argument("--source", metavar="URI",
                        help="frames to measure on (default: synthetic scenes at the models' input size)")
    parser.add_argument("--frames", type=int, default=16, metavar="N", help="distinct frames read and cycled (16)")
    parser.add_argument("--iters", type=int, default=100, metavar="N",
                        help="timed inferences per model, and frames out end to end (100; paced, the camera streams "
                             "until they are out and its frames the model had no time for count as dropped)")
    parser.add_argument("--warmup-s", type=float, default=2.0, metavar="S", help="warm-up seconds per model (2)")
    parser.add_argument("--rounds", type=int, default=5, metavar="R", help="turns the models take (5)")
    parser.add_argument("--report", type=Path, metavar="DIR", help="write report.json, report.md and plots here")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots (they need matplotlib)")
    parser.add_argument("--no-e2e", action="store_true", help="backend only: skip the pipeline runs")
    parser.add_argument("--policy", choices=("lossless", "live"),
                        help="pipeline policy end to end (default: live when paced, as a camera runs; lossless in "
                             "saturation)")
    parser.add_argument("--rate", type=float, metavar="FPS",
                        help="replay frames at this rate, like a camera (default: the source's rate from its "
                             "timestamps, else 30); 0 = saturation: as fast as the pipeline takes them")
    parser.add_argument("--saturation", action="store_true",
                        help="the same as --rate 0: frames in a burst, for the pipeline's maximum throughput (its "
                             "latency is mostly queueing); the report says 'saturation'")
    parser.add_argument("--sink", action="append", default=[], metavar="URI",
                        help="sinks end to end, to include their cost (opened anew each turn; repeat for several)")
    parser.add_argument("--cuda-graph", choices=("off", "on", "both"), default="both",
                        help="TensorRT engines without and/or with CUDA graphs (default both)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (ONNX Runtime, PyTorch)")
    parser.add_argument("--threads", type=int, metavar="N", help="CPU threads per inference (ONNX Runtime, PyTorch)")
    parser.add_argument("--trtexec", action="store_true",
                        help="also run trtexec on each engine and put its numbers beside ours")
    parser.add_argument("--native", action="store_true",
                        help="also run the C++ runner (make native) on each engine, on the same frames, and report "
                             "Python over native")
    parser.add_argument("--dump-frames", type=Path, metavar="DIR",
                        help="write the frames (the first model's inputs) as .npy files with frames.json, for the "
                             "C++ runner or other tools")


def run(args: argparse.Namespace) -> int:
    from amf_edge.bench import measure, native, report, trtexec
    from amf_edge.bench.environment import collect_environment, format_environment
    from amf_edge.bench.replay import read_frames
    from amf_edge.errors import AmfEdgeError
    from amf_edge.files import check_output
    from amf_edge.runtime.sinks import sink_from_uri

    if args.saturation:
        if args.rate not in (None, 0):
            raise AmfEdgeError(f"--saturation replays frames in a burst; it contradicts --rate {args.rate:g}")
        args.rate = 0.0
    measure.check_settings(args.iters, args.rounds, args.warmup_s, args.frames, args.rate)
    for uri in args.sink:
        sink_from_uri(uri)  # a bad URI fails before any model loads
    if args.report is not None:
        check_output(args.report, "--report", folder=True)  # before the measurements, not after them
    with_trtexec = trtexec.check_trtexec(args.models, run=args.trtexec)
    native_tool = native.check_native(args.models) if args.native else None
    environment = collect_environment()
    for line in format_environment(environment):
        print(line)
    subjects = measure.load_subjects(args.models, device=args.device, threads=args.threads, cuda_graph=args.cuda_graph)
    try:
        notes = []
        size = measure.input_size(subjects)
        source = args.source
        if source is None:
            h, w = size or DEFAULT_SIZE
            source = f"synthetic://?n={args.frames}&height={h}&width={w}"
            if size is None:
                notes.append(f"no model fixes an input size: measured at {h}×{w}")
        frames = read_frames(source, args.frames)
        measure.prepare_inputs(subjects, frames)
        if args.dump_frames is not None:
            print(f"wrote {native.dump_frames(subjects[0].inputs, args.dump_frames)} ({len(frames)} frames)")
        rate, rate_from, policy = measure.pacing(frames, args.rate, args.policy)
        print(f"{len(subjects)} model(s), {len(frames)} frame(s) from {source}; warm-up {args.warmup_s:g} s each, "
              f"{args.iters} iterations in {args.rounds} round(s)")
        if not args.no_e2e:
            print(f"end to end: {report.describe_pacing(rate, rate_from, policy)}")

        def turn(s: measure.Subject, n: int, done: int) -> None:
            # A model's pipeline turn follows its backend-only turn, seconds apart, so a shared machine's
            # drift lands in both halves of the pipeline efficiency rather than between them.
            measure.time_backend(s, n)
            if not args.no_e2e:
                measure.time_pipeline(s, frames, n, start=done, policy=policy, rate=rate, sinks=args.sink)

        interrupted = False
        try:
            for s in subjects:
                measure.warm_up(s, args.warmup_s)
            measure.interleave(subjects, args.iters, args.rounds, turn,
                               what="backend only" if args.no_e2e else "backend only + end to end")
        except KeyboardInterrupt:
            # what was measured so far is kept, as long as every model has numbers to compare
            if not all(s.wall_ms for s in subjects):
                raise
            interrupted = True
            notes.append("interrupted (Ctrl-C): the numbers are from the rounds that had run")
        runs = {} if interrupted or not with_trtexec else trtexec.trtexec_runs(
            subjects, run=args.trtexec, report_dir=args.report, warmup_s=args.warmup_s, iterations=args.iters,
            tensorrt_version=environment["software"].get("tensorrt"))  # trtexec's defaults changed in 11
        settings = {"source": source, "frames": len(frames), "iters": args.iters, "warmup_s": args.warmup_s,
                    "rounds": args.rounds, "policy": None if args.no_e2e else policy,
                    "rate_fps": None if args.no_e2e else rate,
                    "mode": None if args.no_e2e else ("saturation" if rate is None else "paced"),
                    "rate_from": None if args.no_e2e or rate is None else rate_from,
                    "sinks": list(args.sink), "device": args.device, "threads": args.threads,
                    "end_to_end": not args.no_e2e}
        notes.append("end to end, frames are replayed from memory: reading and decoding the source is not timed "
                     "(a camera's own timing: `amf-edge run --sink stats://FILE.json`)")
        result = report.assemble(subjects, command=shlex.join(["amf-edge", *sys.argv[1:]]), environment=environment,
                                 settings=settings, trtexec=runs, notes=notes)
    finally:
        measure.close_subjects(subjects)
    if native_tool is not None and not interrupted:  # after the Python backends let go of the GPU
        native.run_beside(native_tool, subjects, result, iterations=args.iters, warmup_s=args.warmup_s,
                          report_dir=args.report)
    print(report.terminal_summary(result))
    if args.report is not None:
        written = report.write(result, args.report, plots=not args.no_plots)
        print("wrote " + ", ".join(str(p) for p in written))
    else:
        print("add --report DIR to keep report.json, report.md and the plots")
    if interrupted:
        raise KeyboardInterrupt
    return 0
