"""Training: a short run whose loss falls, exact resume, config errors, evaluation, DDP with 2 processes."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from amf_edge import load_checkpoint
from amf_edge.cli.main import main
from amf_edge.datasets import open_dataset
from amf_edge.errors import AmfEdgeError
from amf_edge.preprocess import PreprocessSpec
from amf_edge.train.config import load_config
from amf_edge.train.evaluate import evaluate
from amf_edge.train.loop import train

ROOT = Path(__file__).resolve().parents[2]
TINY = [
    "data.train=synthetic://?seed=3&n=8&val=4&height=48&width=64", "data.height=40", "data.width=56",
    "data.batch_size=4", "data.workers=0", "log_every=1",
]


def tiny_config(*overrides):
    return load_config(ROOT / "train/configs/synthetic-r18.yaml", [*TINY, *overrides])


def losses(out: Path) -> list[float]:
    with open(out / "metrics.csv") as f:
        return [float(r["value"]) for r in csv.DictReader(f) if r["kind"] == "train" and r["name"] == "loss"]


@pytest.mark.slow
def test_loss_falls_on_a_short_run(tmp_path):
    best = train(tiny_config("optim.stages.0.epochs=12", "eval_every=12"), tmp_path, progress=False)
    values = losses(tmp_path)
    assert len(values) == 24
    assert np.mean(values[-4:]) < 0.7 * np.mean(values[:4]), values
    assert best["epoch"] == 12 and 0 < best["miou"] <= 1
    ckpt = load_checkpoint(tmp_path / "best.pt")
    assert ckpt.labels.name == "synthetic" and ckpt.meta["train_config"]["seed"] == 0
    assert (tmp_path / "config.yaml").is_file() and any((tmp_path / "tensorboard").iterdir())


@pytest.mark.slow
def test_resume_repeats_the_uninterrupted_run_exactly(tmp_path, monkeypatch):
    config = tiny_config("optim.stages.0.epochs=2")
    train(config, tmp_path / "straight", progress=False)

    import amf_edge.train.loop as loop

    real_evaluate, calls = loop.evaluate, []

    def interrupted(*args, **kwargs):  # Ctrl-C during the second epoch's evaluation
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(loop, "evaluate", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "resumed", progress=False)
    assert load_checkpoint(tmp_path / "resumed/last.pt").meta["epoch"] == 1
    monkeypatch.setattr(loop, "evaluate", real_evaluate)
    train(config, tmp_path / "resumed", resume=True, progress=False)

    a, b = (load_checkpoint(tmp_path / run / "last.pt").model.state_dict() for run in ("straight", "resumed"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert losses(tmp_path / "straight")[-2:] == losses(tmp_path / "resumed")[-2:]


def learning_rates(out: Path) -> list[tuple[str, str, float]]:
    """(step, group, lr) of every logged iteration (log_every=1: all of them)."""
    with open(out / "metrics.csv") as f:
        return [(r["step"], r["name"], float(r["value"])) for r in csv.DictReader(f)
                if r["kind"] == "train" and r["name"] in ("lr_encoder", "lr_decoder")]


TWO_STAGES = ["optim.optimizer=sgd", "optim.schedule=stages",
              "optim.stages=[{epochs: 1, lr_encoder: 1.0e-3, lr_decoder: 2.0e-3},"
              " {epochs: 1, lr_encoder: 1.0e-4, lr_decoder: 3.0e-4}]"]


@pytest.mark.slow
def test_resume_at_a_stage_boundary_starts_the_next_stage(tmp_path):
    config = tiny_config(*TWO_STAGES)
    train(config, tmp_path / "straight", progress=False)
    train(config, tmp_path / "resumed", progress=False, stop_after=1)  # interrupted after stage 0
    assert load_checkpoint(tmp_path / "resumed/last.pt").meta["epoch"] == 1
    train(config, tmp_path / "resumed", resume=True, progress=False)

    straight, resumed = learning_rates(tmp_path / "straight"), learning_rates(tmp_path / "resumed")
    assert [lr for step, group, lr in straight if int(step) > 2] == [1e-4, 3e-4] * 2  # stage 1: its own LRs
    assert resumed == straight
    a, b = (load_checkpoint(tmp_path / run / "last.pt").model.state_dict() for run in ("straight", "resumed"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert losses(tmp_path / "straight") == losses(tmp_path / "resumed")


def test_resume_refuses_a_changed_config(tmp_path):
    train(tiny_config("optim.stages.0.epochs=1"), tmp_path, progress=False)
    with pytest.raises(AmfEdgeError, match="config changed in optim.stages.0.epochs"):
        train(tiny_config("optim.stages.0.epochs=2"), tmp_path, resume=True, progress=False)
    train(tiny_config("optim.stages.0.epochs=1", "data.workers=1"), tmp_path, resume=True, progress=False)  # allowed


def test_cli_protects_existing_runs_and_reports_bad_configs(tmp_path, capsys):
    args = ["train", "--config", str(ROOT / "train/configs/synthetic-r18.yaml"), "--out", str(tmp_path),
            "--no-progress", *TINY, "optim.stages.0.epochs=1"]
    assert main(args) == 0
    assert main(args) == 1 and "--resume" in capsys.readouterr().err
    assert main(["train", "--out", str(tmp_path / "x"), "optim.lr=0.1"]) == 1
    assert "unknown key(s) lr in section 'optim'" in capsys.readouterr().err
    assert main(["train", "--out", str(tmp_path / "y"), "--data", "nyudv2:///nowhere", *TINY[1:]]) == 1
    assert "nowhere" in capsys.readouterr().err


def test_frozen_bn_needs_imagenet_weights(tmp_path, capsys):
    with pytest.raises(AmfEdgeError, match=r"model.freeze_bn=true needs ImageNet weights: set model.pretrained="
                                           r"PATH .*, or model.freeze_bn=false"):
        tiny_config("model.freeze_bn=true")
    assert tiny_config("model.freeze_bn=true", "model.pretrained=resnet18.pth").model.freeze_bn
    # refused before anything is trained or written
    assert main(["train", "--config", "synthetic-r18", "--out", str(tmp_path / "run"), "model.freeze_bn=true"]) == 1
    assert "needs ImageNet weights" in capsys.readouterr().err and not (tmp_path / "run").exists()


def test_init_fine_tunes_a_trained_checkpoint(tmp_path, capsys):
    """model.init starts from a checkpoint's weights (a fresh optimiser), here with both copies of paired dropout,
    also with a depth gate the checkpoint had not (a rule without weights); another network or other classes are
    refused with what differs, and ImageNet weights beside it would be overwritten: an error too."""
    train(tiny_config("optim.stages.0.epochs=1"), tmp_path / "base", progress=False)
    base = tmp_path / "base" / "best.pt"
    args = ["train", "--config", "synthetic-r18", "--out", str(tmp_path / "tuned"), "--no-progress", *TINY,
            "optim.stages.0.epochs=1", "data.depth_dropout=0.5", "data.depth_dropout_paired=true",
            "data.depth_dropout_both=true", f"model.init={base}"]
    assert main(args) == 0
    assert f"starting from {base}" in capsys.readouterr().out
    assert "depth_dropout_both: true" in (tmp_path / "tuned" / "config.yaml").read_text()  # saved with the run

    import amf_edge.train.loop as loop
    from amf_edge.models import AsymFusion

    ckpt = load_checkpoint(base)
    fresh = AsymFusion(ckpt.model.config)
    loop._start_from(fresh, str(base), ckpt.labels)
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), ckpt.model.state_dict().values()))
    gated = AsymFusion(tiny_config("model.depth_gate=0.1").model.build_config(11))  # a rule, not weights: allowed
    loop._start_from(gated, str(base), ckpt.labels)
    assert gated.config.depth_gate == 0.1
    assert all(torch.equal(a, b) for a, b in zip(gated.state_dict().values(), ckpt.model.state_dict().values()))
    rgb_only = AsymFusion(tiny_config("model.modalities=[rgb]", "model.fusion=none").model.build_config(11))
    differ = r"is another network: .*modalities \['rgb', 'depth'\] \(recipe: \['rgb'\]\)"
    with pytest.raises(AmfEdgeError, match=differ):
        loop._start_from(rgb_only, str(base), ckpt.labels)
    from amf_edge.labels import LabelSet

    with pytest.raises(AmfEdgeError, match="predicts 'synthetic' .* start from a model of the same classes"):
        loop._start_from(AsymFusion(ckpt.model.config), str(base), LabelSet.generic(11))
    with pytest.raises(AmfEdgeError, match="set one of the two"):
        tiny_config(f"model.init={base}", "model.pretrained=resnet18.pth")


@pytest.mark.parametrize("recipe", [None, *sorted(p.stem for p in (ROOT / "train/configs").glob("*.yaml"))])
def test_every_shipped_recipe_loads_and_freezes_bn_only_with_imagenet_weights(recipe):
    config = load_config(recipe)  # as shipped (pretrained: null): BN trains
    assert not config.model.freeze_bn and config.model.pretrained is None
    if recipe is None or recipe.startswith("nyudv2"):  # the official recipe: frozen BN once the weights are given
        assert load_config(recipe, ["model.pretrained=resnet.pth"]).model.freeze_bn


def test_official_recipe_is_the_official_schedule():
    config = load_config(ROOT / "train/configs/nyudv2-r101.yaml", ["model.pretrained=resnet101-5d3b4d8f.pth"])
    assert [(s.epochs, s.lr_encoder, s.lr_decoder) for s in config.optim.stages] == [
        (100, 5e-4, 3e-3), (100, 2.5e-4, 1.5e-3), (100, 1e-4, 7e-4)]
    assert (config.optim.momentum, config.optim.weight_decay, config.data.batch_size) == (0.9, 1e-5, 6)
    assert (config.model.freeze_bn and config.data.transform == "official-nyudv2"
            and config.data.eval_protocol == "official")


class ConstantModel(torch.nn.Module):
    """Predicts one fixed class per head everywhere, so the confusion matrices are known exactly."""

    def __init__(self, classes: dict[str, int], num_classes: int):
        super().__init__()
        self.classes, self.heads = classes, tuple(classes)
        self.config = type("Config", (), {"num_classes": num_classes})()

    def forward_heads(self, rgb, depth):
        n, _, h, w = rgb.shape
        out = {}
        for head, c in self.classes.items():
            logits = torch.zeros(n, self.config.num_classes, (h + 3) // 4, (w + 3) // 4)
            logits[:, c] = 1.0
            out[head] = logits
        return out


@pytest.mark.parametrize("protocol", ["official", "fast"])
def test_evaluation_confusion_matrices_are_exact(protocol):
    data = open_dataset("synthetic://?seed=1&n=4&val=3&height=40&width=56", "val")
    k = data.labels.num_classes
    model = ConstantModel({"rgb": 0, "depth": 1, "ensemble": 2}, k)
    result = evaluate(model, data, PreprocessSpec(), protocol=protocol)
    truth = sum(np.bincount(data[i].label.ravel(), minlength=256)[:k] for i in range(3))
    for head, c in model.classes.items():
        conf = np.array(result["heads"][head]["confusion"])
        assert conf[:, c].tolist() == truth.tolist() and conf.sum() == truth.sum()
        assert result["heads"][head]["pixel_acc"] == pytest.approx(truth[c] / truth.sum())


def test_eval_cli_writes_metrics_and_pictures(tiny_checkpoint, tmp_path):
    out = tmp_path / "eval"
    assert main(["eval", str(tiny_checkpoint()), "--data", "synthetic://?seed=5&n=4&val=2&height=48&width=64",
                 "--out", str(out), "--save-images", "1"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["protocol"] == "official" and metrics["images"] == 2
            and set(metrics["heads"]) == {"rgb", "depth", "ensemble"})
    assert len(metrics["heads"]["ensemble"]["iou"]) == 11 and len(metrics["classes"]) == 11
    assert sorted(p.name for p in (out / "images").iterdir()) == ["0000.png"]


def test_eval_refuses_data_with_other_classes(tiny_checkpoint, tmp_path, capsys):
    (tmp_path / "nyu").mkdir()
    (tmp_path / "nyu/val.txt").write_text("rgb/1.png\tmasks/1.png\tdepth/1.png\n")
    (tmp_path / "nyu/train.txt").write_text("")
    assert main(["eval", str(tiny_checkpoint()), "--data", f"nyudv2://{tmp_path / 'nyu'}"]) == 1
    assert "predicts 11 classes" in capsys.readouterr().err


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def torchrun(*args):
    """Two gloo processes on this machine, talking over the loopback interface only."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(free_port()), *args]
    env = {**os.environ, "GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)


DDP_TINY = [*TINY, "data.train=synthetic://?seed=3&n=8&val=2&height=48&width=64", "data.batch_size=2"]


def ddp_train(tmp_path, *overrides, out="ddp", resume=False):
    """The real command line: torchrun ... -m amf_edge.cli.main train --config synthetic-r18 ..."""
    return torchrun("-m", "amf_edge.cli.main", "train", "--config", "synthetic-r18", "--out", str(tmp_path / out),
                    "--no-progress", *(["--resume"] if resume else []), *DDP_TINY, *overrides)


@pytest.mark.slow
def test_ddp_with_two_processes_on_the_cpu(tmp_path):
    # the demo recipe (trainable BN) as the sync_bn error tells to run it on the CPU: each process normalises
    # with its own batch statistics, so the BN buffers differ between the replicas while the weights may not
    result = ddp_train(tmp_path, "optim.stages.0.epochs=1", "model.sync_bn=false")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("2 process(es) on cpu") == 1
    assert result.stdout.count("best ensemble mIoU") == 1  # only rank 0 evaluates, reports and writes
    out = tmp_path / "ddp"
    assert sorted(p.name for p in out.iterdir()) == ["best.pt", "config.yaml", "last.pt", "metrics.csv", "tensorboard"]
    assert len(list((out / "tensorboard").iterdir())) == 1
    for name in ("best.pt", "last.pt"):
        assert load_checkpoint(out / name).meta["epoch"] == 1
    # 8 samples, 2 processes × batch 2: 2 iterations per epoch, logged once each (by rank 0)
    assert len(losses(out)) == 2


@pytest.mark.slow
def test_ddp_resume_repeats_the_uninterrupted_run_exactly(tmp_path):
    # each process draws its own dropout masks: every process's generator must come back, not rank 0's on all
    overrides = [*TWO_STAGES, "model.sync_bn=false"]
    assert ddp_train(tmp_path, *overrides, out="straight").returncode == 0
    interrupt = tmp_path / "interrupt.py"
    interrupt.write_text("import sys\nfrom amf_edge.train.config import load_config\nfrom amf_edge.train.loop import "
                         "train\ntrain(load_config('synthetic-r18', sys.argv[2:]), sys.argv[1], progress=False, "
                         "stop_after=1)\n")
    result = torchrun(str(interrupt), str(tmp_path / "resumed"), *DDP_TINY, *overrides)
    assert result.returncode == 0, result.stderr[-3000:]
    result = ddp_train(tmp_path, *overrides, out="resumed", resume=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert learning_rates(tmp_path / "resumed") == learning_rates(tmp_path / "straight")
    a, b = (load_checkpoint(tmp_path / run / "last.pt").model.state_dict() for run in ("straight", "resumed"))
    assert [k for k in a if not torch.equal(a[k], b[k])] == []


@pytest.mark.slow
def test_ddp_with_trainable_bn_needs_cuda_for_sync_bn(tmp_path):
    result = ddp_train(tmp_path, "optim.stages.0.epochs=1", "model.freeze_bn=false", "model.sync_bn=true",
                       out="sync")
    assert result.returncode != 0 and "SyncBatchNorm does not sync on the CPU" in result.stderr
    assert "model.sync_bn=false" in result.stderr


@pytest.mark.gpu
def test_amp_training_on_cuda(tmp_path):
    best = train(tiny_config("optim.stages.0.epochs=2", "device=cuda", "amp=true"), tmp_path, progress=False)
    assert best["epoch"] is not None and np.isfinite(losses(tmp_path)).all()


def test_ablation_variants_are_the_intended_models():
    from experiments.ablation import BUDGET, VARIANTS, format_class_table, format_table

    configs = {v: load_config("synthetic-r18", [*BUDGET, *o]).model.build_config(11) for v, o in VARIANTS.items()}
    assert configs["rgb only"].modalities == ("rgb",) and configs["depth only"].modalities == ("depth",)
    assert configs["shuffle+shift"].fusion == "shuffle+shift" and configs["shuffle+shift"].encoder == "shared"
    assert configs["separate encoders, shuffle+shift"].encoder == "separate"
    assert len({c for c in configs.values()}) == len(VARIANTS)  # all different
    table = format_table({"shift": {0: {"ensemble": 0.5, "rgb": 0.4, "depth": 0.3},
                                    1: {"ensemble": 0.6, "rgb": 0.5, "depth": 0.4}},
                          "rgb only": {0: {"ensemble": 0.2, "rgb": 0.2}}})
    assert "| shift | 11.68 |" in table and "55.00 ± 7.07" in table and "| 20.00 | 20.00 | – |" in table
    iou = [0.5] * 10 + [None]
    classes = format_class_table({"shift": {0: {"class_iou": iou}, 1: {"class_iou": [0.7] * 11}}})
    assert classes.splitlines()[0].startswith("| variant | floor | wall |") and "| shift | 60 | 60 |" in classes
    assert classes.splitlines()[-1].endswith("| 70 |")  # a class absent in one seed averages the others


def test_depth_failure_recipes_are_valid_and_distinct():
    """Every trained and fine-tuned model of experiments/depth_failure.py is a config the loader accepts (a typo
    would otherwise surface hours into a run), and a fine-tuning's own overrides win over its base's."""
    from experiments.depth_failure import FINETUNE, FINETUNE_LR, VARIANTS, format_table, tuned_overrides

    trained = {name: load_config("synthetic-r18", overrides) for name, overrides in VARIANTS.items()}
    tuned = {name: load_config("synthetic-r18", tuned_overrides(name, Path("base/best.pt"), 12)) for name in FINETUNE}
    assert tuned["AsymFusion, fine-tuned"].optim.stages[0].lr_encoder == FINETUNE_LR
    assert tuned["AsymFusion, fine-tuned"].optim.stages[0].epochs == 12
    assert set(trained["rgb only"].model.modalities) == {"rgb"} and trained["AsymFusion"].data.depth_dropout == 0
    whole = tuned["AsymFusion, fine-tuned at lr 1e-3 with paired whole-frame depth dropout 1.0, gated at 10 %"]
    assert whole.data.depth_dropout_paired and whole.data.depth_dropout_whole == 1.0
    assert whole.optim.stages[0].lr_encoder == whole.optim.stages[0].lr_decoder == 1e-3
    assert whole.model.depth_gate == 0.1 and not whole.data.depth_dropout_both
    assert tuned["AsymFusion, fine-tuned at lr 1e-3 with both copies of paired depth dropout 1.0, gated at 10 %"
                 ].data.depth_dropout_both
    distilled = tuned["AsymFusion, fine-tuned at lr 1e-3 with both copies of paired depth dropout 1.0, gated at 10 %, "
                      "distilled"].data
    assert distilled.depth_dropout_both and distilled.depth_dropout_distill == 1.0
    assert len({repr((c.model, c.data, c.optim)) for c in trained.values()}) == len(VARIANTS)  # all different
    plain = {base: tuned[name] for name, (base, extra) in FINETUNE.items() if not extra}
    for name, (base, extra) in FINETUNE.items():  # an entry's own overrides change its base's plain fine-tuning
        recipe, plain_recipe = (repr((c.data, c.optim)) for c in (tuned[name], plain[base]))
        assert not extra or recipe != plain_recipe
    table = format_table({"m": {0: {c: {"ensemble": 0.5, "fallback": 0.25} for c in
                                    ("intact", "30 % missing", "70 % missing", "no depth")}}})
    assert "| m | fallback | 25.0 | 25.0 | 25.0 | 25.0 |" in table and "| m | rgb |" not in table


def test_depth_failure_extra_overrides_reach_every_run(tmp_path, monkeypatch):
    """--extra (device=cuda data.workers=3 on a GPU machine) joins the recipe of every trained and fine-tuned run, as
    results.json records it, and each seed's fine-tuning starts from its own seed's model. Finished runs (their `done`
    and depth-failure.json) are reused; the fine-tunings' training command is captured instead of run. A later call
    with the same --out adds its seeds to results.json rather than replacing those there."""
    import experiments.ablation
    from experiments.ablation import run_name
    from experiments.depth_failure import MISSING, main

    def fake_training(cmd, **kwargs):
        commands.append(cmd)
        folder = Path(cmd[cmd.index("--out") + 1])
        (folder / "depth-failure.json").write_text(json.dumps({c: {"ensemble": 0.25} for c in MISSING}))

    commands: list[list[str]] = []
    monkeypatch.setattr(experiments.ablation.subprocess, "run", fake_training)
    tuned = "rgb only, fine-tuned at lr 1e-3"
    for seed in (3, 4):
        folder = tmp_path / run_name("rgb only", seed)
        folder.mkdir()
        (folder / "done").touch()
        (folder / "depth-failure.json").write_text(json.dumps({c: {"ensemble": 0.5} for c in MISSING}))
    assert main(["--out", str(tmp_path), "--seeds", "3", "4", "--variants", "rgb only", "--finetune", "2",
                 "--tuned", tuned, "--extra", "device=cuda", "data.workers=3"]) == 0
    saved = json.loads((tmp_path / "results.json").read_text())
    variants = saved["variants"]
    assert variants["rgb only"][-3:] == ["optim.stages.0.epochs=3", "device=cuda", "data.workers=3"]
    assert variants[tuned][-2:] == ["device=cuda", "data.workers=3"] and "optim.stages.0.epochs=2" in variants[tuned]
    assert f"model.init={tmp_path / run_name('rgb only', '{seed}') / 'best.pt'}" in variants[tuned]
    inits = sorted(next(a for a in cmd if a.startswith("model.init=")) for cmd in commands)
    assert inits == [f"model.init={tmp_path / run_name('rgb only', seed) / 'best.pt'}" for seed in (3, 4)]
    assert saved["results"][tuned].keys() == {"3", "4"} and saved["results"]["rgb only"].keys() == {"3", "4"}
    # a later call with the same --out (another seed, run side by side) adds to results.json and results.md
    folder = tmp_path / run_name("rgb only", 5)
    folder.mkdir()
    (folder / "done").touch()
    (folder / "depth-failure.json").write_text(json.dumps({c: {"ensemble": 0.8} for c in MISSING}))
    assert main(["--out", str(tmp_path), "--seeds", "5", "--variants", "rgb only"]) == 0
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["results"]["rgb only"].keys() == {"3", "4", "5"} and saved["results"][tuned].keys() == {"3", "4"}
    assert tuned in saved["variants"] and saved["finetune_epochs"] == 2
    assert "| rgb only | ensemble | 60.0 | 60.0 | 60.0 | 60.0 |" in (tmp_path / "results.md").read_text()


def test_depth_goals_pair_each_recipe_with_its_seeds_references(tmp_path, capsys):
    """experiments/depth_goals.py: a recipe's intact cost and no-depth gap are taken seed by seed against the
    references of that seed, from several --out folders; a seed without its references is left out, a seed tested
    in two folders is an error, and a goal missed on one seed is missed."""
    from experiments.ablation import run_name
    from experiments.depth_failure import FINETUNE
    from experiments.depth_goals import REFERENCE, RGB, main

    recipe = f"{REFERENCE} with paired depth dropout 1.0, gated at 10 %"
    assert {REFERENCE, RGB, recipe} <= set(FINETUNE)  # the defaults name real fine-tunings

    def tested(folder, name, seed, intact, no_depth):
        run = tmp_path / folder / run_name(name, seed)
        run.mkdir(parents=True)
        scores = {"intact": {"fallback": intact, "depth": None}, "no depth": {"fallback": no_depth}}
        (run / "depth-failure.json").write_text(json.dumps(scores))

    for seed, intact, rgb in ((0, 0.77, 0.63), (1, 0.75, 0.64)):
        tested("cpu", REFERENCE, seed, intact, 0.2)
        tested("cpu", RGB, seed, rgb, rgb)
    tested("cpu", recipe, 0, 0.766, 0.62)  # cost 0.4, gap 1.0
    tested("gpu", recipe, 1, 0.736, 0.608)  # cost 1.4, gap 3.2
    tested("gpu", recipe, 2, 0.7, 0.6)  # no references for seed 2
    assert main([str(tmp_path / "cpu"), str(tmp_path / "gpu")]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith(f"| {recipe} |"))
    assert row.split(" | ")[1:] == ["0 1", "1.00 / 3.20 → 2.10 ± 1.10", "missed on the mean and seed 1",
                                    "0.40 / 1.40 → 0.90 ± 0.50", "missed on seed 1 |"]
    assert main([str(tmp_path / "cpu")]) == 0  # seed 0 alone meets both
    assert "| 0 | 1.00 → 1.00 | met | 0.40 → 0.40 | met |" in capsys.readouterr().out
    tested("cpu", recipe, 1, 0.74, 0.62)
    with pytest.raises(SystemExit, match="seed 1 was tested in both .*cpu and .*gpu"):
        main([str(tmp_path / "cpu"), str(tmp_path / "gpu")])
    (tmp_path / "empty").mkdir()
    assert main([str(tmp_path / "empty")]) == 1 and "run experiments/depth_failure.py" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        main([str(tmp_path / "absent")])
    assert usage.value.code == 2 and "is not a folder" in capsys.readouterr().err


def test_depth_failure_tests_a_run_on_the_device_it_trained_on(tmp_path, monkeypatch):
    """A run trained with device=cpu is tested on the CPU even where PyTorch sees a GPU (here pretended: moving the
    model to CUDA on this machine would fail), and its scores are kept for reuse."""
    import experiments.depth_failure as study
    from amf_edge.datasets import open_dataset

    train(tiny_config("optim.stages.0.epochs=1", "device=cpu"), tmp_path, progress=False)
    scenes = open_dataset("synthetic://?seed=5&n=2&val=2&height=48&width=64", "val")
    monkeypatch.setattr(study, "test_scenes", lambda: [scenes[0], scenes[1]])
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    results = study.test_one(tmp_path)
    assert set(results) == set(study.MISSING) and 0 < results["intact"]["ensemble"] <= 1
    assert json.loads((tmp_path / "depth-failure.json").read_text()) == results


def test_sync_bn_conversion_keeps_one_bn_per_modality():
    from amf_edge.models import build_model

    model = build_model("asymfusion-r18", num_classes=5).eval()
    rgb, depth = torch.randn(1, 3, 40, 48), torch.rand(1, 1, 40, 48)
    with torch.no_grad():
        before = model(rgb, depth)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    bn = model.encoder.layer2[1].bn2
    assert isinstance(bn["rgb"], torch.nn.SyncBatchNorm) and isinstance(bn["depth"], torch.nn.SyncBatchNorm)
    assert bn["rgb"] is not bn["depth"]
    assert not any(type(m) is torch.nn.BatchNorm2d for m in model.modules())
    assert (model.state_dict().keys() == state.keys()
            and all(torch.equal(model.state_dict()[k], v) for k, v in state.items()))
    with torch.no_grad():
        assert torch.equal(model(rgb, depth), before)  # eval mode needs no process group


@pytest.mark.slow
def test_tensorboard_gets_per_class_iou_and_prediction_pictures(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    train(tiny_config("optim.stages.0.epochs=1", "data.depth_dropout=0.5"), tmp_path, progress=False)
    events = EventAccumulator(str(tmp_path / "tensorboard"), size_guidance={"images": 0}).Reload()
    tags = events.Tags()
    names = load_checkpoint(tmp_path / "last.pt").labels.names
    per_class = {t for t in tags["scalars"] if t.startswith("val_iou_ensemble/")}
    assert per_class and per_class <= {f"val_iou_ensemble/{n}" for n in names}
    assert all(any(t.startswith(f"val_iou_{h}/") for t in tags["scalars"]) for h in ("rgb", "depth"))
    pictures = sorted(t for t in tags["images"] if t.startswith("val/prediction_"))
    assert pictures == [f"val/prediction_{i}" for i in range(4)]  # the first 4 of the 4 validation scenes
    image = events.Images(pictures[0])[0]
    # the 48×64 scene, its ground truth and the three heads' labels side by side
    assert (image.height, image.width) == (48, 5 * 64)
