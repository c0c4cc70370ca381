"""Entry point of the training child process: `python -m loop_trainer.child LOGIC COMMAND JOB [ARGS]`.

COMMAND is `train` (runs `logic.train`) or `detect MODEL_DIR IMAGES_JSON OUTPUT_JSON` (runs `logic.detect`).
SIGTERM asks for a graceful stop (`reporter.stop_requested`); the exit code tells the node how it went.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from loop_shared.model_package import write_json_atomic
from loop_shared.plugins import load_plugin_class

from .logic import Reporter, TrainerLogic, TrainingJob


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logic_path, command, job_file, *rest = argv
    logic_cls: type[TrainerLogic] = load_plugin_class(logic_path, TrainerLogic,  # type: ignore[type-abstract]
                                                      "LOOP_TRAINER_LOGIC")
    logic = logic_cls()
    job = TrainingJob.model_validate_json(Path(job_file).read_text())
    reporter = Reporter(job.training_dir / "progress.jsonl")
    reporter.install_stop_handler()
    if command == "train":
        logic.train(job, reporter)
        return 0
    if command == "detect":
        model_dir, images_file, output = Path(rest[0]), Path(rest[1]), Path(rest[2])
        images = [Path(p) for p in json.loads(images_file.read_text())]
        detections = logic.detect(job, model_dir, images)
        write_json_atomic(output, [d.model_dump(mode="json") for d in detections])
        return 0
    print(f"unknown command {command!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
