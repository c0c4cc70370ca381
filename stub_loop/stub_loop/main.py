"""`loop-stub`: run the stub Loop on LOOP_NODE_PORT (default 8000)."""

from __future__ import annotations

from loop_shared.logs import configure_logging
from loop_shared.server import serve
from loop_shared.settings import load_settings_or_exit

from .app import create_app
from .settings import StubSettings


def main() -> None:
    settings = load_settings_or_exit(StubSettings)
    configure_logging(settings.log_level, [settings.password.get_secret_value()])
    serve(create_app(settings), settings, "stub Loop")


if __name__ == "__main__":
    main()
