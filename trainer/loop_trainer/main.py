"""`loop-trainer`: the trainer node.

Waits for the Loop to start a training of this project, downloads its images and annotations, runs the plugin
named in LOOP_TRAINER_LOGIC in a child process, and uploads the model and its detections. Its status API answers
on LOOP_NODE_PORT (default 8005).
"""

from __future__ import annotations

from loop_shared.cli import parse_command_line
from loop_shared.server import run_node

from .settings import TrainerSettings


def main() -> None:
    parse_command_line("loop-trainer", __doc__ or "", TrainerSettings)
    from .app import create_app  # only now: --help imports neither the app nor its plugin

    run_node(TrainerSettings, create_app, "trainer")


if __name__ == "__main__":
    main()
