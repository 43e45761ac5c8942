"""Depth failure's two goals, per recipe and seed, from the runs experiments/depth_failure.py left behind.

Issue 18's goals, on the runtime's fallback (the RGB head's labels where too little depth is valid): first, with no
depth at all, the fallback may come at most 2 points of mIoU below the RGB-only model fine-tuned alike; second, with
depth intact, depth dropout may cost at most 1 point against AsymFusion fine-tuned alike without it. A goal is met when
it holds on the mean over seeds and on every seed; a seed counts only where the recipe and both references ran.

    python -m experiments.depth_goals runs/depth-failure-e24 [runs/depth-failure-h200 ...]
        [--reference NAME] [--rgb NAME] [--recipes NAME ...]

The recipes are by default every fine-tuning named "REFERENCE with ...": fine-tuned alike, from the same models.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path

from experiments.ablation import run_name
from experiments.depth_failure import FINETUNE

COST_GOAL, GAP_GOAL = 1.0, 2.0  # points of mIoU
REFERENCE, RGB = "AsymFusion, fine-tuned at lr 1e-3", "rgb only, fine-tuned at lr 1e-3"


def find_runs(folders: list[Path], name: str) -> dict[int, dict]:
    """{seed: the run's depth-failure.json, in points} for every tested run of `name` in FOLDERS."""
    pattern = re.compile(re.escape(run_name(name, "")) + r"(\d+)")
    runs, where = {}, {}
    for folder in folders:
        for result in sorted(folder.glob("*/depth-failure.json")):
            match = pattern.fullmatch(result.parent.name)
            if not match:
                continue
            seed = int(match[1])
            if seed in runs:  # two runs of one seed would make the pairing a guess
                raise SystemExit(f"error: {name!r} seed {seed} was tested in both {where[seed]} and {folder}; "
                                 "pass only one of those folders")
            scores = json.loads(result.read_text())
            runs[seed] = {condition: {head: 100 * v for head, v in heads.items() if v is not None}
                          for condition, heads in scores.items()}
            where[seed] = folder
    return runs


def goals(folders: list[Path], recipes: list[str], reference: str = REFERENCE, rgb: str = RGB) -> list[dict]:
    """Per recipe with paired seeds: its seeds, and per seed the fallback's cost intact and gap without depth."""
    base, rgb_only = find_runs(folders, reference), find_runs(folders, rgb)
    rows = []
    for recipe in recipes:
        runs = find_runs(folders, recipe)
        seeds = sorted(set(runs) & set(base) & set(rgb_only))
        if not seeds:
            continue
        rows.append({
            "recipe": recipe, "seeds": seeds,
            "cost": [base[s]["intact"]["fallback"] - runs[s]["intact"]["fallback"] for s in seeds],
            "gap": [rgb_only[s]["no depth"]["fallback"] - runs[s]["no depth"]["fallback"] for s in seeds],
        })
    return rows


def verdict(values: list[float], seeds: list[int], limit: float) -> str:
    """"met", or where it is missed: on the mean and/or the seeds above LIMIT."""
    over = [str(s) for s, v in zip(seeds, values) if v > limit]
    if not over:  # the mean cannot exceed LIMIT unless a seed does
        return "met"
    where = f"seed{'s' * (len(over) > 1)} {', '.join(over)}"
    return f"missed on the mean and {where}" if statistics.mean(values) > limit else f"missed on {where}"


def spread(values: list[float]) -> str:
    """Per-seed values, then the mean ± its standard error (over two seeds or more)."""
    mean = statistics.mean(values)
    error = f" ± {statistics.stdev(values) / len(values) ** 0.5:.2f}" if len(values) > 1 else ""
    return " / ".join(f"{v:.2f}" for v in values) + f" → {mean:.2f}{error}"


def format_goals(rows: list[dict]) -> str:
    """The issue's order: the first goal (without depth), then the second (intact); points of mIoU."""
    lines = [f"| recipe | seeds | without depth, below RGB-only (≤ {GAP_GOAL:g}) | | intact cost (≤ {COST_GOAL:g}) | |",
             "|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['recipe']} | {' '.join(map(str, row['seeds']))} | {spread(row['gap'])} | "
                     f"{verdict(row['gap'], row['seeds'], GAP_GOAL)} | {spread(row['cost'])} | "
                     f"{verdict(row['cost'], row['seeds'], COST_GOAL)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", type=Path, nargs="+", help="--out folders of experiments/depth_failure.py")
    parser.add_argument("--reference", choices=list(FINETUNE), default=REFERENCE, metavar="NAME",
                        help=f"AsymFusion fine-tuned without depth dropout (default: {REFERENCE!r})")
    parser.add_argument("--rgb", choices=list(FINETUNE), default=RGB, metavar="NAME",
                        help=f"the RGB-only model fine-tuned alike (default: {RGB!r})")
    parser.add_argument("--recipes", nargs="+", choices=list(FINETUNE), metavar="NAME",
                        help="the fine-tunings with depth dropout (default: every one named 'REFERENCE with ...')")
    args = parser.parse_args(argv)
    for folder in args.folders:
        if not folder.is_dir():
            parser.error(f"{folder} is not a folder: pass the --out folders of experiments/depth_failure.py")
    recipes = args.recipes or [name for name in FINETUNE if name.startswith(f"{args.reference} with ")]
    rows = goals(args.folders, recipes, args.reference, args.rgb)
    if not rows:
        print(f"error: no recipe of {len(recipes)} was tested on a seed where {args.reference!r} and {args.rgb!r} "
              f"were too, in {', '.join(map(str, args.folders))}; run experiments/depth_failure.py with --finetune "
              "and those --tuned models first", file=sys.stderr)
        return 1
    print(format_goals(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
