"""Depth failure: what each head scores when depth goes missing, with and without depth dropout in training.

Three models on the synthetic ablation's budget (experiments/ablation.py: the same recipe, data and test scenes):
AsymFusion as trained so far, AsymFusion with depth dropout (`data.depth_dropout`), and an RGB-only model. Each
is tested on the held-out scenes with depth intact, with 30 % and 70 % of its pixels removed in blobs
(amf_edge/depth_holes.py, the holes training uses) and with no depth at all, per head, and with the runtime's
depth fallback (runtime/fallback.py: the RGB head's labels where too little depth is valid, else the ensemble's).
The "gated" variants add the depth gate (model.depth_gate): under 40 % (or 10 %) valid depth the RGB branch fuses
nothing.

    python -m experiments.depth_failure --out runs/depth-failure [--seeds 0] [--jobs 2] [--epochs 3]
    [--variants NAME ...] [--finetune EPOCHS [--tuned NAME ...]] [--extra OVERRIDE ...]

`--epochs` lengthens every model's training alike (the ablation's budget is 3 epochs); use another --out for
another budget, since finished runs are reused. `--extra` adds overrides to every training run, e.g.
`device=cuda data.workers=3` on a GPU machine (a run is tested on the device it trained on); another --out for those
as well. `--jobs` runs share one pool per phase: every seed's models first, then every seed's fine-tunings, each
from its own seed's model (`--seeds 0 1 --jobs 2` fine-tunes both seeds at once).

Writes OUT/results.json and OUT/results.md (the table in docs/results/depth-failure.md), with the results of earlier
calls with the same --out (seeds run side by side as separate processes); finished runs are reused.
"""

from __future__ import annotations

import argparse
import fcntl
import functools
import json
import sys
from pathlib import Path

import numpy as np

from experiments.ablation import TEST_DATA, run_name, train_and_test

VARIANTS = {
    "AsymFusion": [],
    "AsymFusion + depth dropout": ["data.depth_dropout=0.5", "data.depth_dropout_whole=0.5"],
    "AsymFusion + depth dropout 0.2": ["data.depth_dropout=0.2", "data.depth_dropout_whole=0.5"],
    "AsymFusion + whole-frame dropout 0.2": ["data.depth_dropout=0.2", "data.depth_dropout_whole=1.0"],
    # the fusion gated on depth (model.depth_gate): a frame with under 40 % of its depth valid, the fallback's
    # threshold, fuses nothing into the RGB branch
    "AsymFusion + depth dropout 0.2, gated": ["data.depth_dropout=0.2", "data.depth_dropout_whole=0.5",
                                              "model.depth_gate=0.4"],
    "AsymFusion + depth dropout, gated": ["data.depth_dropout=0.5", "data.depth_dropout_whole=0.5",
                                          "model.depth_gate=0.4"],
    # gated only where depth is all but gone: frames with some depth left fuse it, as without a gate
    "AsymFusion + depth dropout 0.2, gated at 10 %": ["data.depth_dropout=0.2", "data.depth_dropout_whole=0.5",
                                                      "model.depth_gate=0.1"],
    "AsymFusion + depth dropout, gated at 10 %": ["data.depth_dropout=0.5", "data.depth_dropout_whole=0.5",
                                                  "model.depth_gate=0.1"],
    # paired (data.depth_dropout_paired): the copy without depth joins the batch beside the intact sample, so the
    # fused network trains on every sample with its depth (a batch of 8 grows to about 12)
    "AsymFusion + paired depth dropout, gated at 10 %": ["data.depth_dropout=0.5", "data.depth_dropout_whole=0.5",
                                                         "data.depth_dropout_paired=true", "model.depth_gate=0.1"],
    "AsymFusion + paired depth dropout 1.0, gated at 10 %": ["data.depth_dropout=1.0", "data.depth_dropout_whole=0.5",
                                                             "data.depth_dropout_paired=true", "model.depth_gate=0.1"],
    "AsymFusion + whole-frame dropout 0.3, gated": ["data.depth_dropout=0.3", "data.depth_dropout_whole=1.0",
                                                    "model.depth_gate=0.4"],
    "AsymFusion + whole-frame dropout 0.5, gated": ["data.depth_dropout=0.5", "data.depth_dropout_whole=1.0",
                                                    "model.depth_gate=0.4"],
    "rgb only": ["model.modalities=[rgb]", "model.fusion=none"],
}
# --finetune N: trained models go on for N epochs from their best checkpoint (`model.init`) at a tenth of the
# budget's learning rate, with or without depth dropout: robustness added to a model trained without it, against
# the same extra epochs without dropout (and for the RGB-only model); also the paired model, for a longer budget
FINETUNE_LR = 2e-4
PAIRED = VARIANTS["AsymFusion + paired depth dropout 1.0, gated at 10 %"]
# both copies (data.depth_dropout_both): one without any depth and one with holes beside every intact frame; and
# the depth head's loss masked where the gate finds no depth (data.depth_dropout_mask_head)
BOTH = [*PAIRED, "data.depth_dropout_both=true"]
MASKED = [*BOTH, "data.depth_dropout_mask_head=true"]


