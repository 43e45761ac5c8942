"""Calibration sets for INT8 (calib_data/NAME): collect spread-out frames from a dataset, recording or camera.

`collect` takes every --stride-th frame of --source as a candidate, describes each by a coarse colour and depth
histogram, and keeps the --n most spread-out ones (greedy farthest-point selection; --seed picks the first), so
the near-identical frames of a static camera are not all chosen. Frames are stored as the sensor gave them
(8-bit RGB and 16-bit depth PNGs, resized only with --height/--width) with a manifest: see calib_data/README.md.

The source is read by its scheme:
  datasets (amf_edge.datasets, split --split, default train): synthetic://, nyudv2://, sunrgbd://, folder://
  recordings and cameras (amf_edge.runtime.sources): the other schemes (listed under `collect --help`)
synthetic:// and folder:// exist as both; they are read as datasets (folder:// then needs the dataset layout
with dataset.yaml) unless you pass --reader source.

examples:
  amf-edge calib collect --source "synthetic://?seed=777&n=256&height=240&width=320" --n 32 -o calib_data/synth
  amf-edge calib collect --source nyudv2:///data/nyudv2 --n 200 --height 480 --width 640 \\
      --licence "NYU Depth V2, research use" -o calib_data/nyudv2-200
  amf-edge calib collect --source "synthetic://?n=600" --reader source --stride 5 --n 50 -o calib_data/stream
  amf-edge calib show calib_data/synthetic-240x320
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from amf_edge.arguments import positive_size
from amf_edge.calibset import (
    FEATURE,
    FRAMES,
    SYNTHETIC_LICENCE,
    UNKNOWN_LICENCE,
    CalibrationSet,
    SourceFrame,
    check_output_dir,
    collect_command,
    frame_feature,
    select_diverse,
    write_calibration_set,
)
from amf_edge.datasets import SCHEMES as DATASET_SCHEMES
from amf_edge.datasets import SPLITS, open_dataset
from amf_edge.errors import AmfEdgeError
from amf_edge.files import check_output
from amf_edge.sample import RGBDSample
from amf_edge.transforms import resize_sample

HELP = "collect or show a calibration set for INT8 calibration (calib_data/NAME)"
EXTRAS = "runtime"  # pip install "amf-edge[runtime]" brings what this command needs
METHOD = "farthest-point"


def add_args(parser: argparse.ArgumentParser) -> None:
    from amf_edge.runtime.sources import SCHEMES as SOURCE_SCHEMES  # the registry lists no optional package at import

    sub = parser.add_subparsers(dest="calib_command", metavar="SUBCOMMAND", required=True)
    raw = argparse.RawDescriptionHelpFormatter
    c = sub.add_parser("collect", help="choose N diverse frames of a source and write them as a calibration set",
                       description=__doc__, formatter_class=raw,
                       epilog=f"dataset schemes: {', '.join(s + '://' for s in DATASET_SCHEMES)}\n"
                              f"source schemes: {', '.join(s + '://' for s in SOURCE_SCHEMES)}")
    c.add_argument("--source", required=True, metavar="URI", help="dataset, recording or camera URI (see above)")
    c.add_argument("--n", type=int, required=True, metavar="N", help="number of frames to keep")
    c.add_argument("-o", "--out", required=True, metavar="DIR", help="output folder, e.g. calib_data/NAME")
    c.add_argument("--stride", type=int, default=1, metavar="S", help="candidates are every S-th frame (default: 1)")
    c.add_argument("--height", type=positive_size, help="resize frames to this height (with --width); default: as read")
    c.add_argument("--width", type=positive_size, help="resize frames to this width (with --height)")
    c.add_argument("--licence", metavar="TEXT", help=f"licence of the frames (default: {UNKNOWN_LICENCE!r}; "
                   "synthetic:// frames carry the generator's own)")
    c.add_argument("--seed", type=int, default=0, help="picks the first frame of the selection (default: 0)")
    c.add_argument("--split", choices=SPLITS, help="dataset split to read (datasets only; default: train)")
    c.add_argument("--reader", choices=("dataset", "source"), help="read the URI as a dataset or as a runtime source "
                   "(default: by scheme, datasets first)")
    c.add_argument("--max-frames", type=int, metavar="K", help="read at most K frames (before --stride); "
                   "needed for live cameras")
    c.add_argument("--force", action="store_true", help="replace the calibration set already in --out")
    s = sub.add_parser("show", help="check a calibration set and print its manifest summary",
                       description="Verify a calibration set (manifest, files, content hash) and summarise it.")
    s.add_argument("path", metavar="DIR", help="the calibration set's folder")
    s.add_argument("--json", action="store_true", help="print the whole manifest as JSON")


def run(args: argparse.Namespace) -> int:
    if args.calib_command == "show":
        calib = CalibrationSet.open(args.path)
        print(json.dumps(calib.manifest, indent=1) if args.json else summary(calib))
        return 0
    if (args.height is None) != (args.width is None):
        raise AmfEdgeError("give --height and --width together (or neither, to keep the frames' own size)")
    calib = collect(args.source, args.out, n=args.n, stride=args.stride, seed=args.seed, licence=args.licence,
                    size=None if args.height is None else (args.height, args.width), split=args.split,
                    reader=args.reader, max_frames=args.max_frames, force=args.force)
    print(summary(calib))
    return 0


def collect(source: str, out: str | Path, *, n: int, stride: int = 1, seed: int = 0, licence: str | None = None,
            size: tuple[int, int] | None = None, split: str | None = None, reader: str | None = None,
            max_frames: int | None = None, force: bool = False) -> CalibrationSet:
    """Choose `n` diverse frames of `source` (see the module docstring) and write them as a set in `out`."""
    for name, value in (("--n", n), ("--stride", stride), ("--max-frames", max_frames)):
        if value is not None and value < 1:
            raise AmfEdgeError(f"{name} must be at least 1, got {value}")
    out = check_output_dir(out, force)  # before reading anything: a long read should not end in this error
    check_output(out, "-o/--out", folder=True)  # and writable: a folder, room for files, a name that fits
    reader = reader_for(source, reader)
    scheme = source.partition("://")[0]
    if scheme == "synthetic" and licence not in (None, SYNTHETIC_LICENCE):
        raise AmfEdgeError(f"synthetic frames carry the generator's licence ({SYNTHETIC_LICENCE}); leave --licence out")
    licence = SYNTHETIC_LICENCE if scheme == "synthetic" else licence or UNKNOWN_LICENCE
    if split is not None and reader != "dataset":
        raise AmfEdgeError(f"--split applies to datasets only, but {source!r} is read as a runtime source")

    def prepare(sample: RGBDSample) -> RGBDSample:
        return sample if size is None else resize_sample(sample, *size)

    selection = {"method": METHOD, "feature": FEATURE, "stride": stride, "seed": seed, "max_frames": max_frames,
                 "resize": None if size is None else list(size), "reader": reader}
    write = dict(source=source, licence=licence, force=force)
    if reader == "dataset":
        split = split or "train"
        dataset = open_dataset(source, split)
        indices = range(0, len(dataset) if max_frames is None else min(len(dataset), max_frames), stride)
        _check_enough(n, len(indices), f"{source!r} ({split}) has {len(dataset)} frames", stride)
        features = [frame_feature(prepare(dataset[i])) for i in _progress(indices, len(indices), "describing")]
        chosen = [indices[j] for j in select_diverse(np.stack(features), n, seed)]
        frames = (SourceFrame(prepare(dataset[i]), i) for i in _progress(chosen, n, "writing"))
        selection["candidates"] = len(indices)
        return _write_or_clean_up(out, frames, selection=selection, split=split, **write)
    # A stream cannot be read twice (a camera never repeats), so candidates wait in a staging folder beside the
    # output, on the disk the user chose for the set, rather than in memory.
    out.resolve().parent.mkdir(parents=True, exist_ok=True)
    with _open_source(source, max_frames) as stream, \
            tempfile.TemporaryDirectory(prefix=".amf-calib-", dir=out.resolve().parent) as staging:
        kept, features, read = [], [], 0
        for frame in _progress(stream, max_frames, "describing"):
            read += 1
            if (read - 1) % stride == 0:
                sample = prepare(frame.sample)
                np.save(Path(staging) / f"{len(kept)}_rgb.npy", sample.rgb)
                np.save(Path(staging) / f"{len(kept)}_depth.npy", sample.depth)
                kept.append((frame.index, frame.timestamp_s, sample.depth_unit, sample.intrinsics))
                features.append(frame_feature(sample))
            if read == max_frames:
                break
        _check_enough(n, len(kept), f"{source!r} gave {read} frames", stride)
        chosen = select_diverse(np.stack(features), n, seed)

        def load(j: int) -> SourceFrame:
            index, timestamp, unit, intrinsics = kept[j]
            rgb, depth = (np.load(Path(staging) / f"{j}_{m}.npy") for m in ("rgb", "depth"))
            return SourceFrame(RGBDSample(rgb, depth, unit, None, intrinsics), index, timestamp)

        frames = (load(j) for j in _progress(chosen, n, "writing"))
        selection["candidates"] = len(kept)
        return _write_or_clean_up(out, frames, selection=selection, **write)


def _write_or_clean_up(out: Path, frames: Iterable[SourceFrame], **kwargs) -> CalibrationSet:
    """write_calibration_set, but a failure half-way (a frame that cannot be read, a full disk) leaves nothing
    behind: not the frames written so far, not an empty frames/ folder, not the output folder it made."""
    existed = out.exists()
    try:
        return write_calibration_set(out, frames, **kwargs)
    except BaseException as e:
        if existed:
            shutil.rmtree(out / FRAMES, ignore_errors=True)  # check_output_dir: only our frame files were there
        else:
            shutil.rmtree(out, ignore_errors=True)
        if isinstance(e, OSError):
            raise AmfEdgeError(f"could not write the calibration set in {out} ({e.strerror or e}); nothing was kept: "
                               "free some space or choose another -o") from None
        raise


def reader_for(source: str, reader: str | None) -> str:
    """"dataset" or "source": how `source` is read (an explicit `reader` wins; datasets first by scheme)."""
    from amf_edge.runtime.sources import SCHEMES as SOURCE_SCHEMES

    scheme, sep, _ = source.partition("://")
    known = {"dataset": DATASET_SCHEMES, "source": tuple(SOURCE_SCHEMES)}
    if not sep or not any(scheme in schemes for schemes in known.values()):
        raise AmfEdgeError(f"unknown source URI {source!r}; calib collect reads datasets "
                           f"({', '.join(s + '://' for s in known['dataset'])}) and recordings or cameras "
                           f"({', '.join(s + '://' for s in known['source'])})")
    if reader is None:
        return "dataset" if scheme in DATASET_SCHEMES else "source"
    if scheme not in known[reader]:
        raise AmfEdgeError(f"--reader {reader}: {scheme}:// is not a {reader} scheme; valid: "
                           f"{', '.join(s + '://' for s in known[reader])}")
    return reader


def _open_source(uri: str, max_frames: int | None):
    from amf_edge.runtime.sources import open_source

    stream = open_source(uri)
    if stream.live and max_frames is None:
        stream.close()
        raise AmfEdgeError(f"{uri!r} is a live camera and never ends; pass --max-frames K to read K frames")
    return stream


def _check_enough(n: int, candidates: int, available: str, stride: int) -> None:
    if n > candidates:
        raise AmfEdgeError(f"--n {n} is more than the frames available: {available}, {candidates} candidates with "
                           f"--stride {stride}; ask for --n {candidates} or fewer, or lower --stride")


def _progress(items: Iterable, total: int | None, what: str) -> Iterator:
    # The bar is a convenience: without tqdm (it is not in the edge requirements) the same frames are read.
    if importlib.util.find_spec("tqdm") is None:
        return iter(items)
    from tqdm import tqdm

    return iter(tqdm(items, total=total, desc=what, unit="frame", disable=None, leave=False))


def summary(calib: CalibrationSet) -> str:
    m, sel = calib.manifest, calib.manifest["selection"]
    sizes = sorted({(f["height"], f["width"]) for f in m["frames"]})
    size = f"{sizes[0][0]}×{sizes[0][1]}" if len(sizes) == 1 else f"{len(sizes)} sizes"
    on_disk = sum(p.stat().st_size for p in (calib.path / FRAMES).iterdir())
    read = sel.get("reader", "dataset") + (f", split {m['split']}" if m.get("split") else "")
    resized = f", resized to {sel['resize'][0]}×{sel['resize'][1]}" if sel.get("resize") else ""
    return "\n".join([
        f"{calib.path}: {len(calib)} frames, {size}, depth unit {m['depth_unit']} m, {on_disk / 1e6:.2f} MB",
        f"  source       {m['source']} ({read})",
        f"  licence      {m['licence']}",
        f"  selection    {sel['method']} over {sel.get('candidates', '?')} candidates "
        f"(stride {sel['stride']}, seed {sel.get('seed')}){resized}",
        f"  created      {m['created']} by {m['tool_version']}, preprocess_version {m['preprocess_version']}",
        f"  content      sha256 {m['content_sha256']}",
        f"  recreate     {collect_command(calib.path, m)}",
    ])
