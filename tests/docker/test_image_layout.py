"""The images' shape, read offline (`make e2e` builds and runs them): the trainer base carries no model and no JAX,
the reference trainer is a stage FROM it in the same file, and compose builds and trains with the reference image."""

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


def stages(dockerfile: Path) -> dict[str, tuple[str, str]]:
    """Each stage's name (the unnamed last one: "") with the image it is FROM and its lines (continuations joined)."""
    text = dockerfile.read_text().replace("\\\n", " ")
    found: dict[str, tuple[str, str]] = {}
    for chunk in text.split("\nFROM ")[1:]:
        header, _, body = chunk.partition("\n")
        source, _, name = header.partition(" AS ")
        found[name.strip()] = (source.strip(), body)
    return found


def env_of(dockerfile: Path, target: str = "") -> dict[str, str]:
    """The ENV settings a build of `target` (default: the last stage) ends with, through the stages it is FROM."""
    all_stages = stages(dockerfile)
    chain = []
    while target in all_stages:
        source, body = all_stages[target]
        chain.append(body)
        target = source
    pairs: dict[str, str] = {}
    for body in reversed(chain):
        for line in body.splitlines():
            if line.startswith("ENV "):
                pairs.update(re.findall(r"(\w+)=(\S+)", line))
    return pairs


TRAINER = DOCKERFILES / "trainer.Dockerfile"


def requirement_names(project: str) -> set[str]:
    data = tomllib.loads((ROOT / project / "pyproject.toml").read_text())
    return {re.split(r"[\[<>=;~ ]", r, maxsplit=1)[0].lower() for r in data["project"]["dependencies"]}


def test_the_trainer_base_carries_no_jax_and_no_default_logic() -> None:
    assert not requirement_names("trainer") & REFERENCE_ONLY
    assert stages(TRAINER)[""][0] == "trainer"  # the default target is the base stage
    assert "LOOP_DATA_DIR" in env_of(TRAINER)
    assert "LOOP_TRAINER_LOGIC" not in env_of(TRAINER)
    assert "--target trainer" in (ROOT / "Makefile").read_text()


def test_the_reference_trainer_is_a_stage_from_the_trainer_base_that_sets_its_logic() -> None:
    source, body = stages(TRAINER)["reference-trainer"]
    assert source == "trainer"
    assert "COPY --from=reference-build /layer/ /" in body
    assert stages(TRAINER)["reference-build"][0] == "trainer"
    assert requirement_names("reference_trainer") >= REFERENCE_ONLY - {"jaxlib"} | {"loop-trainer"}
    env = env_of(TRAINER, "reference-trainer")
    assert env["LOOP_DATA_DIR"] == "/data"  # inherited from the base stage
    assert issubclass(load_plugin_class(env["LOOP_TRAINER_LOGIC"], TrainerLogic, "LOOP_TRAINER_LOGIC"), TrainerLogic)


def test_compose_builds_and_trains_with_the_reference_image() -> None:
    trainer = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["trainer"]
    assert trainer["image"] == "loop-nodes/reference-trainer:latest"
    assert trainer["build"]["dockerfile"] == "Dockerfiles/trainer.Dockerfile"
    assert trainer["build"]["target"] == "reference-trainer"


def test_the_example_trainer_builds_from_the_trainer_base() -> None:
    assert "ARG BASE=loop-nodes/trainer:latest" in (ROOT / "examples" / "trainer" / "Dockerfile").read_text()