def rate(lr: float) -> list[str]:
    """The overrides that set both learning rates of the (only) stage."""
    return [f"optim.stages.0.lr_encoder={lr:g}", f"optim.stages.0.lr_decoder={lr:g}"]


FINETUNE = {
    "AsymFusion, fine-tuned": ("AsymFusion", []),
    "AsymFusion, fine-tuned with depth dropout": ("AsymFusion", ["data.depth_dropout=0.5",
                                                                 "data.depth_dropout_whole=0.5"]),
    "rgb only, fine-tuned": ("rgb only", []),
    "AsymFusion, fine-tuned with paired depth dropout 1.0, gated at 10 %": ("AsymFusion", PAIRED),
    "AsymFusion, fine-tuned at lr 6e-4": ("AsymFusion", rate(6e-4)),
    "AsymFusion, fine-tuned at lr 6e-4 with paired depth dropout 1.0, gated at 10 %": (
        "AsymFusion", [*PAIRED, *rate(6e-4)]),
    "AsymFusion, fine-tuned at lr 1e-3": ("AsymFusion", rate(1e-3)),
    "AsymFusion, fine-tuned at lr 1e-3 with paired depth dropout 1.0, gated at 10 %": (
        "AsymFusion", [*PAIRED, *rate(1e-3)]),
    "rgb only, fine-tuned at lr 1e-3": ("rgb only", rate(1e-3)),
    # every copy without any depth: the RGB-alone network trains on every frame, the fused one never sees holes
    "AsymFusion, fine-tuned at lr 1e-3 with paired whole-frame depth dropout 1.0, gated at 10 %": (
        "AsymFusion", [*PAIRED, "data.depth_dropout_whole=1.0", *rate(1e-3)]),
    "AsymFusion, fine-tuned at lr 1e-3 with both copies of paired depth dropout 1.0, gated at 10 %": (
        "AsymFusion", [*BOTH, *rate(1e-3)]),
    "AsymFusion, fine-tuned at lr 1e-3 with both copies of paired depth dropout 1.0, gated at 10 %, "
    "depth head masked": ("AsymFusion", [*MASKED, *rate(1e-3)]),
    # and each copy's RGB head distilled from its intact frame's ensemble (data.depth_dropout_distill)
    "AsymFusion, fine-tuned at lr 1e-3 with both copies of paired depth dropout 1.0, gated at 10 %, distilled": (
        "AsymFusion", [*BOTH, "data.depth_dropout_distill=1.0", *rate(1e-3)]),
    # both: masking moved the trade-off toward intact accuracy and distillation toward the fallback
    "AsymFusion, fine-tuned at lr 1e-3 with both copies of paired depth dropout 1.0, gated at 10 %, depth head masked, "
    "distilled": (
        "AsymFusion", [*MASKED, "data.depth_dropout_distill=1.0", *rate(1e-3)]),
    # half the distillation weight: masking alone cost 0.4 intact and missed the fallback goal on a seed, masking
    # with distillation at 1.0 met it on every seed but cost 1.2; the dial between the two
    "AsymFusion, fine-tuned at lr 1e-3 with both copies of paired depth dropout 1.0, gated at 10 %, depth head masked, "
    "distilled at 0.5": (
        "AsymFusion", [*MASKED, "data.depth_dropout_distill=0.5", *rate(1e-3)]),
    "AsymFusion + paired depth dropout 1.0, gated at 10 %, fine-tuned": (
        "AsymFusion + paired depth dropout 1.0, gated at 10 %", []),
}


