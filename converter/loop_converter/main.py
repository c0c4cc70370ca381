"""`loop-converter`: the converter node.

Scans the models on the Loop (of LOOP_ORGANIZATION/LOOP_PROJECT when both are set, else of every project it
sees) and adds the format they lack with the plugin named in LOOP_CONVERTER_LOGIC (default: ONNX to static INT8);
a conversion is published only when its accuracy drop stays within LOOP_MAX_ACCURACY_DROP. Its status API answers
on LOOP_NODE_PORT (default 8006).
"""

from __future__ import annotations

from loop_shared.cli import parse_command_line
from loop_shared.server import run_node

from .settings import ConverterSettings


def main() -> None:
    parse_command_line("loop-converter", __doc__ or "", ConverterSettings)
    from .app import create_app  # only now: --help imports neither the app nor its plugin

    run_node(ConverterSettings, create_app, "converter")


if __name__ == "__main__":
    main()
