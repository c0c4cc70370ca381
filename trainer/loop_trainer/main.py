"""`loop-trainer`: run the trainer node (status API on LOOP_NODE_PORT, default 8005)."""

from __future__ import annotations

import sys

from loop_shared.errors import PluginError
from loop_shared.logs import configure_logging
from loop_shared.server import serve
from loop_shared.settings import load_settings_or_exit

from .app import create_app
from .settings import TrainerSettings


def main() -> None:
    settings = load_settings_or_exit(TrainerSettings)
    configure_logging(settings.log_level, [settings.password.get_secret_value()])
    try:
        app = create_app(settings)
    except PluginError as e:
        print(f"configuration error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    serve(app, settings, "trainer")


if __name__ == "__main__":
    main()