def tuned_overrides(name: str, init: Path, epochs: int) -> list[str]:
    """A fine-tuning's recipe: its base's, from INIT for EPOCHS at FINETUNE_LR unless its own overrides set the rate."""
    base, extra = FINETUNE[name]
    return [*VARIANTS[base], f"model.init={init}", f"optim.stages.0.epochs={epochs}", *rate(FINETUNE_LR), *extra]


FINETUNED_BY_DEFAULT = ["AsymFusion, fine-tuned", "AsymFusion, fine-tuned with depth dropout", "rgb only, fine-tuned"]
MISSING = {"intact": 0.0, "30 % missing": 0.3, "70 % missing": 0.7, "no depth": 1.0}
HEADS = ("ensemble", "rgb", "depth", "fallback")


@functools.cache
def test_scenes() -> list:
    """The held-out scenes, generated once per process: every model and condition tests on these."""
    from amf_edge.datasets import open_dataset

    test = open_dataset(TEST_DATA, "val")
    return [test[i] for i in range(len(test))]


class WithoutDepth:
    """Samples that lose `fraction` of their depth in blobs; the same holes for every model."""

    def __init__(self, dataset, fraction: float, seed: int = 7):
        self.dataset, self.fraction, self.seed = dataset, fraction, seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        from amf_edge.depth_holes import remove_depth

        return remove_depth(self.dataset[index], self.fraction, np.random.default_rng((self.seed, index)))


