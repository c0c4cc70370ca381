"""`make demo-model`: the decision both ways (a model that finds every object of the demo image replaces the
committed one, one that misses an object leaves it as it was), and the script end to end, small: generate, train
in the trainer's child process, pack, check, decide."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from loop_testkit.scene_matching import all_found
from stub_loop.demo import DEMO_MODEL_DIR

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo_model() -> ModuleType:
    spec = importlib.util.spec_from_file_location("demo_model", ROOT / "scripts" / "demo_model.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def committed_out(tmp_path: Path) -> Path:
    """Where the decision writes, holding an "old model" that must stay unless it is replaced."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "model.onnx").write_bytes(b"the old model")
    return out


def test_a_model_that_finds_every_object_of_the_demo_image_replaces_the_old_one(
        demo_model: ModuleType, tmp_path: Path) -> None:
    candidate = shutil.copytree(DEMO_MODEL_DIR, tmp_path / "candidate")  # the committed model passes its check
    out = committed_out(tmp_path)
    replaced, matches = demo_model.decide(candidate, out)
    assert replaced is True, matches
    assert matches and all(m["iou"] >= 0.5 if "iou" in m else m["distance"] <= 10 for m in matches), matches
    assert (out / "model.onnx").read_bytes() == (candidate / "model.onnx").read_bytes()
    assert (out / "model.json").read_text() == (candidate / "model.json").read_text()


def test_a_model_that_misses_an_object_leaves_the_old_one(demo_model: ModuleType, tmp_path: Path) -> None:
    candidate = shutil.copytree(DEMO_MODEL_DIR, tmp_path / "candidate")
    info = json.loads((candidate / "model.json").read_text())
    names = [c["name"] for c in info["categories"]]
    assert names[:2] == ["red circle", "blue square"]
    # the same weights with the two box categories' names swapped: every box is found under the wrong name
    info["categories"][0]["name"], info["categories"][1]["name"] = names[1], names[0]
    (candidate / "model.json").write_text(json.dumps(info))
    out = committed_out(tmp_path)
    replaced, matches = demo_model.decide(candidate, out)
    assert replaced is False, matches
    assert any(m.get("iou") is None or m["iou"] < 0.5 for m in matches if "iou" in m), matches
    assert sorted(p.name for p in out.iterdir()) == ["model.onnx"]
    assert (out / "model.onnx").read_bytes() == b"the old model"


def test_the_demo_model_script_trains_packs_and_checks(tmp_path: Path) -> None:
    out, work = tmp_path / "demo_model", tmp_path / "work"
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo_model.py"), "--images", "30", "--epochs", "3",
                          "--resolution", "96", "--out", str(out), "--work", str(work)],
                         capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert run.returncode in (0, 1), run.stdout + run.stderr
    info = json.loads((work / "package" / "model.json").read_text())
    assert [c["name"] for c in info["categories"]] == ["red circle", "blue square", "purple point"]
    assert info["resolution"] == 96 and info["demo"]["images"] == 30
    report = json.loads(run.stdout[:run.stdout.rindex("}") + 1])
    assert [m["category"] for m in report["demo_image"]]  # the check ran on the demo image
    # three epochs rarely find everything, so either outcome may come; it must be the one the report calls for
    # (the decision itself is tested both ways above)
    assert run.returncode == (0 if all_found(report["demo_image"]) else 1), report
    if run.returncode == 1:  # the committed model stays as it is
        assert "not replacing" in run.stderr and not out.exists()
    else:
        assert (out / "model.onnx").read_bytes() == (work / "package" / "model.onnx").read_bytes()
