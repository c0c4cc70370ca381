"""The images' shape, read offline (`make e2e` builds and runs them): the trainer base carries no model and no JAX,
the reference trainer is an image FROM it, and compose trains with the reference image."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

from loop_shared.plugins import load_plugin_class
from loop_trainer.logic import TrainerLogic

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = ROOT / "Dockerfiles"
REFERENCE_ONLY = {"jax", "jaxlib", "flax", "optax", "jax2onnx"}


def env_of(dockerfile: Path) -> dict[str, str]:
    """The ENV settings of the Dockerfile's last stage (KEY=value pairs, continuation lines joined)."""
    text = dockerfile.read_text().replace("\\\n", " ")
    last_stage = text[text.rindex("\nFROM "):]
    pairs: dict[str, str] = {}
    for line in last_stage.splitlines():
        if line.startswith("ENV "):
            pairs.update(re.findall(r"(\w+)=(\S+)", line))
    return pairs


def requirement_names(project: str) -> set[str]:
    data = tomllib.loads((ROOT / project / "pyproject.toml").read_text())
    return {re.split(r"[\[<>=;~ ]", r, maxsplit=1)[0].lower() for r in data["project"]["dependencies"]}


def test_the_trainer_base_carries_no_jax_and_no_default_logic() -> None:
    assert not requirement_names("trainer") & REFERENCE_ONLY
    assert "LOOP_TRAINER_LOGIC" not in env_of(DOCKERFILES / "trainer.Dockerfile")


def test_the_reference_trainer_is_an_image_from_the_trainer_base_that_sets_its_logic() -> None:
    dockerfile = DOCKERFILES / "reference-trainer.Dockerfile"
    assert "ARG TRAINER_IMAGE=loop-nodes/trainer:latest" in dockerfile.read_text()
    assert all(line == "FROM ${TRAINER_IMAGE}" or line.startswith("FROM ${TRAINER_IMAGE} AS ")
               for line in dockerfile.read_text().splitlines() if line.startswith("FROM "))
    assert requirement_names("reference_trainer") >= REFERENCE_ONLY - {"jaxlib"} | {"loop-trainer"}
    logic = env_of(dockerfile)["LOOP_TRAINER_LOGIC"]
    assert issubclass(load_plugin_class(logic, TrainerLogic, "LOOP_TRAINER_LOGIC"), TrainerLogic)


def test_compose_trains_with_the_reference_image() -> None:
    trainer = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["trainer"]
    assert trainer["image"] == "loop-nodes/reference-trainer:latest"
    assert trainer["build"]["dockerfile"] == "Dockerfiles/reference-trainer.Dockerfile"


def test_the_example_trainer_builds_from_the_trainer_base() -> None:
    assert "ARG BASE=loop-nodes/trainer:latest" in (ROOT / "examples" / "trainer" / "Dockerfile").read_text()