def test_one(folder: Path) -> dict:
    """{condition: {head: mIoU}} on the test scenes; "fallback" applies the runtime's rule frame by frame.
    Kept in FOLDER/depth-failure.json: a finished test is reused."""
    saved = folder / "depth-failure.json"
    if saved.exists():
        return json.loads(saved.read_text())
    import torch

    from amf_edge import load_checkpoint
    from amf_edge.metrics import score_predictions
    from amf_edge.runtime.fallback import FallbackPolicy, valid_depth_share
    from amf_edge.train.config import load_config
    from amf_edge.train.distributed import uses_cuda
    from amf_edge.train.evaluate import predict

    torch.set_num_threads(2)
    # on the device the run trained on ("auto": the GPU where there is one), so `--extra device=cpu` tests on the CPU
    device = "cuda" if uses_cuda(load_config(folder / "config.yaml").device) else "cpu"
    ckpt = load_checkpoint(folder / "best.pt")
    model, spec = ckpt.model.eval().to(device), ckpt.preprocess
    policy = FallbackPolicy.for_gate(ckpt.config.depth_gate)

    def heads(sample):
        with torch.no_grad():
            labels = predict(model, sample, spec, protocol="official", device=device)
        use_rgb = "rgb" in labels and valid_depth_share(sample.depth_m()) < policy.enter
        labels["fallback"] = labels["rgb"] if use_rgb else labels["ensemble"]
        return labels

    results = {}
    for condition, fraction in MISSING.items():
        scores = score_predictions(heads, WithoutDepth(test_scenes(), fraction), ckpt.config.num_classes)
        results[condition] = {head: s["miou"] for head, s in scores["heads"].items()}
    saved.write_text(json.dumps(results, indent=1))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/depth-failure"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--jobs", type=int, default=2, help="training runs in parallel (default: 2)")
    parser.add_argument("--epochs", type=int, default=3, help="training epochs of every model (default: 3)")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS), metavar="NAME",
                        help="the models to train and test (default: all)")
    parser.add_argument("--finetune", type=int, metavar="EPOCHS",
                        help="then fine-tune the --tuned models for EPOCHS more from their trained models' best "
                             "checkpoints")
    parser.add_argument("--tuned", nargs="+", choices=list(FINETUNE), default=FINETUNED_BY_DEFAULT, metavar="NAME",
                        help="the fine-tuned models of --finetune (default: AsymFusion with and without depth "
                             "dropout, the RGB-only model)")
    parser.add_argument("--extra", nargs="+", default=[], metavar="OVERRIDE",
                        help="overrides added to every training run, e.g. device=cuda data.workers=3")
    args = parser.parse_args(argv)
    missing = sorted({FINETUNE[name][0] for name in args.tuned} - set(args.variants)) if args.finetune else []
    if missing:
        parser.error(f"--finetune starts the --tuned models from {', '.join(map(repr, missing))}: "
                     "add them to --variants")
    variants = {name: [*VARIANTS[name], f"optim.stages.0.epochs={args.epochs}", *args.extra]
                for name in args.variants}
    def intact(result: dict) -> float:  # the mIoU train_and_test prints for each run
        return result["intact"]["ensemble"]

    results = train_and_test(args.out, variants, args.seeds, args.jobs, test_one, intact)
    if args.finetune:  # every seed's fine-tunings in one pool, each from its own seed's model
        tuned = {name: [*tuned_overrides(name, args.out / run_name(FINETUNE[name][0], "{seed}") / "best.pt",
                                         args.finetune), *args.extra]
                 for name in FINETUNE if name in args.tuned}
        variants.update(tuned)
        results.update(train_and_test(args.out, tuned, args.seeds, args.jobs, test_one, intact))
    results = record(args.out / "results.json", {"variants": variants, "epochs": args.epochs,
                                                 "finetune_epochs": args.finetune, "test_data": TEST_DATA,
                                                 "results": results})
    table = format_table(results)
    (args.out / "results.md").write_text(table + "\n")
    print(table)
    return 0


def record(path: Path, found: dict) -> dict:
    """Merge this call's variants and results into PATH, over those of earlier calls with the same --out, and return
    every result recorded there: seeds run side by side as separate processes each add theirs, where the last to end
    used to overwrite the others'. Locked, since those processes may end together."""
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        saved = json.loads(path.read_text()) if path.exists() else {}
        merged = {**saved, **{k: v for k, v in found.items() if v is not None},  # a call without --finetune keeps it
                  "variants": {**saved.get("variants", {}), **found["variants"]}, "results": {}}
        for results in (saved.get("results", {}), found["results"]):
            for variant, per_seed in results.items():  # seeds are strings once in JSON
                merged["results"].setdefault(variant, {}).update({str(s): r for s, r in per_seed.items()})
        path.write_text(json.dumps(merged, indent=1))
    return merged["results"]


def format_table(results: dict) -> str:
    """One row per model and head, one column per condition: mIoU (%), the mean over seeds."""
    lines = ["| model | head | " + " | ".join(MISSING) + " |", "|---|---|" + "---|" * len(MISSING)]
    for variant, per_seed in results.items():
        for head in HEADS:
            cells = []
            for condition in MISSING:
                values = [100 * r[condition][head] for r in per_seed.values() if r[condition].get(head) is not None]
                cells.append(f"{np.mean(values):.1f}" if values else "–")
            if any(c != "–" for c in cells):
                lines.append(f"| {variant} | {head} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
