import json
import re
import subprocess
import sys

import pytest

from amf_edge.cli.main import COMMANDS, main


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "amf_edge.cli.main", *args], capture_output=True, text=True,
                          timeout=300)


def test_info_reports_the_official_r101_size():
    result = run_cli("info", "asymfusion-r101", "--classes", "40", "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["params_m"]["total"] == 118.2 and info["params"]["total"] == 118_201_578
    assert info["params_m"]["total_with_separate_encoders"] == 160.6
    assert [f["block"] for f in info["fusion"]] == ["encoder.layer1.2", "encoder.layer2.3", "encoder.layer3.22",
                                                    "encoder.layer4.2"]
    assert info["fusion"][0]["tail"] == [48, 64]
    assert info["output"] == {"height": 120, "width": 160, "stride": 4}


def test_info_text_and_ablation_flags(capsys):
    assert main(["info", "asymfusion-r50", "--classes", "40", "--height", "240", "--width", "320"]) == 0
    assert "99.16 M" in capsys.readouterr().out
    assert main(["info", "asymfusion-r18", "--classes", "13", "--fusion", "none", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["fusion"] == []
    assert main(["info", "asymfusion-r34", "--classes", "13", "--fusion-stages", "2,3", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["fusion"]) == 2


@pytest.mark.parametrize("args, message", [
    (["info", "asymfusion-r7", "--classes", "40"], "valid presets: asymfusion-r18"),
    (["info", "asymfusion-r18", "--classes", "300"], "from 1 to 254"),
    (["import-reference", "missing.pth", "--preset", "asymfusion-r50", "--classes", "40", "-o", "x.pt"],
     "does not exist"),
])
def test_user_errors_exit_1_without_a_traceback(args, message):
    result = run_cli(*args)
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_every_help_works(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"] if command else ["--help"])
    assert exit_.value.code == 0
    assert "usage: amf-edge" in capsys.readouterr().out


TINY_RECIPE = ["data.train=synthetic://?seed=3&n=8&val=2&height=48&width=64", "data.height=40", "data.width=56",
               "data.batch_size=4", "data.workers=0", "optim.stages.0.epochs=1"]


@pytest.mark.slow
def test_demo_trains_evaluates_and_segments(tmp_path):
    result = run_cli("demo", "--frames", "2", "--height", "64", "--width", "80", "--out", str(tmp_path), *TINY_RECIPE)
    assert result.returncode == 0, result.stderr
    assert "training asymfusion-r18" in result.stdout and "held-out validation scenes (2)" in result.stdout
    assert "ensemble" in result.stdout and "median" in result.stdout
    drops = re.search(r"ensemble mIoU on 32 held-out scenes, in the arithmetic TensorRT runs: FP32 [0-9.]+, "
                      r"fp16 [0-9.]+ \(drop ([-+][0-9.]+)\), int8 [0-9.]+ \(drop ([-+][0-9.]+)\)", result.stdout)
    assert drops, result.stdout
    assert abs(float(drops[1])) <= 0.1 and (tmp_path / "model.fp16.onnx").is_file()
    assert (tmp_path / "model.int8.onnx").is_file()
    import cv2

    picture = cv2.imread(str(tmp_path / "frames/frame_001.png"))
    assert picture.shape == (64, 4 * 80, 3)
    from amf_edge import load_checkpoint

    ckpt = load_checkpoint(tmp_path / "train/best.pt")
    assert ckpt.config.backbone == "resnet18" and ckpt.labels.name == "synthetic"
    again = run_cli("demo", "--frames", "1", "--out", str(tmp_path), *TINY_RECIPE)
    assert again.returncode == 0 and "using the model trained earlier" in again.stdout
    assert "(48×64," in again.stdout  # exported at the training scenes' size by default
    other = run_cli("demo", "--frames", "1", "--out", str(tmp_path), *TINY_RECIPE[:-1], "optim.stages.0.epochs=2")
    assert other.returncode == 1 and "another recipe" in other.stderr
