"""What the default tool remembers of one person's work on one image: the box, the clicks, the last outline."""

from __future__ import annotations

from dataclasses import dataclass, field

Xy = tuple[int, int]
Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (inclusive corners, in image pixels)


@dataclass
class ToolHistory:
    image_uuid: str = ""
    press: Xy | None = None  # where the left button went down and has not come up yet (a box being dragged)
    box: Box | None = None
    foreground: list[Xy] = field(default_factory=list)
    background: list[Xy] = field(default_factory=list)
    polygon: list[Xy] = field(default_factory=list)  # the current outline, simplified, in image pixels

    @property
    def nbytes(self) -> int:
        """A generous estimate of the memory this history holds (the node's memory budget reads it)."""
        return 512 + 80 * (len(self.foreground) + len(self.background) + len(self.polygon))

    def marks(self) -> int:
        return len(self.foreground) + len(self.background)

    def start_over(self, image_uuid: str) -> None:
        self.image_uuid, self.press, self.box = image_uuid, None, None
        self.foreground, self.background, self.polygon = [], [], []
