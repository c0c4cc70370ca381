"""Entry point of the training child process: `python -m loop_trainer.child LOGIC COMMAND JOB [ARGS]`.

COMMAND is `train` (runs `logic.train`) or `detect MODEL_DIR IMAGES_JSON OUTPUT_JSON` (runs `logic.detect`).
SIGUSR1 asks for a stop with the best model so far, SIGTERM for a shutdown (checkpoint and exit). The exit code
tells the node how it went: 0 done, EXIT_INTERRUPTED shut down before the end (resume later), EXIT_REFUSED a
TrainingError (its reason is the last line of progress.jsonl), anything else a crash.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
from pathlib import Path

from loop_shared.model_package import write_json_atomic
from loop_shared.plugins import load_plugin_class

from .logic import SHUTDOWN_SIGNAL, STOP_FILE, Reporter, TrainerLogic, TrainingError, TrainingJob

EXIT_REFUSED = 3
EXIT_INTERRUPTED = 75  # EX_TEMPFAIL


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logic_path, command, job_file, *rest = argv
    job = TrainingJob.model_validate_json(Path(job_file).read_text())
    reporter = Reporter(job.training_dir / "progress.jsonl", job.training_dir / STOP_FILE)
    reporter.install_signal_handlers()  # before the plugin's (slow) imports, so that no signal is lost
    logic_cls: type[TrainerLogic] = load_plugin_class(logic_path, TrainerLogic,  # type: ignore[type-abstract]
                                                      "LOOP_TRAINER_LOGIC")
    logic = logic_cls()
    try:
        if command == "train":
            logic.train(job, reporter)
        elif command == "detect":
            # detect has no checkpoint to save: a shutdown ends it at once, the step runs again after the restart
            signal.signal(SHUTDOWN_SIGNAL, lambda signum, frame: sys.exit(EXIT_INTERRUPTED))
            model_dir, images_file, output = Path(rest[0]), Path(rest[1]), Path(rest[2])
            images = [Path(p) for p in json.loads(images_file.read_text())]
            detections = logic.detect(job, model_dir, images)
            if not reporter.shutdown_requested:
                write_json_atomic(output, [d.model_dump(mode="json") for d in detections])
        else:
            print(f"unknown command {command!r}", file=sys.stderr)
            return 2
    except TrainingError as e:
        logging.getLogger("trainer.child").error("training refused: %s", e)
        reporter.fatal(" ".join(str(e).split()) or type(e).__name__)
        return EXIT_REFUSED
    return EXIT_INTERRUPTED if reporter.shutdown_requested else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
