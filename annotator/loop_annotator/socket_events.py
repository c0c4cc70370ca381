"""What the Loop sends the annotator over Socket.IO: user inputs, logouts, a restart (protocol §4.3).

A wrong number of arguments is answered `success: false` by `LoopSocket`; everything else by `InputHandler`.
"""

from __future__ import annotations

import logging
import os
import signal
from typing import Any

from loop_shared.loop_socket import Handler

from .inputs import InputHandler

log = logging.getLogger("annotator")


class SocketEvents:
    def __init__(self, inputs: InputHandler) -> None:
        self.inputs = inputs

    def handlers(self) -> dict[str, Handler]:
        return {"handle_user_input": self.on_handle_user_input, "user_logout": self.on_user_logout,
                "restart": self.on_restart}

    async def on_handle_user_input(self, user_input: Any) -> dict[str, Any]:
        return await self.inputs.handle_user_input(user_input)

    async def on_user_logout(self, sid: Any) -> dict[str, Any]:
        return await self.inputs.user_logout(sid)

    async def on_restart(self, *args: Any) -> None:
        log.info("the Loop asked for a restart; shutting down")
        os.kill(os.getpid(), signal.SIGTERM)
