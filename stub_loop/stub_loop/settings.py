"""Configuration of the stub Loop, from `LOOP_*` variables like every node."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from loop_shared.settings import NodeSettings


class StubSettings(NodeSettings):
    node_port: int = Field(8000, ge=1, le=65535, description="Port the stub Loop listens on.")
    data_dir: Path = Field(Path("/data"), description="Where the stub Loop keeps its SQLite file, images, models.")
    stub_demo: bool = Field(False, description="Seed the demo project (and its first model) at start-up if missing.")
    stub_demo_images: int = Field(60, ge=0, description="Annotated images in the seeded demo project.")
    stub_max_upload_mb: int = Field(512, gt=0, description="Largest model upload the stub Loop accepts (MiB).")
    stub_annotator_timeout: float = Field(30.0, gt=0, le=600, description=(
        "Seconds an annotation node has to acknowledge a forwarded input or logout; then a REST input gets 504, "
        "anything else success false."))

    @property
    def open_login(self) -> bool:
        """Without configured credentials any login is accepted (handy for a local demo)."""
        return not self.username
