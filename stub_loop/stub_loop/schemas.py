"""The stub's own answers, outside the Loop's API: one pydantic model each, so `/docs` shows them.

The node-facing Loop API (paths, bodies, answers) is defined once in `loop_shared`, for the nodes and the stub
alike; `/health`, `/ready` and `/metrics` answer `loop_shared.node_routes`' models.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class StubStatus(BaseModel):
    """`GET /status`: what the stub Loop holds and who is connected (a test double, not the Learning Loop)."""

    projects: int = Field(description="Projects in the store.")
    trainers: int = Field(description="Trainers connected over Socket.IO.")
